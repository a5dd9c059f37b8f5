"""The GitHub Actions workflows keep the pipeline's rules (see docs/PIPELINE.md).

Loads every workflow and asserts the rules each one keeps: least permissions with a reason on
every widened one, OIDC only where AWS is used and no static keys, third-party actions pinned by
commit SHA with the version as a comment, concurrency per environment that never cancels an
apply or destroy, applies and destroys bound to the environment's own GitHub environments,
timeouts on every job, no expression inside `run:`, every job that runs per environment fed by
the matrix `gitops envs` computes (no workflow names an environment), schedules that match the
descriptions, and `run:` steps that call only repository code with its own tests. Behaviour a
user relies on is asserted as behaviour, not as the text of a step. At the end, each rule is
shown to catch a deliberately broken copy of a workflow.

What the linters of `make lint` already refuse is not checked again here: actionlint (syntax,
expressions, shellcheck of `run:`), GitHub's JSON schema, and zizmor's audits (unpinned or
branch-pinned actions, dangerous triggers, persisted checkout credentials, template injection
of untrusted input). The rules here are the project's own, stricter or of another kind.
"""

from __future__ import annotations

import copy
import fnmatch
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from gitops import environments
from gitops.cli import COMMANDS

from tests.workflow_steps import evaluate, evaluate_all, run_gitops_step

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS_DIR = ROOT / ".github" / "workflows"
REUSABLE = "./.github/workflows/terraform.yml"
# One environment's deploy, destroy or drift check: a caller runs each once per matrix entry.
PER_ENVIRONMENT = {
    "./.github/workflows/deploy-environment.yml",
    "./.github/workflows/destroy-environment.yml",
    "./.github/workflows/drift-environment.yml",
    "./.github/workflows/watchdog-environment.yml",
}
LOCAL_WORKFLOWS = {REUSABLE, *PER_ENVIRONMENT}
EMPTY_MATRIX = '{"include":[]}'
SETUP_ACTION = "./.github/actions/setup-project"
SETUP_ACTION_FILE = ROOT / ".github" / "actions" / "setup-project" / "action.yml"
SHA_PIN = re.compile(
    r"^\s*(?:-\s+)?uses:\s+(?P<action>[\w.-]+/[\w./-]+)@(?P<sha>[0-9a-f]{40})"
    r"\s+#\s+(?P<version>v\d+\.\d+\.\d+)\s*$"
)
TF_VERSION_STEP = 'echo "version=$(cat .terraform-version)" >> "$GITHUB_OUTPUT"'
PATH_STEP = 'echo "${GITHUB_WORKSPACE}/.venv/bin" >> "$GITHUB_PATH"'
# The only run: lines that are neither `make <target>` nor `gitops <verb>`.
TRIVIAL_SHELL = {TF_VERSION_STEP, PATH_STEP}
SUBSTITUTION = re.compile(r"`|\$\(")  # runs a command, even inside double quotes
MAKE_ARG = re.compile(r"^[A-Z][A-Z0-9_]*=[\w./${}-]*$")
STATIC_KEY_WORDS = (
    "aws-access-key-id",
    "aws-secret-access-key",
    "aws-session-token",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "secrets.AWS_",
)


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a mapping"
    if True in data:  # YAML 1.1 reads the key `on` as the boolean true
        data["on"] = data.pop(True)
    return data


WORKFLOW_PATHS = sorted([*WORKFLOWS_DIR.glob("*.yml"), *WORKFLOWS_DIR.glob("*.yaml")])
WORKFLOWS = {path.name: load(path) for path in WORKFLOW_PATHS}
TEXTS = {path.name: path.read_text(encoding="utf-8") for path in WORKFLOW_PATHS}
# Every file under .github/ that can hold a `uses:`: the workflows and the local actions.
ACTION_PATHS = sorted((ROOT / ".github" / "actions").glob("*/action.y*ml"))
USES_TEXTS = {
    str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
    for path in [*WORKFLOW_PATHS, *ACTION_PATHS]
}
TERRAFORM = WORKFLOWS["terraform.yml"]


def jobs(name: str) -> dict[str, dict[str, Any]]:
    return WORKFLOWS[name]["jobs"]


def all_jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, workflow in WORKFLOWS.items():
        for job_id, job in workflow["jobs"].items():
            yield name, job_id, job


def all_steps() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, job_id, job in all_jobs():
        for step in job.get("steps", []):
            yield name, job_id, step


def uses_of(step: dict[str, Any]) -> str:
    return str(step.get("uses", "")).split("@")[0]


def reusable_callers(command: str | None = None) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, job_id, job in all_jobs():
        if job.get("uses") == REUSABLE and (command is None or job["with"]["command"] == command):
            yield name, job_id, job


def matrix_steps(job: dict[str, Any], output: str) -> list[dict[str, Any]]:
    """The steps of `job` that set output `output` to a matrix `gitops envs` prints
    (several when the event decides which), each one read by the job's output."""
    found = [
        step
        for step in job.get("steps", [])
        if str(step.get("run", "")).startswith("gitops envs matrix ")
        and shlex.split(step["run"])[-2:] == ["--github-output", output]
    ]
    assert found, f"no step computes the {output} matrix"
    for step in found:
        assert f"steps.{step['id']}.outputs.{output}" in job["outputs"][output], step["id"]
    return found


def matrix_step(job: dict[str, Any], output: str, step_id: str | None = None) -> dict[str, Any]:
    """The one step (with id `step_id`, when given) that computes the `output` matrix."""
    found = [s for s in matrix_steps(job, output) if step_id is None or s.get("id") == step_id]
    assert len(found) == 1, f"{len(found)} steps compute the {output} matrix"
    return found[0]


def runs_per_environment(job: dict[str, Any]) -> bool:
    """Whether a job runs once per environment: it calls a local workflow that does, runs a
    make target with ENV= itself, or is a matrix named by the entry (a report per environment)."""
    if job.get("uses") in LOCAL_WORKFLOWS:
        return True
    if "matrix.name" in str(job.get("name", "")) and "strategy" in job:
        return True
    return any(re.search(r"\bmake \w+ .*ENV=", str(s.get("run", ""))) for s in job.get("steps", []))


def makefile_targets() -> set[str]:
    makefile = ROOT / "Makefile"
    assert makefile.exists(), "the Makefile (the repository's front door) is missing"
    return set(re.findall(r"^([a-z][\w-]*):", makefile.read_text(encoding="utf-8"), re.M))


def cron_to_kst(cron: str) -> str:
    minute, hour, dom, month, dow = cron.split()
    assert (dom, month, dow) == ("*", "*", "*"), f"expected a daily schedule, got {cron!r}"
    return f"{(int(hour) + 9) % 24:02d}:{int(minute):02d}"


# --- inventory ------------------------------------------------------------------------------


def test_the_pipeline_workflows_exist() -> None:
    callers = {"pr.yml", "deploy.yml", "destroy.yml", "drift.yml"}
    assert callers <= set(WORKFLOWS)
    for path in [REUSABLE, *PER_ENVIRONMENT]:
        assert "workflow_call" in WORKFLOWS[Path(path).name]["on"], path


# --- permissions ----------------------------------------------------------------------------


def test_id_token_only_in_jobs_that_assume_an_aws_role() -> None:
    oidc_jobs = set()
    for name, job_id, job in all_jobs():
        perms = job.get("permissions") or {}
        assumes = any(
            uses_of(s) == "aws-actions/configure-aws-credentials" for s in job.get("steps", [])
        )
        calls_reusable = job.get("uses") in LOCAL_WORKFLOWS
        if perms.get("id-token") == "write":
            oidc_jobs.add((name, job_id))
            assert assumes or calls_reusable, f"{name}:{job_id} asks for id-token without AWS"
        if assumes:
            assert perms.get("id-token") == "write", f"{name}:{job_id} assumes a role sans OIDC"
    assert ("terraform.yml", "plan") in oidc_jobs and ("terraform.yml", "apply") in oidc_jobs
    # Jobs that only decide, comment or open issues never see AWS.
    for name, job_id in [
        ("pr.yml", "preview"),
        ("pr.yml", "plan-emulated"),
        ("drift-environment.yml", "issue"),
        ("deploy-environment.yml", "report"),
        ("destroy-environment.yml", "decide"),
    ]:
        assert job_id in jobs(name) and (name, job_id) not in oidc_jobs, f"{name}:{job_id}"


def test_github_write_scopes_only_where_needed() -> None:
    allowed = {
        ("pr.yml", "preview"): {"pull-requests": "write"},
        ("drift-environment.yml", "issue"): {"issues": "write"},
        ("deploy-environment.yml", "report"): {"pull-requests": "write"},
        # A caller grants what the jobs of the workflow it calls ask for, and nothing more.
        ("drift.yml", "drift"): {"issues": "write"},
        ("deploy.yml", "deploy"): {"pull-requests": "write"},
        ("deploy.yml", "superseded"): {"pull-requests": "write"},
        ("watchdog-environment.yml", "report"): {"issues": "write"},
        ("watchdog.yml", "watch"): {"issues": "write"},
    }
    for name, job_id, job in all_jobs():
        writes = {
            scope: level
            for scope, level in (job.get("permissions") or {}).items()
            if level == "write" and scope != "id-token"
        }
        assert writes == allowed.get((name, job_id), {}), f"{name}:{job_id} writes {writes}"


# --- AWS credentials ------------------------------------------------------------------------


def test_no_static_aws_keys_anywhere() -> None:
    for name, text in TEXTS.items():
        for word in STATIC_KEY_WORDS:
            assert word not in text, f"{name} mentions {word}"


def test_aws_credentials_come_from_oidc_role_only() -> None:
    seen = 0
    for _name, job_id, step in all_steps():
        if uses_of(step) == "aws-actions/configure-aws-credentials":
            seen += 1
            allowed = {"role-to-assume", "role-session-name", "aws-region", "role-duration-seconds"}
            assert set(step["with"]) <= allowed
            role = "smoke-role-to-assume" if job_id == "smoke" else "role-to-assume"
            assert step["with"]["role-to-assume"] == f"${{{{ inputs.{role} }}}}", job_id
    assert seen, "no job assumes a role: the rule checked nothing"


def test_plan_role_and_apply_role_are_kept_apart() -> None:
    """Each role is read by the name the environment's description gives (`vars[...]`): the
    plan role for plans and drift checks, the apply role for the deploy and the manual destroy
    (through the gate), the destroy role for the unattended nightly destroy."""
    roles = {
        "plan": {"${{ vars[matrix.plan_role] }}", "${{ vars[inputs.plan-role] }}"},
        "drift": {"${{ vars[inputs.plan-role] }}"},
        "apply": {"${{ vars[inputs.apply-role] }}"},
        "destroy": {"${{ vars[inputs.role] }}"},
    }
    seen = set()
    for name, job_id, job in reusable_callers():
        command = job["with"]["command"]
        seen.add(command)
        assert job["with"]["role-to-assume"] in roles[command], f"{name}:{job_id}"
    assert seen == set(roles)
    # ...and the callers pass the names: plan and apply roles to the deploy, the apply role with
    # the gate to a manual destroy, the destroy role with the nightly environment to the nightly.
    deploy = jobs("deploy.yml")["deploy"]["with"]
    assert (deploy["plan-role"], deploy["apply-role"]) == (
        "${{ matrix.plan_role }}", "${{ matrix.apply_role }}",
    )  # fmt: skip
    assert jobs("drift.yml")["drift"]["with"]["plan-role"] == "${{ matrix.plan_role }}"
    destroy = jobs("destroy.yml")["destroy"]["with"]
    assert destroy["role"] == (
        "${{ github.event_name == 'schedule' && matrix.destroy_role || matrix.apply_role }}"
    )
    assert destroy["deployment-environment"] == (
        "${{ github.event_name == 'schedule' && matrix.nightly_environment || matrix.gate }}"
    )


def test_plans_take_no_lock_so_the_plan_role_stays_read_only() -> None:
    plan_env, apply_env = TERRAFORM["jobs"]["plan"]["env"], TERRAFORM["jobs"]["apply"]["env"]
    assert plan_env["TF_CLI_ARGS_plan"] == "-lock=false"
    assert "TF_CLI_ARGS_plan" not in apply_env and "TF_CLI_ARGS" not in apply_env


# --- pinning --------------------------------------------------------------------------------


def test_third_party_actions_pinned_by_sha_with_version_comment() -> None:
    local = tuple(f"uses: {path}" for path in [*LOCAL_WORKFLOWS, SETUP_ACTION])
    pins: dict[str, set[tuple[str, str]]] = {}
    for name, text in USES_TEXTS.items():
        for line in text.splitlines():
            if not re.match(r"^\s*(-\s+)?uses:", line):
                continue
            if any(f"{prefix} " in line or line.endswith(prefix) for prefix in local):
                continue
            match = SHA_PIN.match(line)
            assert match, f"{name}: not pinned by full SHA with a version comment: {line.strip()}"
            pins.setdefault(match["action"], set()).add((match["sha"], match["version"]))
    assert pins, "no actions found"
    for action, versions in pins.items():
        assert len(versions) == 1, f"{action} pinned to several commits: {versions}"


