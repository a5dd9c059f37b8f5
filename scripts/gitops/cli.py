"""The `gitops` command: parses the verb and hands over to its module's `main`.

Each verb lives in the subpackage of its concern; this module only dispatches.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# verb -> (module, one-line help). Modules expose main(argv) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    # environments and Terraform
    "envs": ("gitops.environments", "list, check and turn envs/*/environment.toml into matrices"),
    "tf": (
        "gitops.terraform.runner",
        "plan, apply, destroy, drift, ... one environment",
    ),
    "unlock": ("gitops.terraform.unlock", "show or remove an environment's state lock"),
    "replace-check": (
        "gitops.terraform.replace",
        "is a plan exactly the replacement requested? (deploy's replace input)",
    ),
    "ami": ("gitops.terraform.ami", "pin an environment's AMI to the region's current AL2023"),
    "bootstrap": ("gitops.terraform.bootstrap", "apply the OIDC roles' bootstrap root"),
    "mirror": ("gitops.terraform.mirror", "point Terraform at a provider mirror and plugin cache"),
    # the local pipeline
    "pipeline": (
        "gitops.pipeline.stages",
        "the local rehearsal: up, down, e2e",
    ),
    "smoke": ("gitops.pipeline.smoke", "check an applied stack: user data, database, app, network"),
    "localstack": ("gitops.pipeline.localstack", "start, stop or show the LocalStack emulator"),
    "db-standin": ("gitops.pipeline.db_standin", "start, stop or show the MySQL stand-in"),
    # the plan preview
    "plan-preview": ("gitops.preview.cli", "plan JSON files as one Markdown preview"),
    "preview": ("gitops.preview.plans_dir", "preview a directory of plans, with outputs for CI"),
    "plan-digest": ("gitops.preview.digest", "compare an applied plan with its reviewed preview"),
    "prices": ("gitops.preview.pricelist", "check the price tables; import a region's from AWS"),
    # the GitHub side
    "comment": ("gitops.github.comments", "the PR plan comment and the drift issue"),
    "preflight": ("gitops.github.preflight", "may this run use AWS (OIDC configured, trusted)?"),
    "env-gate": ("gitops.github.env_gate", "check a GitHub environment's protection rules"),
    "checks-gate": ("gitops.github.checks_gate", "the PR's required check: red unless all passed"),
    "keep-alive": ("gitops.github.keep_alive", "skip the nightly destroy while KEEP_*_UNTIL holds"),
    "watchdog": ("gitops.github.watchdog", "is the nightly destroy happening? (deploy, daily)"),
    "run-logged": ("gitops.github.run_logged", "run a command, keep its log, report its outcome"),
    "github-setup": ("gitops.github.setup", "environments, ruleset and variables via the API"),
    "apply-report": ("gitops.github.apply_report", "the apply's outcome as a PR comment"),
    # the web tier's own tooling
    "image-lock": ("gitops.web.image_lock", "cut the app image's lock from the app's uv lock"),
    # repository hooks and benchmarks
    "hook-terraform-validate": (
        "gitops.hooks.terraform_validate",
        "pre-commit: terraform validate",
    ),
    "hook-tflint": ("gitops.hooks.tflint", "pre-commit: tflint every module and root"),
    "hook-iam-lint": ("gitops.hooks.iam_lint", "pre-commit: parliament over the IAM policies"),
    "bench-e2e": ("gitops.bench.e2e", "time `make e2e` several runs; median per stage"),
    "bench-app": ("gitops.bench.app", "load and fault benchmark of the app on loopback"),
    "bench-plan-preview": ("gitops.bench.plan_preview", "time the plan preview on large plans"),
    "bench-tests": ("gitops.bench.tests", "time each test tier's make target once"),
    "bench-setup": ("gitops.bench.setup", "time pip against uv installing the same lock files"),
}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="gitops", description=__doc__)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (_module, help_text) in COMMANDS.items():
        sub.add_parser(verb, help=help_text, add_help=False)
    if not args or args[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if args else 2
    verb, rest = args[0], args[1:]
    if verb not in COMMANDS:
        parser.error(f"unknown command {verb!r}; known: {', '.join(COMMANDS)}")
    module = importlib.import_module(COMMANDS[verb][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
