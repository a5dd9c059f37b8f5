"""gitops.github.watchdog: the nightly destroy never silently does not happen.

GitHub is the local fake (tests/fake_github.py): destroy.yml's state, its scheduled runs and
their jobs, as the REST API serves them. The state object is read from moto's S3 (a unit test;
the real read needs only the plan role's s3:GetObject). Seoul's nightly destroy is due at 23:07
Asia/Seoul, 14:07 UTC; "now" is the next morning, 07:37 KST, when the watchdog runs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from gitops import environments
from gitops.github import watchdog
from gitops.github.api import GitHub
from gitops.github.watchdog import OK, REFUSE, WARN, due_firings

from tests.fake_github import REPO, TOKEN, FakeGitHub

SEOUL = environments.get("seoul")
NIGHTLY = SEOUL.nightly
MORNING = datetime(2026, 11, 26, 22, 37, tzinfo=UTC)  # 07:37 KST, 27 Nov
LAST_NIGHT = datetime(2026, 11, 26, 14, 7, tzinfo=UTC)  # 23:07 KST, 26 Nov
NIGHT_BEFORE = LAST_NIGHT - timedelta(days=1)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def nightly_run(
    fake: FakeGitHub, fired: datetime, outcome: str, env: str = "seoul", late: int = 9
) -> dict[str, Any]:
    """A scheduled run of destroy.yml started `late` minutes after `fired`, with the jobs an
    environment's nightly destroy shows: destroyed | failed | skipped | refused | running."""
    conclusion = {"destroyed": "success", "skipped": "success", "running": None}.get(
        outcome, "failure"
    )
    run = fake.add_run(
        "destroy.yml", event="schedule", created_at=stamp(fired + timedelta(minutes=late)),
        status="in_progress" if outcome == "running" else "completed", conclusion=conclusion,
    )  # fmt: skip
    fake.add_job(run["id"], "environments", "success")
    decide = "failure" if outcome == "refused" else "success"
    fake.add_job(run["id"], f"destroy {env} / decide", decide)
    destroy = {"destroyed": "success", "failed": "failure", "running": None}.get(outcome, "skipped")
    fake.add_job(run["id"], f"destroy {env} / destroy / destroy {env} ({env}-nightly)", destroy,
                 steps=0 if destroy == "skipped" else 9)  # fmt: skip
    return run


@pytest.fixture
def gh(fake_github: FakeGitHub) -> GitHub:
    fake_github.workflow("destroy.yml")
    fake_github.workflow("watchdog.yml")
    return GitHub(TOKEN, REPO, fake_github.base, timeout=5)


def levels(findings: list[watchdog.Finding]) -> list[str]:
    return [f.level for f in findings]


# --- when the nightly destroy was due ---------------------------------------------------------


def test_due_firings_are_the_local_time_on_each_local_day() -> None:
    assert due_firings(NIGHTLY, MORNING) == [LAST_NIGHT, NIGHT_BEFORE]
    # At 23:06 KST the firing of that evening is not due yet.
    assert due_firings(NIGHTLY, LAST_NIGHT - timedelta(minutes=1))[0] == NIGHT_BEFORE
    assert due_firings(NIGHTLY, LAST_NIGHT)[0] == LAST_NIGHT


# --- the deploy's preflight: refuse or warn ---------------------------------------------------


@pytest.mark.parametrize("workflow", ["destroy.yml", "watchdog.yml"])
@pytest.mark.parametrize("state", ["disabled_inactivity", "disabled_manually"])
def test_a_disabled_destroy_or_watchdog_refuses_the_deploy(
    fake_github: FakeGitHub, gh: GitHub, workflow: str, state: str
) -> None:
    nightly_run(fake_github, LAST_NIGHT, "destroyed")
    fake_github.workflow(workflow, state=state)
    findings = watchdog.preflight(gh, SEOUL, "", MORNING)
    refused = [f for f in findings if f.level == REFUSE]
    assert len(refused) == 1 and f"`{workflow}`" in refused[0].text
    assert (
        state in refused[0].text and f"gh workflow enable {workflow} -R {REPO}" in refused[0].text
    )


