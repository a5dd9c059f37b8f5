"""Check, before a job touches AWS, that this repository and this run may do so.

    gitops preflight --name seoul --require AWS_PLAN_ROLE_ARN --require TF_STATE_BUCKET
        [--same-repo] [--main-only] [--confirm TYPED --expect seoul]

- --require NAME[=LABEL]: the variable must be set and non-blank in the environment (the workflow
  passes repository variables in as env); LABEL, when given, is the repository variable's name
  the notice asks for (a job that reads `vars[...]` by a name from the environment descriptions
  passes it under a fixed env name). A new clone, or a fork, has none of them: the run is not an
  error, the AWS jobs are skipped, and a notice says which variables to set (docs/PIPELINE.md).
- --same-repo: only a pull request from this repository may use AWS. A pull request from a fork
  gets no OIDC token and a read-only GITHUB_TOKEN, so it is skipped the same way; so is one
  whose head repository is unknown (a deleted fork: GitHub sends `head.repo` as null). HEAD_REPO
  and BASE_REPO (owner/name) come from the workflow. So is a run Dependabot started (ACTOR, the
  workflow's `github.actor`, is `dependabot[bot]`, which stays so when someone else re-runs
  it): GitHub treats it like a fork's, with a read-only token and Dependabot's secrets instead
  of the Actions ones, and it may get no OIDC token. And so is a merge queue's run (EVENT, the
  workflow's `github.event_name`, is `merge_group`): the plan role trusts pull requests and
  main, not the queue's branches; the pull request planned before it was queued, and the
  deploy plans main again before anything is applied.
- --missing-is-error: a required variable that is not set fails the run (exit 1) instead of
  skipping it: for a job that has been told to use AWS (terraform.yml's plan job), where an
  empty role would otherwise reach the credentials action and fail there with a cryptic error.
- --main-only: the AWS roles trust runs of `main` (and its environments) only, so a manual run
  started from another branch would fail late with AccessDenied; it fails here instead (exit 1),
  first of all checks, with a message that says how to start it from main. GITHUB_REF (set by
  the runner) names the branch.
- --confirm/--expect: a manual destroy proceeds only when the operator typed the environment
  name; anything else fails the run (exit 1) before any approval is even requested.

Writes `ready=true|false` and `reason=...` to $GITHUB_OUTPUT, a line to $GITHUB_STEP_SUMMARY
and a `::notice` (or `::error`) annotation; exit 0 unless the branch or the confirmation is
wrong.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from gitops.github.outputs import append_summary, set_outputs


@dataclass(frozen=True)
class Verdict:
    ready: bool
    reason: str
    fatal: bool = False
    title: str = "Not confirmed"


MAIN_REF = "refs/heads/main"
DEPENDABOT = "dependabot[bot]"
MERGE_GROUP = "merge_group"


def check(
    name: str,
    required: list[str],
    environ: dict[str, str],
    *,
    same_repo: bool = False,
    main_only: bool = False,
    missing_is_error: bool = False,
    confirm: str | None = None,
    expect: str | None = None,
) -> Verdict:
    """Whether the AWS jobs for `name` may run, and why not when they may not."""
    ref = environ.get("GITHUB_REF", "")
    if main_only and ref != MAIN_REF:
        return Verdict(
            False,
            f"{name} refused: started from {ref or 'an unknown ref (GITHUB_REF is not set)'}, "
            "but the AWS roles trust only main; nothing was done. Run the workflow again with "
            '"Use workflow from: main" (or `gh workflow run <workflow> --ref main`), after '
            "merging the change you wanted to run",
            fatal=True,
            title="Not on main",
        )
    if expect is not None and (confirm or "").strip() != expect:
        return Verdict(
            False,
            f"confirmation {(confirm or '')!r} does not match {expect!r}: nothing was destroyed; "
            f"run the workflow again and type {expect} exactly",
            fatal=True,
        )
    if same_repo:
        head, base = environ.get("HEAD_REPO", ""), environ.get("BASE_REPO", "")
        if environ.get("EVENT", "") == MERGE_GROUP:
            return Verdict(
                False,
                f"{name} skipped: merge queue run; the AWS roles trust pull requests and main, "
                "not the queue's branches (the pull request planned before it was queued, and "
                "the deploy plans main again before any apply)",
            )
        if environ.get("ACTOR", "") == DEPENDABOT:
            return Verdict(
                False,
                f"{name} skipped: run started by {DEPENDABOT}; GitHub treats it like a fork's "
                "(read-only token, no Actions secrets, no AWS OIDC token); the LocalStack gate "
                "still runs, and the deploy plans AWS after the merge, before any apply",
            )
        if not head:
            return Verdict(
                False,
                f"{name} skipped: the pull request's head repository is unknown (a deleted "
                "fork); treated as a fork, which gets no AWS OIDC token",
            )
        if head != base:
            return Verdict(
                False,
                f"{name} skipped: pull request from the fork {head}; forks get no AWS OIDC token",
            )
    missing = []
    for entry in required:
        var, _, label = entry.partition("=")
        if not environ.get(var, "").strip():
            missing.append(label.strip() or var)
    if missing and missing_is_error:
        return Verdict(
            False,
            f"{name} refused: repository variable {', '.join(missing)} is not set (or is "
            "blank), so there is no role to assume. Set it in Settings → Secrets and variables "
            "→ Actions → Variables to the role's ARN (docs/PIPELINE.md)",
            fatal=True,
            title="Not configured",
        )
    if missing:
        return Verdict(
            False,
            f"{name} skipped: AWS OIDC is not configured in this repository "
            f"(repository variables not set: {', '.join(missing)}; see docs/PIPELINE.md)",
        )
    return Verdict(True, f"{name}: AWS OIDC configured, proceeding")


def report(verdict: Verdict, environ: dict[str, str]) -> None:
    set_outputs(environ, ready="true" if verdict.ready else "false", reason=verdict.reason)
    if not verdict.ready:
        kind = "CAUTION" if verdict.fatal else "NOTE"
        append_summary(environ, f"> [!{kind}]\n> {verdict.reason}\n\n")
    if verdict.fatal:
        print(f"::error title={verdict.title}::{verdict.reason}")
    elif not verdict.ready:
        print(f"::notice title=Skipped::{verdict.reason}")
    else:
        print(verdict.reason)


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if environ is None else environ
    parser = argparse.ArgumentParser(description="May this run use AWS?")
    parser.add_argument("--name", required=True, help="what is being gated (shown in messages)")
    parser.add_argument("--require", action="append", default=[], metavar="VAR[=LABEL]")
    parser.add_argument("--same-repo", action="store_true", help="skip pull requests from forks")
    parser.add_argument(
        "--main-only", action="store_true", help="refuse a run started from another branch"
    )
    parser.add_argument(
        "--missing-is-error", action="store_true", help="fail, not skip, on a missing variable"
    )
    parser.add_argument("--confirm", help="what the operator typed")
    parser.add_argument("--expect", help="what the operator must type")
    args = parser.parse_args(argv)
    if args.confirm is not None and args.expect is None:
        parser.error("--confirm needs --expect")
    verdict = check(
        args.name,
        args.require,
        env,
        same_repo=args.same_repo,
        main_only=args.main_only,
        missing_is_error=args.missing_is_error,
        confirm=args.confirm,
        expect=args.expect,
    )
    report(verdict, env)
    return 1 if verdict.fatal else 0