def test_only_the_reusable_workflow_is_referenced_locally() -> None:
    for name, job_id, job in all_jobs():
        if "uses" in job:
            assert job["uses"] in LOCAL_WORKFLOWS, f"{name}:{job_id}"
            # The per-environment workflows are called by the callers, never by each other.
            nested = job["uses"] in PER_ENVIRONMENT
            assert not nested or "workflow_call" not in WORKFLOWS[name]["on"], f"{name}:{job_id}"
    for name, _, step in all_steps():
        uses = str(step.get("uses", ""))
        assert uses == SETUP_ACTION or not uses.startswith(("./", "docker://")), name


def load_action(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and data["runs"]["using"] == "composite", path
    return data


def test_setup_terraform_is_named_once_with_the_pinned_version_and_no_wrapper() -> None:
    version = (ROOT / ".terraform-version").read_text(encoding="utf-8").strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", version)
    named = [n for n, text in USES_TEXTS.items() if "hashicorp/setup-terraform@" in text]
    assert named == [str(SETUP_ACTION_FILE.relative_to(ROOT))]
    steps = load_action(SETUP_ACTION_FILE)["runs"]["steps"]
    index = next(i for i, s in enumerate(steps) if uses_of(s) == "hashicorp/setup-terraform")
    step = steps[index]
    assert step["with"]["terraform_wrapper"] is False
    assert step["with"]["terraform_version"] == "${{ steps.tf-version.outputs.version }}"
    earlier = [s for s in steps[:index] if s.get("id") == "tf-version"]
    assert earlier and earlier[0]["run"] == TF_VERSION_STEP
    make_setup = next(i for i, s in enumerate(steps) if s.get("run") == "make setup")
    assert make_setup > index, "make setup runs with Terraform in place"
    # Whatever the mode, the last step puts the gitops command on PATH for the job's steps.
    assert steps[-1]["run"] == PATH_STEP and "if" not in steps[-1]


def test_gitops_goes_on_path_only_where_no_privileged_trigger_runs() -> None:
    """setup-project writes a constant path to $GITHUB_PATH (zizmor's github-env ignored inline):
    safe only while no workflow runs with a privileged trigger on a pull request's code."""
    for name, workflow in WORKFLOWS.items():
        on = workflow["on"]
        triggers = set(on) if isinstance(on, dict | list) else {on}
        assert not {"pull_request_target", "workflow_run"} & triggers, name


def test_every_job_that_runs_make_sets_up_through_the_shared_action() -> None:
    jobs_with_make = 0
    for name, job_id, job in all_jobs():
        steps = job.get("steps", [])
        make_at = [i for i, s in enumerate(steps) if re.search(r"\bmake\b", str(s.get("run", "")))]
        if not make_at:
            continue
        jobs_with_make += 1
        where = f"{name}:{job_id}"
        setup_at = [i for i, s in enumerate(steps) if s.get("uses") == SETUP_ACTION]
        assert len(setup_at) == 1 and setup_at[0] < make_at[0], f"{where}: no shared setup"
        assert uses_of(steps[0]) == "actions/checkout", f"{where}: a local action needs a checkout"
        assert all(s.get("run") != "make setup" for s in steps), f"{where}: make setup inline"
    assert jobs_with_make, "no job runs make: the rule checked nothing"


CACHE_ACTIONS = ("actions/cache", "actions/cache/restore")


def _cache(steps: list[dict[str, Any]], path: str) -> dict[str, Any]:
    found = [s for s in steps if uses_of(s) in CACHE_ACTIONS and s["with"]["path"] == path]
    assert len(found) == 1, f"no cache of {path}"
    return found[0]


def test_only_the_warmer_saves_the_provider_cache_after_filling_it() -> None:
    """GitHub keeps the first cache saved under a key and never replaces it (a hit saves
    nothing). Every job that sets up restores and, with actions/cache, saves at its end on a
    miss: the watchdog's `stack` job initialises no root, a plan initialises one, so whichever
    job on main first met a new key (the nightly destroy, a deploy racing the warmer on a lock
    file change) could save an empty or partial provider cache for good. The set-up restores
    it only; the cache warmer saves it after `make providers`, under the key the set-up used."""
    from gitops.terraform import mirror as tfmirror

    path = str(tfmirror.PLUGIN_CACHE.relative_to(ROOT))
    action = load_action(SETUP_ACTION_FILE)
    restore = _cache(action["runs"]["steps"], path)
    assert uses_of(restore) == "actions/cache/restore", "the set-up must not save the providers"
    outputs = action["outputs"]
    assert outputs["provider-cache-key"]["value"] == (
        f"${{{{ steps.{restore['id']}.outputs.cache-primary-key }}}}"
    )
    assert outputs["provider-cache-hit"]["value"] == (
        f"${{{{ steps.{restore['id']}.outputs.cache-hit }}}}"
    )
    savers = [
        (name, job_id, job)
        for name, job_id, job in all_jobs()
        for step in job.get("steps", [])
        if uses_of(step) == "actions/cache/save" and step["with"]["path"] == path
    ]
    assert [(name, job_id) for name, job_id, _ in savers] == [("caches.yml", "warm")]
    steps = savers[0][2]["steps"]
    setup = next(s for s in steps if s.get("uses") == SETUP_ACTION)
    fill = next(i for i, s in enumerate(steps) if s.get("run") == "make providers")
    save = next(i for i, s in enumerate(steps) if uses_of(s) == "actions/cache/save")
    assert fill < save
    assert (
        steps[save]["with"]["key"] == f"${{{{ steps.{setup['id']}.outputs.provider-cache-key }}}}"
    )
    assert steps[save]["if"] == f"steps.{setup['id']}.outputs.provider-cache-hit != 'true'"


def test_setup_caches_downloads_hook_environments_and_providers_keyed_on_their_inputs() -> None:
    from gitops.hooks import terraform_validate
    from gitops.locks import INSTALLED
    from gitops.terraform import mirror as tfmirror

    steps = load_action(SETUP_ACTION_FILE)["runs"]["steps"]
    make_setup = next(i for i, s in enumerate(steps) if s.get("run") == "make setup")
    downloads = _cache(steps, "~/.cache/uv\n~/.cache/pip\n")
    # every lock the virtualenvs are installed from changes the key
    keyed = re.findall(r"'([^']+)'", downloads["with"]["key"])
    hashed = {p for k in keyed for p in ROOT.glob(k)}  # hashFiles' `**` is pathlib's too
    for lock in INSTALLED:
        assert lock in hashed, f"the uv cache key ignores {lock.relative_to(ROOT)}"
    # The plugin cache is the directory `gitops mirror` writes into cli.tfrc, keyed on the lock
    # file of every root the cache warmer initialises (`make providers`), and of no other.
    providers = _cache(steps, str(tfmirror.PLUGIN_CACHE.relative_to(ROOT)))
    keyed = re.findall(r"'([^']+)'", providers["with"]["key"])
    hashed = {str(p.relative_to(ROOT)) for k in keyed for p in ROOT.glob(k)}
    roots = {f"{r}/.terraform.lock.hcl" for r in terraform_validate.ROOTS}
    assert hashed == roots, "the key must follow exactly the providers make providers fetches"
    hooks = _cache(steps, "~/.cache/pre-commit")
    assert "'.pre-commit-config.yaml'" in hooks["with"]["key"]
    assert hooks["if"] == "inputs.tools != 'false' && inputs.pre-commit-cache == 'true'"
    for cache in (downloads, providers, hooks):
        assert steps.index(cache) < make_setup, "a cache restored after make setup is unused"
    # The job that runs the hooks asks for their cache.
    lint = jobs("pr.yml")["lint"]
    setup = next(s for s in lint["steps"] if s.get("uses") == SETUP_ACTION)
    assert setup["with"]["pre-commit-cache"] == "true"


def test_main_saves_the_caches_every_pull_request_restores() -> None:
    """A run restores caches of its own branch or of the default branch only: what one pull
    request saves serves no other. A workflow on main (on a push that changes a cache key, and
    weekly, before GitHub evicts a cache unused for 7 days) saves them where all can restore."""
    steps = load_action(SETUP_ACTION_FILE)["runs"]["steps"]
    keyed_on = set()
    for step in steps:
        if uses_of(step) in CACHE_ACTIONS:
            keyed_on |= set(re.findall(r"'([^']+)'", step["with"]["key"]))
    warmers = []
    for name, workflow in WORKFLOWS.items():
        on = workflow["on"]
        if not (isinstance(on, dict) and "schedule" in on and "push" in on):
            continue
        for job_id, job in workflow["jobs"].items():
            setup = [s for s in job.get("steps", []) if s.get("uses") == SETUP_ACTION]
            if setup and setup[0].get("with", {}).get("pre-commit-cache") == "true":
                warmers.append((name, job_id, job, on))
    assert warmers, "no workflow on main warms the caches"
    for name, job_id, job, on in warmers:
        assert on["push"]["branches"] == ["main"], name
        assert on["schedule"], name
        # every file a cache key hashes is among the paths that start it
        paths = on["push"].get("paths")
        if paths is not None:
            for pattern in keyed_on:
                files = [str(f.relative_to(ROOT)) for f in ROOT.glob(pattern)]
                assert files, pattern
                for file in files:
                    assert any(fnmatch.fnmatch(file, p) for p in paths), f"{name}: {file}"
        assert job["permissions"] == {"contents": "read"}, f"{name}:{job_id}"
        runs = [s["run"] for s in job["steps"] if "run" in s]
        # `make setup` fills uv's cache; nothing in it fills the other two, and a cache left
        # empty is saved empty under its key (immutable until the key changes):
        # pre-commit's hook environments, and the providers of every Terraform root.
        assert "make hooks" in runs, f"{name}:{job_id}"
        assert "make providers" in runs, f"{name}:{job_id}: the provider cache is saved empty"
    makefile = (ROOT / "Makefile").read_text()
    assert "$(VENV)/bin/pre-commit install-hooks" in makefile
    assert "$(GITOPS) hook-terraform-validate --init-only\n" in makefile  # every root


def test_every_test_tier_runs_in_the_pull_request_and_counts_for_the_gate() -> None:
    """make test-unit and make test-integration together are make test (docs/TESTING.md); each
    runs in a job of the pull request that its one required check needs."""
    pr = jobs("pr.yml")
    ran = {
        step["run"]: job_id
        for job_id, job in pr.items()
        for step in job.get("steps", [])
        if str(step.get("run", "")).startswith("make test")
    }
    assert set(ran) == {"make test-unit", "make test-integration"}
    assert set(ran.values()) <= set(pr["gate"]["needs"])
    # The IAM test's checkov is pre-commit's own: its hook environments come first.
    runs = [s.get("run") for s in pr[ran["make test-integration"]]["steps"] if "run" in s]
    assert runs.index("make hooks") < runs.index("make test-integration")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "test-integration: setup ## " in makefile
    assert '-m "not ($(QUICK_TESTS))"' in makefile and '-m "$(QUICK_TESTS)"' in makefile


def test_integration_tests_use_the_same_services_as_the_e2e_job() -> None:
    """The same MySQL as the e2e job (and as Seoul's major version), the same LocalStack."""
    pr = jobs("pr.yml")
    integration, e2e = pr["integration"], pr["e2e"]
    assert integration["services"] == e2e["services"]
    for var in ("AWS_ENDPOINT_URL", "DB_HOST", "DB_PORT", "DB_USER", "DB_PASS"):
        assert integration["env"][var] == e2e["env"][var], var


@pytest.mark.parametrize("name", ["terraform.yml", "pr.yml"])
def test_terraform_never_prompts_and_keeps_the_lock_file(name: str) -> None:
    env = WORKFLOWS[name]["env"]
    assert env["TF_INPUT"] == "0"
    assert env["TF_IN_AUTOMATION"] == "1"
    assert env["TF_CLI_ARGS_init"] == "-lockfile=readonly"


def dependabot_dirs() -> dict[str, set[str]]:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    assert config["version"] == 2
    covered: dict[str, set[str]] = {}
    for update in config["updates"]:
        assert update["schedule"]["interval"] in ("daily", "weekly"), update
        dirs = update.get("directories") or [update["directory"]]
        covered.setdefault(update["package-ecosystem"], set()).update(dirs)
    return covered


def _covered(folder: Path, dirs: set[str]) -> bool:
    """Whether one of dependabot's directories (or a `dir/*` pattern) names this folder."""
    where = Path("/", folder.relative_to(ROOT))
    return any(Path(d[:-2]) == where.parent if d.endswith("/*") else Path(d) == where for d in dirs)


def test_dependabot_keeps_every_pin_current() -> None:
    covered = dependabot_dirs()
    # github-actions: the workflows (read from "/") and every local composite action.
    for folder in [ROOT, *(p.parent for p in ACTION_PATHS)]:
        assert _covered(folder, covered.get("github-actions", set())), folder
    # uv: every folder with a lock (a .txt resolved from the .in beside it) but LocalStack's,
    # which is frozen with LocalStack 4.14.0; and pyproject.toml's build-system pin ("/").
    ins = [*ROOT.glob("requirements/**/*.in"), *ROOT.glob("*/requirements.in")]
    locks = [p.with_suffix(".txt") for p in ins]
    assert len(locks) >= 4 and all(lock.exists() for lock in locks)
    frozen = ROOT / "requirements" / "localstack"
    for folder in {p.parent for p in locks} - {frozen} | {ROOT}:
        assert _covered(folder, covered.get("uv", set())), f"uv misses {folder}"
    assert not _covered(frozen, covered.get("uv", set()) | covered.get("pip", set()))
    assert "pip" not in covered, "pip would edit the locks line by line instead of recompiling"
    # a pin shared by two locks (flask, setuptools) moves in one pull request, not one a folder
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    (uv,) = [u for u in config["updates"] if u["package-ecosystem"] == "uv"]
    assert [g.get("group-by") for g in uv["groups"].values()] == ["dependency-name"]
    # terraform: every root with a lock file, and every module.
    tf_dirs = [p.parent for p in ROOT.glob("envs/*/.terraform.lock.hcl")]
    tf_dirs += [p for p in ROOT.glob("modules/*") if p.is_dir()]
    # ... and a root or module added later, by a glob rather than a list of today's names
    tf_dirs += [ROOT / "envs" / "osaka", ROOT / "modules" / "cache"]
    assert len(tf_dirs) >= 3
    for folder in tf_dirs:
        assert _covered(folder, covered.get("terraform", set())), f"terraform misses {folder}"
    # docker: every Dockerfile's base image.
    dockerfiles = [
        p
        for pattern in ("Dockerfile", "*/Dockerfile", "*/*/Dockerfile")
        for p in ROOT.glob(pattern)
        if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)
    ]
    assert dockerfiles
    for folder in {p.parent for p in dockerfiles}:
        assert _covered(folder, covered.get("docker", set())), f"docker misses {folder}"