def test_a_missing_destroy_workflow_refuses_the_deploy(gh: GitHub, fake_github: FakeGitHub) -> None:
    del fake_github.workflows["destroy.yml"]
    assert REFUSE in levels(watchdog.preflight(gh, SEOUL, "", MORNING))


def test_last_nights_destroy_done_lets_the_deploy_go(fake_github: FakeGitHub, gh: GitHub) -> None:
    nightly_run(fake_github, LAST_NIGHT, "destroyed")
    assert levels(watchdog.preflight(gh, SEOUL, "", MORNING)) == [OK, OK, OK]


@pytest.mark.parametrize("outcome", ["failed", "refused"])
def test_a_failed_nightly_destroy_warns_without_a_keep_alive(
    fake_github: FakeGitHub, gh: GitHub, outcome: str
) -> None:
    run = nightly_run(fake_github, LAST_NIGHT, outcome)
    findings = watchdog.preflight(gh, SEOUL, "", MORNING)
    assert levels(findings) == [OK, OK, WARN]
    assert "due 2026-11-26 23:07 Asia/Seoul failed" in findings[2].text
    assert run["html_url"] in findings[2].text and "no KEEP_SEOUL_UNTIL kept it" in findings[2].text


def test_a_failed_nightly_destroy_under_a_keep_alive_is_no_alarm(
    fake_github: FakeGitHub, gh: GitHub
) -> None:
    nightly_run(fake_github, LAST_NIGHT, "failed")
    findings = watchdog.preflight(gh, SEOUL, "2026-12-01", MORNING)
    assert levels(findings) == [OK, OK, OK] and "KEEP_SEOUL_UNTIL kept" in findings[2].text
    # A keep-alive that ended before that night does not excuse it.
    assert levels(watchdog.preflight(gh, SEOUL, "2026-11-26", MORNING))[2] == WARN


def test_a_nightly_destroy_github_never_started_warns(fake_github: FakeGitHub, gh: GitHub) -> None:
    nightly_run(fake_github, NIGHT_BEFORE, "destroyed")
    findings = watchdog.preflight(gh, SEOUL, "", MORNING)
    assert levels(findings) == [OK, OK, WARN]
    assert "GitHub did not start the nightly destroy of seoul due 2026-11-26 23:07" in (
        findings[2].text
    )


def test_a_run_for_another_environments_firing_is_not_this_ones(
    fake_github: FakeGitHub, gh: GitHub
) -> None:
    """destroy.yml fires at every environment's time; a run that destroyed only osaka says
    nothing about seoul."""
    nightly_run(fake_github, LAST_NIGHT, "destroyed", env="osaka", late=30)
    assert levels(watchdog.preflight(gh, SEOUL, "", MORNING))[2] == WARN


def test_a_run_that_failed_before_choosing_any_environment_failed_them_all(
    fake_github: FakeGitHub, gh: GitHub
) -> None:
    run = fake_github.add_run("destroy.yml", event="schedule", conclusion="failure",
                              created_at=stamp(LAST_NIGHT + timedelta(minutes=5)))  # fmt: skip
    fake_github.add_job(run["id"], "environments", "failure")
    findings = watchdog.preflight(gh, SEOUL, "", MORNING)
    assert findings[2].level == WARN and "failed" in findings[2].text


def test_a_late_run_is_waited_for_before_it_counts_as_dropped(
    fake_github: FakeGitHub, gh: GitHub
) -> None:
    """At 23:30 KST tonight's destroy may not have started yet (GitHub starts schedules late):
    the night before is judged instead."""
    nightly_run(fake_github, NIGHT_BEFORE, "destroyed")
    soon = LAST_NIGHT + timedelta(minutes=23)
    findings = watchdog.preflight(gh, SEOUL, "", soon)
    assert levels(findings) == [OK, OK, OK] and "2026-11-25 23:07" in findings[2].text
    assert levels(watchdog.preflight(gh, SEOUL, "", LAST_NIGHT + timedelta(hours=4)))[2] == WARN


