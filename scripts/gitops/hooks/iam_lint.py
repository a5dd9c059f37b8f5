"""pre-commit hook: parliament (an IAM policy linter) over every policy the bootstrap makes.

For each AWS environment, bootstrap/github-oidc's policies are rendered by Terraform without AWS
(gitops.terraform.iam_render) and each statement is linted by parliament, which knows every
action's resource types and condition keys. Zero findings is the gate, or a finding justified
inline: a comment `#parliament:skip=ISSUE:reason` inside the statement (by its sid) in
bootstrap/github-oidc/policies.tf or modules/instance-roles/main.tf, as checkov's skips are.
A justification that no longer matches a finding fails too, so none outlives its reason.

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


def lint(envs: Iterable[environments.Environment]) -> list[str]:
    """Problems: unjustified findings and justifications without a finding."""
    skips = justifications()
    used: set[tuple[str, str]] = set()
    problems = []
    for env in envs:
        workdir = Path(tempfile.mkdtemp(prefix="iam-lint-"))
        try:
            policies = iam_render.render(env, workdir / "w")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        found = findings(policies)
        justified = [f for f in found if (f[1], f[2]) in skips]
        used.update((sid, issue) for _, sid, issue, _ in justified)
        for name, sid, issue, detail in found:
            if (sid, issue) not in skips:
                problems.append(f"envs/{env.name} {name}/{sid}: {issue}: {detail}")
        print(
            f"envs/{env.name}: {len(policies)} policies linted, {len(found)} findings, "
            f"{len(justified)} of them justified inline"
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
        print("fix the policy (bootstrap/github-oidc/policies.tf), or justify the finding inside "
              "its statement with #parliament:skip=ISSUE:reason")  # fmt: skip
    return 1 if problems else 0
