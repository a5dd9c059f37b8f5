"""Watch that the nightly destroy happens: before a deploy, and every morning.

    gitops watchdog preflight --env seoul [--keep-alive VALUE]
    gitops watchdog stack --env seoul
    gitops watchdog check --env seoul [--keep-alive VALUE] [--ready true|false]
        [--stack-result RESULT] [--resources N] [--state-written ISO] [--issue]

GitHub may start a scheduled run late or drop it under load, disables the schedules of a public
repository after 60 days without activity, and anyone with admin rights can disable a workflow.
None of that fails anything by itself, so it is watched:

- `preflight` (the deploy's preflight job) reads the state of destroy.yml and of this watchdog's
  own workflow, watchdog.yml (GET /repos/{o}/{r}/actions/workflows/{file}), and the scheduled
  runs of destroy.yml since the environment's last due firing
  (GET .../workflows/destroy.yml/runs?event=schedule, then each run's jobs). It **refuses**
  (exit 1) while either workflow is not active: the deploy would bring up a stack that nothing
  will take down again, and the fix is one click (Enable workflow). It **warns** (the run goes
  on; the warning is first in the summary) when the last nightly destroy failed or did not run
  while no keep-alive held: that night is past, the deploy does not make it worse, and the very
  deploy may be what brings the stack back to a known state; the watchdog files the issue.
- `stack` (with the read-only plan role) reads the environment's state object and prints how
  many managed resources it holds and when it was written (outputs `resources`, `written`).
- `check` (the watchdog's daily run, the morning after) judges the same runs, the destroy
  workflow's state and what `stack` found: a stack still running after a nightly destroy that
  should have removed it, a failed or missing nightly destroy, a disabled destroy workflow.
  With --issue it opens (or updates) the environment's one issue (`<!-- nightly-watchdog:ENV
  -->`, gitops.github.comments.sync_issue, like the drift issue) and exits 1, so the run is red
  too; when all is well again it closes that issue.

Who watches the watchdog: it is scheduled itself, so the same 60 days disable it. So `check`
also warns while a stack runs that those schedules will leave behind: from a week before the
day GitHub may stop them (60 days after the newest commit on main; GET /repos/{o}/{r} for
`private` and the default branch, GET .../commits/{branch} for the date), or at once when a
keep-alive ends after that day. Once disabled, the deploy's preflight refuses until both are
enabled again, and the AWS Budgets alarm of the bootstrap notices a stack nobody deploys or
watches.

The keep-alive (--keep-alive, the value of the environment's `[nightly_destroy] keep_alive`
variable) is judged against each firing's own local date, as the nightly destroy judges it
(gitops.github.keep_alive). $GITHUB_TOKEN (actions: read; --issue also issues: write),
$GITHUB_REPOSITORY, $GITHUB_API_URL as for gitops.github.comments.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gitops import environments
from gitops.github import keep_alive
from gitops.github.api import (
    DEFAULT_API,
    GitHub,
    GitHubError,
    get_repository,
    get_workflow,
    last_commit_time,
    parse_time,
    run_jobs,
    workflow_runs,
)
from gitops.github.comments import run_url, sync_issue
from gitops.github.outputs import append_summary, set_outputs

DESTROY_WORKFLOW = environments.DESTROY_WORKFLOW.name
WATCHDOG_WORKFLOW = "watchdog.yml"
# GitHub starts scheduled runs late under load (an hour is not unusual): a firing with no run
# after this long counts as dropped; before it, the firing before is judged instead.
GRACE = timedelta(hours=3)
FAILED = {"failure", "cancelled", "timed_out", "startup_failure", "action_required", "stale"}
# GitHub disables the scheduled workflows of a public repository after this long without
# activity (a push), the destroy's and this watchdog's alike; warned this long before.
INACTIVITY = timedelta(days=60)
NOTICE = timedelta(days=7)
REFUSE, WARN, OK = "refuse", "warn", "ok"
ICON = {REFUSE: "⛔", WARN: "⚠️", OK: "✅"}
STATE_WHY = {
    "disabled_inactivity": "GitHub disabled it after 60 days without activity in this public "
    "repository",
    "disabled_manually": "someone disabled it",
    "disabled_fork": "this repository is a fork, where GitHub runs no schedule",
    "deleted": "its file is gone from the default branch",
}


@dataclass(frozen=True)
class Finding:
    level: str  # refuse | warn | ok
    text: str


@dataclass(frozen=True)
class Nightly:
    """What became of the last nightly destroy of an environment that is judged."""

    outcome: str  # destroyed | failed | not run | skipped | running | not due
    firing: datetime | None  # when it was due (UTC)
    kept: bool  # a keep-alive held for that firing's local date
    finding: Finding


def due_firings(nightly: environments.Nightly, now: datetime, count: int = 2) -> list[datetime]:
    """The last `count` moments (UTC) at or before `now` when the nightly destroy was due: its
    local time `at` on each local day, newest first."""
    day = keep_alive.local_date(now, nightly.time_zone)
    found: list[datetime] = []
    while len(found) < count:
        moment = nightly.local_at(day)
        if moment <= now:
            found.append(moment.astimezone(UTC))
        day -= timedelta(days=1)
    return found


def local(moment: datetime, nightly: environments.Nightly) -> str:
    return f"{moment.astimezone(ZoneInfo(nightly.time_zone)):%Y-%m-%d %H:%M} {nightly.time_zone}"


def workflow_state(gh: GitHub, file: str, purpose: str) -> tuple[Finding, datetime | None]:
    """Refuse unless the workflow is active; when it is, also when it was created."""
    try:
        workflow = get_workflow(gh, file)
    except GitHubError as err:
        if err.status != 404:
            raise
        return Finding(REFUSE, f"`{file}` ({purpose}) does not exist on the default branch"), None
    state = str(workflow.get("state") or "unknown")
    if state == "active":
        created = workflow.get("created_at")
        return Finding(OK, f"`{file}` ({purpose}) is active"), parse_time(
            created
        ) if created else None
    name = workflow.get("name") or file
    why = STATE_WHY.get(state, "GitHub does not run it")
    return Finding(
        REFUSE,
        f"`{file}` ({purpose}) is **{state}**: {why}, so it will not run. Enable it: Actions → "
        f"{name} → *Enable workflow*, or `gh workflow enable {file} -R {gh.repo}`",
    ), None


def _env_jobs(jobs: list[dict[str, Any]], env: str) -> list[dict[str, Any]]:
    name = f"destroy {env}"
    return [
        j for j in jobs if j.get("name") == name or str(j.get("name", "")).startswith(name + " /")
    ]


def _run_outcome(gh: GitHub, run: dict[str, Any], env: str) -> str | None:
    """What a scheduled run of destroy.yml did for `env`; None when it was not due for it."""
    jobs = run_jobs(gh, run["id"])
    mine = _env_jobs(jobs, env)
    if not mine:
        # The firing of another environment, unless the run failed before it chose any (the
        # `environments` job): then nothing was destroyed for anyone.
        chooser = [j for j in jobs if j.get("name") == "environments"]
        if run.get("status") == "completed" and any(j.get("conclusion") in FAILED for j in chooser):
            return "failed"
        return None
    if run.get("status") != "completed":
        return "running"
    if any(j.get("conclusion") in FAILED for j in mine):
        return "failed"
    destroyed = [j for j in mine if str(j.get("name", "")).startswith(f"destroy {env} / destroy")]
    if any(j.get("conclusion") == "success" for j in destroyed):
        return "destroyed"
    return "skipped"


def _kept(raw: str, firing: datetime, env: str, nightly: environments.Nightly) -> tuple[bool, str]:
    """Whether the keep-alive held on the firing's local date; a bad value is an error text."""
    day = keep_alive.local_date(firing, nightly.time_zone)
    try:
        decision = keep_alive.decide(raw, day, env, nightly)
    except keep_alive.KeepAliveError as err:
        return False, str(err)
    return not decision.destroy, ""


