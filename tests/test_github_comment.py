"""gitops.github.comments against a fake GitHub REST API served on localhost."""

from __future__ import annotations

from pathlib import Path

import pytest
from gitops.github import comments as github_comment
from gitops.github.api import GitHub, GitHubError
from gitops.github.comments import (
    MAX_BODY,
    PR_MARKER,
    drift_marker,
    sync_drift_issue,
    upsert_pr_comment,
)

from tests.fake_github import BOT, REPO, TOKEN, FakeGitHub


@pytest.fixture
def fake(fake_github: FakeGitHub) -> FakeGitHub:
    return fake_github


@pytest.fixture
def gh(fake: FakeGitHub) -> GitHub:
    return GitHub(TOKEN, REPO, fake.base, timeout=5)


# --- pull request comment -------------------------------------------------------------------


def test_first_push_creates_the_comment(fake: FakeGitHub, gh: GitHub) -> None:
    outcome = upsert_pr_comment(gh, 7, f"{PR_MARKER}\n## Plan preview\nv1")
    assert outcome.action == "created"
    assert [c["body"] for c in fake.comments[7]] == [f"{PR_MARKER}\n## Plan preview\nv1"]


def test_later_pushes_edit_the_same_comment(fake: FakeGitHub, gh: GitHub) -> None:
    upsert_pr_comment(gh, 7, f"{PR_MARKER}\nv1")
    first_id = fake.comments[7][0]["id"]
    assert upsert_pr_comment(gh, 7, f"{PR_MARKER}\nv2").action == "updated"
    assert upsert_pr_comment(gh, 7, f"{PR_MARKER}\nv3").action == "updated"
    assert len(fake.comments[7]) == 1
    assert fake.comments[7][0]["id"] == first_id
    assert fake.comments[7][0]["body"] == f"{PR_MARKER}\nv3"


def test_identical_preview_is_left_alone(fake: FakeGitHub, gh: GitHub) -> None:
    upsert_pr_comment(gh, 7, f"{PR_MARKER}\nsame")
    assert upsert_pr_comment(gh, 7, f"{PR_MARKER}\nsame").action == "unchanged"
    assert not [call for call in fake.calls if call[0] == "PATCH"]


def test_marked_comment_is_found_past_the_first_page(fake: FakeGitHub, gh: GitHub) -> None:
    for i in range(5):
        fake.add_comment(7, f"human comment {i}", "someone")
    marked = fake.add_comment(7, f"{PR_MARKER}\nold preview", BOT)
    fake.add_comment(7, "another human comment", "someone")
    assert upsert_pr_comment(gh, 7, f"{PR_MARKER}\nnew preview").action == "updated"
    assert marked["body"] == f"{PR_MARKER}\nnew preview"
    assert len(fake.comments[7]) == 7
    assert sum(1 for method, _ in fake.calls if method == "GET") == 3  # 3 pages of 2


def test_marker_is_added_when_the_body_lacks_it(fake: FakeGitHub, gh: GitHub) -> None:
    upsert_pr_comment(gh, 9, "no marker here")
    body = fake.comments[9][0]["body"]
    assert body.splitlines()[0] == PR_MARKER and body.endswith("no marker here")


def test_oversized_preview_is_truncated_to_what_github_accepts(
    fake: FakeGitHub, gh: GitHub
) -> None:
    upsert_pr_comment(gh, 7, PR_MARKER + "\n" + "x" * (MAX_BODY * 2))
    body = fake.comments[7][0]["body"]
    assert len(body) <= MAX_BODY and "full preview is in the job summary" in body


def test_read_only_token_gives_a_clear_error(fake: FakeGitHub, gh: GitHub) -> None:
    fake.fail_with = 403
    with pytest.raises(GitHubError) as err:
        upsert_pr_comment(gh, 7, "x")
    assert "HTTP 403" in str(err.value) and "fork" in str(err.value)
    assert "Resource not accessible" in str(err.value)


def test_token_never_follows_a_link_to_another_host(fake: FakeGitHub, gh: GitHub) -> None:
    for i in range(3):
        fake.add_comment(7, f"c{i}", "someone")
    fake.foreign_next = True
    with pytest.raises(GitHubError, match="refusing to send the token"):
        upsert_pr_comment(gh, 7, "x")


