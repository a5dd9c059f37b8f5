"""pre-commit hook: `terraform validate` in each Terraform root, without a backend.

Each root is initialised with -backend=false and the committed lock file read-only, in a data
directory of its own under .cache/terraform/validate/, so the hook never touches a root's real
.terraform (its backend, its state) nor rewrites a .terraform.lock.hcl. Terraform uses the
project's CLI config (.cache/terraform/cli.tfrc, written by `make setup`) when it exists, and so
its plugin cache: with --init-only (`make providers`) the hook only initialises each root, which
fills that cache with every provider the lock files name (what CI's cache-warming job saves).

    gitops hook-terraform-validate [--init-only] [ROOT ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess

from gitops import environments
from gitops.paths import REPO_ROOT, TERRAFORM_CACHE_DIR, TF_CLI_CONFIG

# Every environment's root (a folder with a description; the `environments` hook checks the
# descriptions themselves), and the bootstrap roots (state bucket, account, roles).
ROOTS = (
    *(
        f"envs/{p.parent.name}"
        for p in sorted(environments.ENVS_DIR.glob(f"*/{environments.DESCRIPTION}"))
    ),
    "bootstrap/state-bucket",
    "bootstrap/account",
    "bootstrap/github-oidc",
)
DATA_DIRS = TERRAFORM_CACHE_DIR / "validate"


def environ_for(root: str) -> dict[str, str]:
    env = dict(os.environ)
    if TF_CLI_CONFIG.exists():  # as gitops.terraform.runner does: the project's config wins
        env["TF_CLI_CONFIG_FILE"] = str(TF_CLI_CONFIG)
    env["TF_DATA_DIR"] = str(DATA_DIRS / root.replace("/", "_"))
    env["TF_IN_AUTOMATION"] = "1"
    env["TF_INPUT"] = "0"
    env.pop("TF_CLI_ARGS_init", None)  # the flags below say exactly what init may do
    return env


def init(root: str) -> bool:
    """Init one root (no backend, lock file read-only); print a line only when it fails."""
    init = subprocess.run(
        ["terraform", "init", "-backend=false", "-input=false", "-no-color",
         "-lockfile=readonly"],
        cwd=REPO_ROOT / root, env=environ_for(root), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if init.returncode != 0:
        print(f"FAILED {root}: terraform init\n{init.stderr}{init.stdout}")
        if not TF_CLI_CONFIG.exists():
            print("hint: run `make setup` first; it points Terraform at a provider mirror")
        return False
    return True


def validate(root: str) -> bool:
    """Init and validate one root; print one line."""
    if not init(root):
        return False
    proc = subprocess.run(
        ["terraform", "validate", "-no-color"],
        cwd=REPO_ROOT / root, env=environ_for(root), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        print(f"FAILED {root}: terraform validate\n{proc.stderr}{proc.stdout}")
        return False
    print(f"ok {root}: {proc.stdout.strip()}")
    return True


def initialised(root: str) -> bool:
    if not init(root):
        return False
    print(f"ok {root}: initialised")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--init-only", action="store_true", help="init each root, no validate")
    parser.add_argument("roots", nargs="*", help="roots to check (default: every one)")
    args = parser.parse_args(argv)
    if shutil.which("terraform") is None:
        print("ERROR: terraform is not on PATH; install the version in .terraform-version")
        return 1
    roots = args.roots or [r for r in ROOTS if (REPO_ROOT / r).is_dir()]
    check = initialised if args.init_only else validate
    results = [check(root) for root in roots]
    return 0 if all(results) else 1
