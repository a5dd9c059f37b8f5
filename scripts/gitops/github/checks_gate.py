"""The pull request's one required check: green only when every job it needs passed.

    NEEDS='${{ toJSON(needs) }}' gitops checks-gate [--skip-reason JOB=REASON ...]

GitHub counts a *skipped* job as a passed required check, and a job skipped because the job it
needs failed is skipped, not failed. So branch protection that requires the jobs themselves lets
a pull request merge when `prepare` failed (the e2e job is then skipped) or when a required job
lives in a reusable workflow that never ran. This gate runs last with `if: always()`, reads the
result of every job it needs from $NEEDS (the workflow's `toJSON(needs)`), and fails unless each
one succeeded, or was skipped for a documented reason:

- --skip-reason JOB=REASON: JOB may be skipped, and only when REASON is not empty (the AWS
  plans of a pull request from a fork, or of a repository without AWS configured, are skipped
  with a notice saying so, and so is a plan matrix with no environment in it; the workflow
  passes that notice as REASON).

One line per job is printed and written to $GITHUB_STEP_SUMMARY as a table; each failing job
gets an `::error` annotation that says what to do next. Exit 0 when the gate passes, 1 when it
does not, 2 when $NEEDS is missing or not the JSON the workflow gives.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass

from gitops.github.outputs import append_summary

NEEDS_VAR = "NEEDS"


@dataclass(frozen=True)
class JobVerdict:
    job: str
    result: str
    ok: bool
    note: str


def parse_skip_reasons(pairs: list[str]) -> dict[str, str]:
    reasons: dict[str, str] = {}
    for pair in pairs:
        job, sep, reason = pair.partition("=")
        if not sep or not job.strip():
            raise ValueError(f"--skip-reason expects JOB=REASON, got {pair!r}")
        reasons[job.strip()] = reason.strip()
    return reasons


def judge(needs: dict[str, dict[str, object]], skip_reasons: dict[str, str]) -> list[JobVerdict]:
    """One verdict per needed job, in the order the workflow lists them."""
    if not needs:
        raise ValueError("the gate needs no job: list the pull request's jobs under `needs`")
    verdicts = []
    for job, info in needs.items():
        result = str((info or {}).get("result", ""))
        if result == "success":
            verdicts.append(JobVerdict(job, result, True, "passed"))
        elif result == "skipped" and skip_reasons.get(job):
            verdicts.append(JobVerdict(job, result, True, f"skipped: {skip_reasons[job]}"))
        elif result == "skipped":
            verdicts.append(
                JobVerdict(
                    job,
                    result,
                    False,
                    "did not run (a job it needs failed, or its condition was false): fix the "
                    "first failed job of this run, then push again or re-run the failed jobs",
                )
            )
        else:
            verdicts.append(
                JobVerdict(
                    job,
                    result or "unknown",
                    False,
                    "read the job's log in this run, fix the cause and push again; for a "
                    "flaky failure use Re-run failed jobs",
                )
            )
    return verdicts


def summary(verdicts: list[JobVerdict], passed: bool) -> str:
    heading = "Pull request gate: passed" if passed else "Pull request gate: failed"
    lines = [f"### {heading}", "", "| Job | Result | |", "| --- | --- | --- |"]
    for v in verdicts:
        mark = "✅" if v.ok else "❌"
        lines.append(f"| `{v.job}` | {v.result} | {mark} {v.note} |")
    return "\n".join(lines) + "\n\n"


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if environ is None else environ
    parser = argparse.ArgumentParser(description="Fail unless every needed job passed.")
    parser.add_argument("--skip-reason", action="append", default=[], metavar="JOB=REASON")
    args = parser.parse_args(argv)
    try:
        skip_reasons = parse_skip_reasons(args.skip_reason)
        needs = json.loads(env.get(NEEDS_VAR) or "null")
        if not isinstance(needs, dict):
            raise ValueError(f"${NEEDS_VAR} must hold the workflow's toJSON(needs), a JSON object")
        verdicts = judge(needs, skip_reasons)
    except ValueError as err:
        print(f"::error title=Pull request gate::{err}")
        return 2
    passed = all(v.ok for v in verdicts)
    for v in verdicts:
        if v.ok:
            print(f"{v.job}: {v.result} ({v.note})")
        else:
            print(f"::error title=Required job {v.job} {v.result}::{v.job} {v.result}: {v.note}")
    append_summary(env, summary(verdicts, passed))
    print("gate passed" if passed else "gate failed: the pull request may not merge yet")
    return 0 if passed else 1