# --- jobs -----------------------------------------------------------------------------------


def shell_operators(script: str) -> list[str]:
    """Pipes, redirections, `;`, `&&` outside quotes: anything that makes a line a program."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return [token for token in lexer if token and set(token) <= set("();<>|&")]


def test_shell_operator_detection() -> None:
    assert shell_operators("make plan ENV=seoul | tee x; rm -rf y") == ["|", ";"]
    assert shell_operators('gitops run-logged --highlight "a|b" > out') == [">"]
    assert shell_operators('gitops run-logged --highlight "a|b;c"') == []


def _check_command(tokens: list[str], targets: set[str], where: str) -> None:
    if tokens[0] == "make":
        assert len(tokens) >= 2 and tokens[1] in targets, f"{where}: unknown make target"
        for arg in tokens[2:]:
            assert MAKE_ARG.match(arg), f"{where}: make argument {arg!r}"
        return
    assert tokens[0] == "gitops", f"{where}: runs {tokens[0]!r}"
    verb = tokens[1]
    assert verb in COMMANDS, f"{where}: gitops has no verb {verb!r}"
    module = COMMANDS[verb][0]
    package, _, leaf = module.rpartition(".")
    tested = [
        p.name
        for p in (ROOT / "tests").glob("test_*.py")
        if module in (text := p.read_text(encoding="utf-8"))
        or re.search(rf"from {re.escape(package)} import .*\b{leaf}\b", text)
    ]
    assert tested, f"{where}: {module} has no tests"
    if verb == "run-logged":
        assert "--" in tokens, f"{where}: run_logged without a command"
        _check_command(tokens[tokens.index("--") + 1 :], targets, where)


def foreign_runs(workflow: dict[str, Any], targets: set[str]) -> list[str]:
    """`run:` steps that are not one make target or one `gitops <verb>` (with its tests)."""
    problems = []
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            if "run" not in step:
                continue
            script = str(step["run"]).strip()
            where = f"{job_id}:{step.get('name', script)}"
            try:
                assert "\n" not in script, f"{where}: one command per step"
                if script in TRIVIAL_SHELL:
                    continue
                assert not SUBSTITUTION.search(script), f"{where}: command substitution"
                assert not shell_operators(script), f"{where}: shell syntax in {script!r}"
                tokens = shlex.split(script)
                _check_command(tokens[1:] if tokens[:1] == ["exec"] else tokens, targets, where)
            except (AssertionError, IndexError, ValueError) as problem:
                problems.append(str(problem) or where)
    return problems


def cli_only_verbs() -> dict[str, set[str]]:
    """`gitops <verb>` of every job set up with `tools: "false"`, by verb: where it runs."""
    found: dict[str, set[str]] = {}
    for name, job_id, job in all_jobs():
        steps = job.get("steps", [])
        if not any(
            s.get("uses") == SETUP_ACTION and str((s.get("with") or {}).get("tools")) == "false"
            for s in steps
        ):
            continue
        for step in steps:
            tokens = shlex.split(str(step.get("run", "")))
            tokens = tokens[1:] if tokens[:1] == ["exec"] else tokens
            if tokens[:1] == ["gitops"] and len(tokens) > 1:
                found.setdefault(tokens[1], set()).add(f"{name}:{job_id}")
    return found


def test_jobs_with_only_the_gitops_command_run_verbs_that_need_only_the_standard_library() -> None:
    """`make cli` installs the package with --no-deps: a verb those jobs run that imports a
    third-party module (boto3, yaml, ...) would fail only there, in CI."""
    verbs = cli_only_verbs()
    assert {"envs", "preflight", "env-gate", "comment", "checks-gate"} <= set(verbs), verbs
    check = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]: importlib.import_module(name)\n"
        "found = {m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names)\n"
        "print(' '.join(sorted(m for m in found if m != 'gitops' and not m.startswith('_'))))"
    )
    modules = sorted(COMMANDS[verb][0] for verb in verbs)
    proc = subprocess.run(
        [sys.executable, "-S", "-c", check, *modules],  # -S: no site-packages, stdlib only
        env={**os.environ, "PYTHONPATH": str(ROOT / "scripts")},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"third-party imports in {modules}: {proc.stdout}"


def test_make_targets_the_workflows_rely_on_exist() -> None:
    needed = {"setup", "lint", "test-unit", "plan", "e2e", "apply", "smoke", "destroy", "drift"}
    assert needed <= makefile_targets()


# --- concurrency ----------------------------------------------------------------------------


def test_every_caller_workflow_has_concurrency() -> None:
    """Workflow-wide, or on every job that runs one environment's Terraform."""
    for name, workflow in WORKFLOWS.items():
        if "workflow_call" in workflow["on"]:
            continue  # runs inside its caller's concurrency group
        if workflow.get("concurrency", {}).get("group"):
            continue
        per_env = [(job_id, job) for job_id, job in workflow["jobs"].items() if "uses" in job]
        assert per_env, name
        for job_id, job in per_env:
            group = job.get("concurrency", {}).get("group", "")
            assert "matrix.name" in group, f"{name}:{job_id}: not grouped per environment"


def test_applies_and_destroys_are_never_cancelled() -> None:
    touching = {name for name, _, _ in reusable_callers("apply")}
    touching |= {name for name, _, _ in reusable_callers("destroy")}
    assert touching == {"deploy-environment.yml", "destroy-environment.yml"}
    callers = 0
    for name, job_id, job in all_jobs():
        if job.get("uses") in {
            f"./.github/workflows/{n}" for n in touching | {"drift-environment.yml"}
        }:
            callers += 1
            concurrency = job["concurrency"]
            assert concurrency["cancel-in-progress"] is False, f"{name}:{job_id}"
    assert callers, "no caller of an apply or destroy: the rule checked nothing"


class _Context:
    """Any context a group expression reads; only `event_name` has a value."""

    def __init__(self, event_name: str = "") -> None:
        self.event_name = event_name

    def __getattr__(self, name: str) -> _Context:
        return _Context()

    def __str__(self) -> str:
        return "*"


def _format(template: str, *values: object) -> str:
    """GitHub's format(): `{0}`, `{1}`... replaced by the values."""
    return template.format(*(str(v) for v in values))


def render_group(concurrency: dict[str, Any], event: str) -> str:
    """The concurrency group a job started by `event` falls into (any matrix entry: `*`)."""

    def evaluate(match: re.Match[str]) -> str:
        code = match.group(1)
        assert "!" not in code.replace("!=", ""), f"unsupported expression: {code}"
        code = code.replace("&&", " and ").replace("||", " or ")
        names = {"github": _Context(event), "matrix": _Context(), "format": _format}
        return str(eval(code, {"__builtins__": {}}, names))  # noqa: S307

    return re.sub(r"\$\{\{(.*?)\}\}", evaluate, concurrency["group"])


def test_render_group_evaluates_the_event() -> None:
    concurrency = {
        "group": "g-${{ matrix.name }}-${{ github.event_name == 'schedule' && 'a' || 'b' }}"
    }
    assert render_group(concurrency, "schedule") == "g-*-a"
    assert render_group(concurrency, "push") == "g-*-b"
    formatted = {"group": "${{ github.event_name == 'push' && format('p-{0}', matrix.name) }}"}
    assert render_group(formatted, "push") == "p-*"


def test_unattended_runs_never_queue_behind_an_approval() -> None:
    """GitHub keeps one pending run per group: a deploy waiting for approval would hold back, and
    a newer pending run replace, a scheduled destroy in the same group. State writes are
    serialised by the S3 lock instead (with -lock-timeout)."""
    gated: dict[str, str] = {}
    for name, job_id, job in all_jobs():
        if job.get("uses") in {"./.github/workflows/deploy-environment.yml",
                               "./.github/workflows/destroy-environment.yml"}:  # fmt: skip
            for event in WORKFLOWS[name]["on"]:
                if event != "schedule":
                    gated[render_group(job["concurrency"], event)] = f"{name}:{job_id} ({event})"
    assert gated
    scheduled = [name for name, workflow in WORKFLOWS.items() if "schedule" in workflow["on"]]
    # (caches.yml only restores and saves caches: it has no group a deploy could share)
    assert sorted(scheduled) == ["caches.yml", "destroy.yml", "drift.yml", "watchdog.yml"]
    for name in scheduled:
        for job_id, job in jobs(name).items():
            if "concurrency" in job:
                group = render_group(job["concurrency"], "schedule")
                assert group not in gated, f"{name}:{job_id} shares {group!r} with {gated[group]}"


def concurrency_groups(
    workflows: dict[str, dict[str, Any]] = WORKFLOWS,
) -> Iterator[tuple[str, str, str, str]]:
    """(workflow, job or `(workflow)`, event, group) for every group any event can render."""
    for name, workflow in workflows.items():
        events = [event for event in workflow["on"] if event != "workflow_call"]
        blocks = [("(workflow)", workflow.get("concurrency"))]
        blocks += [(job_id, job.get("concurrency")) for job_id, job in workflow["jobs"].items()]
        for where, concurrency in blocks:
            if isinstance(concurrency, str):
                concurrency = {"group": concurrency}
            for event in events if concurrency else []:
                yield name, where, event, render_group(concurrency, event).lower()


def test_only_a_nightly_destroy_joins_the_nightly_destroys_group() -> None:
    """GitHub keeps one pending run a group and cancels it when another run joins the group;
    cancel-in-progress: false protects only the running one. So a pending nightly destroy may be
    replaced by the next nightly destroy and by nothing else (a manual drift check, a deploy, a
    manual destroy). Groups compare case-insensitively, and `*` (any matrix entry, any ref)
    may stand for anything."""
    nightly = render_group(jobs("destroy.yml")["destroy"]["concurrency"], "schedule").lower()
    joiners = [
        (name, where, event)
        for name, where, event, group in concurrency_groups()
        if fnmatch.fnmatchcase(group, nightly) or fnmatch.fnmatchcase(nightly, group)
    ]
    assert joiners == [("destroy.yml", "destroy", "schedule")]


def shared_groups(workflows: dict[str, dict[str, Any]] = WORKFLOWS) -> list[tuple[str, str]]:
    """Pairs of jobs (`workflow:job`) that can render the same concurrency group for some
    environment names. Environment names may contain hyphens (environments.py), so a group
    built as `<prefix>-<name>` can equal another job's `<prefix>-<name>-<suffix>`: the deploy
    of `x-drift` would share the drift check of `x`. `*` (any matrix entry, any ref) matches
    anything, hyphens included; groups compare case-insensitively."""
    groups = [(f"{name}:{where}", group) for name, where, _, group in concurrency_groups(workflows)]
    shared = set()
    for first, one in groups:
        for second, other in groups:
            overlap = fnmatch.fnmatchcase(one, other) or fnmatch.fnmatchcase(other, one)
            if first < second and overlap:
                shared.add((first, second))
    return sorted(shared)


def test_no_two_jobs_can_share_a_concurrency_group_whatever_the_environments_are_named() -> None:
    """Each job queues in groups of its own: the deploy, the manual destroy, the drift check,
    the nightly destroy and its watchdog of any environment never land in one group with
    another job's, for any two environment names (a pending run of one would be cancelled by
    the other, and an unattended run would wait behind an approval). A job may share its group
    with itself across events (a manual drift check with the scheduled one)."""
    assert shared_groups() == []


