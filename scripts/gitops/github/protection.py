"""What `make github-setup` asks of GitHub, as data: the mode, main's ruleset, the protection of
each AWS environment's GitHub environments and the CODEOWNERS lines, each one merged with what
the repository already has, so a second run never removes what a user added and never weakens
a rule it finds stricter.

The mode follows from the reviewers (`make github-setup REVIEWERS=...`):

- **solo**, one reviewer (you, by default): GitHub never lets a pull request's author approve it,
  and a ruleset binds admins too, so a rule asking for an approving review would leave one person
  unable to merge anything. Main's ruleset asks for a pull request and the required check
  (`pull request gate`, strict: up to date with main), no review; the gate environments' one
  reviewer may approve their own deployments (`prevent_self_review` off). The reviewed plan and
  the deploy approval carry the protection.
- **team**, two or more reviewers: main's ruleset also asks for one approving review, a code
  owner's for what CODEOWNERS names, dismisses approvals on a new push and wants the last push
  approved by someone other than its pusher; nobody approves a deployment they started
  (`prevent_self_review` on).

Merging (a ruleset update replaces its whole `rules` and `bypass_actors` lists with what is sent,
so everything is sent, merged): rules of other types and every bypass actor are kept as found;
the pull request rule keeps the larger review count and every requirement either side has; the
required checks are the union, strict; an exclusion that would take main out of the ruleset is
dropped, and a disabled ruleset is made active again. A stricter pull request rule found in
solo mode is kept and reported, with the setting to lower by hand.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

DEFAULT_BRANCH = "main"
RULESET_NAME = "main: reviewed changes only"
# The gate job's name in .github/workflows/pr.yml: GitHub names its check run after it.
REQUIRED_CHECK = "pull request gate"
# GitHub Actions' app ID: only a check run of a workflow job satisfies the required check, not a
# commit status any token with `statuses: write` could set.
GITHUB_ACTIONS_APP_ID = 15368
# What runs with AWS credentials or decides what does: the workflows and actions, the commands
# they call, the Terraform the roles apply (roots, modules, bootstrap), what the jobs install
# (requirements, the package's build, the Terraform version, the hooks) and the app the stack
# serves.
CODEOWNED = (
    ".github/",
    "/Makefile",
    "/scripts/",
    "/modules/",
    "/envs/",
    "/bootstrap/",
    "/app/",
    "/requirements/",
    "/pyproject.toml",
    "/.terraform-version",
    "/.pre-commit-config.yaml",
)
MAX_ENVIRONMENT_REVIEWERS = 6  # GitHub's limit for an environment's required reviewers

_PULL_REQUEST_COUNTS = ("required_approving_review_count",)
_PULL_REQUEST_FLAGS = (
    "require_code_owner_review",
    "dismiss_stale_reviews_on_push",
    "require_last_push_approval",
    "required_review_thread_resolution",
)
_MAIN = f"refs/heads/{DEFAULT_BRANCH}"


class ProtectionError(ValueError):
    """A request GitHub would refuse, or a set-up that could not work; the message says why."""


@dataclass(frozen=True)
class Mode:
    """Solo (one reviewer) or team (two or more), from the reviewers' logins."""

    reviewers: tuple[str, ...]

    @property
    def team(self) -> bool:
        return len(self.reviewers) >= 2

    @property
    def name(self) -> str:
        return "team" if self.team else "solo"

    def describe(self) -> str:
        who = ", ".join(self.reviewers)
        if self.team:
            return (
                f"team mode (reviewers {who}): a pull request needs the `{REQUIRED_CHECK}` check "
                "and one approving review by a code owner other than its author; nobody "
                "approves a deployment they started"
            )
        return (
            f"solo mode (reviewer {who}): a pull request needs the `{REQUIRED_CHECK}` check, no "
            f"second person; {who} approves each deployment, their own included"
        )


def mode_for(logins: Iterable[str]) -> Mode:
    unique = tuple(dict.fromkeys(login.strip().lstrip("@") for login in logins if login.strip()))
    if not unique:
        raise ProtectionError("no reviewer: name at least one login (REVIEWERS=you)")
    return Mode(unique)


# --- main's ruleset --------------------------------------------------------------------------


def pull_request_parameters(mode: Mode) -> dict[str, Any]:
    return {
        "required_approving_review_count": 1 if mode.team else 0,
        "require_code_owner_review": mode.team,
        "dismiss_stale_reviews_on_push": mode.team,
        "require_last_push_approval": mode.team,
        "required_review_thread_resolution": False,
    }


def ruleset(mode: Mode) -> dict[str, Any]:
    """The ruleset a repository without one gets."""
    return {
        "name": RULESET_NAME,
        "target": "branch",
        "enforcement": "active",
        "bypass_actors": [],
        "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
        "rules": [
            {"type": "deletion"},
            {"type": "non_fast_forward"},
            {"type": "pull_request", "parameters": pull_request_parameters(mode)},
            {
                "type": "required_status_checks",
                "parameters": {
                    "strict_required_status_checks_policy": True,
                    "do_not_enforce_on_create": False,
                    "required_status_checks": [
                        {"context": REQUIRED_CHECK, "integration_id": GITHUB_ACTIONS_APP_ID}
                    ],
                },
            },
        ],
    }


