"""gitops.github.preflight: AWS jobs run only where OIDC is configured and the run may use it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gitops.github import preflight
from gitops.github.preflight import check

CONFIGURED = {"AWS_PLAN_ROLE_ARN": "arn:aws:iam::123456789012:role/plan", "TF_STATE_BUCKET": "b"}
REQUIRED = ["AWS_PLAN_ROLE_ARN", "TF_STATE_BUCKET"]


def test_configured_repository_is_ready() -> None:
    verdict = check("Seoul plan", REQUIRED, CONFIGURED)
    assert verdict.ready and not verdict.fatal


def test_missing_variables_skip_and_name_them() -> None:
    verdict = check("Seoul plan", REQUIRED, {"AWS_PLAN_ROLE_ARN": "  "})
    assert not verdict.ready and not verdict.fatal
    assert "AWS_PLAN_ROLE_ARN, TF_STATE_BUCKET" in verdict.reason
    assert "docs/PIPELINE.md" in verdict.reason


def test_pull_request_from_a_fork_is_skipped_even_when_configured() -> None:
    environ = {**CONFIGURED, "HEAD_REPO": "someone/fork", "BASE_REPO": "owner/repo"}
    verdict = check("Seoul plan", REQUIRED, environ, same_repo=True)
    assert not verdict.ready and "someone/fork" in verdict.reason


@pytest.mark.parametrize("head", ["owner/repo", ""])
def test_dependabot_run_is_skipped_like_a_fork(head: str) -> None:
    environ = {**CONFIGURED, "HEAD_REPO": head, "BASE_REPO": "owner/repo",
               "ACTOR": "dependabot[bot]"}  # fmt: skip
    verdict = check("AWS plans", REQUIRED, environ, same_repo=True)
    assert not verdict.ready and not verdict.fatal
    assert "dependabot[bot]" in verdict.reason and "like a fork" in verdict.reason


def test_pull_request_from_a_deleted_fork_is_treated_as_a_fork() -> None:
    """GitHub sends `head.repo` as null once the fork is deleted: the workflow's expression then
    gives an empty HEAD_REPO, which must not pass for this repository."""
    environ = {**CONFIGURED, "HEAD_REPO": "", "BASE_REPO": "owner/repo", "EVENT": "pull_request"}
    verdict = check("AWS plans", REQUIRED, environ, same_repo=True)
    assert not verdict.ready and not verdict.fatal
    assert "deleted fork" in verdict.reason and "treated as a fork" in verdict.reason


def test_a_merge_queue_run_skips_the_aws_plans_with_its_reason() -> None:
    environ = {**CONFIGURED, "HEAD_REPO": "", "BASE_REPO": "owner/repo", "EVENT": "merge_group",
               "ACTOR": "alice"}  # fmt: skip
    verdict = check("AWS plans", REQUIRED, environ, same_repo=True)
    assert not verdict.ready and not verdict.fatal
    assert "merge queue" in verdict.reason and "deploy plans main again" in verdict.reason


def test_the_skip_reason_reaches_the_gates_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the prepare job writes as `reason` is what the gate's summary shows for the skipped
    AWS plans: a Dependabot pull request is never a silent pass."""
    from gitops.github import checks_gate

    output, summary = tmp_path / "out", tmp_path / "summary"
    environ = {**CONFIGURED, "HEAD_REPO": "owner/repo", "BASE_REPO": "owner/repo",
               "ACTOR": "dependabot[bot]", "GITHUB_OUTPUT": str(output)}  # fmt: skip
    argv = ["--name", "AWS plans", "--require", "TF_STATE_BUCKET", "--same-repo"]
    assert preflight.main(argv, environ) == 0
    reason = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)[
        "reason"
    ]
    needs = {job: {"result": "success"} for job in ("prepare", "lint", "unit", "e2e", "preview")}
    needs["plan"] = {"result": "skipped"}
    gate_env = {"NEEDS": json.dumps(needs), "GITHUB_STEP_SUMMARY": str(summary)}
    assert checks_gate.main(["--skip-reason", f"plan={reason}"], gate_env) == 0
    row = next(line for line in summary.read_text().splitlines() if "`plan`" in line)
    assert "skipped: AWS plans skipped: run started by dependabot[bot]" in row


def test_someone_else_is_not_taken_for_dependabot() -> None:
    environ = {**CONFIGURED, "HEAD_REPO": "owner/repo", "BASE_REPO": "owner/repo",
               "ACTOR": "dependabot"}  # fmt: skip
    assert check("AWS plans", REQUIRED, environ, same_repo=True).ready