def test_the_group_overlap_rule_sees_a_prefix_shared_through_a_hyphen() -> None:
    broken = copy.deepcopy(WORKFLOWS)
    broken["deploy.yml"]["jobs"]["deploy"]["concurrency"]["group"] = "terraform-${{ matrix.name }}"
    broken["drift.yml"]["jobs"]["drift"]["concurrency"]["group"] = (
        "terraform-${{ matrix.name }}-drift"
    )
    assert ("deploy.yml:deploy", "drift.yml:drift") in shared_groups(broken)


def lock_timeout_minutes(value: str) -> int:
    match = re.fullmatch(r"-lock-timeout=(\d+)m", value)
    assert match, f"expected -lock-timeout=<N>m, got {value!r}"
    return int(match.group(1))


def test_state_writers_wait_for_the_lock_within_their_timeout() -> None:
    writers = 0
    for name, job_id, job in all_jobs():
        steps = [s.get("run", "") for s in job.get("steps", [])]
        for command in ("apply", "destroy"):
            if any(re.search(rf"\bmake {command}\b", run) for run in steps):
                writers += 1
                wait = lock_timeout_minutes(job["env"][f"TF_CLI_ARGS_{command}"])
                assert 0 < wait <= job["timeout-minutes"] // 2, f"{name}:{job_id}: {wait}m"
    assert writers == 2


def test_pull_request_runs_are_grouped_per_pull_request() -> None:
    group = WORKFLOWS["pr.yml"]["concurrency"]["group"]
    assert "github.event.pull_request.number" in group
    assert not group.startswith("terraform-")
    # A merge group has no pull request number: without its own ref every queued group would
    # share one group and cancel the one before it (cancel-in-progress).
    assert group == "pr-${{ github.event.pull_request.number || github.ref }}"


def test_a_merge_group_run_reports_the_gate_and_never_comments() -> None:
    pr = jobs("pr.yml")
    assert WORKFLOWS["pr.yml"]["on"]["merge_group"] == {"types": ["checks_requested"]}
    for job_id, job in pr.items():  # every job runs there: none is limited to pull requests
        assert "pull_request" not in str(job.get("if", "")), job_id
    comment = next(s for s in pr["preview"]["steps"] if "gitops comment pr" in s.get("run", ""))
    assert "github.event_name == 'pull_request'" in comment["if"]
    # prepare tells preflight the event, which skips the AWS plans with a named reason
    preflight = next(s for s in pr["prepare"]["steps"] if s.get("id") == "preflight")
    assert preflight["env"]["EVENT"] == "${{ github.event_name }}"


# --- environments ---------------------------------------------------------------------------


def test_apply_job_of_the_reusable_workflow_is_environment_bound() -> None:
    apply_job = TERRAFORM["jobs"]["apply"]
    assert apply_job["environment"] == "${{ inputs.deployment-environment }}"
    assert "inputs.deployment-environment != ''" in apply_job["if"]
    plan_job = TERRAFORM["jobs"]["plan"]
    assert "environment" not in plan_job
    assert "apply" not in plan_job["if"] and "destroy" not in plan_job["if"]


def test_apply_and_destroy_commands_run_only_in_the_environment_bound_job() -> None:
    for name, job_id, step in all_steps():
        run = step.get("run", "")
        if re.search(r"\bmake (apply|destroy)\b", run):
            assert (name, job_id) == ("terraform.yml", "apply"), f"{name}:{job_id}"


def test_apply_and_destroy_wait_for_the_environments_own_github_environment() -> None:
    """An apply runs in the environment's gate; a destroy in its gate when started by hand, in
    its nightly environment when scheduled. The names come from the matrix entry."""
    deploy = jobs("deploy-environment.yml")["apply"]["with"]
    assert deploy["deployment-environment"] == "${{ inputs.gate }}"
    assert jobs("deploy.yml")["deploy"]["with"]["gate"] == "${{ matrix.gate }}"
    destroy = jobs("destroy-environment.yml")["destroy"]["with"]
    assert destroy["deployment-environment"] == "${{ inputs.deployment-environment }}"
    callers = [*reusable_callers("apply"), *reusable_callers("destroy")]
    assert callers
    for name, job_id, job in callers:
        assert job["with"]["environment"] == "${{ inputs.environment }}", f"{name}:{job_id}"


ENV_GATE = re.compile(r"^gitops env-gate (?P<args>.+)$")


def gate_steps(job: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any], list[str]]]:
    """(index, step, environments it checks) of every env_gate.py step of a job."""
    for index, step in enumerate(job.get("steps", [])):
        match = ENV_GATE.match(str(step.get("run", "")).strip())
        if match:
            checked = []
            for arg in shlex.split(match["args"]):
                var = re.fullmatch(r"\$\{?(\w+)\}?", arg)
                checked.append(step.get("env", {}).get(var[1], arg) if var else arg)
            yield index, step, checked


def needs_closure(workflow: dict[str, Any], job_id: str) -> set[str]:
    """Every job that must finish before `job_id` starts."""
    seen: set[str] = set()
    todo = [job_id]
    while todo:
        needs = workflow["jobs"][todo.pop()].get("needs", [])
        for need in [needs] if isinstance(needs, str) else needs:
            if need not in seen:
                seen.add(need)
                todo.append(need)
    return seen


def test_every_environment_bound_job_checks_its_gate_before_aws() -> None:
    bound = 0
    for name, job_id, job in all_jobs():
        if "environment" not in job:
            continue
        bound += 1
        where = f"{name}:{job_id}"
        gates = [(i, envs, step) for i, step, envs in gate_steps(job)]
        assert [envs for _, envs, _ in gates] == [[job["environment"]]], f"{where}: no gate check"
        index, _, step = gates[0]
        assert step["env"]["GITHUB_TOKEN"] == "${{ github.token }}", where
        assert "if" not in step, f"{where}: the gate check must never be skipped"
        for later in job["steps"][:index]:  # nothing before the gate gets AWS credentials
            assert uses_of(later) == "actions/checkout" or later.get("uses") == SETUP_ACTION, (
                f"{where}: {later} runs before the gate"
            )
        assert job["permissions"].get("actions") == "read", f"{where}: cannot read the rules"
    assert bound >= 1


def test_deploys_and_destroys_are_refused_before_planning_when_the_gate_is_missing() -> None:
    callers = [*reusable_callers("apply"), *reusable_callers("destroy")]
    assert callers
    for name, job_id, job in callers:
        workflow, target = WORKFLOWS[name], job["with"]["deployment-environment"]
        where = f"{name}:{job_id}"
        # The caller grants what the called apply job needs to read the rules.
        assert job["permissions"].get("actions") == "read", where
        checked = {
            env
            for ancestor in needs_closure(workflow, job_id)
            for _, _, envs in gate_steps(workflow["jobs"][ancestor])
            for env in envs
        }
        assert target in checked, f"{where}: no earlier job checks the {target} environment"
        # ...and the plan it applies is made only after that check passed.
        for ancestor in needs_closure(workflow, job_id):
            if workflow["jobs"][ancestor].get("uses") == REUSABLE:
                gated = {
                    env
                    for j in needs_closure(workflow, ancestor)
                    for _, _, envs in gate_steps(workflow["jobs"][j])
                    for env in envs
                }
                assert target in gated, f"{name}:{ancestor} plans before {target} is checked"


# --- environments come from the descriptions -------------------------------------------------


def test_every_per_environment_job_takes_its_environments_from_the_matrix_command() -> None:
    """In a workflow that a trigger starts, a job that runs per environment is a matrix over
    what `gitops envs matrix` printed in a job it needs, guarded against the empty
    matrix GitHub refuses, named by the entry, and never lists environments itself. A workflow
    that is only called gets its one environment from its caller (`inputs.environment`)."""
    found = 0
    for name, workflow in WORKFLOWS.items():
        called = "workflow_call" in workflow["on"]
        for job_id, job in workflow["jobs"].items():
            if not runs_per_environment(job):
                continue
            where = f"{name}:{job_id}"
            if called:
                environment = job.get("with", {}).get("environment") or job.get("env", {}).get(
                    "TF_ENV"
                )
                assert environment == "${{ inputs.environment }}", where
                continue
            found += 1
            matrix = job["strategy"]["matrix"]
            source = re.fullmatch(
                r"\$\{\{ fromJSON\(needs\.([\w-]+)\.outputs\.([\w-]+)\) \}\}", matrix
            )
            assert source, f"{where}: matrix {matrix!r} is not a matrix job's output"
            need, output = source.groups()
            needs = job["needs"] if isinstance(job["needs"], list) else [job["needs"]]
            assert need in needs, where
            matrix_steps(workflow["jobs"][need], output)
            assert f"needs.{need}.outputs.{output} != '{EMPTY_MATRIX}'" in job["if"], where
            assert job["strategy"]["fail-fast"] is False, f"{where}: one environment stops all"
            assert job["name"].endswith("${{ matrix.name }}"), f"{where}: name it by the entry"
            assert "include" not in str(job["strategy"]).replace(EMPTY_MATRIX, ""), where
    # pr.yml's two plan jobs, deploy and its superseded report, destroy, drift and the watchdog
    assert found == 7


