"""The `gitops` command: one way in to every verb, and the shims the docs' command lines use."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from gitops import cli, environments
from gitops.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "scripts" / "gitops"


@pytest.mark.parametrize("verb", sorted(cli.COMMANDS))
def test_every_verb_reaches_a_main(verb: str) -> None:
    module_name, help_text = cli.COMMANDS[verb]
    module = importlib.import_module(module_name)
    assert callable(module.main), module_name
    assert help_text and "\n" not in help_text


def test_help_lists_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    shown = capsys.readouterr().out
    for verb in cli.COMMANDS:
        assert re.search(rf"^\s+{re.escape(verb)}\b", shown, re.M), verb


def test_an_unknown_verb_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["deploy-everything"])
    assert exc.value.code == 2
    assert "unknown command 'deploy-everything'" in capsys.readouterr().err


def test_the_installed_command_dispatches(tmp_path: Path) -> None:
    gitops = Path(sys.executable).parent / "gitops"
    proc = subprocess.run(
        [str(gitops), "envs", "list"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == list(environments.names())


@pytest.mark.parametrize("shim", ["plan_preview.py", "preview.py"])
def test_the_documented_shims_run_from_any_directory_without_the_install(
    tmp_path: Path, shim: str
) -> None:
    """`python3 scripts/plan_preview.py ...` as the docs show: -S leaves site-packages (and the
    editable install) out, so the package is found only beside the shim."""
    proc = subprocess.run(
        [sys.executable, "-S", str(REPO_ROOT / "scripts" / shim), "--help"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage:")


def python_files() -> list[Path]:
    return sorted(
        p
        for top in ("scripts", "app", "tests")
        for p in (REPO_ROOT / top).rglob("*.py")
        if ".egg-info" not in str(p)
    )


def test_nothing_patches_the_import_path() -> None:
    needle = "sys" + ".path"  # spelled apart, so a grep for it finds nothing here either
    offenders = [str(p.relative_to(REPO_ROOT)) for p in python_files() if needle in p.read_text()]
    assert offenders == []


def test_the_package_never_runs_our_own_python_as_a_subprocess() -> None:
    """Subprocesses are for other programs (Terraform, LocalStack, MariaDB, make, git)."""
    ours = re.compile(r"sys\.executable(?!, \"-m\", \"pip\")|\"scripts\" / |\.py\"\]")
    offenders = [
        f"{p.relative_to(REPO_ROOT)}:{n}"
        for p in PACKAGE.rglob("*.py")
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if ours.search(line)
    ]
    assert offenders == []  # pip, run by this interpreter, is another program


def test_one_home_for_the_shared_constants() -> None:
    """The repository root, Terraform's CLI config, the emulator endpoint and the boto3 factory
    are defined once."""
    sources = {p: p.read_text() for p in PACKAGE.rglob("*.py")}
    rules = {
        "REPO_ROOT = ": PACKAGE / "paths.py",
        '"cli.tfrc"': PACKAGE / "paths.py",
        "localhost:4566": PACKAGE / "aws.py",
        "boto3.client(": PACKAGE / "aws.py",
    }
    for needle, home in rules.items():
        where = [str(p.relative_to(REPO_ROOT)) for p, text in sources.items() if needle in text]
        assert where == [str(home.relative_to(REPO_ROOT))], needle
