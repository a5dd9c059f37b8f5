# Front door of the repository: `make help` lists the targets.
# Every workflow `run:` step is one of these targets or a `gitops <verb>` command (the package in
# scripts/gitops, installed by `make setup`; `gitops --help` lists the verbs), so a laptop runs
# the same steps. The targets below call `gitops` too.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON_BOOTSTRAP ?= python3
VENV      := .venv
LS_VENV   := .venv-localstack
# The app's own virtualenv: app/requirements.txt alone, hash-checked, as the image installs it.
APP_VENV  := .venv-app
# LocalStack 4.14 runs on Python 3.13 (it needs PEP 695 generics and warnings.deprecated, and its
# moto-ext cannot be installed on 3.14): python3.13 on PATH, a python3 that is 3.13, else one of
# pyenv's 3.13 versions. Override with LS_PYTHON_BOOTSTRAP=/path/to/python3.13.
LS_PYTHON_BOOTSTRAP ?= $(shell for p in python3.13 python3; do \
	  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null \
	  && { command -v $$p; exit 0; }; done; \
	for p in "$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/3.13*/bin/python3; do \
	  [ -x "$$p" ] && { echo "$$p"; exit 0; }; done)
PY        := $(VENV)/bin/python
GITOPS    := $(VENV)/bin/gitops
# The installer of every virtualenv (docs/PERFORMANCE.md, "Setup": several times faster than pip
# for the same locks). pip installs only uv itself and the build backend (requirements/build.txt).
UV        := $(VENV)/bin/uv
ENV       ?= localstack
PLAN      ?=
# Resource addresses `make plan` re-creates (terraform -replace), such as the web instance.
REPLACE   ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=

# The project's tools (ruff, pre-commit, zizmor, shellcheck, ...) come first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# Terraform runs with the CLI config `make setup` writes (provider mirror, plugin cache).
export TF_CLI_CONFIG_FILE := $(CURDIR)/.cache/terraform/cli.tfrc
export TF_IN_AUTOMATION := 1

.PHONY: help setup cli localstack-venv lock providers bench-app envs fmt validate lint lint-online hooks test test-unit \
        test-integration bench-tests up smoke down e2e plan apply destroy drift output unlock ami bench bench-setup \
        clean bootstrap bootstrap-rehearsal \
        github-setup readme-picture

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# uv and setuptools, hash-checked, with the pip that `python3 -m venv` brings: the one thing pip
# installs. Every lock below is installed by uv with --require-hashes: a file whose sha256 is not
# in the lock is refused.
$(UV): requirements/build.txt
	@test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
	  -r requirements/build.txt \
	  || { echo "setup: pip could not install uv from requirements/build.txt; read pip's error above (network? Python >= 3.11?)"; exit 1; }
	@touch $@

$(VENV)/.installed: requirements/dev.txt pyproject.toml $(UV)
	@echo "setup: project virtualenv $(VENV) from requirements/dev.txt (uv, --require-hashes)"
	@start=$$(date +%s); \
	$(UV) pip install --quiet --python $(PY) --require-hashes -r requirements/dev.txt \
	  || { echo "setup: uv could not install requirements/dev.txt; read its error above (network? a lock edited by hand? make lock)"; exit 1; }; \
	$(UV) pip install --quiet --python $(PY) --no-deps --no-build-isolation --editable . \
	  || { echo "setup: uv could not install the gitops package (pyproject.toml) in editable mode; read its error above"; exit 1; }; \
	echo "setup: $(VENV) ready in $$(( $$(date +%s) - start ))s"
	@touch $@

$(LS_VENV)/.installed: requirements/localstack/requirements.txt $(UV)
	@echo "setup: LocalStack virtualenv $(LS_VENV) from requirements/localstack/requirements.txt (uv, --require-hashes)"
	@start=$$(date +%s); test -x $(LS_VENV)/bin/python || $(UV) venv --quiet --no-python-downloads --python $(LS_PYTHON_BOOTSTRAP) $(LS_VENV); \
	$(UV) pip install --quiet --python $(LS_VENV)/bin/python --require-hashes \
	  -r requirements/localstack/requirements.txt \
	  || { echo "setup: uv could not install LocalStack; read its error above"; exit 1; }; \
	echo "setup: $(LS_VENV) ready in $$(( $$(date +%s) - start ))s"
	@touch $@

$(APP_VENV)/.installed: app/requirements.txt $(UV)
	@echo "setup: app virtualenv $(APP_VENV) from app/requirements.txt alone (uv, --require-hashes, wheels only)"
	@test -x $(APP_VENV)/bin/python || $(UV) venv --quiet --no-python-downloads --python $(PYTHON_BOOTSTRAP) $(APP_VENV)
	@$(UV) pip install --quiet --python $(APP_VENV)/bin/python --require-hashes --only-binary :all: \
	  -r app/requirements.txt \
	  || { echo "setup: uv refused app/requirements.txt; read its error above (make lock?)"; exit 1; }
	@touch $@

# LocalStack is optional for setup: where an emulator already runs (a CI service container),
# or LOCALSTACK_VENV=0 says so, `make up` reuses the one at AWS_ENDPOINT_URL instead.
localstack-venv:
ifeq ($(LOCALSTACK_VENV),0)
	@echo "setup: LocalStack virtualenv skipped (LOCALSTACK_VENV=0): make up reuses AWS_ENDPOINT_URL"
else ifeq ($(strip $(LS_PYTHON_BOOTSTRAP)),)
	@echo "setup: SKIPPED the LocalStack virtualenv: LocalStack 4.14 needs Python 3.13 and none" \
		"was found. Install one (pyenv) or set LS_PYTHON_BOOTSTRAP=/path/to/python3.13; until then" \
		"make up needs a running emulator at AWS_ENDPOINT_URL or a Docker engine."
else
	@$(MAKE) -s --no-print-directory $(LS_VENV)/.installed
endif

setup: $(VENV)/.installed $(APP_VENV)/.installed localstack-venv ## Install the virtualenvs and point Terraform at a provider mirror (idempotent)
	@$(GITOPS) mirror
	@command -v terraform >/dev/null || { echo "setup: terraform is not on PATH; install the version in .terraform-version"; exit 1; }

cli: $(UV) ## Install only the gitops command into .venv, in seconds (CI jobs that only talk to GitHub)
	@$(UV) pip install --quiet --python $(PY) --no-deps --no-build-isolation --editable . \
	  || { echo "cli: uv could not install the gitops package (pyproject.toml); read its error above"; exit 1; }

fmt: ## Format Terraform and Python in place
	terraform fmt -recursive
	$(VENV)/bin/ruff format scripts tests app
	$(VENV)/bin/ruff check --fix scripts tests app

envs: setup ## Check and list the environments envs/*/environment.toml describe (ENV= takes these)
	$(GITOPS) envs check

providers: setup ## Init every Terraform root without a backend: fills the provider cache CI restores
	$(GITOPS) hook-terraform-validate --init-only

validate: setup ## terraform validate every environment's root (no backend, no credentials)
	@envs="$$($(GITOPS) envs list)"; \
	for env in $$envs; do $(GITOPS) tf validate "$$env"; done

lint: setup ## Run every pre-commit hook over the whole tree (what the PR gate runs)
	$(VENV)/bin/pre-commit run --all-files --show-diff-on-failure

hooks: setup ## Install pre-commit's hook environments without running them (warms CI's cache)
	$(VENV)/bin/pre-commit install-hooks

lint-online: setup ## zizmor's online audits of .github/ (impostor commits, tag/SHA mismatch); needs GH_TOKEN
	@test -n "$${GH_TOKEN:-}" || { echo "lint-online: GH_TOKEN is not set: export any GitHub token" \
	  "(CI passes the job's own; no scope is needed for public actions). make lint runs the offline audits."; exit 1; }
	$(VENV)/bin/zizmor --no-progress .

# Test tiers (docs/TESTING.md): tests/conftest.py marks each test from what it uses; every tier
# runs on all cores (pytest-xdist), a file's tests together on one worker (tests/conftest.py).
# The quick tier is CPU alone: a worker a core. The integration tier spends much of its time
# waiting on LocalStack, Terraform and the database: two workers a core fill those waits
# (docs/PERFORMANCE.md). TEST_WORKERS=N overrides it.
QUICK_TESTS := not e2e and not db and not slow
TEST_WORKERS ?= $(shell $(PYTHON_BOOTSTRAP) -c 'import os; print(2 * (len(os.sched_getaffinity(0)) \
	if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))')
PYTEST := $(PY) -m pytest --dist loadscope

test: setup ## Run every test: the quick tier and the integration tier, in one run
	$(PYTEST) -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-unit: setup ## Run the quick tier (under a minute): no LocalStack, database server or Terraform apply
	$(PYTEST) -n auto -m "$(QUICK_TESTS)" $(PYTEST_ARGS)

test-integration: setup ## Run what test-unit leaves out: LocalStack and Terraform applies, the database, full plans
	$(PYTEST) -n $(TEST_WORKERS) -m "not ($(QUICK_TESTS))" $(PYTEST_ARGS)

bench-tests: setup ## Time each test tier (test-unit, test-integration, test) and print its wall time
	$(GITOPS) bench-tests

up: setup ## Start LocalStack and a MySQL stand-in, apply envs/localstack
	$(GITOPS) pipeline up

smoke: setup ## Check ENV's applied stack: user data, DB, app, network
	$(GITOPS) smoke --env $(ENV)

down: setup ## Destroy envs/localstack and stop what `make up` started
	$(GITOPS) pipeline down

e2e: setup ## The whole local pipeline: up, smoke, down (always tears down)
	$(GITOPS) pipeline e2e

plan: setup ## Plan ENV into .artifacts/plans/ (AWS: TF_STATE_BUCKET); REPLACE=address re-creates that resource
	$(GITOPS) tf plan $(ENV) $(foreach address,$(REPLACE),--replace '$(address)')

apply: setup ## Apply ENV; with PLAN=file exactly that reviewed plan
	$(GITOPS) tf apply $(ENV) $(if $(PLAN),--plan $(PLAN))

destroy: setup ## Destroy ENV without a prompt
	$(GITOPS) tf destroy $(ENV)

drift: setup ## Refresh-only plan of ENV; exit 0 clean, 2 drift or error (see .artifacts/plans/ENV-drift.status)
	$(GITOPS) tf drift $(ENV)

output: setup ## Print ENV's outputs as JSON
	$(GITOPS) tf output $(ENV)

unlock: setup ## Show who holds ENV's state lock; with LOCK_ID=... remove exactly that lock
	$(GITOPS) unlock $(ENV) $(if $(LOCK_ID),--lock-id $(LOCK_ID))

# uv resolves each lock from its .in: pinned, with the sha256 of every file of every platform
# (`--universal`: Linux, macOS, Windows; x86_64 and arm64), for the lowest Python it must run on.
# The options stay in each file's header, where Dependabot (uv ecosystem) reads them when it
# bumps a pin. Versions already locked are kept; UPGRADE=1 re-resolves everything to the newest.
# The app image's lock is then cut from the app's (the image's wheels only: EC2 user data
# carries it). LocalStack's lock is for CPython 3.13 on Linux (no universal resolution exists:
# on 3.14 its moto-ext conflicts with itself); the same pins and hashes install on macOS.
UV_COMPILE = UV_PYTHON_DOWNLOADS=never $(CURDIR)/$(UV) pip compile --quiet $(if $(UPGRADE),--upgrade) --generate-hashes
lock: $(VENV)/.installed ## Re-resolve every lock file from its .in (pinned, hashed; UPGRADE=1 takes the newest)
	cd requirements && $(UV_COMPILE) --universal --python-version 3.11 --output-file build.txt build.in
	cd requirements && $(UV_COMPILE) --universal --python-version 3.11 --output-file dev.txt dev.in
	cd app && $(UV_COMPILE) --universal --python-version 3.11 --output-file requirements-all.txt requirements.in
	$(GITOPS) image-lock
	cd requirements/localstack && $(UV_COMPILE) --python-version 3.13 --python-platform linux \
	  --output-file requirements.txt requirements.in

bench-app: setup ## Load and fault benchmark of the app (nginx + gunicorn + MariaDB on loopback; BENCH_ARGS=--direct compares gunicorn alone)
	$(GITOPS) bench-app $(BENCH_ARGS)

ami: setup ## Pin ENV's AMI in its terraform.tfvars to the region's current Amazon Linux 2023
	$(GITOPS) ami $(ENV)

# ENV=<name> bootstraps one AWS environment; without ENV on the command line, every one.
BOOTSTRAP_ENV = $(if $(filter command line environment,$(origin ENV)),--env $(ENV))
bootstrap: setup ## AWS side, with YOUR credentials (never CI): state bucket, OIDC, budget, each env's roles (ENV=, BUDGET_USD=, BUDGET_EMAIL=)
	$(GITOPS) bootstrap $(BOOTSTRAP_ENV) $(if $(REPO),--repo $(REPO)) \
	  $(if $(SUBJECT_FORMAT),--subject-format $(SUBJECT_FORMAT)) $(if $(BUCKET),--bucket $(BUCKET)) \
	  $(if $(BUDGET_USD),--budget-usd $(BUDGET_USD)) $(if $(BUDGET_EMAIL),--budget-email $(BUDGET_EMAIL))

bootstrap-rehearsal: setup ## The same bootstrap against LocalStack, dummy credentials and repository (ENDPOINT= reuses one)
	$(GITOPS) bootstrap --rehearse $(BOOTSTRAP_ENV) $(if $(ENDPOINT),--endpoint $(ENDPOINT)) $(if $(REPO),--repo $(REPO)) \
	  $(if $(SUBJECT_FORMAT),--subject-format $(SUBJECT_FORMAT)) $(if $(KEEP_IN),--keep-in $(KEEP_IN))

github-setup: setup ## GitHub side with YOUR token: REPO=owner/name [REVIEWERS=a,b: team] environments, ruleset, CODEOWNERS, variables
	$(GITOPS) github-setup --repo "$(REPO)" $(if $(REVIEWERS),--reviewers $(REVIEWERS))

# A tool virtualenv of its own: the `markdown` package never enters the pinned project venv.
DOCS_VENV := .venv-docs
readme-picture: setup ## Remake docs/img/plan-preview.png from the fixture plans (needs chromium)
	@test -x $(DOCS_VENV)/bin/python || $(PYTHON_BOOTSTRAP) -m venv $(DOCS_VENV)
	@$(DOCS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check markdown==3.11.3
	$(DOCS_VENV)/bin/python scripts/readme_picture.py

bench: setup ## Time `make e2e` several runs and print each stage's median
	$(GITOPS) bench-e2e

bench-setup: setup ## Time pip against uv installing the same locks, cold and warm caches
	$(GITOPS) bench-setup

clean: ## Remove virtualenvs, caches and artifacts (not Terraform state)
	rm -rf $(VENV) $(LS_VENV) $(APP_VENV) .cache .artifacts .pytest_cache .ruff_cache
