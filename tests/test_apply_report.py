"""gitops.github.apply_report: the apply's outcome as one comment on its pull request.

The apply log of the failure case is Terraform's real error output
(tests/fixtures/plans/failed.stderr.txt, secrets and all); GitHub is a local fake.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from gitops.github import apply_report

from tests.fake_github import REPO, TOKEN, FakeGitHub

PLANS = Path(__file__).resolve().parent / "fixtures" / "plans"
SHA = "89abcdef0123456789abcdef0123456789abcdef"
RUN = "https://github.test/owner/repo/actions/runs/42"
APPLY_OK = [
    "module.web.aws_instance.this: Creating...",
    "module.web.aws_instance.this: Creation complete after 12s [id=i-0abc]",
    "",
    "Apply complete! Resources: 9 added, 0 changed, 0 destroyed.",
]


def _secrets() -> tuple[str, ...]:
    spec = importlib.util.spec_from_file_location("regenerate", PLANS / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SECRETS


def smoke(ok: bool, url: str | None = "http://203.0.113.7/health") -> dict[str, Any]:
    checks = [
        {"name": "user data (web)", "status": "PASS", "detail": "matches", "seconds": 1.0},
        {"name": "app and database via /health", "status": "PASS" if ok else "FAIL",
         "detail": "200 ok" if ok else "GET /health: 502 after 40 attempts", "seconds": 3.0},
        {"name": "user data (db)", "status": "SKIP", "detail": "rds mode", "seconds": 0.0},
    ]  # fmt: skip
    report: dict[str, Any] = {"env": "seoul", "ok": ok, "checks": checks}
    if url:
        report["app_url"] = url
    return report


def artifacts(tmp: Path, log: list[str] | None, smoke_report: dict[str, Any] | None) -> Path:
    root = tmp / ".artifacts"
    if log is not None:
        (root / "apply-report").mkdir(parents=True)
        (root / "apply-report" / "apply.log").write_text("\n".join(log) + "\n")
    if smoke_report is not None:
        root.mkdir(exist_ok=True)
        (root / "smoke-seoul.json").write_text(json.dumps(smoke_report))
    return root


def run(fake: FakeGitHub, tmp: Path, root: Path, result: str, *extra: str) -> tuple[int, str]:
    env = {
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": fake.base,
        "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"),
    }
    argv = ["--env", "seoul", "--result", result, "--sha", SHA, "--run-url", RUN,
            "--artifacts", str(root), "--plan", str(PLANS / "create.json"), *extra]  # fmt: skip
    code = apply_report.main(argv, env)
    summary = (tmp / "summary.md").read_text() if (tmp / "summary.md").exists() else ""
    return code, summary


def the_comment(fake: FakeGitHub, number: int = 7) -> str:
    posted = fake.comments.get(number, [])
    assert len(posted) == 1, f"expected one comment, got {len(posted)}"
    return posted[0]["body"]


def test_applied_and_smoke_passed(fake_github: FakeGitHub, tmp_path: Path) -> None:
    fake_github.merged_pr(SHA, 7)
    root = artifacts(tmp_path, APPLY_OK, smoke(True))
    code, summary = run(fake_github, tmp_path, root, "success")
    assert code == 0
    body = the_comment(fake_github)
    assert body.startswith("<!-- apply-report:seoul -->\n## ✅ Applied to `seoul`")
    assert "| Resources | 9 added, 0 changed, 0 destroyed |" in body
    assert "| Smoke test | 2 passed, 0 failed, 1 skipped |" in body
    assert "| App | http://203.0.113.7/health |" in body
    assert f"[the run]({RUN})" in body and "merged in #7" in body and SHA[:7] in body
    assert "Failed at" not in body
    assert "Apply report posted on #7" in summary


def test_failed_apply_names_the_step_keeps_the_error_and_no_secret(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    fake_github.merged_pr(SHA, 7)
    log = (PLANS / "failed.stderr.txt").read_text().splitlines()
    root = artifacts(tmp_path, ["module.web.aws_instance.this: Creating...", *log], None)
    assert run(fake_github, tmp_path, root, "failure")[0] == 0
    body = the_comment(fake_github)
    assert "## ❌ Apply to `seoul` failed" in body
    assert "| Failed at | **Apply exactly that plan** |" in body
    assert "planned: 9 to add, 0 to change, 0 to destroy (not applied)" in body
    assert "Error: Invalid value for variable" in body
    assert "Error: reading SSM Parameter" in body
    assert "| Smoke test | not run |" in body
    leaked = [s for s in _secrets() if s in body]
    assert not leaked, leaked


def test_smoke_failure_after_a_good_apply(fake_github: FakeGitHub, tmp_path: Path) -> None:
    fake_github.merged_pr(SHA, 7)
    root = artifacts(tmp_path, APPLY_OK, smoke(False))
    run(fake_github, tmp_path, root, "failure")
    body = the_comment(fake_github)
    assert "## ⚠️ Applied to `seoul`, then the smoke test failed" in body
    assert "| Failed at | **Smoke test the real stack** |" in body
    assert "- ❌ app and database via /health: GET /health: 502 after 40 attempts" in body
    assert "| Resources | 9 added, 0 changed, 0 destroyed |" in body


def test_smoke_job_that_stopped_before_its_report(fake_github: FakeGitHub, tmp_path: Path) -> None:
    """The smoke test is a job of its own after the apply: its outcome comes as --smoke-result,
    its report from its own artifact; the apply log from the apply job's."""
    fake_github.merged_pr(SHA, 7)
    root = artifacts(tmp_path, APPLY_OK, None)
    run(fake_github, tmp_path, root, "failure", "--smoke-result", "cancelled")
    body = the_comment(fake_github)
    assert "## ⚠️ Applied to `seoul`, then the smoke test failed" in body
    assert "| Failed at | **Smoke test the real stack** |" in body
    assert "| Smoke test | no report (the smoke job ended: cancelled) |" in body


