"""Refuse to plan, apply or destroy through a GitHub environment that gates nothing.

    gitops env-gate seoul            # a `gate`: must have required reviewers
    gitops env-gate seoul-nightly    # a nightly environment: main branch only

Which rule applies comes from the environment descriptions (envs/*/environment.toml, read by
scripts/gitops/environments.py): an AWS environment's `gate` needs required reviewers, its
`[nightly_destroy] environment` a deployment branch policy of main alone.

GitHub creates a missing environment, with no protection rules at all, the first time a job
names it. So a deploy whose environments were never configured would apply with no reviewer,
and a `seoul-nightly` without its branch policy would hand the apply role to any branch. This
check reads the environment through the REST API before anything touches AWS:

- `GET /repos/{repo}/environments/{name}`: its `protection_rules` (a `required_reviewers` rule
  with at least one reviewer), its `deployment_branch_policy` and `can_admins_bypass` (true,
  GitHub's default, lets an administrator deploy past the reviewers: refused for a gate, a
  warning for the nightly environment);
- `GET .../environments/{name}/deployment-branch-policies`: the branch and tag rules, when the
  policy is "Selected branches and tags". Only the single branch rule `main` passes.

Both endpoints need only the `actions: read` permission of the job's GITHUB_TOKEN (GitHub's REST
reference: "Actions" repository permission, read), so the job widens nothing else.

Exit 0 when every environment named is protected as its rule says; 1 otherwise, or when the
API cannot be read (missing, 403, 404, network): the message, also in the job summary, says
exactly what to configure. Warnings (a reviewer who cannot approve alone, reviewers on the
unattended environment) do not fail the run.
"""

from __future__ import annotations

import argparse
import os
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from gitops import environments
from gitops.github.api import DEFAULT_API, GitHub, GitHubError
from gitops.github.outputs import append_summary

REVIEWERS, MAIN_ONLY = "required reviewers", "main branch only"
SETTINGS = "Settings → Environments"
DOCS = "docs/PIPELINE.md, section “Environment gates”"


@dataclass
class Verdict:
    environment: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    detail: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def rules(envs: dict[str, environments.Environment] | None = None) -> dict[str, str]:
    """What each GitHub environment the descriptions name must enforce.

    An AWS environment's `gate` needs required reviewers; its `[nightly_destroy]` environment
    runs unattended, so it must deploy from main alone.
    """
    found: dict[str, str] = {}
    for env in (environments.load() if envs is None else envs).values():
        if env.gate:
            found[env.gate] = REVIEWERS
        if env.nightly:
            found[env.nightly.environment] = MAIN_ONLY
    return found


def _reviewer_name(entry: dict[str, Any]) -> str:
    who = entry.get("reviewer") or {}
    return str(who.get("login") or who.get("slug") or who.get("name") or "?")


def judge_reviewers(name: str, env: dict[str, Any]) -> Verdict:
    verdict = Verdict(name)
    rules = [r for r in env.get("protection_rules") or [] if r.get("type") == "required_reviewers"]
    reviewers = [_reviewer_name(e) for rule in rules for e in rule.get("reviewers") or []]
    if not reviewers:
        verdict.problems.append(
            f"environment `{name}` has no required reviewers, so a deploy would apply without "
            f"anyone approving it. In {SETTINGS} → {name}, tick “Required reviewers”, add at "
            "least one person or team who may approve, and save the protection rules. Required "
            "reviewers exist on public repositories, and on private ones only with GitHub "
            f"Enterprise ({DOCS})."
        )
        return verdict
    verdict.detail = f"required reviewers: {', '.join(reviewers)}"
    if env.get("can_admins_bypass") is True:
        verdict.problems.append(
            f"environment `{name}` lets administrators bypass its protection rules, so an "
            "administrator could apply without any reviewer approving it. In "
            f"{SETTINGS} → {name}, untick “Allow administrators to bypass configured protection "
            "rules” and save the protection rules (through the API: `can_admins_bypass: false`, "
            f"sent with the reviewers and the branch policy, as {DOCS} shows)."
        )
    if len(reviewers) == 1 and any(rule.get("prevent_self_review") for rule in rules):
        verdict.warnings.append(
            f"environment `{name}` has one reviewer ({reviewers[0]}) and “Prevent self-review”: "
            "a run that reviewer started can never be approved. Add a second reviewer or untick "
            "it."
        )
    return verdict