def _excludes_main(pattern: str) -> bool:
    return pattern in ("~DEFAULT_BRANCH", "~ALL") or fnmatch.fnmatchcase(_MAIN, pattern)


def _merge_rule(found: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """One rule of a type both have: what either side requires."""
    have, want = dict(found.get("parameters") or {}), wanted.get("parameters")
    if want is None:
        return {"type": wanted["type"]}
    if wanted["type"] == "pull_request":
        for key in _PULL_REQUEST_COUNTS:
            have[key] = max(int(have.get(key) or 0), int(want[key]))
        for key in _PULL_REQUEST_FLAGS:
            have[key] = bool(have.get(key)) or bool(want[key])
    elif wanted["type"] == "required_status_checks":
        checks = {c["context"]: c for c in have.get("required_status_checks") or []}
        checks.update({c["context"]: c for c in want["required_status_checks"]})
        have["required_status_checks"] = list(checks.values())
        have["strict_required_status_checks_policy"] = True
        have.setdefault("do_not_enforce_on_create", False)
    return {"type": wanted["type"], "parameters": have}


def merged_ruleset(found: dict[str, Any] | None, mode: Mode) -> tuple[dict[str, Any], list[str]]:
    """The ruleset to send (create, or replace `found`, the full ruleset as GitHub returns it)
    and notes on what was found and changed or kept."""
    wanted = ruleset(mode)
    if found is None:
        return wanted, []
    notes: list[str] = []
    ours = {rule["type"]: rule for rule in wanted["rules"]}
    rules = []
    for rule in found.get("rules") or []:
        if rule["type"] in ours:
            rules.append(_merge_rule(rule, ours.pop(rule["type"])))
        else:
            kept = {"type": rule["type"]}
            if rule.get("parameters") is not None:
                kept["parameters"] = rule["parameters"]
            rules.append(kept)
            notes.append(f"kept your rule {rule['type']}")
    rules.extend(ours.values())

    if found.get("enforcement", "active") != "active":
        notes.append(f"enforcement was {found['enforcement']!r}: made active again")
    ref_name = (found.get("conditions") or {}).get("ref_name") or {}
    include = list(dict.fromkeys([*(ref_name.get("include") or []), "~DEFAULT_BRANCH"]))
    exclude = []
    for pattern in ref_name.get("exclude") or []:
        if _excludes_main(pattern):
            notes.append(f"dropped the exclusion {pattern!r}: it took main out of the ruleset")
        else:
            exclude.append(pattern)
    bypass = [
        {k: actor[k] for k in ("actor_id", "actor_type", "bypass_mode") if k in actor}
        for actor in found.get("bypass_actors") or []
    ]
    for actor in bypass:
        notes.append(
            f"kept your bypass actor {actor.get('actor_type')} {actor.get('actor_id')} "
            f"({actor.get('bypass_mode', 'always')})"
        )
    payload = {
        "name": wanted["name"],
        "target": wanted["target"],
        "enforcement": "active",
        "bypass_actors": bypass,
        "conditions": {"ref_name": {"include": include, "exclude": exclude}},
        "rules": rules,
    }
    return payload, notes


def _review_blockers(count: Any, code_owner: Any, last_push: Any) -> list[str]:
    found = []
    if int(count or 0) > 0:
        found.append(f"{count} approving review(s)")
    if code_owner:
        found.append("a code owner's review")
    if last_push:
        found.append("approval of the last push by someone else")
    return found


def solo_blockers(payload: dict[str, Any]) -> list[str]:
    """What in a ruleset keeps one person alone from merging their own pull request."""
    found = []
    for rule in payload["rules"]:
        if rule["type"] == "pull_request":
            params = rule.get("parameters") or {}
            found += _review_blockers(
                params.get("required_approving_review_count"),
                params.get("require_code_owner_review"),
                params.get("require_last_push_approval"),
            )
    return found


def classic_solo_blockers(rule: dict[str, Any] | None) -> list[str]:
    """The same of a classic branch protection rule (GET .../branches/main/protection), which
    binds merges beside the rulesets: an administrator may merge past it unless it is enforced
    for administrators too, so only an enforced rule blocks the solo maintainer (an admin)."""
    reviews = (rule or {}).get("required_pull_request_reviews")
    if not reviews or not ((rule or {}).get("enforce_admins") or {}).get("enabled"):
        return []
    return _review_blockers(
        reviews.get("required_approving_review_count"),
        reviews.get("require_code_owner_reviews"),
        reviews.get("require_last_push_approval"),
    )


# --- environments ----------------------------------------------------------------------------


def _reviewers_of(env: dict[str, Any] | None) -> tuple[list[dict[str, Any]], bool]:
    """(reviewers as the PUT body lists them, prevent_self_review) of an environment found."""
    for rule in (env or {}).get("protection_rules") or []:
        if rule.get("type") == "required_reviewers":
            reviewers = [
                {"type": r.get("type", "User"), "id": int(r["reviewer"]["id"])}
                for r in rule.get("reviewers") or []
                if (r.get("reviewer") or {}).get("id") is not None
            ]
            return reviewers, bool(rule.get("prevent_self_review"))
    return [], False


def _wait_timer_of(env: dict[str, Any] | None) -> int:
    for rule in (env or {}).get("protection_rules") or []:
        if rule.get("type") == "wait_timer":
            return int(rule.get("wait_timer") or 0)
    return 0


MAIN_ONLY = {"protected_branches": False, "custom_branch_policies": True}


def gate_environment(
    found: dict[str, Any] | None, reviewer_ids: list[int], mode: Mode
) -> tuple[dict[str, Any], list[str]]:
    """The PUT body of an AWS environment's gate: our reviewers added to any found, admins may
    not bypass, the deployment branches main alone (the policy is added separately)."""
    notes: list[str] = []
    reviewers, prevented = _reviewers_of(found)
    known = {(r["type"], r["id"]) for r in reviewers}
    added = [{"type": "User", "id": i} for i in reviewer_ids if ("User", i) not in known]
    if reviewers and added:
        notes.append(f"kept {len(reviewers)} reviewer(s) already there")
    reviewers = [*reviewers, *added]
    if len(reviewers) > MAX_ENVIRONMENT_REVIEWERS:
        raise ProtectionError(
            f"{len(reviewers)} reviewers, but GitHub allows {MAX_ENVIRONMENT_REVIEWERS} an "
            "environment: name fewer in REVIEWERS, or use a team (Settings → Environments)"
        )
    prevent = mode.team or (prevented and len(reviewers) >= 2)
    if prevented and not prevent:
        notes.append(
            "turned prevent self-review off: with one reviewer it would leave every deployment "
            "they start waiting for an approval nobody can give"
        )
    payload = {
        "wait_timer": _wait_timer_of(found),
        "prevent_self_review": prevent,
        "reviewers": reviewers,
        "can_admins_bypass": False,
        "deployment_branch_policy": MAIN_ONLY,
    }
    return payload, notes


def nightly_environment(found: dict[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """The PUT body of an unattended nightly environment: no reviewer added (one found is kept,
    and reported: each nightly destroy then waits for it), admins may not bypass, main alone."""
    reviewers, prevented = _reviewers_of(found)
    payload: dict[str, Any] = {
        "wait_timer": _wait_timer_of(found),
        "can_admins_bypass": False,
        "deployment_branch_policy": MAIN_ONLY,
    }
    notes = []
    if reviewers:
        payload["reviewers"] = reviewers
        payload["prevent_self_review"] = prevented
        notes.append(
            f"kept its {len(reviewers)} reviewer(s): every nightly destroy waits for one of "
            "them to approve; remove them in Settings → Environments for an unattended destroy"
        )
    return payload, notes


# --- CODEOWNERS ------------------------------------------------------------------------------

CODEOWNERS_PATH = ".github/CODEOWNERS"
# Where GitHub looks for the file, in its order; it reads the first one found and no other.
CODEOWNERS_LOCATIONS = (CODEOWNERS_PATH, "CODEOWNERS", "docs/CODEOWNERS")
_HEADER = (
    "# Written by make github-setup: what CI and the nightly destroy run with AWS credentials.",
    "# In team mode main's ruleset asks a code owner (other than the author) to approve changes",
    "# here. Lines for these paths come last so they take precedence; put narrower rules after.",
)


def _normal(pattern: str) -> str:
    return pattern.lstrip("/")


def codeowners(found: str | None, logins: Iterable[str]) -> str:
    """`found` (main's CODEOWNERS, or None) with every CODEOWNED path owned by at least the
    given logins: a path's last line gets the missing owners; a path without a line gets one
    at the end. Everything else in the file is kept as it was."""
    owners = [f"@{login}" for login in logins]
    lines = (found or "").splitlines()
    missing: list[str] = []
    for path in CODEOWNED:
        last = None
        for i, line in enumerate(lines):
            tokens = line.split("#", 1)[0].split()
            if tokens and _normal(tokens[0]) == _normal(path):
                last = i
        if last is None:
            missing.append(f"{path} {' '.join(owners)}")
            continue
        tokens = lines[last].split("#", 1)[0].split()
        have = {t.lower() for t in tokens[1:]}
        extra = [o for o in owners if o.lower() not in have]
        if extra:
            lines[last] = " ".join([*tokens, *extra])
    if missing:
        if lines and lines[-1].strip():
            lines.append("")
        if not any(line.startswith("# Written by make github-setup") for line in lines):
            lines.extend(_HEADER)
        lines.extend(missing)
    return "\n".join(lines) + "\n"


def codeowners_cover(found: str | None, logins: Iterable[str]) -> bool:
    return found is not None and codeowners(found, logins).rstrip("\n") == found.rstrip("\n")
