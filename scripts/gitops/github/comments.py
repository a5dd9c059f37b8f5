"""Keep one plan-preview comment per pull request, and one drift issue per environment.

    gitops comment pr --number 42 --body-file comment.md
    gitops comment drift --env seoul --status drift --body-file drift.md
    gitops comment drift --env seoul --status clean

- pr: finds the pull request's comment that carries the hidden marker (default
  `<!-- plan-preview -->`, the first line `gitops plan-preview` writes) and edits it in place;
  creates it when there is none. One comment per pull request, however many pushes.
- drift --status drift: updates the open issue that carries `<!-- drift-issue:ENV -->`, or
  opens one. --status clean: comments on that issue and closes it; nothing to do when none is
  open. (`sync_issue` is that one-issue-per-marker rule; the nightly watchdog keeps its own
  issue with it, gitops.github.watchdog.)
- Both look only at comments and issues the pipeline itself wrote: the marker *and* the author's
  login must match (--author, default `github-actions[bot]`, the login of a workflow's
  GITHUB_TOKEN). Someone quoting the marker is neither edited (a 403) nor adopted.

GitHub REST API through gitops.github.api with $GITHUB_TOKEN (stdlib only). $GITHUB_REPOSITORY and
$GITHUB_API_URL give the repository and the API (so a test can point it at a local server).
Prints one line saying what it did; writes `action=` and `url=` to $GITHUB_OUTPUT.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops.github.api import DEFAULT_API, GitHub, GitHubError
from gitops.github.outputs import BOT_LOGIN, append_summary, set_outputs

PR_MARKER = "<!-- plan-preview -->"
# GitHub refuses comment and issue bodies longer than 65,536 characters.
MAX_BODY = 65_536
TRUNCATED = "\n\n_…truncated: the full preview is in the job summary of the run._\n"


@dataclass(frozen=True)
class Outcome:
    action: str  # created | updated | opened | closed | unchanged
    url: str = ""


def fit(body: str) -> str:
    """The body cut to what GitHub accepts, saying so at the end."""
    if len(body) > MAX_BODY:
        body = body[: MAX_BODY - len(TRUNCATED)] + TRUNCATED
    return body


def with_marker(body: str, marker: str) -> str:
    """The body, guaranteed to carry the marker, cut to what GitHub accepts."""
    return fit(body if marker in body else f"{marker}\n{body}")


def written_by(item: dict[str, Any], author: str) -> bool:
    """Whether a comment or issue (as the API returns it) was written by `author`."""
    return ((item.get("user") or {}).get("login") or "") == author


def upsert_pr_comment(
    gh: GitHub, number: int, body: str, marker: str = PR_MARKER, author: str = BOT_LOGIN
) -> Outcome:
    """Edit the pull request's marked comment by `author` in place, or create it."""
    body = with_marker(body, marker)
    for comment in gh.paginate(f"/repos/{gh.repo}/issues/{number}/comments"):
        if marker in (comment.get("body") or "") and written_by(comment, author):
            if comment.get("body") == body:
                return Outcome("unchanged", comment.get("html_url", ""))
            updated, _ = gh.request(
                "PATCH", f"/repos/{gh.repo}/issues/comments/{comment['id']}", {"body": body}
            )
            return Outcome("updated", updated.get("html_url", ""))
    return post_comment(gh, number, body)


def pr_for_commit(gh: GitHub, sha: str) -> int | None:
    """The pull request a commit on main came from: the one merged as that commit, else a
    merged one that contains it, else None (pushed without a pull request)."""
    pulls, _ = gh.request("GET", f"/repos/{gh.repo}/commits/{sha}/pulls")
    pulls = [p for p in pulls or [] if isinstance(p, dict)]
    for pull in pulls:
        if pull.get("merge_commit_sha") == sha and pull.get("merged_at"):
            return int(pull["number"])
    for pull in pulls:
        if pull.get("merged_at"):
            return int(pull["number"])
    return None


def post_comment(gh: GitHub, number: int, body: str) -> Outcome:
    """A new comment on the pull request (one per event, never edited)."""
    body = fit(body)
    created, _ = gh.request("POST", f"/repos/{gh.repo}/issues/{number}/comments", {"body": body})
    return Outcome("created", created.get("html_url", ""))


def drift_marker(env: str) -> str:
    return f"<!-- drift-issue:{env} -->"


def find_issue(gh: GitHub, marker: str, author: str = BOT_LOGIN) -> dict[str, Any] | None:
    """The open issue `author` wrote that carries `marker` (pull requests are not issues)."""
    for issue in gh.paginate(f"/repos/{gh.repo}/issues", {"state": "open", "creator": author}):
        if "pull_request" in issue:  # the issues list includes pull requests
            continue
        if marker in (issue.get("body") or "") and written_by(issue, author):
            return issue
    return None


