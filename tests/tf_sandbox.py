"""Throwaway copies for the tests that run Terraform, so no test touches the checkout's own
state, plans or artifacts (a stack someone brought up with `make up` included).

- make_sandbox: the Terraform roots alone (bad inputs, faults, unlock, validation). It holds
  envs/, modules/ and app/ in the repository's layout (symlinks kept, so envs/<env>/common_*.tf
  still point at envs/common/), without any .terraform directory, state or lock file of the real
  checkout. Terraform runs there with the project's CLI config (.cache/terraform/cli.tfrc from
  `make setup`), so `init` takes providers from the local mirror.
- copy_checkout: a whole checkout (every tracked file, the CLI config, the virtualenvs linked),
  where `checkout_environ` runs the copy's own `gitops` package and `make`: the local pipeline
  and the add-an-environment steps, with their state and .artifacts/ in the copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gitops.aws import DEFAULT_ENDPOINT
from gitops.paths import REPO_ROOT, TF_CLI_CONFIG

if TYPE_CHECKING:
    import pytest

COPIED = ("envs", "modules", "app")
LEFT_OUT = shutil.ignore_patterns(
    ".terraform", "*.tfstate", "*.tfstate.*", ".terraform.tfstate.lock.info", "*.tfplan",
    "__pycache__",
)  # fmt: skip


def make_sandbox(dest: Path) -> Path:
    """Copy the roots into dest; return dest/envs/localstack (the root the tests run)."""
    for name in COPIED:
        shutil.copytree(REPO_ROOT / name, dest / name, symlinks=True, ignore=LEFT_OUT)
    return dest / "envs" / "localstack"


def tf_environ(endpoint: str = DEFAULT_ENDPOINT, **extra: str) -> dict[str, str]:
    """Environment for terraform in a sandbox: project CLI config, never a prompt."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_VAR_", "TF_CLI_ARGS"))}
    if TF_CLI_CONFIG.exists():
        env["TF_CLI_CONFIG_FILE"] = str(TF_CLI_CONFIG)
    env.update(
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        TF_VAR_localstack_endpoint=endpoint,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION="us-east-1",
    )
    env.update(extra)
    return env


def terraform(
    root: Path,
    *args: str,
    env: dict[str, str],
    timeout: float = 600,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run terraform in root and capture its output."""
    proc = subprocess.run(
        ["terraform", *args],
        cwd=root,
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"terraform {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def init(root: Path, env: dict[str, str], *extra: str) -> None:
    terraform(root, "init", "-input=false", "-no-color", *extra, env=env, check=True)


def tracked_files() -> list[str]:
    """What a checkout holds: the tracked files and the new ones not yet committed."""
    proc = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [name for name in proc.stdout.split("\0") if name]


def copy_checkout(dest: Path) -> Path:
    """Copy the checkout's files into dest (symlinks kept as symlinks); return dest.

    The Terraform CLI config is copied (a later `gitops mirror` in the copy rewrites the copy's
    own), and the virtualenvs are shadowed (shadow_virtualenv), so `make` and LocalStack work in
    the copy the way they do in the checkout.
    """
    for name in tracked_files():
        source, target = REPO_ROOT / name, dest / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree, not yet in the index
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    if TF_CLI_CONFIG.exists():
        config = dest / TF_CLI_CONFIG.relative_to(REPO_ROOT)
        config.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TF_CLI_CONFIG, config)
    for venv in VIRTUALENVS:
        if (REPO_ROOT / venv / INSTALLED).exists():
            shadow_virtualenv(REPO_ROOT / venv, dest / venv)
    return dest


# The checkout's virtualenvs, each marked up to date by `make setup` with this file.
VIRTUALENVS = (".venv", ".venv-app", ".venv-localstack")
INSTALLED = ".installed"


def shadow_virtualenv(venv: Path, dest: Path) -> None:
    """A virtualenv in dest that is `venv` (its entries linked) with a marker of its own, newer
    than the copy's requirement files: `make` in the copy takes it as set up, and never
    reinstalls anything into the checkout's own virtualenv from the copy."""
    dest.mkdir()
    for entry in venv.iterdir():
        if entry.name != INSTALLED:
            (dest / entry.name).symlink_to(entry)
    (dest / INSTALLED).touch()


def checkout_environ(copy: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment to run `python -m gitops` in `copy` (as cwd): the copy's own package comes
    before this checkout's editable install, so its paths (envs/, .artifacts/) are the copy's.
    Nothing the checkout's Terraform config or a CI job set leaks in."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith(("TF_STATE_", "TF_VAR_", "TF_CLI_ARGS", "GITHUB_"))
        and k != "TF_CLI_CONFIG_FILE"
    }
    env["PYTHONPATH"] = str(copy / "scripts")
    return env


def fake_terraform_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> Path:
    """A `terraform` on PATH running `script` ({python} stands for this interpreter)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "terraform"
    fake.write_text(script.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return fake