def _strings(node: Any) -> Iterator[str]:
    """Every key and value of a loaded workflow (the comments are gone)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    else:
        yield str(node)


def test_no_workflow_names_an_environment() -> None:
    """Adding an environment needs no workflow edit: an AWS environment's name, its GitHub
    environments and role variables appear in no workflow except in comments, and no step makes
    a target for a named environment."""
    from gitops import environments

    described = environments.load()
    words = set()
    for env in described.values():
        if not env.emulated:
            words |= {env.name, env.gate or env.name, *vars(env.roles or {}).values()}
            if env.nightly:
                words |= {env.nightly.environment, env.nightly.keep_alive}
    assert "seoul" in words and "AWS_APPLY_ROLE_ARN" in words
    for name, workflow in WORKFLOWS.items():
        for text in _strings(workflow):
            for word in words:
                assert not re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, re.I), (
                    f"{name} names {word!r} in {text!r}"
                )
            assert not re.search(r"ENV=[a-z]", text), f"{name}: make for a named environment"


# --- pull request ---------------------------------------------------------------------------


def test_pr_static_gate() -> None:
    pr = jobs("pr.yml")
    # A merge queue's group runs the same gate (the required check must report on its commit).
    assert list(WORKFLOWS["pr.yml"]["on"]) == ["pull_request", "merge_group"]
    # what a contributor runs locally is what the required checks run
    assert {"make lint", "make lint-online"} <= {s.get("run") for s in pr["lint"]["steps"]}
    assert "make test-unit" in {s.get("run") for s in pr["unit"]["steps"]}


def test_pr_lint_runs_zizmor_online_with_the_job_token_and_keeps_the_offline_hook() -> None:
    lint = jobs("pr.yml")["lint"]
    online = [s for s in lint["steps"] if s.get("run") == "make lint-online"]
    assert len(online) == 1 and online[0]["env"]["GH_TOKEN"] == "${{ github.token }}"
    assert "if" not in online[0], "the online audit must not be skippable"
    assert lint.get("permissions", WORKFLOWS["pr.yml"]["permissions"]) == {"contents": "read"}
    recipe = re.search(r"^lint-online:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert recipe, "make lint-online is missing"
    zizmor = [line for line in recipe[1].splitlines() if "bin/zizmor" in line]
    assert zizmor and "--offline" not in zizmor[0] and "--no-online-audits" not in zizmor[0]
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    offline = [h for h in hooks if h["id"] == "zizmor"]
    assert offline and offline[0]["entry"] == "zizmor --offline"
    assert re.search(offline[0]["files"], ".github/actions/setup-project/action.yml")
    assert re.search(offline[0]["files"], ".github/dependabot.yml")


def test_make_lint_online_refuses_to_run_without_a_token() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    proc = subprocess.run(
        ["make", "--no-print-directory", "-o", "setup", "lint-online"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "GH_TOKEN is not set" in proc.stdout + proc.stderr


def test_pr_localstack_image_is_pinned_and_token_aware() -> None:
    pr = jobs("pr.yml")
    expression = pr["prepare"]["outputs"]["localstack-image"]
    assert "'localstack/localstack:4.14.0'" in expression
    assert "secrets.LOCALSTACK_AUTH_TOKEN != ''" in expression
    assert "vars.LOCALSTACK_IMAGE" in expression
    services = pr["e2e"]["services"]
    assert services["localstack"]["image"] == "${{ needs.prepare.outputs.localstack-image }}"
    assert "prepare" in pr["e2e"]["needs"]
    env = services["localstack"]["env"]
    assert env["SERVICES"] == "ec2,s3,ssm,sts,iam,secretsmanager"
    assert env["LOCALSTACK_AUTH_TOKEN"] == "${{ secrets.LOCALSTACK_AUTH_TOKEN }}"
    assert services["localstack"]["ports"] == ["4566:4566"]
    assert "--health-cmd" in services["localstack"]["options"]


def test_pr_e2e_uses_a_real_mysql_and_uploads_the_report() -> None:
    pr = jobs("pr.yml")
    e2e = pr["e2e"]
    mysql = e2e["services"]["mysql"]
    assert mysql["image"] == "mysql:8.4"  # the major version Seoul runs (modules/db)
    assert "--health-cmd" in mysql["options"] and "mysqladmin ping" in mysql["options"]
    env = e2e["env"]
    assert env["AWS_ENDPOINT_URL"] == "http://localhost:4566"
    assert (env["DB_HOST"], env["DB_PORT"], env["DB_USER"]) == ("127.0.0.1", "3306", "root")
    assert env["DB_PASS"] == mysql["env"]["MYSQL_ROOT_PASSWORD"]
    assert "${{ github.run_id }}" in env["DB_PASS"], "a per-run password, none committed"
    assert "make e2e" in {s.get("run") for s in e2e["steps"]}
    uploads = [s["with"] for s in e2e["steps"] if uses_of(s) == "actions/upload-artifact"]
    report = [u for u in uploads if ".artifacts/e2e/" in u["path"].split()]
    assert report and report[0]["include-hidden-files"] is True
    # connection.env and the stand-in's record hold passwords: never in an artifact.
    excluded = report[0]["path"].split()
    assert {"!.artifacts/e2e/connection.env", "!.artifacts/e2e/db-standin.json*"} <= set(excluded)
    # Each emulated environment is planned against the same emulator, and its plan uploaded.
    emulated = pr["plan-emulated"]
    assert emulated["services"]["localstack"] == e2e["services"]["localstack"]
    assert emulated["env"]["AWS_ENDPOINT_URL"] == env["AWS_ENDPOINT_URL"]
    plans = [shlex.split(s["run"]) for s in emulated["steps"] if "make plan" in s.get("run", "")]
    assert plans == [["make", "plan", "ENV=${TF_ENV}"]], "each entry plans its own environment"
    assert emulated["env"]["TF_ENV"] == "${{ matrix.name }}"
    upload = next(s["with"] for s in emulated["steps"] if uses_of(s) == "actions/upload-artifact")
    assert upload["name"] == "plans-${{ matrix.name }}"


def test_pr_plans_every_environment_and_previews_them_once() -> None:
    pr = jobs("pr.yml")
    prepare = pr["prepare"]
    aws, emulated = pr["plan"], pr["plan-emulated"]
    assert aws["with"]["command"] == "plan" and aws["with"]["environment"] == "${{ matrix.name }}"
    assert aws["with"]["artifact-name"] == "plans-${{ matrix.name }}"
    assert "needs.prepare.outputs.aws-ready == 'true'" in aws["if"]
    gate = next(s for s in prepare["steps"] if s.get("id") == "preflight")
    assert "--same-repo" in gate["run"] and "--require TF_STATE_BUCKET" in gate["run"]
    # a run Dependabot started is skipped like a fork's (preflight.py reads ACTOR)
    assert gate["env"]["ACTOR"] == "${{ github.actor }}"
    assert prepare["outputs"]["aws-ready"] == "${{ steps.preflight.outputs.ready }}"
    # The two plan matrices together are every described environment, each once.
    kinds = {}
    for job_id, output in (("plan", "aws"), ("plan-emulated", "emulated")):
        tokens = shlex.split(matrix_step(prepare, output)["run"])
        kinds[job_id] = tokens[tokens.index("matrix") + 1 : tokens.index("--github-output")]
    assert kinds == {"plan": ["plan", "--aws"], "plan-emulated": ["plan", "--emulated"]}
    assert emulated["strategy"]["matrix"] == "${{ fromJSON(needs.prepare.outputs.emulated) }}"
    preview = pr["preview"]
    assert preview["if"] == "${{ !cancelled() }}"
    assert set(preview["needs"]) == {"prepare", "plan-emulated", "plan"}
    runs = [s["run"] for s in preview["steps"] if "run" in s]
    assert runs[0].startswith("gitops preview --plans .artifacts/plans")
    assert "--env" not in shlex.split(runs[0]), "the preview covers every described environment"
    assert '--aws-skipped "${AWS_SKIPPED}"' in runs[0]
    assert runs[1].startswith("gitops comment pr")
    download = next(s for s in preview["steps"] if uses_of(s) == "actions/download-artifact")
    assert download["with"]["pattern"] == "plans-*"


# --- deploy ---------------------------------------------------------------------------------


def test_deploy_triggers() -> None:
    on = WORKFLOWS["deploy.yml"]["on"]
    assert on["push"]["branches"] == ["main"]
    # every root (and envs/common/, which the roots' common_*.tf link to)
    assert {"modules/**", "envs/**", "app/**"} <= set(on["push"]["paths"])
    assert "workflow_dispatch" in on


def test_deploy_applies_the_plan_it_made() -> None:
    deploy = jobs("deploy-environment.yml")
    plan, apply = deploy["plan"]["with"], deploy["apply"]["with"]
    assert plan["command"] == "plan" and apply["command"] == "apply"
    artifact = "${{ inputs.environment }}-plan-${{ github.sha }}"
    assert plan["artifact-name"] == apply["artifact-name"] == artifact
    assert deploy["apply"]["needs"] == ["plan", "previewed"]
    assert deploy["apply"]["if"] == "needs.plan.outputs.changes == 'true'"
    outputs = TERRAFORM["on"]["workflow_call"]["outputs"]
    assert outputs["changes"]["value"] == "${{ jobs.plan.outputs.changes }}"
    assert TERRAFORM["jobs"]["plan"]["outputs"]["changes"] == "${{ steps.preview.outputs.changes }}"
    preview_step = next(s for s in TERRAFORM["jobs"]["plan"]["steps"] if s.get("id") == "preview")
    assert preview_step["run"].startswith("gitops preview")
    steps = TERRAFORM["jobs"]["apply"]["steps"]
    download = next(s for s in steps if uses_of(s) == "actions/download-artifact")
    assert download["with"]["name"] == "${{ inputs.artifact-name }}"
    runs = [s["run"] for s in steps if "run" in s and "apply" in str(s.get("if"))]
    assert 'make apply "ENV=${TF_ENV}" "PLAN=.artifacts/plans/${TF_ENV}.tfplan"' in runs[0]
    assert not any("make smoke" in r for r in runs), "the smoke test is a job of its own"
    # the deploy's plan job uploads the saved plan under that name (raw-plans)
    uploads = [
        s for s in TERRAFORM["jobs"]["plan"]["steps"] if uses_of(s) == "actions/upload-artifact"
    ]
    assert all(u["with"]["name"] == "${{ inputs.artifact-name }}" for u in uploads)
    assert plan["raw-plans"] is True
    inputs = reusable_inputs(deploy["plan"], TERRAFORM)
    assert uploaded_paths(TERRAFORM["jobs"]["plan"]["steps"], {"inputs": inputs}) == [
        ".artifacts/plans/"
    ]


def test_deploy_compares_its_plan_with_the_preview_before_approval() -> None:
    deploy = jobs("deploy-environment.yml")
    previewed = deploy["previewed"]
    assert previewed["needs"] == "plan" and previewed["if"] == deploy["apply"]["if"]
    assert previewed["permissions"] == {
        "contents": "read", "pull-requests": "read", "actions": "read",
    }  # fmt: skip
    download = next(s for s in previewed["steps"] if uses_of(s) == "actions/download-artifact")
    assert download["with"]["name"] == deploy["plan"]["with"]["artifact-name"]
    step = previewed["steps"][-1]
    assert step["run"].startswith('gitops plan-digest compare --env "${TF_ENV}"')
    assert '--plan ".artifacts/plans/${TF_ENV}.json"' in step["run"]
    assert step["env"]["TF_ENV"] == "${{ inputs.environment }}"


def test_the_digest_is_read_where_the_pull_request_uploads_it() -> None:
    """The comparison reads the pull request run's artifact of pr.yml by name: the workflow,
    the artifact's name and the file in it are the ones pr.yml's AWS plan job writes."""
    from gitops.preview import digest as plan_digest
    from gitops.preview.model import MODEL_SUFFIX

    assert plan_digest.PR_WORKFLOW in WORKFLOWS
    aws_plan = jobs(plan_digest.PR_WORKFLOW)["plan"]
    assert aws_plan["with"]["command"] == "plan"
    name = plan_digest.PREVIEW_ARTIFACT.format(env="${{ matrix.name }}")
    assert aws_plan["with"]["artifact-name"] == name
    assert aws_plan["with"].get("raw-plans") in (None, False)
    preview = next(s for s in TERRAFORM["jobs"]["plan"]["steps"] if s.get("id") == "preview")
    assert "--redacted-out .artifacts/preview" in preview["run"]
    assert MODEL_SUFFIX == ".preview.json"
    # Kept long enough for a pull request that waits for its merge.
    assert aws_plan["with"]["retention-days"] >= 90


def test_a_manual_deploy_can_replace_the_web_instance_held_to_exactly_that() -> None:
    """docs/RELIABILITY.md "When a boot fails": the deploy workflow's `replace` input plans a
    -replace that goes through the same approval and apply, and instead of the pull request's
    preview (a manual run has none) the plan must be exactly the replacement requested."""
    from gitops.terraform import replace

    dispatch = WORKFLOWS["deploy.yml"]["on"]["workflow_dispatch"]["inputs"]["replace"]
    assert dispatch["type"] == "choice" and dispatch["default"] == "none"
    assert replace.WEB_INSTANCE in dispatch["options"]
    assert replace.validate([o for o in dispatch["options"] if o != "none"])
    passed = jobs("deploy.yml")["deploy"]["with"]["replace"]
    assert passed == "${{ inputs.replace != 'none' && inputs.replace || '' }}"
    deploy = jobs("deploy-environment.yml")
    assert deploy["plan"]["with"]["replace"] == "${{ inputs.replace }}"
    plan_step = next(s for s in TERRAFORM["jobs"]["plan"]["steps"] if s.get("name") == "Plan")
    assert plan_step["run"] == 'make plan "ENV=${TF_ENV}" "REPLACE=${REPLACE}"'
    assert plan_step["env"]["REPLACE"] == "${{ inputs.replace }}"
    steps = deploy["previewed"]["steps"]
    check = next(s for s in steps if "gitops replace-check" in str(s.get("run")))
    compare = next(s for s in steps if "gitops plan-digest compare" in str(s.get("run")))
    assert check["if"] == "inputs.replace != ''" and compare["if"] == "inputs.replace == ''"
    assert (
        '--replace "${REPLACE}"' in check["run"]
        and check["env"]["REPLACE"] == "${{ inputs.replace }}"
    )
    # the apply waits for that job: a plan that is not the replacement is never applied
    assert "previewed" in deploy["apply"]["needs"]


@pytest.mark.parametrize(
    ("results", "reports", "result", "stopped_at"),
    [
        # an apply that ran, whatever its end
        ({"apply": "success"}, True, "success", ""),
        ({"apply": "failure"}, True, "failure", ""),
        ({"apply": "cancelled"}, True, "cancelled", ""),
        # stopped before any approval was asked for
        ({"preflight": "failure", "plan": "skipped", "previewed": "skipped"}, True, "failure",
         "preflight"),
        ({"plan": "failure", "previewed": "skipped"}, True, "failure", "plan"),
        ({"previewed": "failure"}, True, "failure", "plan vs preview"),
        # nothing to report: AWS not set up (plan skipped), or a plan without changes
        ({"plan": "skipped", "previewed": "skipped"}, False, None, None),
        ({"previewed": "skipped"}, False, None, None),
    ],
)  # fmt: skip
def test_deploy_reports_on_the_pull_request_whatever_happened(
    results: dict[str, str], reports: bool, result: str | None, stopped_at: str | None
) -> None:
    """Once the deploy was asked for: applied, failed, cancelled, or stopped before the
    approval (a refused preflight, a failed plan, a replacement that replaces more)."""
    report = jobs("deploy-environment.yml")["report"]
    needs = {job: {"result": "success"} for job in ("preflight", "plan", "previewed")}
    needs["apply"] = {"result": "skipped", "outputs": {}}
    for job, value in results.items():
        needs[job]["result"] = value
    assert set(report["needs"]) == set(needs)
    assert bool(evaluate("${{ " + report["if"].strip().removeprefix("${{").removesuffix("}}")
                         + " }}", {"needs": needs})) is reports  # fmt: skip
    if reports:
        step = report["steps"][-1]
        contexts = {"needs": needs, "inputs": {"environment": "seoul"}, "github": {"token": "t"}}
        environ = evaluate_all(step["env"], contexts)
        assert environ["APPLY_RESULT"] == result
        assert (environ["STOPPED_AT"] or "") == stopped_at
        assert '--stopped-at "${STOPPED_AT}"' in step["run"]


def test_deploy_reports_the_apply_on_the_pull_request_whatever_happened() -> None:
    deploy = jobs("deploy-environment.yml")
    report = deploy["report"]
    step = report["steps"][-1]
    assert step["run"].startswith('gitops apply-report --env "${TF_ENV}"')
    assert step["env"]["SMOKE_RESULT"] == "${{ needs.apply.outputs.smoke-result }}"
    assert '--smoke-result "${SMOKE_RESULT}"' in step["run"]
    assert step["env"]["TF_ENV"] == "${{ inputs.environment }}"
    outputs = TERRAFORM["on"]["workflow_call"]["outputs"]
    assert outputs["smoke-result"]["value"] == "${{ jobs.smoke.outputs.result }}"
    assert TERRAFORM["jobs"]["smoke"]["outputs"]["result"] == "${{ steps.smoke.outcome }}"
    # what the report reads is what the apply job and the smoke job write and upload
    steps = TERRAFORM["jobs"]["apply"]["steps"]
    apply_run = next(s["run"] for s in steps if "make apply" in s.get("run", ""))
    assert "--log .artifacts/apply-report/apply.log" in apply_run
    for job_id, prefix, path in (
        ("apply", "apply-", ".artifacts/apply-report"),
        ("smoke", "smoke-", ".artifacts"),
    ):
        job_steps = TERRAFORM["jobs"][job_id]["steps"]
        upload = next(s for s in job_steps if uses_of(s) == "actions/upload-artifact")
        fetched = next(
            s for s in report["steps"] if s.get("with", {}).get("name", "").startswith(prefix)
        )
        # the same name: the reusable workflow's input is the caller's environment
        assert fetched["with"]["name"] == upload["with"]["name"], job_id
        # the upload's root is the common folder of its files: downloaded back to the same place
        assert fetched["with"]["path"] == path, job_id
        assert fetched.get("continue-on-error") is True, job_id
    # a missing (expired) plan leaves the planned counts unknown; the report is still posted
    plan = next(s for s in report["steps"] if "-plan-" in s.get("with", {}).get("name", ""))
    assert plan.get("continue-on-error") is True


@pytest.mark.parametrize(
    ("result", "runs"),
    [("cancelled", True), ("failure", True), ("success", False), ("skipped", False)],
)
def test_a_deploy_cancelled_before_it_started_is_reported_by_its_own_run(
    result: str, runs: bool
) -> None:
    """A pending deploy GitHub cancels never starts its report job: the caller's `superseded`
    job, which runs whatever happened, reports it for each environment of the matrix.
    `needs.deploy.result` is one result for the whole matrix, and a failed entry makes it
    `failure` even when another entry was cancelled before it started: the job runs then too,
    and `gitops apply-report --result superseded` posts nothing for an environment whose deploy
    started (its own report job reported)."""
    job = jobs("deploy.yml")["superseded"]
    assert job["needs"] == ["environments", "deploy"]
    assert job["strategy"]["matrix"] == "${{ fromJSON(needs.environments.outputs.deploy) }}"
    assert "concurrency" not in job, "it must not queue in the group that cancelled the deploy"
    needs = {"deploy": {"result": result},
             "environments": {"outputs": {"deploy": '{"include":[{"name":"seoul"}]}'}}}  # fmt: skip
    assert bool(evaluate("${{ " + job["if"] + " }}", {"needs": needs})) is runs
    step = job["steps"][-1]
    assert shlex.split(step["run"]) == [
        "gitops", "apply-report", "--env", "${TF_ENV}", "--result", "superseded",
    ]  # fmt: skip
    assert step["env"]["TF_ENV"] == "${{ matrix.name }}"
    assert job["permissions"]["actions"] == "read"


def test_the_plan_job_names_an_unset_role_variable_before_the_credentials_step() -> None:
    steps = TERRAFORM["jobs"]["plan"]["steps"]
    creds = next(
        i for i, s in enumerate(steps) if uses_of(s) == "aws-actions/configure-aws-credentials"
    )
    check = next(i for i, s in enumerate(steps) if "gitops preflight" in s.get("run", ""))
    assert check < creds
    step = steps[check]
    assert "--missing-is-error" in step["run"]
    assert '--require "ROLE_TO_ASSUME=${ROLE_VARIABLE}"' in step["run"]
    assert step["env"]["ROLE_TO_ASSUME"] == "${{ inputs.role-to-assume }}"
    assert step["env"]["ROLE_VARIABLE"].startswith("${{ inputs.role-variable ||")
    # every plan or drift caller says which variable its role came from
    callers = [*reusable_callers("plan"), *reusable_callers("drift")]
    assert callers
    for name, job_id, job in callers:
        variable = re.fullmatch(r"\$\{\{ (\S+) \}\}", job["with"]["role-variable"])
        assert variable, f"{name}:{job_id}"
        assert job["with"]["role-to-assume"] == f"${{{{ vars[{variable[1]}] }}}}", (
            f"{name}:{job_id}"
        )


def test_smoke_is_a_job_of_its_own_so_re_running_it_does_not_re_apply() -> None:
    """ "Re-run failed jobs" starts a failed job from its first step: with the smoke test in
    the apply job, a re-run would apply the saved plan again, which Terraform refuses as stale."""
    smoke = TERRAFORM["jobs"]["smoke"]
    assert smoke["needs"] == "apply"
    assert "inputs.command == 'apply'" in smoke["if"]
    assert "environment" not in smoke, "it changes nothing: no gate, no approval"
    assert smoke["permissions"] == {"contents": "read", "id-token": "write"}
    creds = next(s for s in smoke["steps"] if uses_of(s) == "aws-actions/configure-aws-credentials")
    assert creds["with"]["role-to-assume"] == "${{ inputs.smoke-role-to-assume }}"
    assert any(shlex.split(s.get("run", ""))[:2] == ["make", "smoke"] for s in smoke["steps"]), (
        "the smoke job runs make smoke"
    )
    assert not any("make smoke" in s.get("run", "") for s in TERRAFORM["jobs"]["apply"]["steps"])
    # deploy hands it the read-only plan role, never the apply role
    apply = jobs("deploy-environment.yml")["apply"]["with"]
    assert apply["smoke-role-to-assume"] == "${{ vars[inputs.plan-role] }}"


# --- destroy and drift ----------------------------------------------------------------------


def test_manual_destroy_needs_the_typed_environment_name() -> None:
    on = WORKFLOWS["destroy.yml"]["on"]
    for field in ("environment", "confirm"):
        spec = on["workflow_dispatch"]["inputs"][field]
        assert spec["required"] is True and spec["type"] == "string", field
    choose = jobs("destroy.yml")["environments"]
    confirm = next(s for s in choose["steps"] if "--confirm" in s.get("run", ""))
    assert '--confirm "${CONFIRM}" --expect "${ENVIRONMENT}"' in confirm["run"]
    assert confirm["env"] == {
        "ENVIRONMENT": "${{ inputs.environment }}", "CONFIRM": "${{ inputs.confirm }}",
    }  # fmt: skip
    # The confirmation comes before the matrix that names what is destroyed.
    manual = matrix_step(choose, "destroy", "manual")
    assert choose["steps"].index(confirm) < choose["steps"].index(manual)
    assert 'matrix deploy --only "${ENVIRONMENT}"' in manual["run"]


def test_nightly_destroy_honours_keep_alive() -> None:
    decide = jobs("destroy-environment.yml")["decide"]
    step = next(s for s in decide["steps"] if s.get("id") == "keep-alive")
    tokens = shlex.split(step["run"])
    assert tokens[:2] == ["gitops", "keep-alive"]
    given = dict(zip(tokens[2::2], tokens[3::2], strict=True))
    assert given == {"--env": "${TF_ENV}", "--until": "${KEEP_ALIVE}", "--schedule": "${SCHEDULE}"}
    # the variable the description names, read by that name
    assert step["env"]["KEEP_ALIVE"] == "${{ vars[inputs.keep-alive] }}"
    assert step["env"]["TF_ENV"] == "${{ inputs.environment }}"
    # judged by the date of the firing, not the clock of a run that started late
    assert step["env"]["SCHEDULE"] == "${{ github.event.schedule }}"
    assert "steps.keep-alive.outputs.destroy == 'true'" in decide["outputs"]["destroy"]
    assert "inputs.keep-alive == ''" in decide["outputs"]["destroy"]
    destroy = jobs("destroy-environment.yml")["destroy"]
    assert destroy["if"] == "needs.decide.outputs.destroy == 'true'"
    caller = jobs("destroy.yml")["destroy"]["with"]
    assert (
        caller["keep-alive"] == "${{ github.event_name == 'schedule' && matrix.keep_alive || '' }}"
    )
    nightly = matrix_step(jobs("destroy.yml")["environments"], "destroy", "nightly")
    assert 'matrix nightly-destroy --schedule "${SCHEDULE}"' in nightly["run"]
    assert nightly["env"]["SCHEDULE"] == "${{ github.event.schedule }}"


def nightly_destroy_inputs(schedule: str = "7 14 * * *") -> tuple[dict[str, Any], dict]:
    """What destroy.yml's scheduled firing passes to destroy-environment.yml for Seoul, and the
    `github` context of that run."""
    from gitops import environments

    entry = next(
        e
        for e in environments.matrix("nightly-destroy", environments.load())["include"]
        if e["name"] == "seoul"
    )
    github = {"event_name": "schedule", "event": {"schedule": schedule}, "token": "t"}
    caller = jobs("destroy.yml")["destroy"]["with"]
    return evaluate_all(caller, {"github": github, "matrix": entry}), github


SET_UP = {
    "TF_STATE_BUCKET": "study-seoul-tfstate",
    "AWS_PLAN_ROLE_ARN": "arn:aws:iam::123456789012:role/plan",
    "AWS_APPLY_ROLE_ARN": "arn:aws:iam::123456789012:role/apply",
}


@pytest.mark.parametrize(
    ("variables", "code", "ready"),
    [
        pytest.param(SET_UP, 1, "false", id="set up, destroy role missing: fails"),
        pytest.param(
            {**SET_UP, "AWS_DESTROY_ROLE_ARN": "arn:aws:iam::123456789012:role/destroy"},
            0, "true", id="set up with its destroy role: destroys",
        ),
        pytest.param({}, 0, "false", id="a new clone, nothing set: skipped with a notice"),
        pytest.param(
            {"TF_STATE_BUCKET": "b"}, 0, "false", id="half set up: skipped with a notice"
        ),
    ],
)  # fmt: skip
def test_the_nightly_destroy_of_a_set_up_repository_fails_without_its_destroy_role(
    tmp_path: Path, variables: dict[str, str], code: int, ready: str
) -> None:
    """A repository with its state bucket and deploy roles set runs AWS; a missing destroy role
    there must make the nightly run red, never green with a notice while the stack runs on."""
    inputs, github = nightly_destroy_inputs()
    assert inputs["role"] == "AWS_DESTROY_ROLE_ARN"
    step = next(s for s in jobs("destroy-environment.yml")["decide"]["steps"]
                if s.get("id") == "check")  # fmt: skip
    out = tmp_path / "out"
    env = {"GITHUB_REF": "refs/heads/main", "GITHUB_OUTPUT": str(out)}
    contexts = {"inputs": inputs, "vars": variables, "github": github}
    assert run_gitops_step(step, contexts, env) == code
    assert f"ready={ready}" in out.read_text(encoding="utf-8")


def test_the_deploy_refuses_while_the_nightly_destroy_or_its_watchdog_is_disabled(
    fake_github: Any, tmp_path: Path
) -> None:
    """The deploy's preflight step, run as written with the fake GitHub: a disabled nightly
    destroy (or a disabled watchdog, which nothing else would notice) stops the deploy before
    it plans; active ones let it go on."""
    from gitops.github import watchdog

    from tests.fake_github import REPO, TOKEN

    for workflow in (watchdog.DESTROY_WORKFLOW, watchdog.WATCHDOG_WORKFLOW):
        assert "schedule" in WORKFLOWS[workflow]["on"], workflow
    preflight = jobs("deploy-environment.yml")["preflight"]
    names = [s.get("name") for s in preflight["steps"]]
    step = next(s for s in preflight["steps"] if "gitops watchdog" in str(s.get("run", "")))
    assert names.index(step["name"]) > names.index("Is AWS OIDC configured?")
    assert step["if"] == "steps.check.outputs.ready == 'true'"
    assert preflight["permissions"]["actions"] == "read"
    deploy = jobs("deploy.yml")["deploy"]["with"]
    assert deploy["keep-alive"] == "${{ matrix.keep_alive }}"
    inputs = {"environment": "seoul", "keep-alive": "KEEP_SEOUL_UNTIL"}
    contexts = {"inputs": inputs, "vars": {}, "github": {"token": TOKEN}}
    env = {"GITHUB_API_URL": fake_github.base, "GITHUB_REPOSITORY": REPO,
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}  # fmt: skip
    fake_github.workflow(watchdog.DESTROY_WORKFLOW, created_at="2099-01-01T00:00:00Z")
    fake_github.workflow(watchdog.WATCHDOG_WORKFLOW)
    assert run_gitops_step(step, contexts, env) == 0
    for workflow in (watchdog.DESTROY_WORKFLOW, watchdog.WATCHDOG_WORKFLOW):
        fake_github.workflows[workflow]["state"] = "disabled_inactivity"
        assert run_gitops_step(step, contexts, env) == 1, workflow
        fake_github.workflows[workflow]["state"] = "active"


def test_the_watchdog_reads_the_state_with_the_plan_role_and_files_one_issue() -> None:
    watch = jobs("watchdog.yml")["watch"]
    assert watch["with"]["role-to-assume"] == "${{ vars[matrix.plan_role] }}"
    assert watch["with"]["role-variable"] == "${{ matrix.plan_role }}"
    assert watch["with"]["keep-alive"] == "${{ matrix.keep_alive }}"
    matrix = matrix_step(jobs("watchdog.yml")["environments"], "watch")
    assert "matrix nightly-destroy --github-output watch" in matrix["run"]
    called = jobs("watchdog-environment.yml")
    stack, report = called["stack"], called["report"]
    assert "issues" not in stack["permissions"], "the job with AWS credentials writes no issue"
    assert "id-token" not in report["permissions"], "the job that writes the issue has no AWS"
    assert report["needs"] == "stack" and report["if"] == "always()"
    run = shlex.split(report["steps"][-1]["run"])
    assert run[:3] == ["gitops", "watchdog", "check"] and "--issue" in run
    env = report["steps"][-1]["env"]
    assert env["KEEP_ALIVE"] == "${{ vars[inputs.keep-alive] }}"
    assert env["STACK_RESULT"] == "${{ needs.stack.result }}"
    assert env["RESOURCES"] == "${{ needs.stack.outputs.resources }}"
    count = next(s for s in stack["steps"] if s.get("id") == "state")
    assert shlex.split(count["run"])[:3] == ["gitops", "watchdog", "stack"]


def test_schedules_match_the_documented_kst_hours() -> None:
    """The repository-wide checks (drift, watchdog) run at the team's hours in Korea; each of
    the nightly destroy's lines says whose destroy it fires, at that environment's own local
    time and zone (a line may serve several environments)."""
    docs = (ROOT / "docs" / "PIPELINE.md").read_text(encoding="utf-8")
    kst = {}
    for name in ("drift.yml", "watchdog.yml"):
        crons = [entry["cron"] for entry in WORKFLOWS[name]["on"]["schedule"]]
        assert crons, name
        kst[name] = [cron_to_kst(cron) for cron in crons]
        for hour in kst[name]:
            assert f"{hour} KST" in TEXTS[name], f"{name} does not comment its KST time"
    described = environments.load()
    lines = re.findall(r'^\s*- cron: "([^"]+)" # (.+)$', TEXTS["destroy.yml"], re.MULTILINE)
    assert lines, "destroy.yml has no commented schedule"
    for cron, comment in lines:
        due = [env for env in described.values() if env.nightly and cron in env.nightly.crons()]
        assert due, f"destroy.yml fires at {cron!r} for no environment"
        for env in due:
            assert env.nightly is not None
            for part in (env.relpath, env.nightly.at, env.nightly.time_zone):
                assert part in comment, f"destroy.yml's {cron!r} comment does not say {part}"
    # The docs give the drift check's and the watchdog's hours, and the nightly destroy of the
    # environment they walk through (Seoul); another environment's is in its own description.
    seoul = described["seoul"].nightly
    assert seoul is not None and seoul.time_zone == "Asia/Seoul"
    for hour in (*kst["drift.yml"], *kst["watchdog.yml"], seoul.at):
        assert f"{hour} KST" in docs, f"docs/PIPELINE.md does not mention {hour} KST"
    destroys = [cron_to_kst(cron) for cron, _ in lines]
    assert max(kst["drift.yml"]) < min(destroys), "drift runs before the destroy"


def test_drift_issue_follows_the_check() -> None:
    drift = jobs("drift-environment.yml")
    assert drift["check"]["with"]["command"] == "drift"
    issue = drift["issue"]
    assert "needs.check.outputs.status == 'drift'" in issue["if"]
    assert "needs.check.outputs.status == 'clean'" in issue["if"]
    step = next(s for s in issue["steps"] if "run" in s)
    assert step["run"].startswith('gitops comment drift --env "${TF_ENV}"')
    assert step["env"]["TF_ENV"] == "${{ inputs.environment }}"
    assert TERRAFORM["on"]["workflow_call"]["outputs"]["status"]["value"] == (
        "${{ jobs.plan.outputs.status }}"
    )
    drift_step = next(s for s in TERRAFORM["jobs"]["plan"]["steps"] if s.get("id") == "drift")
    assert "--status 0=clean --status 2=drift" in drift_step["run"]
    assert "-- make drift" in drift_step["run"]


def test_aws_jobs_skip_with_a_notice_where_oidc_is_not_configured() -> None:
    for name in ("deploy-environment.yml", "drift-environment.yml", "destroy-environment.yml"):
        first = next(iter(jobs(name).values()))
        step = next(s for s in first["steps"] if "gitops preflight" in s.get("run", ""))
        # Each role is required under the name the description gives it, so the notice names
        # the repository variable to set.
        for arg in shlex.split(step["run"]):
            label = re.fullmatch(r"(\w+)=\$\{(\w+)\}", arg)
            if label:
                assert step["env"][label[2]].startswith("${{ inputs."), f"{name}: {arg}"
                assert step["env"][label[1]].startswith("${{ vars[inputs."), f"{name}: {arg}"
        assert "--require TF_STATE_BUCKET" in step["run"], name
    assert jobs("deploy-environment.yml")["plan"]["if"] == (
        "needs.preflight.outputs.ready == 'true'"
    )
    assert jobs("drift-environment.yml")["check"]["if"] == (
        "needs.preflight.outputs.ready == 'true'"
    )


# --- behaviour on GitHub's runners -----------------------------------------------------------


def run_logged_steps() -> Iterator[tuple[str, str, list[str]]]:
    for name, job_id, step in all_steps():
        tokens = shlex.split(step.get("run", ""))
        tokens = tokens[1:] if tokens[:1] == ["exec"] else tokens
        if tokens[:2] == ["gitops", "run-logged"]:
            yield name, job_id, tokens


def option_values(tokens: list[str], option: str) -> list[str]:
    own = tokens[: tokens.index("--")] if "--" in tokens else tokens
    return [own[i + 1] for i, token in enumerate(own[:-1]) if token == option]


def test_an_outcome_behind_make_is_read_from_a_status_file() -> None:
    """GNU make exits 2 for any failed recipe: an exit code other than 0 that means an outcome
    (drift) cannot be told from an error through make without the status file."""
    checked = 0
    for name, job_id, tokens in run_logged_steps():
        command = tokens[tokens.index("--") + 1 :]
        outcomes = [v for v in option_values(tokens, "--status") if not v.startswith("0=")]
        if command[0] == "make" and outcomes:
            checked += 1
            assert option_values(tokens, "--status-file"), f"{name}:{job_id}: {outcomes}"
    assert checked >= 1


def test_summary_titles_name_the_operation_not_its_result() -> None:
    """run_logged heads the summary `TITLE: outcome`; a title such as "Destroyed in seoul"
    would head a failed destroy as if it had succeeded."""
    titles = 0
    for name, job_id, tokens in run_logged_steps():
        for title in option_values(tokens, "--title"):
            titles += 1
            first = title.split()[0]
            assert not re.fullmatch(r"[A-Za-z]+ed", first), f"{name}:{job_id}: {title!r}"
    assert titles >= 3


def test_pull_request_has_one_gate_that_needs_every_job() -> None:
    docs = (ROOT / "docs" / "PIPELINE.md").read_text(encoding="utf-8")
    section = docs.split("## Required checks", 1)
    assert len(section) == 2, "docs/PIPELINE.md has no 'Required checks' section"
    required = section[1].split("\n## ", 1)[0]
    pr_workflows = [name for name, wf in WORKFLOWS.items() if "pull_request" in wf["on"]]
    assert pr_workflows
    for name in pr_workflows:
        all_ids = set(WORKFLOWS[name]["jobs"])
        gates = [
            (job_id, job)
            for job_id, job in WORKFLOWS[name]["jobs"].items()
            if any("gitops checks-gate" in s.get("run", "") for s in job.get("steps", []))
        ]
        assert len(gates) == 1, f"{name}: expected one gate job"
        job_id, gate = gates[0]
        # Skipped jobs count as passed for a required check: the gate must run whatever happened.
        assert gate["if"] == "always()", f"{name}:{job_id}"
        needs = gate["needs"] if isinstance(gate["needs"], list) else [gate["needs"]]
        assert set(needs) == all_ids - {job_id}, f"{name}:{job_id} misses jobs"
        step = next(s for s in gate["steps"] if "gitops checks-gate" in s.get("run", ""))
        assert step["env"]["NEEDS"] == "${{ toJSON(needs) }}"
        assert f"`{gate['name']}`" in required, f"{gate['name']!r} not listed as required"


def test_a_plan_waiting_for_approval_outlives_the_wait() -> None:
    """A deployment may wait 30 days for a reviewer, counted from when the apply job asks, after
    the plan's upload: its plan artifact must still be there, so it is kept a day longer."""
    upload = next(
        s for s in TERRAFORM["jobs"]["plan"]["steps"] if uses_of(s) == "actions/upload-artifact"
    )
    assert upload["with"]["retention-days"] == "${{ inputs.retention-days }}"
    applied = 0
    for name, _, job in reusable_callers("apply"):
        artifact = job["with"]["artifact-name"]
        planners = [
            (job_id, j)
            for n, job_id, j in reusable_callers("plan")
            if n == name and j["with"].get("artifact-name") == artifact
        ]
        assert planners, f"{name}: nothing uploads {artifact}"
        for job_id, planner in planners:
            applied += 1
            assert planner["with"].get("retention-days", 7) >= 31, f"{name}:{job_id}"
    assert applied


