"""After an AWS environment's apply and smoke test, tell the pull request the commit came from.

    gitops apply-report --env seoul --result success|failure|cancelled \\
        [--smoke-result success|failure|cancelled|skipped] [--stopped-at JOB] \\
        [--plan .artifacts/plans/seoul.json] \\
        [--artifacts .artifacts] [--sha COMMIT] \\
        [--run-url URL] [--output comment.md]

Reads what the apply job and the smoke job after it left behind (`gitops run-logged --log`
writes `apply-report/apply.log`; `gitops smoke` writes `smoke-ENV.json`, with the app's URL),
the smoke job's own outcome (`--smoke-result`, empty when it did not run), and
the reviewed plan for the planned counts. From those it says: applied or failed, and where (the
step before the apply, the apply, or the smoke test); the resource counts; every smoke check;
the app's URL (`http://<web_public_ip>/health`); the run. A failure keeps Terraform's error
lines. --stopped-at names the job of the deploy that failed before any approval was asked for
(`preflight`, `plan`, `plan vs preview`): then nothing was applied, and the comment says where.
Everything that came from a log is redacted the way the plan preview is (values marked
sensitive in the plan, secret-looking values and `name = "value"` secrets).

Then it finds the pull request the commit was merged from (GET /repos/{o}/{r}/commits/{sha}/pulls)
and adds one comment there. A push without a pull request is said in the job summary, with
nothing posted. Exit 0 when reported (or nothing to report to), 1 when GitHub refused the
comment, 2 on bad arguments.

    gitops apply-report --env seoul --result superseded [--run-id ID]

A deploy of an environment queues in its concurrency group; when a third push arrives while
one deploy waits for approval, GitHub cancels the pending one before it starts, and none of its
jobs (the report among them) ever runs. deploy.yml's `superseded` job then runs this: it reads
this run's jobs (GET .../actions/runs/{id}/jobs) and, when no job of `deploy <env>` ever started
a step, finds the newer run of the same workflow that took its place (the oldest run newer than
this one) and comments "superseded by run #N" on the pull request. When the environment's
deploy did start, its own report job reports and nothing is posted here. Needs actions: read
and pull-requests: write.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops.github.api import DEFAULT_API, GitHub, GitHubError, get_run, run_jobs, workflow_runs
from gitops.github.comments import post_comment, pr_for_commit, run_url
from gitops.github.outputs import append_summary, set_outputs
from gitops.preview.markdown import fenced
from gitops.preview.redact import Secrets, collect_secrets

MARKER = "<!-- apply-report:{env} -->"
APPLY_STEP = "Apply exactly that plan"
SMOKE_STEP = "Smoke test the real stack"
BEFORE_STEP = (
    "before the apply: the deployment was rejected, or set-up, AWS credentials or the plan "
    "download failed"
)
APPLY_DONE = re.compile(
    r"Apply complete! Resources: (?P<added>\d+) added, (?P<changed>\d+) changed, "
    r"(?P<destroyed>\d+) destroyed"
)
# A deploy that stopped in a job before the apply asked for any approval (--stopped-at).
STOPPED = {
    "preflight": "the preflight, before planning (AWS set-up, the gate's protection or the "
    "nightly destroy's workflows: its log says which)",
    "plan": "the plan, before any approval",
    "plan vs preview": "the requested replacement's check, before any approval (the plan "
    "replaced more, or other than, what was asked)",
}
ERROR_START = re.compile(r"^\W*(Error|error:|Error:)")
MAX_ERROR_LINES = 40
ICON = {"PASS": "✅", "FAIL": "❌", "SKIP": "⏭️"}


@dataclass
class Report:
    env: str
    result: str  # what GitHub says of the apply job: success, failure, cancelled
    applied: bool
    failed_step: str | None
    counts: str
    smoke: list[dict[str, Any]] = field(default_factory=list)
    smoke_ok: bool | None = None
    # What the smoke job's test step ended with: "" when the job did not run, "skipped" when a
    # step before the test (set-up, AWS credentials) failed.
    smoke_result: str = ""
    stopped_at: str = ""  # the job before the apply that failed (a key of STOPPED), or ""
    app_url: str | None = None
    error_lines: list[str] = field(default_factory=list)


def planned_counts(plan: dict[str, Any] | None) -> str:
    if not plan:
        return "unknown (no plan found)"
    add = change = destroy = 0
    for rc in plan.get("resource_changes") or []:
        actions = (rc.get("change") or {}).get("actions") or []
        add += "create" in actions
        change += actions == ["update"]
        destroy += "delete" in actions
    return f"planned: {add} to add, {change} to change, {destroy} to destroy"


def error_lines(log: list[str]) -> list[str]:
    """From Terraform's first `Error:` line on (it prints its diagnostics last), else the tail."""
    for index, line in enumerate(log):
        if ERROR_START.search(line.lstrip("│╷╵ ")):
            return log[index : index + MAX_ERROR_LINES]
    return log[-20:]