def last_nightly(
    gh: GitHub,
    env: str,
    nightly: environments.Nightly,
    keep_alive_raw: str,
    now: datetime,
    workflow_created: datetime | None = None,
) -> Nightly:
    """Judge the last nightly destroy that should have run by now."""
    runs = workflow_runs(gh, DESTROY_WORKFLOW, limit=30, event="schedule")
    firings = due_firings(nightly, now)
    for index, firing in enumerate(firings):
        if workflow_created is not None and workflow_created > firing:
            text = f"no nightly destroy of {env} was due yet (`{DESTROY_WORKFLOW}` is newer)"
            return Nightly("not due", None, False, Finding(OK, text))
        until = firings[index - 1] if index else now
        outcome, run = None, None
        for candidate in sorted(runs, key=lambda r: parse_time(r["created_at"])):
            if firing <= parse_time(candidate["created_at"]) < until:
                outcome = _run_outcome(gh, candidate, env)
                if outcome is not None:
                    run = candidate
                    break
        if outcome is None and index == 0 and now - firing < GRACE:
            continue  # GitHub may still start it: judge the firing before
        kept, bad = _kept(keep_alive_raw, firing, env, nightly)
        due = f"the nightly destroy of {env} due {local(firing, nightly)}"
        link = f" ([run #{run.get('run_number')}]({run.get('html_url', '')}))" if run else ""
        var = nightly.keep_alive
        if outcome is None:
            outcome = "not run"
            text = (
                f"GitHub did not start {due}: no scheduled run of `{DESTROY_WORKFLOW}` since "
                "(GitHub drops scheduled runs under load)"
            )
        elif outcome == "failed":
            text = f"{due} failed{link}"
        elif outcome == "running":
            return Nightly(outcome, firing, kept, Finding(OK, f"{due} is running{link}"))
        elif outcome == "destroyed":
            return Nightly(outcome, firing, kept, Finding(OK, f"{due} ran{link}"))
        else:  # skipped: a keep-alive held, or AWS was not set up then
            text = (
                f"{due} ran and destroyed nothing{link} (a keep-alive held, or AWS was not set up)"
            )
            return Nightly(outcome, firing, kept, Finding(OK, text))
        if bad:
            return Nightly(outcome, firing, False, Finding(WARN, f"{text}; {bad}"))
        if kept:
            held = f"{var} kept the stack that night anyway"
            return Nightly(outcome, firing, True, Finding(OK, f"{text}; {held}"))
        return Nightly(outcome, firing, False, Finding(WARN, f"{text}, and no {var} kept it"))
    raise AssertionError("unreachable: the second firing is always judged")  # pragma: no cover