def reusable_inputs(caller: dict[str, Any], workflow: dict[str, Any]) -> dict[str, Any]:
    """The inputs a caller's `with:` gives a reusable workflow, its defaults filled in. Values
    the caller computes from its own contexts stay as written (only the names matter here)."""
    declared = workflow["on"]["workflow_call"]["inputs"]
    given = {**{k: v.get("default") for k, v in declared.items()}, **caller["with"]}
    return {k: (v if v != "${{ matrix.name }}" else "seoul") for k, v in given.items()}


def uploaded_paths(steps: list[dict[str, Any]], contexts: dict[str, Any]) -> list[str]:
    """The paths the upload steps whose `if` holds (for a run whose jobs succeeded) upload."""
    paths = []
    for step in steps:
        if uses_of(step) == "actions/upload-artifact" and evaluate(
            step.get("if", "${{ success() }}"), contexts
        ):
            paths += [p.strip() for p in str(step["with"]["path"]).splitlines() if p.strip()]
    return paths


RAW_PLANS = ".artifacts/plans"  # where `make plan` leaves the saved plan and its JSON


def test_raw_plans_are_uploaded_by_deploys_alone() -> None:
    """A saved plan and its `show -json` (prior state included) are downloadable by anyone who
    can read the repository: a pull request and a drift check upload only the redacted preview
    (what the preview job and the drift issue need); only the deploy uploads the plan its apply
    applies, kept as long as an approval may wait."""
    plan_steps = TERRAFORM["jobs"]["plan"]["steps"]
    seen = set()
    for name, job_id, caller in [*reusable_callers("plan"), *reusable_callers("drift")]:
        inputs = reusable_inputs(caller, TERRAFORM)
        paths = uploaded_paths(plan_steps, {"inputs": inputs})
        seen.add(name)
        if name == "deploy-environment.yml":
            assert paths == [f"{RAW_PLANS}/"], f"{name}:{job_id}"
            assert caller["with"]["retention-days"] >= 31
        else:
            assert paths == [".artifacts/preview/"], f"{name}:{job_id} uploads {paths}"
    assert seen == {"pr.yml", "deploy-environment.yml", "drift-environment.yml"}
    for name, job_id, step in all_steps():
        if name != "terraform.yml" and uses_of(step) == "actions/upload-artifact":
            assert RAW_PLANS not in str(step["with"]["path"]), f"{name}:{job_id}"
    # What leaves a pull request's plan job is the redacted model the preview step writes.
    for steps in (plan_steps, jobs("pr.yml")["plan-emulated"]["steps"]):
        preview = next(s for s in steps if str(s.get("run", "")).startswith("gitops preview"))
        assert "--redacted-out .artifacts/preview" in preview["run"]


