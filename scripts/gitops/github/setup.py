"""`make github-setup REPO=OWNER/NAME`: the GitHub side of the pipeline, with your own token.

    GITHUB_TOKEN=... gitops github-setup --repo OWNER/NAME [--reviewers a,b]

In this order, each step idempotent (run it again after `make bootstrap`):
1. checks the repository: not a fork (GitHub never runs a fork's scheduled workflows, so the
   nightly destroy would not run), default branch `main` (the roles trust refs/heads/main),
   and the token's user is an admin;
2. protects the environments BEFORE any role trusts them (GitHub creates a missing
   environment unprotected the first time a workflow names it): `seoul` with required
   reviewers, `seoul-nightly` without; both deployable from `main` only, admins cannot bypass;
3. a ruleset on main: changes arrive by pull request with an approving review, code owners'
   review for what CODEOWNERS names, no force push, no deletion; writes .github/CODEOWNERS
   (.github/, Makefile, scripts/, modules/) when main's copy does not name the reviewers;
4. records the repository's numeric IDs for make bootstrap (GitHub's immutable-ID subjects);
5. sets the repository variables the workflows read from the bootstrap's outputs, once `make
   bootstrap` ran (the three role ARNs and TF_STATE_BUCKET; no region or state key).

The token (GITHUB_TOKEN, or `gh auth token`) needs admin rights on the repository; it is never
printed. GITHUB_API_URL points the client at another API (a test's local server).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops import environments
from gitops.github import api
from gitops.paths import REPO_ROOT
from gitops.terraform.bootstrap import BOOTSTRAP_DIR, GITHUB_VARS_FILE, recorded_variables

DEFAULT_BRANCH = "main"
RULESET_NAME = "main: reviewed changes only"
CODEOWNED = (".github/", "/Makefile", "/scripts/", "/modules/")
CODEOWNERS_PATH = ".github/CODEOWNERS"


class SetupError(RuntimeError):
    """A condition the operator has to change first; the message says how."""


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_repository(repo: dict[str, Any]) -> None:
    name = repo.get("full_name", "the repository")
    if repo.get("fork"):
        parent = (repo.get("parent") or {}).get("full_name", "its parent")
        raise SetupError(
            f"{name} is a fork of {parent}: GitHub does not run scheduled workflows in forks "
            "(no nightly destroy) and a fork's pull requests get no OIDC token. Create your own "
            "repository from it (Use this template, or push a clone to a new repository)."
        )
    if repo.get("default_branch") != DEFAULT_BRANCH:
        raise SetupError(
            f"{name}'s default branch is {repo.get('default_branch')!r}, not 'main': the roles "
            "trust refs/heads/main and the schedules run on the default branch. Rename it "
            "(Settings > General > Default branch) and run this again."
        )
    if not (repo.get("permissions") or {}).get("admin", False):
        raise SetupError(
            f"the token's user is not an admin of {name}: environments, rulesets and variables "
            "need admin rights (log in as the owner: gh auth login)"
        )


def environment_payload(reviewer_ids: list[int] | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "can_admins_bypass": False,
        "deployment_branch_policy": {"protected_branches": False, "custom_branch_policies": True},
    }
    if reviewer_ids is not None:
        payload["reviewers"] = [{"type": "User", "id": i} for i in reviewer_ids]
        # With one reviewer, self-review must stay possible or nobody could ever approve.
        payload["prevent_self_review"] = len(reviewer_ids) > 1
        payload["wait_timer"] = 0
    return payload


def has_required_reviewers(env: dict[str, Any]) -> bool:
    rules = env.get("protection_rules") or []
    return any(r.get("type") == "required_reviewers" and r.get("reviewers") for r in rules)


def ruleset_payload() -> dict[str, Any]:
    return {
        "name": RULESET_NAME,
        "target": "branch",
        "enforcement": "active",
        "bypass_actors": [],
        "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
        "rules": [
            {"type": "deletion"},
            {"type": "non_fast_forward"},
            {
                "type": "pull_request",
                "parameters": {
                    "required_approving_review_count": 1,
                    "require_code_owner_review": True,
                    "dismiss_stale_reviews_on_push": True,
                    "require_last_push_approval": True,
                    "required_review_thread_resolution": False,
                },
            },
        ],
    }


def codeowners(logins: list[str]) -> str:
    owners = " ".join(f"@{login}" for login in logins)
    lines = [
        "# Written by make github-setup. Changes here need a code owner's approving review on",
        "# main (the ruleset requires it): this is what CI and the nightly destroy run with",
        "# AWS credentials.",
    ]
    return "\n".join(lines + [f"{path} {owners}" for path in CODEOWNED]) + "\n"


def gated_environments(envs_dir: Path = environments.ENVS_DIR) -> list[tuple[str, str | None]]:
    """(gate, nightly destroy's environment or None) of every AWS environment described."""
    return [
        (env.gate, env.nightly.environment if env.nightly else None)
        for env in environments.load(envs_dir).values()
        if not env.emulated and env.gate
    ]


def setup(
    gh: api.GitHub,
    *,
    gates: list[tuple[str, str | None]] | None = None,
    reviewers: list[str] | None = None,
    variables: dict[str, str] | None = None,
    bootstrap_dir: Path = BOOTSTRAP_DIR,
    repo_root: Path = REPO_ROOT,
    log: Callable[[str], None] = print,
) -> Report:
    report = Report()

    def say(line: str) -> None:
        report.lines.append(line)
        log(line)

    repo = api.get_repository(gh)
    check_repository(repo)
    say(f"ok repository {repo['full_name']}: not a fork, default branch main, admin token")

    if reviewers:
        logins = reviewers
        ids = [int(api.get_user(gh, login)["id"]) for login in logins]
    else:  # /user already carries the id: the token's own user is fetched once
        me = api.get_user(gh)
        logins, ids = [me["login"]], [int(me["id"])]
    private = bool(repo.get("private"))
    for gate, nightly in gates if gates is not None else gated_environments():
        try:
            env = api.put_environment(gh, gate, environment_payload(ids))
        except api.GitHubError as err:
            if private and err.status in (403, 422):
                raise SetupError(_private_note(repo["full_name"], str(err))) from err
            raise
        if not has_required_reviewers(env):
            raise SetupError(_private_note(repo["full_name"], "GitHub kept no required reviewers"))
        policy = api.ensure_branch_policy(gh, gate, DEFAULT_BRANCH)
        say(
            f"ok environment {gate}: reviewers {', '.join(logins)}, admins cannot bypass, "
            f"main only ({policy})"
        )
        if nightly:
            api.put_environment(gh, nightly, environment_payload(None))
            policy = api.ensure_branch_policy(gh, nightly, DEFAULT_BRANCH)
            say(f"ok environment {nightly}: no reviewers, no admin bypass, main only ({policy})")
    if len(ids) == 1:
        report.warnings.append(
            f"one reviewer ({logins[0]}): they may approve their own deployments, and pull "
            "requests need a second person's approving review; add one with REVIEWERS=a,b"
        )

    say(
        f"ok ruleset on main ({api.upsert_ruleset(gh, ruleset_payload())}): pull request, "
        "1 approving review, code owners, no force push or deletion"
    )
    wanted = codeowners(logins)
    on_main = api.get_file(gh, CODEOWNERS_PATH, DEFAULT_BRANCH)
    if on_main is None or any(f"{path} " not in on_main for path in CODEOWNED):
        (repo_root / CODEOWNERS_PATH).parent.mkdir(parents=True, exist_ok=True)
        (repo_root / CODEOWNERS_PATH).write_text(wanted, encoding="utf-8")
        report.warnings.append(
            f"{CODEOWNERS_PATH} on main does not cover {', '.join(CODEOWNED)}: written here; "
            "commit it in your first pull request"
        )
    else:
        say(f"ok {CODEOWNERS_PATH} on main covers {', '.join(CODEOWNED)}")

    ids_file = bootstrap_dir / "github-oidc" / GITHUB_VARS_FILE
    ids_file.write_text(
        json.dumps(
            {
                "repository": repo["full_name"],
                "github_owner_id": int(repo["owner"]["id"]),
                "github_repository_id": int(repo["id"]),
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    say(f"ok repository IDs recorded for make bootstrap ({ids_file.name})")

    if variables is None:
        report.warnings.append(
            "no bootstrap outputs yet: run `make bootstrap`, then this again to set the variables"
        )
    else:
        for name, value in variables.items():
            say(f"ok variable {name}: {api.set_variable(gh, name, value)}")
    for warning in report.warnings:
        log(f"note: {warning}")
    return report


def _private_note(name: str, detail: str) -> str:
    return (
        f"{name} is private, and GitHub enforces required reviewers on a private repository only "
        f"with GitHub Enterprise ({detail}). Without them anyone who can push to main could apply. "
        "Make the repository public, or move it to an Enterprise organisation, then run this "
        "again; until then do not run make bootstrap."
    )


def bootstrap_variables(bootstrap_dir: Path = BOOTSTRAP_DIR) -> dict[str, str] | None:
    """Every bootstrapped AWS environment's repository variables (their [roles] names and
    TF_STATE_BUCKET), from the bootstrap's local states; None before any `make bootstrap`."""
    found: dict[str, str] = {}
    for env in environments.load().values():
        if not env.emulated:
            found.update(recorded_variables(env, bootstrap_dir) or {})
    return found or None


def token_from(environ: dict[str, str]) -> str:
    if environ.get("GITHUB_TOKEN"):
        return environ["GITHUB_TOKEN"]
    gh_cli = shutil.which("gh")
    if gh_cli:
        proc = subprocess.run(
            [gh_cli, "auth", "token"], capture_output=True, text=True, check=False
        )
        if proc.returncode == 0:
            return proc.stdout.strip()
    return ""


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", required=True, help="OWNER/NAME of your own repository")
    parser.add_argument("--reviewers", default="", help="logins allowed to approve (default: you)")
    args = parser.parse_args(argv)
    reviewers = [r.strip().lstrip("@") for r in args.reviewers.split(",") if r.strip()]
    try:
        if not args.repo:
            raise SetupError("REPO is empty: make github-setup REPO=OWNER/NAME")
        token = token_from(env)
        if not token:
            raise SetupError("no token: set GITHUB_TOKEN, or log in with `gh auth login`")
        gh = api.GitHub(token, args.repo, env.get("GITHUB_API_URL", api.DEFAULT_API))
        setup(gh, reviewers=reviewers or None, variables=bootstrap_variables())
    except (SetupError, api.GitHubError) as err:
        print(f"github-setup: FAILED: {err}", file=sys.stderr)
        return 1
    return 0