def build(
    env: str,
    result: str,
    artifacts: Path,
    plan: dict[str, Any] | None,
    smoke_result: str = "",
    stopped_at: str = "",
) -> Report:
    log_path = artifacts / "apply-report" / "apply.log"
    smoke_path = artifacts / f"smoke-{env}.json"
    log = log_path.read_text(encoding="utf-8").splitlines() if log_path.is_file() else None
    smoke = json.loads(smoke_path.read_text(encoding="utf-8")) if smoke_path.is_file() else None
    done = next((m for line in log or [] if (m := APPLY_DONE.search(line))), None)
    applied = done is not None
    if done:
        counts = f"{done['added']} added, {done['changed']} changed, {done['destroyed']} destroyed"
    else:
        counts = planned_counts(plan) + " (not applied)"
    if stopped_at:
        failed_step = f"{STOPPED[stopped_at]}; nothing was applied"
    elif log is None:
        failed_step = BEFORE_STEP if result != "success" else None
    elif not applied:
        failed_step = APPLY_STEP
    elif smoke is None or not smoke.get("ok"):
        failed_step = SMOKE_STEP
    else:
        failed_step = None
    report = Report(env, result, applied, failed_step, counts, smoke_result=smoke_result,
                    stopped_at=stopped_at)  # fmt: skip
    if smoke is not None:
        report.smoke = list(smoke.get("checks") or [])
        report.smoke_ok = bool(smoke.get("ok"))
        report.app_url = smoke.get("app_url")
    if log is not None and failed_step == APPLY_STEP:
        report.error_lines = error_lines(log)
    return report


def redactor(plan: dict[str, Any] | None, raw: str = "") -> Secrets:
    """The preview's redaction, primed with every secret the reviewed plan carries."""
    secrets = Secrets()
    if plan:
        collect_secrets(plan, raw or json.dumps(plan), secrets)
    return secrets


def render(report: Report, sha: str, pr: int | None, url: str, secrets: Secrets) -> str:
    env = report.env
    ok = report.failed_step is None and report.result == "success"
    if ok:
        head = f"## ✅ Applied to `{env}`"
    elif report.applied:
        head = f"## ⚠️ Applied to `{env}`, then the smoke test failed"
    elif report.stopped_at:
        head = f"## ❌ Deploy of `{env}` stopped before the apply"
    elif report.result == "cancelled":
        head = f"## ⏹️ Apply to `{env}` cancelled"
    else:
        head = f"## ❌ Apply to `{env}` failed"
    lines = [MARKER.format(env=env), head, ""]
    where = [f"commit `{sha[:7]}`"] + ([f"merged in #{pr}"] if pr else [])
    if url:
        where.append(f"[the run]({url})")
    lines += [" · ".join(where), "", "| | |", "|:--|:--|"]
    if report.failed_step:
        lines.append(f"| Failed at | **{report.failed_step}** |")
    lines.append(f"| Resources | {report.counts} |")
    if report.smoke_ok is None:
        if not report.applied:
            smoke = "not run"
        elif not report.smoke_result:  # a job that never started has empty outputs
            smoke = "no report (the smoke job did not run)"
        elif report.smoke_result == "skipped":  # the job ran; a step before the test failed
            smoke = "no report (the smoke job stopped before its test: set-up or AWS credentials)"
        else:
            smoke = f"no report (the smoke job ended: {report.smoke_result})"
    else:
        passed = sum(c.get("status") == "PASS" for c in report.smoke)
        failed = sum(c.get("status") == "FAIL" for c in report.smoke)
        skipped = len(report.smoke) - passed - failed
        smoke = f"{passed} passed, {failed} failed, {skipped} skipped"
    lines.append(f"| Smoke test | {smoke} |")
    if report.app_url:
        lines.append(f"| App | {report.app_url} |")
    lines.append("")
    if report.smoke:
        lines += ["**Smoke checks**", ""]
        for check in report.smoke:
            icon = ICON.get(str(check.get("status")), "•")
            detail = secrets.redact(str(check.get("detail", ""))).replace("\n", " ")
            lines.append(f"- {icon} {check.get('name')}: {detail}")
        lines.append("")
    if report.error_lines:
        text = secrets.redact("\n".join(report.error_lines))
        lines += ["**Terraform's error**", "", *fenced(text), ""]
    return "\n".join(lines)