def test_a_nightly_destroy_still_running_is_no_alarm(fake_github: FakeGitHub, gh: GitHub) -> None:
    nightly_run(fake_github, LAST_NIGHT, "running")
    findings = watchdog.preflight(gh, SEOUL, "", LAST_NIGHT + timedelta(minutes=20))
    assert levels(findings) == [OK, OK, OK] and "is running" in findings[2].text


def test_a_new_repository_has_no_nightly_destroy_due_yet(
    fake_github: FakeGitHub, gh: GitHub
) -> None:
    fake_github.workflow("destroy.yml", created_at=stamp(LAST_NIGHT + timedelta(hours=2)))
    findings = watchdog.preflight(gh, SEOUL, "", MORNING)
    assert levels(findings) == [OK, OK, OK] and "was due yet" in findings[2].text


def test_a_keep_alive_that_is_not_a_date_warns(fake_github: FakeGitHub, gh: GitHub) -> None:
    nightly_run(fake_github, LAST_NIGHT, "failed")
    findings = watchdog.preflight(gh, SEOUL, "next friday", MORNING)
    assert findings[2].level == WARN and "'next friday' is not a date" in findings[2].text


# --- the morning check: the stack itself ------------------------------------------------------


def check(gh: GitHub, resources: int | None, written: datetime | None = None,
          keep: str = "", result: str = "success") -> list[watchdog.Finding]:  # fmt: skip
    return watchdog.check(gh, SEOUL, keep, MORNING, result, resources, written)


def test_a_stack_that_survived_a_failed_destroy_is_an_alarm(
    fake_github: FakeGitHub, gh: GitHub
) -> None:
    nightly_run(fake_github, LAST_NIGHT, "failed")
    findings = check(gh, 23, LAST_NIGHT - timedelta(hours=9))
    assert levels(findings) == [OK, WARN, WARN]
    assert "the seoul stack is still running" in findings[2].text
    assert "23 resource(s) (written 2026-11-26 05:07 UTC)" in findings[2].text


def test_a_stack_a_skipped_destroy_left_running_is_an_alarm(
    fake_github: FakeGitHub, gh: GitHub
) -> None:
    """The run was green and destroyed nothing (it took the repository for one without AWS,
    say), yet the state holds the stack and no keep-alive held: it is still running."""
    nightly_run(fake_github, LAST_NIGHT, "skipped")
    assert levels(check(gh, 23, LAST_NIGHT - timedelta(hours=9))) == [OK, OK, WARN]
    assert levels(check(gh, 23, LAST_NIGHT - timedelta(hours=9), keep="2026-12-01"))[2] == OK


def test_a_stack_deployed_again_after_the_destroy_is_no_alarm(
    fake_github: FakeGitHub, gh: GitHub
) -> None:
    nightly_run(fake_github, LAST_NIGHT, "destroyed")
    findings = check(gh, 23, LAST_NIGHT + timedelta(hours=7))
    assert levels(findings) == [OK, OK, OK] and "deployed again" in findings[2].text
    # ... but a state older than the "successful" destroy was never touched by it.
    assert levels(check(gh, 23, LAST_NIGHT - timedelta(hours=1)))[2] == WARN


def test_an_empty_state_is_no_alarm_and_an_unreadable_one_is(
    fake_github: FakeGitHub, gh: GitHub
) -> None:
    nightly_run(fake_github, LAST_NIGHT, "destroyed")
    assert levels(check(gh, 0)) == [OK, OK, OK]
    findings = check(gh, None, result="failure")
    assert findings[2].level == WARN and "could not be read" in findings[2].text


# --- a public repository's schedules stop after 60 days without activity --------------------


def test_a_running_stack_is_an_alarm_a_week_before_github_may_stop_the_schedules(
    fake_github: FakeGitHub, gh: GitHub
) -> None:
    """GitHub disables the scheduled workflows of a public repository 60 days after its last
    activity, the watchdog's own with the destroy's: warned while the watchdog still runs."""
    nightly_run(fake_github, LAST_NIGHT, "skipped")
    keep = "2026-11-30"  # kept for a few days, past the day the schedules may stop
    fake_github.last_commit = stamp(MORNING - timedelta(days=55))
    findings = check(gh, 23, LAST_NIGHT - timedelta(days=3), keep=keep)
    assert levels(findings) == [OK, OK, OK, WARN]
    assert "2026-10-02" in findings[3].text and "2026-12-01" in findings[3].text
    assert "60 days" in findings[3].text and "push a commit to main" in findings[3].text
    # A private repository keeps its schedules; an empty stack loses nothing when they stop.
    fake_github.repository["private"] = True
    assert levels(check(gh, 23, LAST_NIGHT - timedelta(days=3), keep=keep)) == [OK, OK, OK]
    fake_github.repository["private"] = False
    nightly_run(fake_github, LAST_NIGHT, "destroyed")
    assert levels(check(gh, 0)) == [OK, OK, OK]