def test_aws_sessions_outlive_the_job() -> None:
    """A job may run until its timeout, and Terraform needs its credentials to the end (to save
    its state): the session lasts at least as long as the job may (default: 1 hour), and no
    longer than the MaxSessionDuration docs/PIPELINE.md tells to give the roles."""
    documented = re.search(
        r"--max-session-duration (\d+)", (ROOT / "docs" / "PIPELINE.md").read_text()
    )
    assert documented
    for name, job_id, job in all_jobs():
        for step in job.get("steps", []):
            if uses_of(step) == "aws-actions/configure-aws-credentials":
                seconds = int(step["with"].get("role-duration-seconds", 3600))
                assert seconds >= job["timeout-minutes"] * 60, f"{name}:{job_id}"
                assert seconds <= max(3600, int(documented[1])), f"{name}:{job_id}"


def test_the_apply_job_has_time_for_the_lock_wait_and_a_database_apply() -> None:
    """30 minutes waiting for the state lock, about 15 for an apply that creates or replaces
    the database, and the set-up: 60 minutes was too tight."""
    apply = TERRAFORM["jobs"]["apply"]
    wait = int(apply["env"]["TF_CLI_ARGS_apply"].removeprefix("-lock-timeout=").rstrip("m"))
    assert apply["timeout-minutes"] >= wait + 15 + 30, apply["timeout-minutes"]