def stack_finding(
    env: str,
    nightly: Nightly,
    stack_result: str,
    resources: int | None,
    written: datetime | None,
    var: str,
) -> Finding:
    """Whether the stack still runs when the nightly destroy should have removed it."""
    if stack_result != "success" or resources is None:
        return Finding(
            WARN,
            f"the state of {env} could not be read (the watchdog's `stack` job ended "
            f"{stack_result or 'without a result'}): read its log",
        )
    if resources == 0:
        return Finding(OK, f"the state of {env} holds no resource: nothing runs")
    count = f"its state holds {resources} resource(s)"
    if written is not None:
        count += f" (written {written.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"
    firing = nightly.firing
    if firing is None or nightly.outcome == "running":
        return Finding(OK, f"{env} runs: {count}")
    if nightly.kept:
        return Finding(OK, f"{env} runs, kept by {var}: {count}")
    if nightly.outcome == "destroyed" and written is not None and written >= firing:
        return Finding(OK, f"{env} was deployed again after the nightly destroy: {count}")
    return Finding(
        WARN,
        f"**the {env} stack is still running** after the nightly destroy that should have "
        f"removed it: {count}",
    )


def schedules_finding(
    gh: GitHub,
    env: str,
    nightly: environments.Nightly,
    raw: str,
    now: datetime,
    resources: int | None,
) -> Finding | None:
    """A warning while a stack runs that nothing may destroy once GitHub stops the schedules
    of this public repository, 60 days after the newest commit on its default branch (the
    activity that surely counts): a week before that day, or when a keep-alive ends after it."""
    if not resources:
        return None  # nothing runs: the deploy's preflight refuses until they are enabled again
    repo = get_repository(gh)
    if repo.get("private"):
        return None
    try:
        last = last_commit_time(gh, str(repo.get("default_branch") or "main"))
    except GitHubError as err:
        if err.status in (404, 409):  # no such branch, or an empty repository
            return None
        raise
    if last is None:
        return None
    stop = last + INACTIVITY
    when = (
        f"GitHub may disable the scheduled workflows of this public repository from "
        f"{stop:%Y-%m-%d} (60 days after the newest commit on main, {last:%Y-%m-%d}), the "
        "nightly destroy and this watchdog with them"
    )
    fix = "push a commit to main before then (or enable both workflows again once disabled)"
    try:
        until = keep_alive.parse_until(raw, nightly.keep_alive)
    except keep_alive.KeepAliveError:
        until = None  # said by the nightly finding
    if until is not None and nightly.local_at(until) >= stop:
        return Finding(
            WARN,
            f"{nightly.keep_alive}={until.isoformat()} keeps {env} past that day: {when}, "
            f"so nothing would destroy the stack when the keep-alive ends; {fix}, or set "
            "an earlier date",
        )
    if now >= stop - NOTICE:
        return Finding(WARN, f"{env} runs ({resources} resource(s)) and {when}; {fix}")
    return None