def test_client_refuses_missing_token_and_bad_repository() -> None:
    with pytest.raises(GitHubError, match="GITHUB_TOKEN"):
        GitHub("", REPO)
    with pytest.raises(GitHubError, match="OWNER/NAME"):
        GitHub(TOKEN, "not a repo")


# --- drift issue ----------------------------------------------------------------------------


def test_drift_opens_one_issue(fake: FakeGitHub, gh: GitHub) -> None:
    outcome = sync_drift_issue(
        gh, "seoul", "drift", "## seoul\n~ aws_instance.web", "https://run/1"
    )
    assert outcome.action == "opened"
    assert len(fake.issues) == 1
    issue = fake.issues[0]
    assert issue["title"] == "Drift detected in seoul"
    assert issue["body"].startswith(drift_marker("seoul"))
    assert "~ aws_instance.web" in issue["body"] and "https://run/1" in issue["body"]


def test_drift_again_updates_the_open_issue(fake: FakeGitHub, gh: GitHub) -> None:
    sync_drift_issue(gh, "seoul", "drift", "first")
    assert sync_drift_issue(gh, "seoul", "drift", "second").action == "updated"
    assert len(fake.issues) == 1
    assert "second" in fake.issues[0]["body"] and "first" not in fake.issues[0]["body"]


def test_clean_check_comments_and_closes_the_issue(fake: FakeGitHub, gh: GitHub) -> None:
    sync_drift_issue(gh, "seoul", "drift", "drifted")
    outcome = sync_drift_issue(gh, "seoul", "clean", run_url="https://run/2")
    assert outcome.action == "closed"
    assert fake.issues[0]["state"] == "closed"
    assert fake.issues[0]["state_reason"] == "completed"
    assert "clean again" in fake.comments[1][0]["body"]
    assert "https://run/2" in fake.comments[1][0]["body"]


def test_clean_without_an_open_issue_does_nothing(fake: FakeGitHub, gh: GitHub) -> None:
    assert sync_drift_issue(gh, "seoul", "clean").action == "unchanged"
    assert not [call for call in fake.calls if call[0] != "GET"]


def test_drift_after_a_closed_issue_opens_a_new_one(fake: FakeGitHub, gh: GitHub) -> None:
    sync_drift_issue(gh, "seoul", "drift", "one")
    sync_drift_issue(gh, "seoul", "clean")
    assert sync_drift_issue(gh, "seoul", "drift", "two").action == "opened"
    assert [i["state"] for i in fake.issues] == ["closed", "open"]


def test_pull_requests_and_other_issues_are_not_mistaken_for_it(
    fake: FakeGitHub, gh: GitHub
) -> None:
    fake.add_issue(f"{drift_marker('seoul')} quoted in a pull request", pull=True, login=BOT)
    fake.add_issue("an unrelated issue")
    fake.add_issue(f"{drift_marker('tokyo')}\ndrift elsewhere", login=BOT)
    assert sync_drift_issue(gh, "seoul", "drift", "x").action == "opened"
    assert len(fake.issues) == 4


def test_unknown_status_is_refused(gh: GitHub) -> None:
    with pytest.raises(ValueError):
        sync_drift_issue(gh, "seoul", "maybe")


# --- command line ---------------------------------------------------------------------------


def env_for(fake: FakeGitHub, tmp_path: Path) -> dict[str, str]:
    return {
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": fake.base,
        "GITHUB_SERVER_URL": "https://github.test",
        "GITHUB_RUN_ID": "42",
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
    }


def test_cli_pr_upserts_and_reports(fake: FakeGitHub, tmp_path: Path) -> None:
    body = tmp_path / "comment.md"
    body.write_text(f"{PR_MARKER}\npreview")
    environ = env_for(fake, tmp_path)
    argv = ["pr", "--number", "3", "--body-file", str(body)]
    assert github_comment.main(argv, environ) == 0
    assert github_comment.main(argv, environ) == 0
    assert len(fake.comments[3]) == 1
    lines = (tmp_path / "output").read_text().splitlines()
    assert lines[0] == "action=created" and "action=unchanged" in lines
    assert "plan-preview comment on #3" in (tmp_path / "summary").read_text()