SUPERSEDED = "superseded"


def deploy_started(jobs: list[dict[str, Any]], env: str) -> bool:
    """Whether any job of this run's `deploy <env>` (the matrix job or the jobs of the workflow
    it calls, `deploy <env> / ...`) started a step."""
    name = f"deploy {env}"
    return any(
        job.get("steps")
        for job in jobs
        if job.get("name") == name or str(job.get("name", "")).startswith(f"{name} /")
    )


def superseding_run(gh: GitHub, run: dict[str, Any]) -> dict[str, Any] | None:
    """The run of the same workflow that came next after `run`: the one that joined the group
    and took its place (None when none has started since)."""
    newer = [
        other
        for other in workflow_runs(gh, run["workflow_id"], limit=50)
        if int(other.get("run_number", 0)) > int(run.get("run_number", 0))
    ]
    return min(newer, key=lambda other: int(other["run_number"])) if newer else None


def render_superseded(
    env: str, sha: str, pr: int | None, url: str, newer: dict[str, Any] | None
) -> str:
    where = [f"commit `{sha[:7]}`"] + ([f"merged in #{pr}"] if pr else [])
    if url:
        where.append(f"[this run]({url})")
    if newer is None:
        head = f"## ⏹️ Deploy of `{env}` cancelled before it started"
        text = (
            f"GitHub cancelled this deploy of `{env}` while it waited for its turn, and no "
            "newer deploy run has taken its place. Nothing was planned or applied for this "
            "commit: run **deploy** again (Actions → deploy → Run workflow) to deploy it."
        )
    else:
        link = f"[run #{newer.get('run_number')}]({newer.get('html_url', '')})"
        later = str(newer.get("head_sha") or "")[:7]
        head = f"## ⏭️ Deploy of `{env}` superseded by run #{newer.get('run_number')}"
        text = (
            f"GitHub cancelled this deploy of `{env}` before it started: it was waiting behind "
            f"another deploy of `{env}` (one waits for approval at a time), and {link} of commit "
            f"`{later}` joined the queue and took its place. Nothing was planned or applied for "
            f"this commit here; {link} plans `main` as of `{later}`, and reports on its own pull "
            "request."
        )
    return "\n".join([MARKER.format(env=env), head, "", " · ".join(where), "", text, ""])