def report(findings: list[Finding], title: str, environ: dict[str, str]) -> None:
    lines = [f"### {title}", ""] + [f"- {ICON[f.level]} {f.text}" for f in findings]
    append_summary(environ, "\n".join(lines) + "\n\n")
    for finding in findings:
        if finding.level == REFUSE:
            print(f"::error title={title}::{finding.text}")
        elif finding.level == WARN:
            print(f"::warning title={title}::{finding.text}")
        else:
            print(finding.text)


def issue_body(env: str, findings: list[Finding], gate: str | None, var: str, url: str) -> str:
    where = f" ([run]({url}))" if url else ""
    lines = [
        f"The daily watchdog{where} found that the nightly destroy of **{env}** needs attention:",
        "",
        *[f"- {ICON[f.level]} {f.text}" for f in findings],
        "",
        "**What to do**",
        "",
        "1. Read the log of the run linked above; fix what it says (a disabled workflow: enable "
        "it; schedules GitHub is about to stop: push a commit to main; a missing role "
        f"variable: `make github-setup`; a stale state lock: `make unlock ENV={env}`).",
        f"2. Take the stack down now: Actions → destroy → *Run workflow*, environment `{env}` "
        f"(a reviewer of `{gate}` approves), or keep it on purpose: set `{var}` to the first "
        "day it may be destroyed again.",
        "3. This issue closes itself when a later watchdog run finds all well again.",
    ]
    return "\n".join(lines) + "\n"


def _described(parser: argparse.ArgumentParser, name: str) -> environments.Environment:
    try:
        return environments.get(name)
    except (environments.UnknownEnvironment, environments.DescriptionError) as err:
        parser.error(str(err))
    raise AssertionError("unreachable")  # pragma: no cover


def _github(environ: dict[str, str], repo: str) -> GitHub:
    return GitHub(environ.get("GITHUB_TOKEN", ""), repo, environ.get("GITHUB_API_URL", DEFAULT_API))


def preflight(
    gh: GitHub, described: environments.Environment, raw: str, now: datetime
) -> list[Finding]:
    """Before a deploy: both workflows active (else refuse), the last nightly destroy done
    (else warn)."""
    assert described.nightly is not None
    destroy, created = workflow_state(gh, DESTROY_WORKFLOW, "the nightly destroy")
    watchdog, _ = workflow_state(gh, WATCHDOG_WORKFLOW, "the watchdog that checks it")
    nightly = last_nightly(gh, described.name, described.nightly, raw, now, created)
    return [destroy, watchdog, nightly.finding]


def check(
    gh: GitHub,
    described: environments.Environment,
    raw: str,
    now: datetime,
    stack_result: str,
    resources: int | None,
    written: datetime | None,
) -> list[Finding]:
    """The morning after: the destroy workflow active, its last run done, the stack gone (or
    kept, or deployed again since), and a running stack not left to schedules GitHub is about
    to stop."""
    assert described.nightly is not None
    state, created = workflow_state(gh, DESTROY_WORKFLOW, "the nightly destroy")
    nightly = last_nightly(gh, described.name, described.nightly, raw, now, created)
    var = described.nightly.keep_alive
    stack = stack_finding(described.name, nightly, stack_result, resources, written, var)
    stopping = schedules_finding(gh, described.name, described.nightly, raw, now, resources)
    return [state, nightly.finding, stack, *([stopping] if stopping else [])]


