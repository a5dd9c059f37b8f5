"""Bind the plan an approver is asked to apply to the plan its pull request previewed.

    gitops plan-digest compare --env seoul --plan .artifacts/plans/seoul.json \\
        [--sha COMMIT] [--event EVENT] [--repo OWNER/NAME]

A plan's digest is every resource address with its actions and every output with its
actions, nothing else (no values, so nothing secret), and its SHA-256. A pull request's plan
job puts it in the redacted model it uploads (`plans-<env>`, file `<env>.preview.json`,
gitops.preview.model.to_json), next to what the preview shows.

`compare` runs in the deploy on main: it digests the plan just made, asks GitHub which pull
request the commit came from (GET /repos/{o}/{r}/commits/{sha}/pulls) and that pull request's
head commit and branch (GET /repos/{o}/{r}/pulls/{n}), then reads the digest from the artifact
of the pull request run of `pr.yml` for exactly that head commit and branch (GET
.../actions/workflows/pr.yml/runs?head_sha=, .../runs/{id}/artifacts, .../artifacts/{id}/zip),
from this repository, not a fork; and trusts none when another pull request from that branch
goes into another base branch (GET .../pulls?state=all&head=owner:branch), whose pr.yml may
differ.
A comment proves nothing: the workflow token of any run (an earlier push of the pull request
with an edited workflow) writes as the same bot, and anyone with write access edits comments;
an artifact is written once, by the run of the workflow at that commit, the code that was
reviewed and merged. The verdict goes at the top of the job summary ($GITHUB_STEP_SUMMARY):
"matches the plan previewed in #N at its head commit" or a warning and a short list of what
differs. A deploy started by hand (`--event workflow_dispatch`, a plan no pull request
previewed), a push with no pull request, a pull request without a preview of the environment,
and an API error say so. It exits 0 in every one of those cases (the approver decides, with the
warning in front of them) and 2 on bad arguments or an unreadable plan. $GITHUB_TOKEN (contents,
pull-requests and actions: read), $GITHUB_REPOSITORY, $GITHUB_API_URL, $GITHUB_SHA and
$GITHUB_EVENT_NAME as for scripts/gitops/github/comments.py.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops.github.outputs import append_summary

if TYPE_CHECKING:
    from gitops.github.api import GitHub

MAX_LISTED = 20
QUIET = ({"no-op"}, {"read"})
# Where a pull request's preview is: pr.yml's AWS plan job uploads each environment's redacted
# model under this name (tests/test_workflows.py holds pr.yml to it).
PR_WORKFLOW = "pr.yml"
PREVIEW_ARTIFACT = "plans-{env}"
MAX_ARTIFACT_BYTES = 32 * 1024 * 1024
DISPATCH = "workflow_dispatch"


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


@dataclass
class Previewed:
    """A pull request's preview of one environment: its digest and where it was read."""

    hash: str
    data: dict[str, Any]
    pr: int
    commit: str  # the pull request's head commit the preview was made for
    run: str  # "run #N" as a Markdown link to the pull request run that made it


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
    env: str,
    current: dict[str, Any],
    pr: int | None,
    previewed: Previewed | None,
    sha: str,
    why_not: str = "",
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
            f"> **Not previewed:** no preview of {env} from #{pr} can be trusted: {why_not}. "
            "Read the plan below in full.\n",
        )
    where = f"#{pr} at its head commit `{previewed.commit[:7]}` ({previewed.run})"
    if previewed.hash == fingerprint(current):
        count = len(current["resources"]) + len(current["outputs"])
        return Verdict(
            True,
            f"✅ **This {env} plan matches the plan previewed in {where}** "
            f"({count} resource and output changes, the same addresses and actions).\n",
        )
    lines = [
        "> [!WARNING]",
        f"> **This {env} plan differs from the plan previewed in {where}.** Something changed "
        "between the preview and main (another merge, drift, a changed input). Review what "
        "differs before approving:",
        "",
    ]
    lines += _listed(differences(previewed.data, current)) or ["- (only the order differs)"]
    return Verdict(False, "\n".join(lines) + "\n")


def dispatched(env: str) -> Verdict:
    """A deploy started by hand: its plan (a replacement asked for, a re-plan after a stale
    one) was previewed by no pull request; the approver reads it as it is."""
    return Verdict(
        None,
        "> [!NOTE]\n"
        f"> **Started by hand:** no pull request previewed this {env} plan, so there is nothing "
        "to compare it with. Read it below in full before approving.\n",
    )