def report_superseded(gh: GitHub, env: str, run_id: str, sha: str, url: str) -> tuple[str, str]:
    """Comment on the pull request when this run's deploy of `env` never started; (what was
    done, where)."""
    if deploy_started(run_jobs(gh, run_id), env):
        return "started", ""
    newer = superseding_run(gh, get_run(gh, run_id))
    pr = pr_for_commit(gh, sha)
    body = render_superseded(env, sha, pr, url, newer)
    if pr is None:
        return "no pull request", body
    return "posted", post_comment(gh, pr, body).url


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if environ is None else environ
    parser = argparse.ArgumentParser(description="Report the apply on its pull request.")
    parser.add_argument("--env", required=True)
    parser.add_argument(
        "--result",
        required=True,
        choices=["success", "failure", "cancelled", SUPERSEDED],
        help=f"the apply job's result; {SUPERSEDED}: report a deploy cancelled before it started",
    )
    parser.add_argument(
        "--smoke-result",
        default="",
        choices=["", "success", "failure", "cancelled", "skipped"],
        help="the smoke job's outcome (empty: it did not run)",
    )
    parser.add_argument(
        "--stopped-at",
        default="",
        choices=["", *STOPPED],
        help="the job before the apply that failed, so no approval was asked for (empty: none)",
    )
    parser.add_argument("--plan", type=Path, help="the reviewed plan's JSON (planned counts)")
    parser.add_argument("--artifacts", type=Path, default=Path(".artifacts"))
    parser.add_argument("--sha", default=env.get("GITHUB_SHA", ""))
    parser.add_argument("--repo", default=env.get("GITHUB_REPOSITORY", ""))
    parser.add_argument("--run-url", default=run_url(env))
    parser.add_argument("--output", type=Path, help="also write the comment here")
    parser.add_argument("--run-id", default=env.get("GITHUB_RUN_ID", ""), help="superseded: "
                        "this run (default $GITHUB_RUN_ID)")  # fmt: skip
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[0-9a-f]{7,40}", args.sha or ""):
        parser.error(f"--sha must be a commit SHA, got {args.sha!r}")
    if args.result == SUPERSEDED:
        if not args.run_id.isdigit():
            parser.error(f"--result {SUPERSEDED} needs --run-id (or $GITHUB_RUN_ID)")
        return superseded_main(args, env)
    plan, raw = None, ""
    if args.plan and args.plan.is_file():
        try:
            raw = args.plan.read_text(encoding="utf-8")
            plan = json.loads(raw)
        except ValueError as exc:
            print(f"apply_report: error: {args.plan} is not JSON: {exc}", file=sys.stderr)
            return 2
    report = build(args.env, args.result, args.artifacts, plan, args.smoke_result,
                   args.stopped_at)  # fmt: skip
    try:
        gh = GitHub(env.get("GITHUB_TOKEN", ""), args.repo, env.get("GITHUB_API_URL", DEFAULT_API))
        pr = pr_for_commit(gh, args.sha)
        body = render(report, args.sha, pr, args.run_url, redactor(plan, raw))
        if args.output:
            args.output.write_text(body, encoding="utf-8")
        if pr is None:
            line = f"{args.env}: no pull request for {args.sha[:7]}: the report stays here"
            print(line)
            append_summary(env, f"{line}\n\n{body}\n")
            return 0
        outcome = post_comment(gh, pr, body)
    except GitHubError as err:
        print(f"::error title=Apply report::{err}")
        return 1
    print(f"{args.env}: apply report on #{pr}: {outcome.url}")
    set_outputs(env, url=outcome.url)
    append_summary(env, f"Apply report posted on #{pr}: {outcome.url}\n\n")
    return 0


def superseded_main(args: argparse.Namespace, env: dict[str, str]) -> int:
    try:
        gh = GitHub(env.get("GITHUB_TOKEN", ""), args.repo, env.get("GITHUB_API_URL", DEFAULT_API))
        done, where = report_superseded(gh, args.env, args.run_id, args.sha, args.run_url)
    except GitHubError as err:
        print(f"::error title=Apply report::{err}")
        return 1
    if done == "started":
        line = (
            f"{args.env}: this run's deploy started; its own report job reports on the pull request"
        )
    elif done == "no pull request":
        line = f"{args.env}: cancelled before it started; no pull request for {args.sha[:7]}"
        append_summary(env, f"{line}\n\n{where}\n")
    else:
        line = (
            f"{args.env}: deploy cancelled before it started; reported on the pull request: {where}"
        )
        set_outputs(env, url=where)
        append_summary(env, f"{line}\n\n")
    print(line)
    return 0