def test_cli_drift_uses_the_run_url(fake: FakeGitHub, tmp_path: Path) -> None:
    body = tmp_path / "drift.md"
    body.write_text("## seoul drift")
    environ = env_for(fake, tmp_path)
    argv = ["drift", "--env", "seoul", "--status", "drift", "--body-file", str(body)]
    assert github_comment.main(argv, environ) == 0
    assert "https://github.test/owner/repo/actions/runs/42" in fake.issues[0]["body"]
    assert github_comment.main(["drift", "--env", "seoul", "--status", "clean"], environ) == 0
    assert fake.issues[0]["state"] == "closed"


def test_cli_api_error_exits_one_with_an_annotation(
    fake: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.fail_with = 403
    body = tmp_path / "c.md"
    body.write_text("x")
    code = github_comment.main(
        ["pr", "--number", "3", "--body-file", str(body)], env_for(fake, tmp_path)
    )
    assert code == 1
    assert "::error title=GitHub API::" in capsys.readouterr().out


def test_cli_without_token_exits_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = tmp_path / "c.md"
    body.write_text("x")
    environ = {"GITHUB_REPOSITORY": REPO}
    assert github_comment.main(["pr", "--number", "3", "--body-file", str(body)], environ) == 1
    assert "GITHUB_TOKEN is not set" in capsys.readouterr().out


def test_cli_drift_needs_a_body(
    fake: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as err:
        github_comment.main(["drift", "--env", "tokyo", "--status", "drift"],
                            env_for(fake, tmp_path))  # fmt: skip
    assert err.value.code == 2
    assert "drift --status drift needs --body-file" in capsys.readouterr().err


def test_cli_drift_names_no_environment_of_its_own(
    fake: FakeGitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every environment has its drift issue: without --env there is no default one (no
    issue is filed under another environment's name)."""
    with pytest.raises(SystemExit) as err:
        github_comment.main(["drift", "--status", "clean"], env_for(fake, tmp_path))
    assert err.value.code == 2
    assert "the following arguments are required: --env" in capsys.readouterr().err
    assert fake.issues == []


# --- only the pipeline's own comment and issue are edited -----------------------------------


def test_someone_quoting_the_marker_is_not_edited(fake: FakeGitHub, gh: GitHub) -> None:
    """Editing another user's comment fails with 403; the bot's own comment is the one."""
    quoted = fake.add_comment(7, f"why does {PR_MARKER} show up here?", "alice")
    ours = fake.add_comment(7, f"{PR_MARKER}\nold preview", BOT)
    assert upsert_pr_comment(gh, 7, f"{PR_MARKER}\nnew preview").action == "updated"
    assert quoted["body"] == f"why does {PR_MARKER} show up here?"
    assert ours["body"] == f"{PR_MARKER}\nnew preview"


def test_only_someone_elses_marked_comment_means_a_new_one(fake: FakeGitHub, gh: GitHub) -> None:
    fake.add_comment(7, f"{PR_MARKER}\ncopied from another pull request", "alice")
    assert upsert_pr_comment(gh, 7, f"{PR_MARKER}\npreview").action == "created"
    assert [c["user"]["login"] for c in fake.comments[7]] == ["alice", BOT]
    assert not [call for call in fake.calls if call[0] == "PATCH"]


def test_an_issue_quoting_the_drift_marker_is_not_adopted(fake: FakeGitHub, gh: GitHub) -> None:
    fake.add_issue(f"Bug report: the drift issue body has {drift_marker('seoul')} in it")
    assert sync_drift_issue(gh, "seoul", "drift", "x").action == "opened"
    assert sync_drift_issue(gh, "seoul", "clean").action == "closed"
    assert [i["state"] for i in fake.issues] == ["open", "closed"]


def test_author_follows_the_token_of_a_github_app(fake: FakeGitHub, tmp_path: Path) -> None:
    ours = fake.add_comment(3, f"{PR_MARKER}\nold", "pipeline-app[bot]")
    body = tmp_path / "c.md"
    body.write_text(f"{PR_MARKER}\nnew")
    argv = ["--author", "pipeline-app[bot]", "pr", "--number", "3", "--body-file", str(body)]
    assert github_comment.main(argv, env_for(fake, tmp_path)) == 0
    assert ours["body"] == f"{PR_MARKER}\nnew"