def test_missing_role_variable_is_an_error_that_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {"ROLE_TO_ASSUME": " ", "GITHUB_OUTPUT": str(tmp_path / "out")}
    argv = [
        "--name",
        "seoul",
        "--missing-is-error",
        "--require",
        "ROLE_TO_ASSUME=AWS_PLAN_ROLE_ARN",
    ]
    assert preflight.main(argv, environ) == 1
    out = capsys.readouterr().out
    assert "::error title=Not configured::" in out and "AWS_PLAN_ROLE_ARN is not set" in out
    assert "ready=false" in (tmp_path / "out").read_text()
    environ["ROLE_TO_ASSUME"] = "arn:aws:iam::123456789012:role/plan"
    assert preflight.main(argv, environ) == 0


def test_pull_request_from_the_same_repository_is_ready() -> None:
    environ = {**CONFIGURED, "HEAD_REPO": "owner/repo", "BASE_REPO": "owner/repo"}
    assert check("Seoul plan", REQUIRED, environ, same_repo=True).ready


@pytest.mark.parametrize("typed", ["", "Seoul", "seou", "production", None])
def test_wrong_confirmation_is_fatal(typed: str | None) -> None:
    verdict = check("Destroy", REQUIRED, CONFIGURED, confirm=typed, expect="seoul")
    assert verdict.fatal and not verdict.ready
    assert "nothing was destroyed" in verdict.reason


def test_right_confirmation_passes_with_whitespace_trimmed() -> None:
    assert check("Destroy", REQUIRED, CONFIGURED, confirm=" seoul ", expect="seoul").ready


def test_main_skips_with_a_notice_and_exit_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output, summary = tmp_path / "out", tmp_path / "summary"
    environ = {"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    argv = ["--name", "Seoul plan", "--require", "AWS_PLAN_ROLE_ARN"]
    assert preflight.main(argv, environ) == 0
    assert "ready=false" in output.read_text().splitlines()
    assert "AWS_PLAN_ROLE_ARN" in summary.read_text()
    assert capsys.readouterr().out.startswith("::notice title=Skipped::")


def test_main_ready_writes_true_and_no_summary(tmp_path: Path) -> None:
    output, summary = tmp_path / "out", tmp_path / "summary"
    environ = {**CONFIGURED, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    argv = ["--name", "x", "--require", "AWS_PLAN_ROLE_ARN", "--require", "TF_STATE_BUCKET"]
    assert preflight.main(argv, environ) == 0
    assert "ready=true" in output.read_text().splitlines()
    assert not summary.exists()


def test_main_wrong_confirmation_fails_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out"
    environ = {**CONFIGURED, "GITHUB_OUTPUT": str(output)}
    argv = ["--name", "Destroy", "--confirm", "yes", "--expect", "seoul"]
    assert preflight.main(argv, environ) == 1
    assert "ready=false" in output.read_text().splitlines()
    assert "::error title=Not confirmed::" in capsys.readouterr().out


def test_confirm_without_expect_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as err:
        preflight.main(["--name", "x", "--confirm", "seoul"], {})
    assert err.value.code == 2


# --- manual runs from a branch other than main --------------------------------------------------


def test_run_from_another_branch_is_refused_before_anything_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {
        **CONFIGURED,
        "GITHUB_REF": "refs/heads/feature/rds",
        "GITHUB_OUTPUT": str(tmp_path / "out"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
    }
    argv = ["--name", "Deploy Seoul", "--main-only", *[f"--require={v}" for v in REQUIRED]]
    assert preflight.main(argv, environ) == 1
    out = capsys.readouterr().out
    assert "::error title=Not on main::" in out
    assert "refs/heads/feature/rds" in out and "Use workflow from: main" in out
    assert "ready=false" in (tmp_path / "out").read_text()
    assert "[!CAUTION]" in (tmp_path / "summary").read_text()
    # refused even with a correct confirmation: the branch is checked first
    verdict = check("Destroy Seoul", [], environ, main_only=True, confirm="seoul", expect="seoul")
    assert verdict.fatal and "main" in verdict.reason


def test_run_from_main_passes_the_branch_check() -> None:
    environ = {**CONFIGURED, "GITHUB_REF": "refs/heads/main"}
    assert check("Deploy Seoul", REQUIRED, environ, main_only=True).ready
    # a tag or a pull request ref is not main either
    for ref in ("refs/tags/v1.0.0", "refs/pull/7/merge", ""):
        verdict = check("Deploy Seoul", REQUIRED, {**CONFIGURED, "GITHUB_REF": ref}, main_only=True)
        assert verdict.fatal and not verdict.ready, ref


def test_a_required_variable_is_named_by_its_label() -> None:
    """A job reads a role by the name an environment's description gives (`vars[...]`) into a
    fixed env name; the notice asks for the repository variable, not the env name."""
    required = ["ROLE_ARN=AWS_OSAKA_APPLY_ROLE_ARN", "TF_STATE_BUCKET"]
    verdict = check("Destroy osaka", required, {"TF_STATE_BUCKET": "b"})
    assert not verdict.ready and "variables not set: AWS_OSAKA_APPLY_ROLE_ARN;" in verdict.reason
    assert check("Destroy osaka", required, {"TF_STATE_BUCKET": "b", "ROLE_ARN": "arn"}).ready