def test_a_keep_alive_past_the_day_the_schedules_may_stop_is_an_alarm(
    fake_github: FakeGitHub, gh: GitHub
) -> None:
    """Nothing would destroy the stack when the keep-alive ends: the destroy may be disabled."""
    nightly_run(fake_github, LAST_NIGHT, "skipped")
    written = LAST_NIGHT - timedelta(days=3)
    assert levels(check(gh, 23, written, keep="2027-01-20")) == [OK, OK, OK]
    findings = check(gh, 23, written, keep="2027-01-30")  # the last commit: 25 Nov
    assert levels(findings) == [OK, OK, OK, WARN]
    assert "KEEP_SEOUL_UNTIL=2027-01-30" in findings[3].text and "2027-01-24" in findings[3].text


# --- the command: one issue, a red run, closed when all is well -------------------------------


def run_check(fake: FakeGitHub, tmp_path: Path, *extra: str) -> tuple[int, str]:
    env = {
        "GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": fake.base,
        "GITHUB_SERVER_URL": "https://github.test", "GITHUB_RUN_ID": "99",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }  # fmt: skip
    argv = ["check", "--env", "seoul", "--issue", *extra]
    code = watchdog.main(argv, env, now=MORNING)
    return code, (tmp_path / "summary.md").read_text(encoding="utf-8")


def open_issues(fake: FakeGitHub) -> list[dict[str, Any]]:
    return [i for i in fake.issues if i["state"] == "open"]