def test_re_running_failed_jobs_finds_and_replaces_artifacts() -> None:
    """A re-run is the same run: artifacts of earlier attempts stay, and an upload of a name
    that exists fails unless it overwrites. A name with run_attempt in it is never found by a
    job re-run on its own in a later attempt."""
    for name, job_id, step in all_steps():
        if uses_of(step) == "actions/upload-artifact":
            assert step["with"].get("overwrite") is True, f"{name}:{job_id}"
        if uses_of(step) == "actions/download-artifact":
            wanted = f"{step['with'].get('name', '')} {step['with'].get('pattern', '')}"
            assert "run_attempt" not in wanted, f"{name}:{job_id}: {wanted}"
    for name, job_id, job in reusable_callers():
        artifact = str(job["with"].get("artifact-name", ""))
        assert "run_attempt" not in artifact, f"{name}:{job_id}: {artifact}"


def test_manual_runs_refuse_early_off_main() -> None:
    """The roles trust main only: a run started from another branch stops in its preflight."""
    gated = 0
    for name, workflow in WORKFLOWS.items():
        if "pull_request" in workflow["on"]:
            continue  # plans of a pull request run on its merge ref, read-only
        for job_id, job in workflow["jobs"].items():
            if job.get("uses") != REUSABLE:
                continue
            gated += 1
            runs = [
                s["run"]
                for need in needs_closure(workflow, job_id)
                for s in workflow["jobs"][need].get("steps", [])
                if "gitops preflight" in s.get("run", "")
            ]
            assert runs, f"{name}:{job_id} has no preflight"
            for run in runs:
                assert "--main-only" in shlex.split(run), f"{name}:{job_id}: {run}"
    assert gated >= 4
    # The manual destroy's typed confirmation is refused off main before anything else.
    confirm = next(
        s for s in jobs("destroy.yml")["environments"]["steps"] if "--confirm" in s.get("run", "")
    )
    assert "--main-only" in shlex.split(confirm["run"])


def test_a_cancelled_apply_or_destroy_reaches_terraform() -> None:
    """GitHub's runner sends SIGINT, then SIGTERM, to the step's own process only; a shell in
    between neither passes them on nor survives SIGTERM, and Terraform is left to be killed.
    With `exec`, run_logged is that process and turns them into one SIGINT for Terraform."""
    found = 0
    for name, job_id, step in all_steps():
        run = step.get("run", "")
        if re.search(r"\bmake (apply|destroy)\b", run):
            found += 1
            assert run.startswith("exec gitops run-logged "), f"{name}:{job_id}"
    assert found == 2


def test_what_to_do_after_a_cancelled_deploy_is_documented() -> None:
    docs = (ROOT / "docs" / "PIPELINE.md").read_text(encoding="utf-8")
    assert "## After a cancelled deploy" in docs
    section = docs.split("## After a cancelled deploy", 1)[1].split("\n## ", 1)[0]
    assert "make unlock ENV=seoul" in section and "MaxSessionDuration" in docs


def test_the_variables_table_lists_each_name_once_and_every_name_the_workflows_read() -> None:
    docs = (ROOT / "docs" / "PIPELINE.md").read_text(encoding="utf-8")
    # The one table of variables and secrets, found by its header row wherever the set-up
    # steps put it.
    header = "| Name | Kind | Required | Read by | Meaning |"
    assert docs.count(header) == 1, "PIPELINE.md should have exactly one variables table"
    section = docs.split(header, 1)[1].split("\n\n", 1)[0]
    names = re.findall(r"^\| `([A-Z_]+)` \| (?:variable|secret) \|", section, flags=re.M)
    assert names and len(names) == len(set(names)), names
    read = set()
    for text in TEXTS.values():
        read |= set(re.findall(r"\b(?:vars|secrets)\.([A-Z_]+)\b", text))
    assert read - {"GITHUB_TOKEN"} <= set(names), read - set(names)


def test_re_runs_are_documented_where_they_differ_from_a_plain_re_run() -> None:
    """A failed apply needs a new deploy run (a re-run applies a stale plan); deploy and drift
    are matrices of nested reusable workflows, re-run with "Re-run all jobs"."""
    docs = " ".join((ROOT / "docs" / "PIPELINE.md").read_text(encoding="utf-8").split())
    section = docs.split("**Re-running failed jobs.**", 1)[1].split("- **Terraform version", 1)[0]
    assert "An apply that failed half-way needs a new deploy run**" in section
    assert "*Re-run all jobs*" in section and "actions/runner#2810" in section
    assert "smoke" in section


# --- the rules every workflow keeps, and proof that each one catches a broken workflow -------
#
# Each rule reads one loaded workflow (or its text, where YAML drops what it checks: comments)
# and returns what breaks it. The tests above apply them to every workflow; the tests below
# break a copy of a real workflow in one way each and expect the rule to say so.

WRITERS = {
    "./.github/workflows/deploy-environment.yml",
    "./.github/workflows/destroy-environment.yml",
}


def unversioned_pins(text: str) -> list[str]:
    """`uses:` lines of a SHA pin without the `# vX.Y.Z` comment that says what it is."""
    return [
        line.strip()
        for line in text.splitlines()
        if re.match(r"^\s*(-\s+)?uses:\s+[\w.-]+/[\w./-]+@[0-9a-f]{40}", line)
        and not SHA_PIN.match(line)
    ]


def wide_top_permissions(workflow: dict[str, Any]) -> list[str]:
    permissions = workflow.get("permissions", "missing")
    return [] if permissions in ({}, {"contents": "read"}) else [f"permissions: {permissions}"]


def uncommented_writes(text: str) -> list[str]:
    """Widened permissions without a comment saying why."""
    return [
        line.strip()
        for line in text.splitlines()
        if re.match(r"^\s+[a-z-]+:\s+write\b", line) and "#" not in line
    ]


def missing_timeouts(workflow: dict[str, Any]) -> list[str]:
    """Jobs without a timeout-minutes in (0, 90]; a called workflow's jobs carry their own."""
    return [
        job_id
        for job_id, job in workflow["jobs"].items()
        if "uses" not in job
        and not (isinstance(job.get("timeout-minutes"), int) and 0 < job["timeout-minutes"] <= 90)
    ]


def expressions_in_run(workflow: dict[str, Any]) -> list[str]:
    """`${{ }}` inside a `run:` script: expanded into the shell before it parses (injection)."""
    return [
        f"{job_id}: {step['run']}"
        for job_id, job in workflow["jobs"].items()
        for step in job.get("steps", [])
        if "${{" in str(step.get("run", ""))
    ]


def unbound_writers(workflow: dict[str, Any]) -> list[str]:
    """Jobs that run an apply or a destroy outside a GitHub environment (no approval gate)."""
    return [
        job_id
        for job_id, job in workflow["jobs"].items()
        if any(
            re.search(r"\bmake (apply|destroy)\b", str(s.get("run", "")))
            for s in job.get("steps", [])
        )
        and not job.get("environment")
    ]


def cancellable_writers(workflow: dict[str, Any]) -> list[str]:
    """Jobs that apply or destroy (themselves or through a called workflow) and that a newer
    run could cancel half-way: no concurrency group, or cancel-in-progress not false."""
    if "workflow_call" in workflow["on"]:
        return []  # runs inside its caller's group
    problems = []
    for job_id, job in workflow["jobs"].items():
        writes = job.get("uses") in WRITERS or any(
            re.search(r"\bmake (apply|destroy)\b", str(s.get("run", "")))
            for s in job.get("steps", [])
        )
        concurrency = job.get("concurrency") or workflow.get("concurrency")
        if writes and not (
            isinstance(concurrency, dict)
            and concurrency.get("group")
            and concurrency.get("cancel-in-progress") is False
        ):
            problems.append(job_id)
    return problems


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_every_workflow_keeps_the_rules(name: str) -> None:
    workflow, text = WORKFLOWS[name], TEXTS[name]
    assert not unversioned_pins(text), unversioned_pins(text)
    assert not wide_top_permissions(workflow), wide_top_permissions(workflow)
    assert not uncommented_writes(text), uncommented_writes(text)
    assert not missing_timeouts(workflow), missing_timeouts(workflow)
    assert not expressions_in_run(workflow), expressions_in_run(workflow)
    assert not unbound_writers(workflow), unbound_writers(workflow)
    assert not cancellable_writers(workflow), cancellable_writers(workflow)
    assert not foreign_runs(workflow, makefile_targets()), foreign_runs(
        workflow, makefile_targets()
    )


def _first_step_job(workflow: dict[str, Any]) -> dict[str, Any]:
    return next(job for job in workflow["jobs"].values() if job.get("steps"))


def _first_run(workflow: dict[str, Any]) -> dict[str, Any]:
    return next(s for job in workflow["jobs"].values() for s in job.get("steps", []) if "run" in s)


def _writer_caller(workflow: dict[str, Any]) -> dict[str, Any]:
    return next(job for job in workflow["jobs"].values() if job.get("uses") in WRITERS)


BREAKAGES = {
    "job-without-timeout": (
        "pr.yml", missing_timeouts, lambda w: _first_step_job(w).pop("timeout-minutes"),
    ),
    "job-with-a-six-hour-timeout": (
        "terraform.yml", missing_timeouts,
        lambda w: w["jobs"]["apply"].update({"timeout-minutes": 360}),
    ),
    "expression-in-run": (
        "pr.yml", expressions_in_run,
        lambda w: _first_run(w).update(run='make plan "ENV=${{ matrix.name }}"'),
    ),
    "top-level-write-all": (
        "drift.yml", wide_top_permissions, lambda w: w.update(permissions="write-all"),
    ),
    "top-level-permissions-missing": (
        "pr.yml", wide_top_permissions, lambda w: w.pop("permissions"),
    ),
    "apply-outside-its-environment": (
        "terraform.yml", unbound_writers, lambda w: w["jobs"]["apply"].pop("environment"),
    ),
    "deploy-cancel-in-progress": (
        "deploy.yml", cancellable_writers,
        lambda w: _writer_caller(w)["concurrency"].update({"cancel-in-progress": True}),
    ),
    "destroy-without-concurrency": (
        "destroy.yml", cancellable_writers,
        lambda w: (w.pop("concurrency", None), _writer_caller(w).pop("concurrency", None)),
    ),
}  # fmt: skip
RUN_BREAKAGES = {
    "run-a-downloaded-script": "curl -sSf https://example.com/install.sh | sh",
    "run-an-unknown-make-target": "make no-such-target",
    "run-an-unknown-gitops-verb": "gitops no-such-verb",
    "run-two-commands": "make lint\nmake test-unit",
    "run-a-command-substitution": "make plan ENV=$(cat env)",
}
TEXT_BREAKAGES = {
    "write-permission-without-a-reason": (
        uncommented_writes, lambda t: re.sub(r"(:\s+write)\s+#.*", r"\1", t, count=1),
    ),
    "sha-pin-without-a-version-comment": (
        unversioned_pins, lambda t: re.sub(r"(@[0-9a-f]{40})\s+#\s+v[0-9.]+", r"\1", t, count=1),
    ),
}  # fmt: skip


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_each_rule_catches_a_broken_workflow(breakage: str) -> None:
    name, rule, breaks = BREAKAGES[breakage]
    broken = copy.deepcopy(WORKFLOWS[name])
    assert not rule(broken), f"{name} breaks {rule.__name__} before the breakage"
    breaks(broken)
    assert rule(broken), f"{rule.__name__} missed {breakage} in {name}"


@pytest.mark.parametrize("breakage", sorted(RUN_BREAKAGES))
def test_the_run_rule_catches_a_step_that_is_not_repository_code(breakage: str) -> None:
    targets = makefile_targets()
    broken = copy.deepcopy(WORKFLOWS["pr.yml"])
    assert not foreign_runs(broken, targets)
    _first_run(broken)["run"] = RUN_BREAKAGES[breakage]
    assert foreign_runs(broken, targets), f"foreign_runs missed {breakage}"


@pytest.mark.parametrize("breakage", sorted(TEXT_BREAKAGES))
def test_the_text_rules_catch_a_broken_workflow(breakage: str) -> None:
    rule, breaks = TEXT_BREAKAGES[breakage]
    broken = {name: breaks(text) for name, text in TEXTS.items() if breaks(text) != text}
    assert broken, f"no workflow has what {breakage} removes"
    for name, text in broken.items():
        assert not rule(TEXTS[name]) and rule(text), f"{rule.__name__} missed {breakage} in {name}"