def test_smoke_job_that_failed_before_its_test_step(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """A failed set-up or credentials step skips the test step: the job ran (its output is
    `skipped`, not empty), and the comment must not say it did not run."""
    fake_github.merged_pr(SHA, 7)
    root = artifacts(tmp_path, APPLY_OK, None)
    run(fake_github, tmp_path, root, "failure", "--smoke-result", "skipped")
    body = the_comment(fake_github)
    assert "| Failed at | **Smoke test the real stack** |" in body
    assert "the smoke job stopped before its test" in body
    assert "the smoke job did not run" not in body


def test_smoke_passing_on_a_re_run_reports_the_first_attempts_apply(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """After "Re-run failed jobs" reran only the smoke job: the apply log is the first
    attempt's, the smoke report the re-run's, and the whole call succeeded."""
    fake_github.merged_pr(SHA, 7)
    root = artifacts(tmp_path, APPLY_OK, smoke(True))
    run(fake_github, tmp_path, root, "success", "--smoke-result", "success")
    body = the_comment(fake_github)
    assert "## ✅ Applied to `seoul`" in body
    assert "| Resources | 9 added, 0 changed, 0 destroyed |" in body


def test_failure_before_the_apply_says_so(fake_github: FakeGitHub, tmp_path: Path) -> None:
    fake_github.merged_pr(SHA, 7)
    run(fake_github, tmp_path, tmp_path / "nothing", "failure")
    body = the_comment(fake_github)
    assert f"| Failed at | **{apply_report.BEFORE_STEP}** |" in body
    assert "App |" not in body


@pytest.mark.parametrize(
    ("job", "said"),
    [("preflight", "the preflight"), ("plan", "the plan"), ("plan vs preview", "replacement")],
)
def test_a_deploy_stopped_before_any_approval_says_where(
    fake_github: FakeGitHub, tmp_path: Path, job: str, said: str
) -> None:
    """A refused preflight (an unprotected gate, a disabled nightly destroy), a failed plan or a
    replacement that replaces more than asked: the pull request hears of it too."""
    fake_github.merged_pr(SHA, 7)
    code, _ = run(fake_github, tmp_path, tmp_path / "nothing", "failure", "--stopped-at", job)
    assert code == 0
    body = the_comment(fake_github)
    assert "## ❌ Deploy of `seoul` stopped before the apply" in body
    (failed_at,) = [line for line in body.splitlines() if line.startswith("| Failed at |")]
    assert said in failed_at and "nothing was applied" in failed_at
    assert "| Smoke test | not run |" in body


def test_push_without_a_pull_request_posts_nothing(fake_github: FakeGitHub, tmp_path: Path) -> None:
    root = artifacts(tmp_path, APPLY_OK, smoke(True))
    code, summary = run(fake_github, tmp_path, root, "success")
    assert code == 0
    assert not fake_github.comments
    assert "no pull request for 89abcde" in summary and "✅ Applied to `seoul`" in summary


def test_github_refusing_the_comment_fails_the_step(
    fake_github: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_github.fail_with = 403
    root = artifacts(tmp_path, APPLY_OK, smoke(True))
    assert run(fake_github, tmp_path, root, "success")[0] == 1
    out = capsys.readouterr().out
    assert "::error title=Apply report::" in out and TOKEN not in out


# --- a deploy GitHub cancelled before it started: "superseded by run #N" ----------------------


def three_pushes(fake: FakeGitHub) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Push 1's deploy waits for approval; push 2's waited in the group; push 3's took its place
    (GitHub cancelled push 2's pending `deploy seoul` before any of its jobs started)."""
    first = fake.add_run("deploy.yml", head_sha="1" * 40, status="in_progress", conclusion=None)
    fake.add_job(first["id"], "deploy seoul / preflight", "success")
    middle = fake.add_run("deploy.yml", head_sha=SHA, conclusion="cancelled")
    fake.add_job(middle["id"], "environments", "success")
    fake.add_job(middle["id"], "deploy seoul", "cancelled", steps=0)
    fake.add_run("drift.yml", event="schedule")  # other workflows' runs are not candidates
    third = fake.add_run("deploy.yml", head_sha="3" * 40, status="queued", conclusion=None)
    fake.merged_pr(SHA, 7)
    return first, middle, third


def test_a_superseded_deploy_says_so_on_its_pull_request(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    _, middle, third = three_pushes(fake_github)
    code, summary = run(fake_github, tmp_path, tmp_path, "superseded", "--run-id",
                        str(middle["id"]))  # fmt: skip
    assert code == 0
    body = the_comment(fake_github)
    assert body.startswith("<!-- apply-report:seoul -->\n## ⏭️ Deploy of `seoul` superseded by run")
    assert f"superseded by run #{third['run_number']}" in body
    assert f"[run #{third['run_number']}]({third['html_url']})" in body and "`3333333`" in body
    assert f"commit `{SHA[:7]}` · merged in #7 · [this run]({RUN})" in body
    assert "reported on the pull request" in summary


def test_a_deploy_that_started_is_left_to_its_own_report(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    """Cancelled or rejected while waiting for approval: its preflight and plan ran, so its own
    report job comments; nothing more is posted."""
    fake_github.merged_pr(SHA, 7)
    started = fake_github.add_run("deploy.yml", head_sha=SHA, conclusion="cancelled")
    fake_github.add_job(started["id"], "deploy seoul / preflight", "success")
    fake_github.add_job(started["id"], "deploy seoul / apply / apply seoul (seoul)", "cancelled",
                        steps=0)  # fmt: skip
    code, _ = run(fake_github, tmp_path, tmp_path, "superseded", "--run-id", str(started["id"]))
    assert code == 0 and not fake_github.comments


def test_a_deploy_cancelled_before_it_started_with_nothing_newer_says_to_run_again(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    fake_github.merged_pr(SHA, 7)
    alone = fake_github.add_run("deploy.yml", head_sha=SHA, conclusion="cancelled")
    fake_github.add_job(alone["id"], "deploy seoul", "cancelled", steps=0)
    code, _ = run(fake_github, tmp_path, tmp_path, "superseded", "--run-id", str(alone["id"]))
    assert code == 0
    body = the_comment(fake_github)
    assert "## ⏹️ Deploy of `seoul` cancelled before it started" in body
    assert "run **deploy** again" in body


def test_superseded_needs_the_run_id(fake_github: FakeGitHub, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        run(fake_github, tmp_path, tmp_path, "superseded")
    assert exc.value.code == 2 and not fake_github.calls
