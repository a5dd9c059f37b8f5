"""Re-create a resource through the pipeline: a `terraform plan -replace=ADDRESS` that is
reviewed and applied like any other plan (`make plan ENV=... REPLACE=...` on a laptop; the
deploy workflow's `replace` input in CI, docs/RELIABILITY.md "When a boot fails").

Terraform plans "No changes" for a -replace address that matches nothing, so a typo would pass
for a replacement; here an address must look like one, and the plan must then replace exactly
what was asked, by request. In CI a dispatched replacement has no pull request whose preview
the plan could match, so `check` holds it to the request instead:

    gitops replace-check --env seoul --plan .artifacts/plans/seoul.json \\
        --replace module.web.aws_instance.this

passes when the plan replaces each requested address by request and changes no other
resource (outputs that follow from it may change), writes the verdict to the job summary, and
exits 1 otherwise: the apply then does not run. Exit 2: bad arguments or an unreadable plan.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gitops.github.outputs import append_summary

# The web instance: what a failed boot asks to have re-created (the smoke test's hint names it).
WEB_INSTANCE = "module.web.aws_instance.this"
# A managed resource's address: module path, type.name, an optional index or key (a data
# source or a module alone cannot be replaced).
_INDEX = r'(\[(\d+|"[^"\]]+")\])?'
ADDRESS = re.compile(
    rf"(module\.[A-Za-z_][\w-]*{_INDEX}\.)*(?!module\.|data\.)[A-Za-z_][\w-]*\.[A-Za-z_][\w-]*{_INDEX}"
)
QUIET = ({"no-op"}, {"read"})


class ReplaceError(ValueError):
    """A replacement that cannot be, or was not, planned; the message says what to do."""


def validate(addresses: Iterable[str]) -> list[str]:
    """The requested addresses, each checked to be a managed resource's address."""
    checked = []
    for address in addresses:
        if not ADDRESS.fullmatch(address):
            raise ReplaceError(
                f"REPLACE={address!r} is not a resource address (such as {WEB_INSTANCE}); "
                "`terraform state list` in the environment's root lists them"
            )
        checked.append(address)
    return checked


def replaced_by_request(plan: Mapping[str, Any]) -> set[str]:
    """Addresses the plan replaces because -replace asked for them."""
    return {
        rc["address"]
        for rc in plan.get("resource_changes") or []
        if rc.get("action_reason") == "replace_by_request"
    }


def missing(plan: Mapping[str, Any], requested: Iterable[str]) -> list[str]:
    """Requested addresses the plan does not replace (not in the state, or misspelt)."""
    done = replaced_by_request(plan)
    return [address for address in requested if address not in done]


def other_changes(plan: Mapping[str, Any], requested: Iterable[str]) -> list[tuple[str, str]]:
    """(address, actions) of every resource the plan changes besides the requested ones."""
    wanted = set(requested)
    found = []
    for rc in plan.get("resource_changes") or []:
        actions = (rc.get("change") or {}).get("actions") or []
        if rc.get("mode") == "data" or set(actions) in QUIET or rc.get("address") in wanted:
            continue
        found.append((str(rc.get("address")), ",".join(actions)))
    return found


def not_replaced_hint(env: str, absent: list[str]) -> str:
    return (
        f"the plan replaces nothing at {', '.join(absent)}: Terraform ignores a -replace address "
        f"that is not in envs/{env}'s state. Check the spelling (`terraform state list`); the web "
        f"instance is {WEB_INSTANCE}"
    )


def check(env: str, plan: Mapping[str, Any], requested: list[str]) -> tuple[bool, str]:
    """(passed, Markdown verdict) of a dispatched replacement's plan."""
    absent, others = missing(plan, requested), other_changes(plan, requested)
    asked = ", ".join(f"`{a}`" for a in requested)
    if not absent and not others:
        return True, (
            f"✅ **This {env} plan replaces {asked} as requested and changes no other resource.** "
            "A requested replacement has no pull request to match; this check binds the plan to "
            "the request instead.\n"
        )
    lines = ["> [!CAUTION]", f"> **This {env} plan is not the replacement requested ({asked}).**"]
    if absent:
        lines.append(f"> {not_replaced_hint(env, absent)}.")
    if others:
        lines.append(
            "> It would also change resources that no pull request previewed: deploy those "
            "through a pull request first, then request the replacement again."
        )
        lines += [">", *(f"> - `{address}` ({actions})" for address, actions in others[:20])]
    return False, "\n".join(lines) + "\n"


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env_vars = dict(os.environ) if environ is None else dict(environ)
    parser = argparse.ArgumentParser(description="Check that a plan is the replacement requested.")
    parser.add_argument("--env", required=True)
    parser.add_argument("--plan", type=Path, required=True, help="terraform show -json output")
    parser.add_argument("--replace", action="append", required=True, help="a requested address")
    args = parser.parse_args(argv)
    try:
        requested = validate(args.replace)
        plan = json.loads(args.plan.read_text(encoding="utf-8"))
    except ReplaceError as err:
        print(f"replace-check: error: {err}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as err:
        print(f"replace-check: error: cannot read plan {args.plan}: {err}", file=sys.stderr)
        return 2
    passed, text = check(args.env, plan, requested)
    append_summary(env_vars, f"### Requested replacement ({args.env})\n\n{text}\n")
    print(("ok " if passed else "FAIL ") + text.replace("> ", "").replace("**", "").strip())
    return 0 if passed else 1
