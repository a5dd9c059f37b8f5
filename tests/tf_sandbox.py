"""Throwaway copies of the Terraform roots for the guardrail tests (bad inputs, faults, unlock).

A sandbox holds envs/, modules/ and app/ in the repository's layout (symlinks kept, so
envs/<env>/common_*.tf still point at envs/common/), without any .terraform directory, state or
lock file of the real checkout. Terraform runs there with the project's CLI config
(.cache/terraform/cli.tfrc from `make setup`), so `init` takes providers from the local mirror.
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


def fake_terraform_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> Path:
    """A `terraform` on PATH running `script` ({python} stands for this interpreter)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "terraform"
    fake.write_text(script.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return fake
