"""Re-create a resource through the pipeline: a `terraform plan -replace=ADDRESS` that is
reviewed and applied like any other plan (`make plan ENV=... REPLACE=...` on a laptop; the
deploy workflow's `replace` input in CI, docs/RELIABILITY.md "When a boot fails").

Terraform plans "No changes" for a -replace address that matches nothing, so a typo would pass
for a replacement; here an address must look like one, and the plan must then replace exactly
what was asked, by request. In CI a dispatched replacement has no pull request whose preview
the plan could match, so `check` holds it to the request instead:

    gitops replace-check --env seoul --plan .artifacts/plans/seoul.json \\
        --replace module.web.aws_instance.this

passes when the plan replaces each requested address by request, as it is now (a setting of
the new instance that differs from the old one's, such as a user data or instance type merged
but not yet deployed, would ride along unreviewed), and changes no other resource, nor imports
or moves one in the state (outputs that follow from it may change); writes the verdict to the
job summary, and exits 1 otherwise: the apply then does not run. Exit 2: bad arguments or an
unreadable plan.
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


def differences(before: Any, after: Any, unknown: Any, path: str = "") -> list[str]:
    """Attributes whose planned value is known, set, and not the one they hold now. Unknown
    values (computed anew by the provider: IDs, addresses) and unset ones are left out: null,
    or an empty list for a block the configuration leaves out (the provider may have read one
    back, such as a t3's credit_specification)."""
    if unknown is True or after is None or after == []:
        return []
    if isinstance(after, dict) and isinstance(before, dict):
        unknowns = unknown if isinstance(unknown, dict) else {}
        return [
            found
            for key, value in after.items()
            for found in differences(
                before.get(key), value, unknowns.get(key), f"{path}.{key}" if path else key
            )
        ]
    if isinstance(after, list) and isinstance(before, list) and len(after) == len(before):
        unknowns = unknown if isinstance(unknown, list) else [None] * len(after)
        return [
            found
            for index, (old, new) in enumerate(zip(before, after, strict=True))
            for found in differences(old, new, unknowns[index], f"{path}[{index}]")
        ]
    return [] if after == before else [path]


def changed_settings(rc: Mapping[str, Any]) -> list[str]:
    """What a replacement would also change: settings of the new object not the old one's."""
    change = rc.get("change") or {}
    return differences(change.get("before"), change.get("after"), change.get("after_unknown"))


def other_changes(plan: Mapping[str, Any], requested: Iterable[str]) -> list[tuple[str, str]]:
    """(address, what) of every change the plan makes besides the requested replacements: other
    resources' actions, state imports and moves, and settings a replacement would change."""
    wanted = set(requested)
    found = []
    for rc in plan.get("resource_changes") or []:
        change = rc.get("change") or {}
        actions = change.get("actions") or []
        address = str(rc.get("address"))
        if rc.get("mode") == "data":
            continue
        if address in wanted:
            settings = changed_settings(rc)
            if settings:
                found.append((address, "replace, also changing " + ", ".join(settings[:10])))
            continue
        state_only = [
            what
            for what, present in (
                ("import", change.get("importing")),
                (f"move from {rc.get('previous_address')}", rc.get("previous_address")),
            )
            if present
        ]
        if set(actions) not in QUIET or state_only:
            found.append((address, ",".join([*actions, *state_only])))
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
            f"✅ **This {env} plan replaces {asked} as requested, with the settings it has now, "
            "and changes no other resource.** A requested replacement has no pull request to "
            "match; this check binds the plan to the request instead.\n"
        )
    lines = ["> [!CAUTION]", f"> **This {env} plan is not the replacement requested ({asked}).**"]
    if absent:
        lines.append(f"> {not_replaced_hint(env, absent)}.")
    if others:
        lines.append(
            "> It would also change what this deploy was not asked for (changes merged but not "
            "yet deployed): deploy those through the deploy of their pull request first, then "
            "request the replacement again."
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