def judge_main_only(name: str, env: dict[str, Any], policies: list[dict[str, Any]]) -> Verdict:
    verdict = Verdict(name)
    fix = (
        f"In {SETTINGS} → {name} → “Deployment branches and tags”, choose “Selected branches "
        "and tags” and keep exactly one rule: the branch `main`."
    )
    policy = env.get("deployment_branch_policy")
    if not policy:
        verdict.problems.append(
            f"environment `{name}` lets every branch deploy, so any branch could take the apply "
            f"role. {fix}"
        )
    elif policy.get("protected_branches"):
        verdict.problems.append(
            f"environment `{name}` lets every protected branch deploy, not only main. {fix}"
        )
    else:
        rules = [f"{p.get('type') or 'branch'} {p.get('name')}" for p in policies]
        if rules != ["branch main"]:
            allowed = ", ".join(rules) or "nothing"
            verdict.problems.append(
                f"environment `{name}` deploys from {allowed}, not from main alone. {fix}"
            )
        else:
            verdict.detail = "deployments from the branch main only"
    if env.get("can_admins_bypass") is True:
        verdict.warnings.append(
            f"environment `{name}` lets administrators bypass its branch policy. In {SETTINGS} "
            f"→ {name}, untick “Allow administrators to bypass configured protection rules”."
        )
    if any(r.get("type") == "required_reviewers" for r in env.get("protection_rules") or []):
        verdict.warnings.append(
            f"environment `{name}` has required reviewers: the unattended nightly destroy will "
            "wait for an approval instead of running on schedule."
        )
    return verdict


def check(gh: GitHub, name: str, known: dict[str, str]) -> Verdict:
    """Read GitHub environment `name` and judge it by its rule in `known` (see rules())."""
    rule = known.get(name)
    if rule is None:
        return Verdict(
            name,
            [f"no envs/*/environment.toml names the GitHub environment `{name}` as its gate or "
             f"nightly environment (known: {', '.join(known) or 'none'}); fix the name, or the "
             "description (docs/PIPELINE.md, “Add an environment”)"],
        )  # fmt: skip
    path = f"/repos/{gh.repo}/environments/{urllib.parse.quote(name, safe='')}"
    try:
        env, _ = gh.request("GET", path)
        policies: list[dict[str, Any]] = []
        branch_policy = env.get("deployment_branch_policy") or {}
        if rule == MAIN_ONLY and branch_policy.get("custom_branch_policies"):
            policies = list(
                gh.paginate(f"{path}/deployment-branch-policies", key="branch_policies")
            )
    except GitHubError as err:
        return Verdict(name, [_api_problem(gh, name, rule, err)])
    if rule == REVIEWERS:
        return judge_reviewers(name, env)
    return judge_main_only(name, env, policies)


def _api_problem(gh: GitHub, name: str, rule: str, err: GitHubError) -> str:
    if err.status == 404:
        return (
            f"environment `{name}` does not exist in {gh.repo}; GitHub would create it with no "
            f"protection the first time a job names it. Create it in {SETTINGS} → New "
            f"environment `{name}` and set {rule} ({DOCS}). A private repository on GitHub Free "
            "has no environments at all: make the repository public or use a plan that has them."
        )
    if err.status in (401, 403):
        return (
            f"this job's token may not read environment `{name}` ({err}). Give the job "
            "`permissions: actions: read` (and its caller too, for a reusable workflow); "
            "nothing was planned, applied or destroyed."
        )
    return (
        f"could not read environment `{name}` ({err}): GitHub's API did not answer as expected. "
        "Re-run the job; nothing was planned, applied or destroyed."
    )


def report(verdicts: list[Verdict], environ: dict[str, str]) -> None:
    summary: list[str] = []
    for verdict in verdicts:
        for warning in verdict.warnings:
            print(f"::warning title=Environment {verdict.environment}::{warning}")
            summary.append(f"> [!WARNING]\n> {warning}\n")
        if verdict.ok:
            print(f"environment {verdict.environment}: protected ({verdict.detail})")
            continue
        for problem in verdict.problems:
            print(f"::error title=Environment {verdict.environment} not protected::{problem}")
            summary.append(f"> [!CAUTION]\n> Refused: {problem}\n")
    if summary:
        append_summary(environ, "\n".join(summary) + "\n")


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if environ is None else environ
    parser = argparse.ArgumentParser(description="Is this GitHub environment really a gate?")
    parser.add_argument("environment", nargs="+", help="GitHub environment(s) to check")
    parser.add_argument("--repo", default=env.get("GITHUB_REPOSITORY", ""), help="OWNER/NAME")
    args = parser.parse_args(argv)
    try:
        gh = GitHub(env.get("GITHUB_TOKEN", ""), args.repo, env.get("GITHUB_API_URL", DEFAULT_API))
    except GitHubError as err:
        problem = (
            f"cannot check the environments: {err}. Pass the job's token as GITHUB_TOKEN "
            "(env: GITHUB_TOKEN: ${{ github.token }}) and run inside GitHub Actions."
        )
        report([Verdict(name, [problem]) for name in args.environment], env)
        return 1
    try:
        known = rules()
    except environments.DescriptionError as err:
        report(
            [
                Verdict(n, [f"the environment descriptions are broken: {err}"])
                for n in args.environment
            ],
            env,
        )
        return 1
    verdicts = [check(gh, name, known) for name in args.environment]
    report(verdicts, env)
    return 0 if all(v.ok for v in verdicts) else 1
