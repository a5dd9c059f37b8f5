"""pre-commit hook: parliament (an IAM policy linter) over every policy the bootstrap makes.

For each AWS environment, bootstrap/github-oidc's policies are rendered by Terraform without AWS
(gitops.terraform.iam_render) and each statement is linted by parliament, which knows every
action's resource types and condition keys. Zero findings is the gate, or a finding justified
inline: a comment `#parliament:skip=ISSUE:reason` inside the statement (by its sid) in
bootstrap/github-oidc/policies.tf or modules/instance-roles/main.tf, as checkov's skips are.
A justification that no longer matches a finding fails too, so none outlives its reason.

The roles' trust policies are checked here too, by rules of this module (trust_problems):
parliament lints identity policies only. It stops at a trust statement with MALFORMED (a
trust policy has no Resource element), knows only SAML providers as a Federated principal
(UNKNOWN_FEDERATION_SOURCE for GitHub's OIDC provider), knows no token.actions condition keys
and passes Principal "*" without a finding, so it cannot tell a sound trust from an open one.
A GitHub role's trust names the account's GitHub OIDC provider only, for
sts:AssumeRoleWithWebIdentity only, with StringEquals on the audience (sts.amazonaws.com) and
on exact subjects of the repository; an instance role's trusts the EC2 service only, for
sts:AssumeRole only.

    gitops hook-iam-lint
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gitops import environments
from gitops.paths import REPO_ROOT
from gitops.terraform import iam_render

SOURCES = (
    REPO_ROOT / "bootstrap" / "github-oidc" / "policies.tf",
    REPO_ROOT / "modules" / "instance-roles" / "main.tf",
)
_SID = re.compile(r'^\s*sid\s*=\s*"([^"]+)"', re.MULTILINE)
_SKIP = re.compile(r"#\s*parliament:skip=([A-Z_]+):(.+)$", re.MULTILINE)


def justifications(sources: Iterable[Path] = SOURCES) -> dict[tuple[str, str], str]:
    """(sid, issue) => reason, from `#parliament:skip=ISSUE:reason` comments, each belonging to
    the statement whose sid comes nearest before or after it inside the same block."""
    found: dict[tuple[str, str], str] = {}
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for match in _SKIP.finditer(text):
            block_start = text.rfind("statement {", 0, match.start())
            sid = _SID.search(text, block_start)
            if block_start < 0 or sid is None:
                raise ValueError(f"{path.name}: a parliament skip outside any statement with a sid")
            reason = match.group(2).strip()
            if len(reason) < 20:
                raise ValueError(f"{path.name}: the skip of {match.group(1)} in {sid.group(1)} "
                                 "needs a reason of its own")  # fmt: skip
            found[(sid.group(1), match.group(1))] = reason
    return found


def findings(policies: dict[str, str]) -> list[tuple[str, str, str, Any]]:
    """(policy, sid, issue, detail) for every parliament finding, statement by statement."""
    from parliament import analyze_policy_string

    out = []
    for name, doc in sorted(policies.items()):
        parsed = json.loads(doc)
        statements = parsed["Statement"]
        for st in statements if isinstance(statements, list) else [statements]:
            single = json.dumps({"Version": parsed.get("Version", "2012-10-17"), "Statement": [st]})
            for f in analyze_policy_string(single).findings:
                out.append((name, st.get("Sid", "?"), f.issue, f.detail))
    return out


GITHUB_CLAIMS = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
# The services a stack role may trust, each with the one action it assumes the role by.
SERVICE_TRUST = {"ec2.amazonaws.com": "sts:AssumeRole"}
_ONLY = "only GitHub's OIDC provider or one service of SERVICE_TRUST may be trusted"


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _github_trust(sid: str, st: dict[str, Any], provider: str, repository: str) -> list[str]:
    problems = []
    if _values(st["Principal"]["Federated"]) != [provider]:
        problems.append(f"{sid}: trusts {st['Principal']['Federated']}, not {provider} alone")
    if _values(st.get("Action")) != ["sts:AssumeRoleWithWebIdentity"]:
        problems.append(f"{sid}: allows {st.get('Action')}, not sts:AssumeRoleWithWebIdentity")
    equals = st.get("Condition", {}).get("StringEquals", {})
    if _values(equals.get(f"{GITHUB_CLAIMS}:aud")) != [AUDIENCE]:
        problems.append(f"{sid}: no StringEquals {GITHUB_CLAIMS}:aud = {AUDIENCE}: tokens "
                        "minted for any audience are accepted")  # fmt: skip
    subjects = _values(equals.get(f"{GITHUB_CLAIMS}:sub") or [])
    if not subjects:
        problems.append(f"{sid}: no StringEquals {GITHUB_CLAIMS}:sub: a workflow of any "
                        "repository on GitHub may assume the role")  # fmt: skip
    for sub in subjects:
        if not str(sub).startswith(f"repo:{repository}:") or any(c in str(sub) for c in "*?"):
            problems.append(f"{sid}: subject {sub!r} is not an exact subject of {repository}")
    return problems


def trust_problems(trusts: dict[str, str], *, provider: str, repository: str) -> list[str]:
    """Problems of the rendered trust policies (role => JSON): every Allow statement names one
    principal, either GitHub's OIDC provider with the exact audience and exact subjects of the
    repository, or one service of SERVICE_TRUST with its one action. Anything else (Principal
    "*", an account, another provider, a service list) is a problem."""
    problems = []
    for role, doc in sorted(trusts.items()):
        for index, st in enumerate(_values(json.loads(doc)["Statement"])):
            if st.get("Effect") != "Allow":
                continue
            sid = f"{role}/{st.get('Sid') or index}"
            principal = st.get("Principal")
            kind = (
                next(iter(principal))
                if isinstance(principal, dict) and len(principal) == 1
                else None
            )
            if kind == "Federated":
                problems += _github_trust(sid, st, provider, repository)
            elif kind == "Service" and _values(principal[kind])[0] in SERVICE_TRUST:
                service = _values(principal[kind])
                if len(service) != 1 or _values(st.get("Action")) != [SERVICE_TRUST[service[0]]]:
                    problems.append(f"{sid}: trusts {service} for {st.get('Action')}: {_ONLY}")
            else:
                problems.append(f"{sid}: trusts Principal {principal!r}: {_ONLY}")
    return problems


def lint(envs: Iterable[environments.Environment]) -> list[str]:
    """Problems: unjustified findings and justifications without a finding."""
    skips = justifications()
    used: set[tuple[str, str]] = set()
    problems = []
    for env in envs:
        workdir = Path(tempfile.mkdtemp(prefix="iam-lint-"))
        try:
            rendered = iam_render.render_outputs(env, workdir / "w")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        policies, trusts = rendered["policies"], rendered["trust_policies"]
        trust = trust_problems(trusts, provider=iam_render.OIDC_PROVIDER,
                               repository=iam_render.REPOSITORY)  # fmt: skip
        problems += [f"envs/{env.name} trust {p}" for p in trust]
        found = findings(policies)
        justified = [f for f in found if (f[1], f[2]) in skips]
        used.update((sid, issue) for _, sid, issue, _ in justified)
        for name, sid, issue, detail in found:
            if (sid, issue) not in skips:
                problems.append(f"envs/{env.name} {name}/{sid}: {issue}: {detail}")
        print(
            f"envs/{env.name}: {len(policies)} policies linted, {len(found)} findings, "
            f"{len(justified)} of them justified inline; {len(trusts)} trust policies checked, "
            f"{len(trust)} problems"
        )
    for sid, issue in sorted(set(skips) - used):
        problems.append(f"{sid}: #parliament:skip={issue} matches no finding any more: remove it")
    return problems


def main(argv: list[str] | None = None) -> int:
    if shutil.which("terraform") is None:
        print("ERROR: terraform is not on PATH; install the version in .terraform-version")
        return 1
    envs = [e for e in environments.load().values() if not e.emulated]
    names = set(argv or [])
    try:
        problems = lint(e for e in envs if not names or e.name in names)
    except (iam_render.RenderError, ValueError) as exc:
        print(f"FAILED: {exc}")
        return 1
    for problem in problems:
        print(f"FAILED {problem}")
    if problems:
        print("fix the policy (bootstrap/github-oidc/policies.tf; trust policies: main.tf and "
              "modules/instance-roles/main.tf), or justify a parliament finding inside its "
              "statement with #parliament:skip=ISSUE:reason")  # fmt: skip
    return 1 if problems else 0
