"""gitops.github.checks_gate: the PR's required check is red unless every job passed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gitops.github import checks_gate as gate

FORK = "Seoul plan skipped: pull request from the fork someone/fork; forks get no AWS OIDC token"


def needs(**results: str) -> str:
    return json.dumps(
        {job.replace("_", "-"): {"result": r, "outputs": {}} for job, r in results.items()}
    )


def run(tmp_path: Path, needs_json: str | None, *argv: str) -> tuple[int, str]:
    summary = tmp_path / "summary"
    environ = {"GITHUB_STEP_SUMMARY": str(summary)}
    if needs_json is not None:
        environ["NEEDS"] = needs_json
    code = gate.main(list(argv), environ)
    return code, summary.read_text() if summary.exists() else ""


ALL_PASSED = dict(prepare="success", lint="success", unit="success", e2e="success",
                  plan_seoul="success", preview="success")  # fmt: skip


def test_every_job_passed_passes(tmp_path: Path) -> None:
    code, summary = run(tmp_path, needs(**ALL_PASSED))
    assert code == 0
    assert summary.startswith("### Pull request gate: passed")


def test_a_failed_seoul_plan_blocks_the_merge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, summary = run(tmp_path, needs(**{**ALL_PASSED, "plan_seoul": "failure"}))
    assert code == 1
    assert "::error title=Required job plan-seoul failure::" in capsys.readouterr().out
    assert summary.startswith("### Pull request gate: failed")
    assert "| `plan-seoul` | failure | ❌" in summary


def test_e2e_skipped_because_prepare_failed_blocks_the_merge(tmp_path: Path) -> None:
    """GitHub counts the skipped e2e job as passed; the gate does not."""
    results = {**ALL_PASSED, "prepare": "failure", "e2e": "skipped", "plan_seoul": "skipped"}
    code, summary = run(tmp_path, needs(**results), "--skip-reason", "plan-seoul=")
    assert code == 1
    assert "| `e2e` | skipped | ❌" in summary and "| `prepare` | failure | ❌" in summary
    assert "| `plan-seoul` | skipped | ❌" in summary  # no reason given: not a documented skip


def test_seoul_plan_skipped_for_a_fork_is_the_documented_exception(tmp_path: Path) -> None:
    results = {**ALL_PASSED, "plan_seoul": "skipped"}
    code, summary = run(tmp_path, needs(**results), "--skip-reason", f"plan-seoul={FORK}")
    assert code == 0
    assert "skipped: Seoul plan skipped: pull request from the fork" in summary


def test_a_skip_reason_covers_only_its_own_job(tmp_path: Path) -> None:
    results = {**ALL_PASSED, "e2e": "skipped"}
    code, _ = run(tmp_path, needs(**results), "--skip-reason", f"plan-seoul={FORK}")
    assert code == 1


@pytest.mark.parametrize("result", ["cancelled", "failure", ""])
def test_cancelled_or_unknown_results_fail(tmp_path: Path, result: str) -> None:
    code, _ = run(tmp_path, needs(**{**ALL_PASSED, "unit": result}))
    assert code == 1


@pytest.mark.parametrize("needs_json", [None, "", "[]", "{}", "not json"])
def test_missing_or_empty_needs_is_an_error_not_a_pass(
    tmp_path: Path, needs_json: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(tmp_path, needs_json)
    assert code == 2
    assert "::error title=Pull request gate::" in capsys.readouterr().out


def test_bad_skip_reason_is_an_error(tmp_path: Path) -> None:
    code, _ = run(tmp_path, needs(**ALL_PASSED), "--skip-reason", "plan-seoul")
    assert code == 2
