"""Bind the plan an approver is asked to apply to the plan its pull request previewed.

    gitops plan-digest compare --env seoul --plan .artifacts/plans/seoul.json \\
        [--sha COMMIT] [--repo OWNER/NAME] [--author github-actions[bot]]

The plan-preview comment carries, per environment, a digest of its plan in a hidden HTML
comment: every resource address with its actions and every output with its actions, nothing
else (no values, so nothing secret), compressed, plus the SHA-256 of the whole:

    <!-- plan-digest v1 seoul sha256=<64 hex> <base64 of zlib of JSON> -->

`compare` runs in the deploy on main: it digests the plan just made, asks GitHub which pull
request the commit came from (GET /repos/{o}/{r}/commits/{sha}/pulls), reads the digest from
that pull request's plan-preview comment written by --author (a comment anyone else wrote is
not trusted), and writes at the top of the job summary ($GITHUB_STEP_SUMMARY) either "matches
the plan previewed in #N" or a warning and a short list of what differs. A push with no pull
request, a pull request without a preview, and an API error say so. It exits 0 in every one of
those cases (the approver decides, with the warning in front of them) and 2 on bad arguments or
an unreadable plan. $GITHUB_TOKEN, $GITHUB_REPOSITORY, $GITHUB_API_URL and $GITHUB_SHA as for
scripts/gitops/github/comments.py.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops.github.outputs import BOT_LOGIN, append_summary

if TYPE_CHECKING:
    from gitops.github.api import GitHub

VERSION = "v1"
DEFAULT_AUTHOR = BOT_LOGIN
# The digests of all environments together may take this much of the comment; past it only
# their hashes are kept (a mismatch is still detected, only not itemised).
DIGEST_BUDGET = 16_000
MAX_LISTED = 20
_LINE = re.compile(
    r"<!-- plan-digest (?P<version>v\d+) (?P<env>[A-Za-z0-9][A-Za-z0-9_.-]{0,63}) "
    r"sha256=(?P<hash>[0-9a-f]{64})(?: (?P<data>[A-Za-z0-9+/=]+))? -->"
)
QUIET = ({"no-op"}, {"read"})


def digest(plan: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Resource address -> actions and output name -> actions, for what the plan changes."""
    resources = {}
    for rc in plan.get("resource_changes") or []:
        actions = (rc.get("change") or {}).get("actions") or []
        if set(actions) in QUIET or rc.get("mode") == "data":
            continue
        resources[rc.get("address", "")] = ",".join(actions)
    outputs = {}
    for name, change in (plan.get("output_changes") or {}).items():
        actions = (change or {}).get("actions") or []
        if set(actions) not in QUIET:
            outputs[name] = ",".join(actions)
    return {"resources": dict(sorted(resources.items())), "outputs": dict(sorted(outputs.items()))}


def _canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")


def fingerprint(data: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(data)).hexdigest()


def comment_block(digests: dict[str, dict[str, Any]], budget: int = DIGEST_BUDGET) -> str:
    """The hidden lines that carry every environment's digest in the preview comment."""
    full, short = [], []
    for env, data in digests.items():
        head = f"<!-- plan-digest {VERSION} {env} sha256={fingerprint(data)}"
        packed = base64.b64encode(zlib.compress(_canonical(data), 9)).decode("ascii")
        full.append(f"{head} {packed} -->")
        short.append(f"{head} -->")
    text = "\n".join(full)
    if len(text.encode()) > budget:
        text = "\n".join(short)
    return text + "\n" if text else ""


def attach(comment: str, block: str) -> str:
    """The comment with the digest block right under its first line (the marker)."""
    if not block:
        return comment
    first, sep, rest = comment.partition("\n")
    return f"{first}\n{block}{rest}" if sep else f"{comment}\n{block}"


@dataclass
class Previewed:
    hash: str
    data: dict[str, Any] | None  # None when the comment kept only the hash


def parse(body: str) -> dict[str, Previewed]:
    """Every environment's digest found in a comment body."""
    found = {}
    for match in _LINE.finditer(body or ""):
        if match["version"] != VERSION:
            continue
        data = None
        if match["data"]:
            try:
                data = json.loads(zlib.decompress(base64.b64decode(match["data"], validate=True)))
            except (ValueError, zlib.error):
                data = None
            if data is not None and fingerprint(data) != match["hash"]:
                data = None  # damaged or edited: trust the hash only
        found[match["env"]] = Previewed(match["hash"], data)
    return found


@dataclass
class Difference:
    added: list[tuple[str, str]] = field(default_factory=list)  # in this plan only
    removed: list[tuple[str, str]] = field(default_factory=list)  # previewed only
    changed: list[tuple[str, str, str]] = field(default_factory=list)  # previewed, now

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def differences(previewed: dict[str, Any], current: dict[str, Any]) -> Difference:
    diff = Difference()
    for kind, label in (("resources", ""), ("outputs", "output ")):
        old, new = previewed.get(kind) or {}, current.get(kind) or {}
        for key in sorted(new.keys() - old.keys()):
            diff.added.append((label + key, new[key]))
        for key in sorted(old.keys() - new.keys()):
            diff.removed.append((label + key, old[key]))
        for key in sorted(old.keys() & new.keys()):
            if old[key] != new[key]:
                diff.changed.append((label + key, old[key], new[key]))
    return diff