def sync_issue(
    gh: GitHub,
    marker: str,
    title: str,
    body: str | None,
    closing: str,
    author: str = BOT_LOGIN,
) -> Outcome:
    """One issue per marker: with a body, open it or update the open one; without (all is well
    again), comment `closing` on the open one and close it, or do nothing."""
    issue = find_issue(gh, marker, author)
    if body is None:
        if issue is None:
            return Outcome("unchanged")
        number = issue["number"]
        gh.request("POST", f"/repos/{gh.repo}/issues/{number}/comments", {"body": closing})
        closed, _ = gh.request(
            "PATCH",
            f"/repos/{gh.repo}/issues/{number}",
            {"state": "closed", "state_reason": "completed"},
        )
        return Outcome("closed", closed.get("html_url", ""))
    text = with_marker(body, marker)
    if issue is None:
        opened, _ = gh.request("POST", f"/repos/{gh.repo}/issues", {"title": title, "body": text})
        return Outcome("opened", opened.get("html_url", ""))
    updated, _ = gh.request("PATCH", f"/repos/{gh.repo}/issues/{issue['number']}", {"body": text})
    return Outcome("updated", updated.get("html_url", ""))


def sync_drift_issue(
    gh: GitHub, env: str, status: str, body: str = "", run_url: str = "", author: str = BOT_LOGIN
) -> Outcome:
    """drift: open or update the environment's drift issue; clean: close it."""
    if status not in ("drift", "clean"):
        raise ValueError(f"status must be drift or clean, got {status!r}")
    marker = drift_marker(env)
    where = f" ([run]({run_url}))" if run_url else ""
    text = None
    if status == "drift":
        text = (
            f"{marker}\n"
            f"A refresh-only plan found that the real {env} stack differs from the Terraform "
            f"state{where}. Review the changes below, then either apply the code again or bring "
            f"the code in line. This issue closes itself when a later check is clean.\n\n{body}"
        )
    closing = f"The refresh-only plan of {env} is clean again{where}: closing."
    return sync_issue(gh, marker, f"Drift detected in {env}", text, closing, author)


def run_url(environ: dict[str, str]) -> str:
    server = environ.get("GITHUB_SERVER_URL", "https://github.com")
    repo, run_id = environ.get("GITHUB_REPOSITORY"), environ.get("GITHUB_RUN_ID")
    return f"{server}/{repo}/actions/runs/{run_id}" if repo and run_id else ""


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if environ is None else environ
    parser = argparse.ArgumentParser(description="Upsert the PR comment or sync the drift issue.")
    parser.add_argument("--repo", default=env.get("GITHUB_REPOSITORY", ""), help="OWNER/NAME")
    parser.add_argument(
        "--author", default=BOT_LOGIN, help=f"login of the token's user (default {BOT_LOGIN})"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    pr = sub.add_parser("pr", help="create or update the pull request's plan-preview comment")
    pr.add_argument("--number", type=int, required=True)
    pr.add_argument("--body-file", type=Path, required=True)
    pr.add_argument("--marker", default=PR_MARKER)
    drift = sub.add_parser("drift", help="open, update or close the drift issue")
    drift.add_argument("--env", required=True, help="the environment whose drift issue this is")
    drift.add_argument("--status", choices=["drift", "clean"], required=True)
    drift.add_argument("--body-file", type=Path)
    args = parser.parse_args(argv)

    try:
        gh = GitHub(env.get("GITHUB_TOKEN", ""), args.repo, env.get("GITHUB_API_URL", DEFAULT_API))
        if args.command == "pr":
            body = args.body_file.read_text(encoding="utf-8")
            outcome = upsert_pr_comment(gh, args.number, body, args.marker, args.author)
            what = f"plan-preview comment on #{args.number}"
        else:
            if args.status == "drift" and args.body_file is None:
                parser.error("drift --status drift needs --body-file")
            body = args.body_file.read_text(encoding="utf-8") if args.body_file else ""
            outcome = sync_drift_issue(gh, args.env, args.status, body, run_url(env), args.author)
            what = f"drift issue for {args.env}"
    except (GitHubError, OSError) as err:
        print(f"::error title=GitHub API::{err}")
        return 1

    line = f"{what}: {outcome.action}" + (f" {outcome.url}" if outcome.url else "")
    print(line)
    set_outputs(env, action=outcome.action, url=outcome.url)
    append_summary(env, f"{line}\n\n")
    return 0
