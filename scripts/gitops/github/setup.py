"""`make github-setup REPO=OWNER/NAME`: the GitHub side of the pipeline, with your own token.

    GITHUB_TOKEN=... gitops github-setup --repo OWNER/NAME [--reviewers a,b]

One reviewer (you, by default) is solo mode, two or more team mode (gitops.github.protection
says what each asks for). In this order, each step idempotent and merged with what the
repository already has (run it again after `make bootstrap`, and after adding an environment):
1. checks the repository: not a fork (GitHub never runs a fork's scheduled workflows, so the
   nightly destroy would not run), default branch `main` (the roles trust refs/heads/main),
   the token's user is an admin, and every reviewer named is a collaborator (in team mode two
   of them with write access, or their pull requests could never merge); warns when Issues are
   turned off (the drift check and the nightly watchdog report through an issue);
2. protects, for every AWS environment envs/*/environment.toml describes, its GitHub
   environments BEFORE any role trusts them (GitHub creates a missing environment unprotected
   the first time a workflow names it): the `gate` with required reviewers, the
   `[nightly_destroy] environment` without; both deployable from `main` (the nightly one from
   main alone: another rule found there is removed), admins cannot bypass;
3. main's ruleset: pull requests only, the required check `pull request gate` (strict), in team
   mode one approving review and a code owner's; no force push, no deletion; your own rules and
   bypass actors are kept; in solo mode, says what (the ruleset, or a classic branch
   protection rule) would still ask for a review nobody can give;
4. CODEOWNERS (the one GitHub reads: .github/CODEOWNERS, else CODEOWNERS, else
   docs/CODEOWNERS): written here, main's copy plus what it lacks, when main's copy does not
   give the reviewers who can write every path that runs with AWS credentials;
5. records the repository's numeric IDs for make bootstrap (GitHub's immutable-ID subjects);
6. sets the repository variables the workflows read, for each environment `make bootstrap`
   made roles for: its [roles] variables and TF_STATE_BUCKET (no region or state key).

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops import environments
from gitops.github import api, protection
from gitops.github.protection import (
    CODEOWNED,
    CODEOWNERS_LOCATIONS,
    CODEOWNERS_PATH,
    DEFAULT_BRANCH,
    ProtectionError,
)
from gitops.paths import REPO_ROOT
from gitops.terraform.bootstrap import BOOTSTRAP_DIR, GITHUB_VARS_FILE, recorded_variables


class SetupError(RuntimeError):
    """A condition the operator has to change first; the message says how."""


@dataclass
class Report:
    mode: protection.Mode | None = None
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


def user_id(gh: api.GitHub, login: str) -> int:
    try:
        if "/" in login:  # an organisation's team: /users/ would not say why it is unknown
            raise api.GitHubError(f"{login} is a team", 404)
        return int(api.get_user(gh, login)["id"])
    except api.GitHubError as err:
        if err.status != 404:
            raise
        raise SetupError(
            f"no GitHub user {login!r}: REVIEWERS takes user logins, comma-separated. A team "
            "reviews deployments when added by hand (Settings → Environments → the gate), and "
            "later runs keep it"
        ) from err


def code_owners(gh: api.GitHub, logins: list[str], mode: protection.Mode) -> list[str]:
    """The reviewers who can own code, after refusing, before anything is written, a reviewer
    who has no access to the repository (a typo, an invitation not accepted: a reviewer
    approves applies to the AWS account) and a team whose pull requests could never merge.
    GitHub counts approving reviews, and code owners, only of people with write access."""
    writers, readers = [], []
    for login in logins:
        permission = api.get_permission(gh, login)
        # Anyone may read a public repository: read access alone does not make a collaborator.
        if permission not in ("admin", "write") and not api.is_collaborator(gh, login):
            raise SetupError(
                f"{login} is not a collaborator of {gh.repo}: a reviewer approves applies to "
                "your AWS account. Check the spelling, or invite them (Settings → Collaborators "
                "and teams) and run this again once they accepted"
            )
        (writers if permission in ("admin", "write") else readers).append((login, permission))
    if mode.team and len(writers) < 2:
        has = ", ".join(f"{login} has {permission} access" for login, permission in readers)
        raise SetupError(
            f"team mode needs two reviewers with write access, and {has}: GitHub counts the "
            "approving review and the code owner's only from people who can write, so the "
            "pull requests of the one writer could never merge. Give them the Write role "
            "(Settings → Collaborators and teams), or run with one reviewer (solo mode)"
        )
    return [login for login, _ in writers]


def has_required_reviewers(env: dict[str, Any]) -> bool:
    rules = env.get("protection_rules") or []
    return any(r.get("type") == "required_reviewers" and r.get("reviewers") for r in rules)


def aws_environments(envs_dir: Path = environments.ENVS_DIR) -> list[environments.Environment]:
    """Every AWS environment described: each has a gate, and maybe a nightly destroy."""
    return [env for env in environments.load(envs_dir).values() if not env.emulated]


def _protect_environments(
    gh: api.GitHub,
    envs: list[environments.Environment],
    mode: protection.Mode,
    reviewer_ids: list[int],
    repo: dict[str, Any],
    say: Callable[[str], None],
    warn: Callable[[str], None],
) -> None:
    private = bool(repo.get("private"))
    for env in envs:
        if env.gate is None:
            continue
        payload, notes = protection.gate_environment(
            api.get_environment(gh, env.gate), reviewer_ids, mode
        )
        try:
            saved = api.put_environment(gh, env.gate, payload)
        except api.GitHubError as err:
            if private and err.status in (403, 404, 422):
                raise SetupError(_private_note(repo["full_name"], str(err))) from err
            raise
        if not has_required_reviewers(saved):
            raise SetupError(_private_note(repo["full_name"], "GitHub kept no required reviewers"))
        policy, others = api.ensure_branch_policy(gh, env.gate, DEFAULT_BRANCH)
        if others:  # a reviewer still approves each of their jobs: kept, and named
            warn(
                f"environment {env.gate} also lets {_rules(others)} deploy, beside main: a job "
                "from there takes the apply role once a reviewer approves it. Remove them in "
                f"Settings → Environments → {env.gate} unless you mean it"
            )
        self_review = "on" if payload["prevent_self_review"] else "off"
        say(
            f"ok environment {env.gate} (envs/{env.name}): {len(payload['reviewers'])} "
            f"required reviewer(s), prevent self-review {self_review}, admins cannot bypass, "
            f"main only ({policy})"
        )
        for note in notes:
            warn(f"environment {env.gate}: {note}")
        if env.nightly:
            name = env.nightly.environment
            payload, notes = protection.nightly_environment(api.get_environment(gh, name))
            api.put_environment(gh, name, payload)
            policy, others = api.ensure_branch_policy(gh, name, DEFAULT_BRANCH)
            for other in others:  # unattended: nobody would look at a job from elsewhere
                api.delete_branch_policy(gh, name, int(other["id"]))
            say(f"ok environment {name} (envs/{env.name}): unattended, no admin bypass, "
                f"main only ({policy})")  # fmt: skip
            if others:
                say(
                    f"   removed {_rules(others)} from {name}: the destroy role trusts any job "
                    "it admits, unattended, and the nightly gate check refuses all but main"
                )
            for note in notes:
                warn(f"environment {name}: {note}")


def _rules(policies: list[dict[str, Any]]) -> str:
    return ", ".join(f"{p.get('type') or 'branch'} {p.get('name')}" for p in policies)


def _protect_main(
    gh: api.GitHub,
    mode: protection.Mode,
    say: Callable[[str], None],
    warn: Callable[[str], None],
) -> None:
    found = api.find_ruleset(gh, protection.RULESET_NAME)
    payload, notes = protection.merged_ruleset(found, mode)
    outcome = api.save_ruleset(gh, found["id"] if found else None, payload)
    review = (
        "one approving review by a code owner"
        if mode.team
        else "no approving review (solo: you cannot approve your own)"
    )
    say(
        f"ok ruleset on main ({outcome}): pull request, required check "
        f"`{protection.REQUIRED_CHECK}` up to date with main, {review}, no force push or deletion"
    )
    for note in notes:
        say(f"   {note}")
    if mode.team:
        return
    blockers = protection.solo_blockers(payload)
    if blockers:
        warn(
            f"main's ruleset asks for {' and '.join(blockers)}, kept from an earlier set-up or "
            "your own change; alone you cannot merge your own pull requests. Lower it in "
            f"Settings → Rules → Rulesets → {protection.RULESET_NAME!r} (pull request rule), or "
            "run this with REVIEWERS=you,colleague"
        )
    classic = protection.classic_solo_blockers(api.get_branch_protection(gh, DEFAULT_BRANCH))
    if classic:
        warn(
            f"main's classic branch protection rule asks for {' and '.join(classic)}, for "
            "administrators too; alone you cannot merge your own pull requests. Untick those "
            "options, or delete the rule (the ruleset protects main), in Settings → Branches"
        )


def _codeowners(
    gh: api.GitHub,
    logins: list[str],
    repo_root: Path,
    say: Callable[[str], None],
    warn: Callable[[str], None],
) -> None:
    # GitHub reads the first of its CODEOWNERS locations it finds: that file is extended, so a
    # file written elsewhere never switches the user's own off.
    path, on_main = CODEOWNERS_PATH, None
    for candidate in CODEOWNERS_LOCATIONS:
        on_main = api.get_file(gh, candidate, DEFAULT_BRANCH)
        if on_main is not None:
            path = candidate
            break
    if protection.codeowners_cover(on_main, logins):
        say(f"ok {path} on main gives {', '.join(logins)} every credentialed path")
        return
    local = repo_root / path
    base = local.read_text(encoding="utf-8") if local.is_file() else on_main
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_text(protection.codeowners(base, logins), encoding="utf-8")
    warn(
        f"{path} on main does not give {', '.join(logins)} all of "
        f"{', '.join(CODEOWNED)}: written here (your lines kept); commit it in your first pull "
        "request"
    )


def _variables(
    gh: api.GitHub,
    envs: list[environments.Environment],
    variables_of: Callable[[environments.Environment], dict[str, str] | None],
    say: Callable[[str], None],
    warn: Callable[[str], None],
) -> None:
    wanted: dict[str, str] = {}
    owner: dict[str, str] = {}
    for env in envs:
        found = variables_of(env)
        if found is None:
            warn(
                f"envs/{env.name}: no roles from `make bootstrap` in this checkout: run `make "
                f"bootstrap ENV={env.name}`, then this again to set its variables (variables "
                "set before, from another checkout, are left as they are)"
            )
            continue
        for name, value in found.items():
            if name in wanted and wanted[name] != value:
                raise SetupError(
                    f"repository variable {name} would be {wanted[name]!r} for envs/"
                    f"{owner[name]} but {value!r} for envs/{env.name}: one repository variable "
                    "holds one value (every AWS environment shares the state bucket); give "
                    "each environment's roles their own names in its environment.toml"
                )
            wanted[name], owner[name] = value, env.name
    for name, value in wanted.items():
        say(f"ok variable {name}: {api.set_variable(gh, name, value)}")


def setup(
    gh: api.GitHub,
    *,
    envs: Iterable[environments.Environment] | None = None,
    reviewers: list[str] | None = None,
    variables_of: Callable[[environments.Environment], dict[str, str] | None] | None = None,
    bootstrap_dir: Path = BOOTSTRAP_DIR,
    repo_root: Path = REPO_ROOT,
    log: Callable[[str], None] = print,
) -> Report:
    report = Report()

    def say(line: str) -> None:
        report.lines.append(line)
        log(line)

    def warn(line: str) -> None:
        report.warnings.append(line)

    aws = list(aws_environments() if envs is None else envs)
    repo = api.get_repository(gh)
    check_repository(repo)
    say(f"ok repository {repo['full_name']}: not a fork, default branch main, admin token")
    if repo.get("has_issues") is False:
        warn(
            "Issues are turned off in this repository: the drift check and the nightly "
            "watchdog report a problem by opening an issue, which GitHub then refuses, and only "
            "a red scheduled run is left. Turn them on in Settings → General → Features → Issues"
        )

    if reviewers:
        mode = protection.mode_for(reviewers)
        logins = list(mode.reviewers)
        ids = [user_id(gh, login) for login in logins]
        owners = code_owners(gh, logins, mode)
    else:  # /user already carries the id: the token's own user (an admin) is fetched once
        me = api.get_user(gh)
        logins, ids = [me["login"]], [int(me["id"])]
        mode = protection.mode_for(logins)
        owners = list(logins)
    report.mode = mode
    say(f"ok {mode.describe()}")
    if readers := [login for login in logins if login not in owners]:
        warn(
            f"{', '.join(readers)} approve(s) deployments but cannot be a code owner or give a "
            "counting review without write access: left out of CODEOWNERS"
        )
    if not owners:  # solo, the one reviewer reads only: the token's user (an admin) owns code
        owners = [api.get_user(gh)["login"]]

    try:
        _protect_environments(gh, aws, mode, ids, repo, say, warn)
    except ProtectionError as err:
        raise SetupError(str(err)) from err
    _protect_main(gh, mode, say, warn)
    _codeowners(gh, owners, repo_root, say, warn)

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

    _variables(
        gh,
        aws,
        variables_of or (lambda env: recorded_variables(env, bootstrap_dir)),
        say,
        warn,
    )
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
    parser.add_argument(
        "--reviewers",
        default="",
        help="logins who approve deployments (default: you alone, solo mode; two or more: team)",
    )
    args = parser.parse_args(argv)
    reviewers = [r.strip().lstrip("@") for r in args.reviewers.split(",") if r.strip()]
    try:
        if not args.repo:
            raise SetupError("REPO is empty: make github-setup REPO=OWNER/NAME")
        token = token_from(env)
        if not token:
            raise SetupError("no token: set GITHUB_TOKEN, or log in with `gh auth login`")
        gh = api.GitHub(token, args.repo, env.get("GITHUB_API_URL", api.DEFAULT_API))
        setup(gh, reviewers=reviewers or None)
    except (SetupError, ProtectionError, api.GitHubError, environments.DescriptionError) as err:
        print(f"github-setup: FAILED: {err}", file=sys.stderr)
        print(
            "github-setup: fix that and run it again: what it already set is kept, and every "
            "step is idempotent",
            file=sys.stderr,
        )
        return 1
    return 0