@dataclass
class Verdict:
    matches: bool | None  # None: nothing to compare against
    text: str


def _listed(diff: Difference) -> list[str]:
    rows = [f"- ➕ only in this plan: `{a}` ({act})" for a, act in diff.added]
    rows += [f"- ➖ previewed, not in this plan: `{a}` ({act})" for a, act in diff.removed]
    rows += [f"- 🔀 `{a}`: previewed {old}, now **{new}**" for a, old, new in diff.changed]
    if len(rows) > MAX_LISTED:
        rows = rows[:MAX_LISTED] + [f"- … and {len(rows) - MAX_LISTED} more"]
    return rows


def verdict(
    env: str, current: dict[str, Any], pr: int | None, previewed: Previewed | None, sha: str
) -> Verdict:
    """What the approver reads at the top of the summary."""
    short = sha[:7] or "this commit"
    if pr is None:
        return Verdict(
            None,
            "> [!WARNING]\n"
            f"> **No pull request:** {short} reached main without one, so no preview of this "
            f"plan was reviewed. Read the {env} plan below in full before approving.\n",
        )
    if previewed is None:
        return Verdict(
            None,
            "> [!WARNING]\n"
            f"> **Not previewed:** #{pr} has no plan-preview digest for {env} (the preview "
            "failed, was skipped, or predates digests). Read the plan below in full.\n",
        )
    if previewed.hash == fingerprint(current):
        count = len(current["resources"]) + len(current["outputs"])
        return Verdict(
            True,
            f"✅ **This {env} plan matches the plan previewed in #{pr}** "
            f"({count} resource and output changes, the same addresses and actions).\n",
        )
    lines = [
        "> [!WARNING]",
        f"> **This {env} plan differs from the plan previewed in #{pr}.** Something changed "
        "between the preview and main (another merge, drift, a changed input). Review what "
        "differs before approving:",
        "",
    ]
    if previewed.data is None:
        lines.append("- the previewed plan was too large to store itemised; only its hash differs")
    else:
        lines += _listed(differences(previewed.data, current)) or ["- (only the order differs)"]
    return Verdict(False, "\n".join(lines) + "\n")


def check(
    gh: GitHub, env: str, plan: dict[str, Any], sha: str, author: str = DEFAULT_AUTHOR
) -> Verdict:
    # Imported here: the preview imports this module and needs no HTTP client.
    from gitops.github.comments import PR_MARKER, find_comment, pr_for_commit

    current = digest(plan)
    pr = pr_for_commit(gh, sha)
    if pr is None:
        return verdict(env, current, None, None, sha)
    comment = find_comment(gh, pr, PR_MARKER, author=author)
    previewed = parse(comment.get("body", "")).get(env) if comment else None
    return verdict(env, current, pr, previewed, sha)


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    from gitops.github.api import DEFAULT_API, GitHub, GitHubError

    env = dict(os.environ) if environ is None else environ
    parser = argparse.ArgumentParser(description="Compare a plan with its pull request's preview.")
    sub = parser.add_subparsers(dest="command", required=True)
    cmp_ = sub.add_parser("compare", help="write whether the plan matches its preview")
    cmp_.add_argument("--env", required=True)
    cmp_.add_argument("--plan", type=Path, required=True, help="terraform show -json output")
    cmp_.add_argument("--sha", default=env.get("GITHUB_SHA", ""))
    cmp_.add_argument("--repo", default=env.get("GITHUB_REPOSITORY", ""))
    cmp_.add_argument("--author", default=DEFAULT_AUTHOR, help="login that writes the preview")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[0-9a-f]{7,40}", args.sha or ""):
        parser.error(f"--sha must be a commit SHA, got {args.sha!r}")
    try:
        plan = json.loads(args.plan.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"plan_digest: error: cannot read plan {args.plan}: {exc}", file=sys.stderr)
        return 2
    title = f"### Plan bound to its preview ({args.env})\n\n"
    try:
        gh = GitHub(env.get("GITHUB_TOKEN", ""), args.repo, env.get("GITHUB_API_URL", DEFAULT_API))
        result = check(gh, args.env, plan, args.sha, args.author)
    except GitHubError as err:
        text = (
            "> [!WARNING]\n"
            f"> **Could not compare with the preview:** {err}. Read the plan below in full.\n"
        )
        print(f"::warning title=Plan not compared with its preview::{err}")
        append_summary(env, title + text + "\n")
        return 0
    status = {True: "matches", False: "DIFFERS from", None: "has no"}[result.matches]
    print(f"{args.env}: plan {status} the previewed plan")
    if result.matches is not True:
        first = result.text.splitlines()[1 if result.text.startswith(">") else 0]
        print(f"::warning title=Plan vs preview ({args.env})::{first.lstrip('> ')}")
    append_summary(env, title + result.text + "\n")
    return 0