def preview_in(archive: bytes, env: str) -> dict[str, Any]:
    """The redacted model of `env` in an artifact's zip, as JSON data."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
            info = zipped.getinfo(f"{env}.preview.json")
            if info.file_size > MAX_ARTIFACT_BYTES:
                raise ValueError(f"{info.filename} is {info.file_size:,} bytes")
            return json.loads(zipped.read(info))
    except (KeyError, ValueError, zipfile.BadZipFile) as err:
        raise ValueError(f"the artifact holds no readable {env}.preview.json ({err})") from err


def _other_bases(gh: GitHub, pull: dict[str, Any]) -> list[str]:
    """Other pull requests from the same branch into another base branch, as `#N (into X)`.

    A pull request run executes the workflow of the merge of its head into its base. A second
    pull request of the same head commit into a base branch whose pr.yml someone changed
    (anyone with write access may push such a branch) runs that pr.yml, in this repository,
    for the same commit and branch, and its artifact cannot be told apart from the merged pull
    request's. Closed ones count too: their runs stay."""
    from gitops.github.api import pulls_from

    head, base = pull.get("head") or {}, pull.get("base") or {}
    if not head.get("label"):
        return []  # without `owner:branch` the filter would list every pull request
    return [
        f"#{other.get('number')} (into `{(other.get('base') or {}).get('ref')}`)"
        for other in pulls_from(gh, str(head.get("label") or ""))
        if other.get("number") != pull.get("number")
        and (other.get("base") or {}).get("ref") != base.get("ref")
    ]


def find_preview(gh: GitHub, env: str, pr: int) -> Previewed | str:
    """The digest of `env` that pr.yml's run for the pull request's head commit uploaded, or
    why there is none. Only runs of this repository's own branches count: a fork's run of the
    same commit runs with the fork's token and its artifacts are not ours to trust. Only runs
    of the pull request's own branch count, and none when another pull request from that
    branch goes into another base (_other_bases)."""
    from gitops.github.api import download_artifact, get_pull, run_artifacts, workflow_runs
    from gitops.preview.model import InputError, from_json

    pull = get_pull(gh, pr)
    head = str(((pull.get("head") or {}).get("sha")) or "")
    branch = str(((pull.get("head") or {}).get("ref")) or "")
    if not re.fullmatch(r"[0-9a-f]{40}", head) or not branch:
        return f"GitHub names no head commit and branch for #{pr}"
    others = _other_bases(gh, pull)
    if others:
        return (
            f"{', '.join(others)} also came from its branch `{branch}`; a run of that pull "
            f"request for the same commit runs the workflow of its own base, and its artifact "
            f"cannot be told apart from #{pr}'s"
        )
    runs = [
        run
        for run in workflow_runs(gh, PR_WORKFLOW, event="pull_request", head_sha=head)
        if run.get("head_sha") == head
        and run.get("head_branch") == branch
        and ((run.get("head_repository") or {}).get("full_name") or "") == gh.repo
    ]
    name = PREVIEW_ARTIFACT.format(env=env)
    for run in runs:  # newest first
        artifacts = run_artifacts(gh, run["id"], name)
        if not artifacts:
            continue
        try:
            data = preview_in(download_artifact(gh, artifacts[0]["id"], MAX_ARTIFACT_BYTES), env)
            model = from_json(data, f"{name}/{env}.preview.json")
        except (ValueError, InputError) as err:
            return f"the artifact {name} of run {run.get('id')} is not a preview: {err}"
        link = f"[run #{run.get('run_number', run['id'])}]({run.get('html_url', '')})"
        if model.state != "planned" or model.digest is None:
            return f"the pull request's plan of {env} at `{head[:7]}` {model.state} ({link})"
        return Previewed(fingerprint(model.digest), model.digest, pr, head, link)
    return (
        f"no run of {PR_WORKFLOW} for its head commit `{head[:7]}` kept an artifact {name} (the "
        "AWS plans were skipped, or it expired: pull request previews are kept 90 days)"
    )


def check(gh: GitHub, env: str, plan: dict[str, Any], sha: str, event: str = "") -> Verdict:
    # Imported here: the preview imports this module and needs no HTTP client.
    from gitops.github.comments import pr_for_commit

    current = digest(plan)
    if event == DISPATCH:
        return dispatched(env)
    pr = pr_for_commit(gh, sha)
    if pr is None:
        return verdict(env, current, None, None, sha)
    found = find_preview(gh, env, pr)
    if isinstance(found, str):
        return verdict(env, current, pr, None, sha, why_not=found)
    return verdict(env, current, pr, found, sha)


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
    cmp_.add_argument(
        "--event",
        default=env.get("GITHUB_EVENT_NAME", ""),
        help=f"the event that started the deploy; {DISPATCH}: no pull request to compare with",
    )
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
        result = check(gh, args.env, plan, args.sha, args.event)
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