def test_the_morning_check_keeps_one_issue_and_closes_it_when_all_is_well(
    fake_github: FakeGitHub, gh: GitHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = nightly_run(fake_github, LAST_NIGHT, "failed")
    written = stamp(LAST_NIGHT - timedelta(hours=9))
    code, summary = run_check(fake_github, tmp_path, "--resources", "23",
                              "--state-written", written)  # fmt: skip
    assert code == 1, "an alarm turns the run red"
    (issue,) = open_issues(fake_github)
    assert issue["title"] == "Nightly destroy of seoul needs attention"
    assert issue["body"].startswith("<!-- nightly-watchdog:seoul -->")
    assert "**the seoul stack is still running**" in issue["body"]
    assert failed["html_url"] in issue["body"] and "KEEP_SEOUL_UNTIL" in issue["body"]
    assert "https://github.test/owner/repo/actions/runs/99" in issue["body"]
    assert "::warning title=Nightly destroy of seoul::" in capsys.readouterr().out
    assert "### Nightly destroy of seoul" in summary

    # The next morning, still broken: the same issue is updated, no second one.
    assert run_check(fake_github, tmp_path, "--resources", "23", "--state-written", written)[0] == 1
    assert len(fake_github.issues) == 1

    # Fixed: destroyed that night, nothing left. The issue closes itself.
    failed["conclusion"] = "success"
    fake_github.jobs[failed["id"]][-1]["conclusion"] = "success"
    code, _ = run_check(fake_github, tmp_path, "--resources", "0")
    assert code == 0 and not open_issues(fake_github)
    assert "working again" in fake_github.comments[issue["number"]][-1]["body"]


def test_nothing_to_watch_where_aws_is_not_set_up(
    fake_github: FakeGitHub, gh: GitHub, tmp_path: Path
) -> None:
    assert run_check(fake_github, tmp_path, "--ready", "false")[0] == 0
    assert not fake_github.issues and not any("/issues" in t for _, t in fake_github.calls)


def test_an_environment_without_a_nightly_destroy_has_nothing_to_watch(
    fake_github: FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    assert watchdog.main(["preflight", "--env", "localstack"], {}) == 0
    assert "nothing to watch" in capsys.readouterr().out
    assert not fake_github.calls


# --- the state object, read with the plan role's s3:GetObject ---------------------------------


STATE = {
    "version": 4,
    "resources": [
        {"mode": "managed", "type": "aws_vpc", "name": "this", "instances": [{}]},
        {"mode": "managed", "type": "aws_subnet", "name": "public", "instances": [{}, {}]},
        {"mode": "data", "type": "aws_ami", "name": "al2023", "instances": [{}]},
    ],
}


@pytest.fixture
def s3_state(moto_aws: None) -> Any:
    from gitops import aws

    s3 = aws.client("s3", "ap-northeast-2")
    s3.create_bucket(
        Bucket="study-state",
        CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"},
    )
    return s3


def test_stack_counts_the_managed_resources_in_the_state(s3_state: Any, tmp_path: Path) -> None:
    s3_state.put_object(Bucket="study-state", Key="seoul/terraform.tfstate",
                        Body=json.dumps(STATE).encode())  # fmt: skip
    out = tmp_path / "out"
    env = {"TF_STATE_BUCKET": "study-state", "GITHUB_OUTPUT": str(out)}
    assert watchdog.main(["stack", "--env", "seoul"], env) == 0
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert outputs["resources"] == "3"
    assert datetime.fromisoformat(outputs["written"]) <= datetime.now(UTC)


def test_stack_with_no_state_object_counts_nothing(s3_state: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {"TF_STATE_BUCKET": "study-state", "GITHUB_OUTPUT": str(out)}
    assert watchdog.main(["stack", "--env", "seoul"], env) == 0
    assert out.read_text().splitlines() == ["resources=0", "written="]


def as_plan_role(
    monkeypatch: pytest.MonkeyPatch, s3: Any, may_list: bool = True, may_read: bool = True
) -> None:
    """S3 as the plan role sees it (tests/s3_as_role.py): GetObject of its state key, and a
    listing only with that key as the prefix, so a missing object answers 403, not 404."""

    from tests.s3_as_role import S3AsRole, answer_every_client

    key = f"arn:aws:s3:::study-state/{SEOUL.state_key}"

    def allowed(action: str, resource: str, ctx: dict[str, Any]) -> bool:
        if action == "s3:GetObject":
            return may_read and resource == key
        return may_list and action == "s3:ListBucket" and ctx.get("s3:prefix") == SEOUL.state_key

    answer_every_client(monkeypatch, S3AsRole(s3, allowed))


def test_stack_tells_a_state_never_written_from_one_it_may_not_read(
    s3_state: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """With the plan role S3 answers 403 for a missing object too: the listing of the state key
    says there is none (nothing runs), and a 403 that the listing cannot explain stays an error
    that names both permissions."""
    out = tmp_path / "out"
    env = {"TF_STATE_BUCKET": "study-state", "GITHUB_OUTPUT": str(out)}
    as_plan_role(monkeypatch, s3_state)
    assert watchdog.main(["stack", "--env", "seoul"], env) == 0
    assert out.read_text().splitlines() == ["resources=0", "written="]

    as_plan_role(monkeypatch, s3_state, may_list=False)  # a role without the listing
    assert watchdog.main(["stack", "--env", "seoul"], env) == 1
    assert "s3:ListBucket" in capsys.readouterr().err

    s3_state.put_object(Bucket="study-state", Key=SEOUL.state_key, Body=json.dumps(STATE).encode())
    as_plan_role(monkeypatch, s3_state, may_read=False)  # there, and forbidden: never "nothing"
    assert watchdog.main(["stack", "--env", "seoul"], env) == 1
    assert "AccessDenied" in capsys.readouterr().out


def test_stack_refuses_an_object_that_is_no_state(
    s3_state: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s3_state.put_object(Bucket="study-state", Key="seoul/terraform.tfstate", Body=b"<html>")
    assert watchdog.main(["stack", "--env", "seoul"], {"TF_STATE_BUCKET": "study-state"}) == 1
    assert "cannot read the state of seoul" in capsys.readouterr().err