def main(
    argv: list[str] | None = None,
    environ: dict[str, str] | None = None,
    now: datetime | None = None,
) -> int:
    env = dict(os.environ) if environ is None else environ
    parser = argparse.ArgumentParser(description="Watch that the nightly destroy happens.")
    parser.add_argument("--repo", default=env.get("GITHUB_REPOSITORY", ""), help="OWNER/NAME")
    sub = parser.add_subparsers(dest="command", required=True)
    pre = sub.add_parser("preflight", help="before a deploy: refuse or warn")
    daily = sub.add_parser("check", help="the morning after: judge, and keep the issue")
    stack = sub.add_parser("stack", help="count the resources in the environment's state")
    for each in (pre, daily, stack):
        each.add_argument("--env", required=True, help="the environment (envs/<name>)")
    for each in (pre, daily):
        each.add_argument("--keep-alive", default="", help="the keep-alive variable's value")
    daily.add_argument("--ready", default="true", help="false: AWS is not set up, nothing to watch")
    daily.add_argument("--stack-result", default="success", help="how the stack job ended")
    daily.add_argument("--resources", default="", help="what `stack` counted")
    daily.add_argument("--state-written", default="", help="when the state was written (ISO)")
    daily.add_argument("--issue", action="store_true", help="open, update or close the issue")
    args = parser.parse_args(argv)
    described = _described(parser, args.env)
    if described.nightly is None:
        print(f"{args.env}: no [nightly_destroy] in its description: nothing to watch")
        return 0
    if args.command == "stack":
        return stack_main(described, env)
    moment = now or datetime.now(UTC)
    title = f"Nightly destroy of {args.env}"
    try:
        gh = _github(env, args.repo)
        if args.command == "preflight":
            findings = preflight(gh, described, args.keep_alive, moment)
            report(findings, title, env)
            return 1 if any(f.level == REFUSE for f in findings) else 0
        if args.ready.strip() == "false":
            line = f"AWS is not set up for {args.env} (its plan role or state bucket variable is "
            line += "not set): nothing to watch"
            print(f"::notice title={title}::{line}")
            append_summary(env, f"### {title}\n\n{line}\n\n")
            return 0
        try:
            resources = int(args.resources) if args.resources.strip() else None
            written = parse_time(args.state_written) if args.state_written.strip() else None
        except ValueError as err:
            parser.error(f"--resources/--state-written: {err}")
        findings = check(gh, described, args.keep_alive, moment, args.stack_result,
                         resources, written)  # fmt: skip
        report(findings, title, env)
        alarm = any(f.level != OK for f in findings)
        if args.issue:
            body = None
            if alarm:
                body = issue_body(args.env, findings, described.gate,
                                  described.nightly.keep_alive, run_url(env))  # fmt: skip
            closing = (
                f"The watchdog finds the nightly destroy of {args.env} working again: closing."
            )
            marker = f"<!-- nightly-watchdog:{args.env} -->"
            outcome = sync_issue(gh, marker, f"{title} needs attention", body, closing)
            print(f"watchdog issue for {args.env}: {outcome.action} {outcome.url}".rstrip())
            set_outputs(env, issue=outcome.action, url=outcome.url)
    except GitHubError as err:
        print(f"::error title={title}::{err}")
        return 1
    return 1 if alarm else 0


def stack_main(described: environments.Environment, environ: dict[str, str]) -> int:
    """`stack`: the state's resource count and write time, as step outputs."""
    from botocore.exceptions import BotoCoreError, ClientError

    from gitops.terraform.state import StateError, read_summary
    from gitops.terraform.unlock import LockError, find_backend

    try:
        backend = find_backend(described.root, environ, default_key=described.state_key)
        summary = read_summary(backend)
    except (LockError, StateError, ClientError, BotoCoreError) as err:
        print(f"::error title=State of {described.name}::{err}", file=sys.stdout)
        print(
            f"ERROR: cannot read the state of {described.name}: {err}. Check TF_STATE_BUCKET "
            "and that the plan role may read the state object (s3:GetObject) and list its key "
            "(s3:ListBucket with s3:prefix = the key): make bootstrap grants both.",
            file=sys.stderr,
        )
        return 1
    written = summary.written.astimezone(UTC).isoformat() if summary.written else ""
    set_outputs(environ, resources=str(summary.resources), written=written)
    print(
        f"{summary.where}: {summary.resources} resource(s)"
        + (f", written {written}" if written else ", no state")
    )
    return 0
