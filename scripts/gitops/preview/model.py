"""Plan JSON read into the model a reviewer's preview is rendered from.

`read_plan` checks a file is what `terraform show -json PLANFILE` prints; `PlanReader` turns a
plan into an `Environment`: its resource changes (sorted so that what cannot be undone comes
first, each with its reasons from gitops.preview.replacements), output changes, drift and failed
checks, every value masked on the way (gitops.preview.values), and the AMI pin the plan was made
with (`ami_of`). `build` does that for every file
given, with the secrets of all plans gathered first, the running-cost estimate
(gitops.preview.cost) and the plan digest (gitops.preview.digest).

`Environment.has_changes` is the one definition of "applying this plan would change something"
(imports, moves and forgets count): the comment, the job summary and the deploy's `changes`
output all ask it.

`to_json` / `from_json` carry an Environment between jobs as a *redacted model* (the file
`<name>.preview.json`): everything the preview shows, already masked, and the plan digest, with
none of the plan's raw values. A pull request's plan job uploads that file instead of the plan,
and the preview job renders the comment from it (docs/PLAN_PREVIEW.md).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from gitops.preview import cost
from gitops.preview import digest as plan_digest
from gitops.preview.planjson import get_path, module_resources
from gitops.preview.redact import Secrets, collect_secrets
from gitops.preview.replacements import delete_reasons, read_reasons, replace_reasons
from gitops.preview.values import (
    KNOWN_AFTER_APPLY,
    SENSITIVE,
    AttrChange,
    ValueMasker,
    fmt_path,
    mask_at,
)
from gitops.terraform.ami_pin import AmiPin

# Order in which changes are listed: what cannot be undone first.
KINDS = ("delete", "replace", "create", "update", "import", "move", "forget", "read")
DESTRUCTIVE = ("delete", "replace")
# Attributes shown for a created or destroyed object so a reviewer can tell which one it is.
IDENTITY = ("name", "bucket", "identifier", "cidr_block", "instance_type", "engine", "type")


@dataclass
class Change:
    address: str
    module: str
    kind: str
    type: str
    reasons: list[str] = field(default_factory=list)
    attrs: list[AttrChange] = field(default_factory=list)
    identity: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # previous address, import, ...


@dataclass
class OutputChange:
    name: str
    kind: str
    value: str


@dataclass
class Environment:
    name: str
    state: str  # "planned" | "failed" | "skipped"
    source: str = ""
    changes: list[Change] = field(default_factory=list)
    outputs: list[OutputChange] = field(default_factory=list)
    drift: list[Change] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    terraform_version: str = ""
    timestamp: str = ""
    errored: bool = False
    incomplete: bool = False
    destroys_everything: bool = False
    error_text: str = ""
    skip_reason: str = ""
    digest: dict[str, Any] | None = None  # gitops.preview.digest: addresses -> actions
    cost: cost.Estimate | None = None  # gitops.preview.cost: running cost before and after
    ami: AmiPin | None = None  # the AMI pin the plan was made with (the root's `ami` variable)
    ami_before: list[str] = field(default_factory=list)  # other AMIs instances leave behind

    def count(self, kind: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind)

    @property
    def has_changes(self) -> bool:
        """Whether applying the plan would do anything: the one definition the pipeline uses.

        Every resource change but a read counts (create, update, delete, replace, forget, and
        the no-op actions that still write state: import and move), and so does any output
        change. A plan that only imports or moves must still be reviewed and applied.
        """
        return any(c.kind != "read" for c in self.changes) or bool(self.outputs)


def ami_of(plan: dict[str, Any]) -> tuple[AmiPin | None, list[str]]:
    """The AMI pin the plan was made with (its `ami` variable, when it is one), and the other
    AMIs its instances run before the change (those it moves them from)."""
    value = get_path(plan, "variables", "ami", "value")
    fields = ("id", "region", "name")
    pin = None
    if isinstance(value, dict) and all(isinstance(value.get(f), str) for f in fields):
        pin = AmiPin(*(value[f] for f in fields))
    before = set()
    for rc in plan.get("resource_changes") or []:
        change = rc.get("change") or {}
        old, new = (change.get(side) for side in ("before", "after"))
        if rc.get("type") != "aws_instance" or not isinstance(old, dict):
            continue
        if isinstance(new, dict) and old.get("ami") and new.get("ami") not in (None, old["ami"]):
            before.add(str(old["ami"]))
    return pin, sorted(before)


def any_changes(envs: list[Environment]) -> bool:
    """Whether any planned environment would change anything (Environment.has_changes)."""
    return any(e.has_changes for e in envs if e.state == "planned")


class InputError(Exception):
    """An input file that cannot be read or is not what it should be."""


def _kind(actions: list[str], rc: dict[str, Any]) -> str | None:
    if actions in (["delete", "create"], ["create", "delete"]):
        return "replace"
    if actions in (["create"], ["delete"], ["update"], ["read"], ["forget"]):
        return actions[0]
    if actions == ["no-op"] or not actions:
        if (rc.get("change") or {}).get("importing"):
            return "import"
        if rc.get("previous_address") and rc.get("previous_address") != rc.get("address"):
            return "move"
        return None
    return "update"


def natural_key(text: str) -> tuple[object, ...]:
    """Sort key that puts `n2` before `n10` (count indexes, numbered names)."""
    return tuple(int(part) if part.isdigit() else part for part in _DIGITS.split(text))


_DIGITS = re.compile(r"(\d+)")


class PlanReader:
    """Reads plan JSON into Environments; masks every value on the way."""

    def __init__(self, secrets: Secrets) -> None:
        self.secrets = secrets
        self.values = ValueMasker(secrets)

    def environment(self, name: str, source: str, plan: dict[str, Any]) -> Environment:
        env = Environment(name=name, state="planned", source=source)
        env.terraform_version = str(plan.get("terraform_version") or "")
        env.timestamp = str(plan.get("timestamp") or "")
        env.errored = bool(plan.get("errored"))
        env.incomplete = plan.get("complete") is False
        for rc in plan.get("resource_changes") or []:
            change = self._change(rc)
            if change is not None:
                env.changes.append(change)
        env.changes.sort(
            key=lambda c: (KINDS.index(c.kind), natural_key(c.module), natural_key(c.address))
        )
        for rc in plan.get("resource_drift") or []:
            drift = self._drift(rc)
            if drift is not None:
                env.drift.append(drift)
        for out_name, out in sorted((plan.get("output_changes") or {}).items()):
            kind = _kind(out.get("actions") or [], {})
            if kind is None:
                continue
            if out.get("before_sensitive") or out.get("after_sensitive"):
                value = SENSITIVE
            elif out.get("after_unknown") is True:
                value = KNOWN_AFTER_APPLY
            elif kind == "delete":
                value = "removed"
            else:
                value = self.values.show(out.get("after"), (out_name,), False) or "(not shown)"
            env.outputs.append(OutputChange(out_name, kind, value))
        managed_before = sum(
            1
            for res in module_resources(
                get_path(plan, "prior_state", "values", "root_module") or {}
            )
            if res.get("mode") == "managed"
        )
        deletes = env.count("delete")
        env.destroys_everything = (
            deletes > 0 and deletes == len(env.changes) and deletes >= managed_before
        )
        for check in plan.get("checks") or []:
            if check.get("status") in ("fail", "error"):
                label = get_path(check, "address", "to_display") or "a check"
                problems = [
                    p.get("message", "")
                    for inst in check.get("instances") or []
                    for p in inst.get("problems") or []
                ]
                text = f"{label}: {check['status']}" + (
                    f" — {'; '.join(problems)}" if problems else ""
                )
                env.checks.append(self.secrets.redact(text))
        env.ami, env.ami_before = ami_of(plan)
        return env

    def _change(self, rc: dict[str, Any]) -> Change | None:
        change = rc.get("change") or {}
        kind = _kind(change.get("actions") or [], rc)
        if kind is None:
            return None
        address = str(rc.get("address", "?"))
        module = str(rc.get("module_address") or "")
        rtype = str(rc.get("type") or "")
        item = Change(address=address, module=module, kind=kind, type=rtype)
        reason = rc.get("action_reason")
        before = change.get("before") if isinstance(change.get("before"), dict) else {}
        after = change.get("after") if isinstance(change.get("after"), dict) else {}
        if rc.get("previous_address") and rc["previous_address"] != address:
            item.extra.append(f"moved from `{rc['previous_address']}`")
        if change.get("importing"):
            item.extra.append("imported into Terraform")
        if kind == "replace":
            ip = self._public_ip(before, change.get("before_sensitive"))
            item.reasons = replace_reasons(rc, change, ip)
            forced = {fmt_path(tuple(p)) for p in change.get("replace_paths") or []}
            # Everything computed is recomputed on a replacement; what the configuration sets
            # differently is what a reviewer wants to see beside the reason.
            item.attrs = [
                a
                for a in self.values.diff(change, skip=forced, computed=False)
                if not a.unknown and not a.cleared
            ]
            item.identity = self._identity(before, change.get("before_sensitive"), with_id=True)
        elif kind == "delete":
            ip = self._public_ip(before, change.get("before_sensitive"))
            item.reasons = delete_reasons(rtype, reason, ip)
            item.identity = self._identity(before, change.get("before_sensitive"), with_id=True)
        elif kind == "create":
            item.identity = self._identity(after, change.get("after_sensitive"), with_id=False)
        elif kind == "update":
            item.attrs = self.values.diff(change)
        elif kind == "read":
            item.reasons = read_reasons(reason)
        return item

    def _drift(self, rc: dict[str, Any]) -> Change | None:
        change = rc.get("change") or {}
        actions = change.get("actions") or []
        if actions in (["no-op"], []):
            return None
        item = Change(
            address=str(rc.get("address", "?")),
            module=str(rc.get("module_address") or ""),
            kind="delete" if actions == ["delete"] else "update",
            type=str(rc.get("type") or ""),
        )
        if item.kind == "update":
            item.attrs = self.values.diff(change)
        return item

    def _identity(self, values: dict[str, Any], sens: object, with_id: bool) -> list[str]:
        keys = ("id", *IDENTITY) if with_id else IDENTITY
        shown = []
        for key in keys:
            if key in values and values[key] not in (None, ""):
                text = self.values.show(values[key], (key,), mask_at(sens, key))
                if text is not None:
                    shown.append(f"{key} = {text}")
            if len(shown) == 3:
                break
        return shown

    def _public_ip(self, values: dict[str, Any], sens: object) -> str:
        """The public IP of an instance being destroyed, when there is one to show."""
        shown = self.values.show(
            values.get("public_ip"), ("public_ip",), mask_at(sens, "public_ip")
        )
        if not shown or not shown.startswith('"') or shown == '""':
            return ""
        return shown.strip('"')


def read_plan(path: Path) -> tuple[dict[str, Any], str]:
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read plan {path}: {exc}") from exc
    try:
        plan = json.loads(raw)
    except ValueError as exc:
        raise InputError(
            f"{path} is not valid JSON ({exc}); pass what `terraform show -json PLANFILE` prints"
        ) from exc
    if not isinstance(plan, dict) or "format_version" not in plan:
        raise InputError(f"{path} is not a Terraform plan: `terraform show -json PLANFILE` output")
    if "resource_changes" not in plan and "planned_values" not in plan:
        raise InputError(
            f"{path} looks like Terraform state, not a plan: run `terraform show -json PLANFILE`"
        )
    return plan, raw


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"cannot read failed-plan output {path}: {exc}") from exc


def build(
    plans: list[tuple[str, Path]],
    failed: list[tuple[str, Path]],
    skipped: list[tuple[str, str]],
    order: list[str] | None = None,
    models: list[tuple[str, Path]] | None = None,
) -> list[Environment]:
    """Environments from the files given, in order; secrets gathered from all plans first.
    `models` are redacted models (`read_model`), taken as they are."""
    secrets = Secrets()
    loaded = []
    for name, path in plans:
        plan, raw = read_plan(path)
        collect_secrets(plan, raw, secrets)
        loaded.append((name, path, plan))
    reader = PlanReader(secrets)
    envs: dict[str, Environment] = {}
    for name, path, plan in loaded:
        envs[name] = reader.environment(name, path.name, plan)
        envs[name].digest = plan_digest.digest(plan)
        envs[name].cost = cost.for_environment(name, plan)
    for name, path in failed:
        text = read_text(path)
        envs[name] = Environment(
            name=name, state="failed", source=path.name, error_text=secrets.redact(text)
        )
    for name, reason in skipped:
        envs[name] = Environment(name=name, state="skipped", skip_reason=secrets.redact(reason))
    for name, path in models or []:
        envs[name] = replace(read_model(path), name=name)
    names = order or list(envs)
    return [envs[n] for n in names if n in envs]


def plan_has_changes(plan: dict[str, Any]) -> bool:
    """Whether applying this `terraform show -json` plan would change anything (see has_changes)."""
    return PlanReader(Secrets()).environment("", "", plan).has_changes


# --- the redacted model, as a file (`<name>.preview.json`) -----------------------------------

MODEL_FORMAT = "plan-preview-model"
MODEL_VERSION = 1
MODEL_SUFFIX = ".preview.json"


def _side(side: cost.Side) -> dict[str, Any]:
    return {"hourly": side.hourly, "not_priced": dict(side.not_priced), "usage": dict(side.usage)}


def to_json(env: Environment) -> dict[str, Any]:
    """The environment as JSON-ready data: what the preview shows (masked) and the digest."""
    data = asdict(replace(env, cost=None))
    if env.cost is not None:
        data["cost"] = {
            "region": env.cost.region,
            "hours_per_month": env.cost.hours_per_month,
            "before": _side(env.cost.before),
            "after": _side(env.cost.after),
        }
    return {"format": MODEL_FORMAT, "version": MODEL_VERSION, "environment": data}


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(sorted(unknown))}")
    return data


def _change_from(data: dict[str, Any]) -> Change:
    attrs = [AttrChange(**_known(AttrChange, a)) for a in data.get("attrs") or []]
    return Change(**{**_known(Change, data), "attrs": attrs})


def _side_from(data: dict[str, Any]) -> cost.Side:
    not_priced, usage = Counter(data.get("not_priced") or {}), Counter(data.get("usage") or {})
    return cost.Side(float(data["hourly"]), not_priced, usage)


def from_json(data: Any, source: str = "") -> Environment:
    """An Environment from `to_json`'s data; InputError naming `source` when it is not one."""
    try:
        if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a {MODEL_FORMAT} file")
        if data.get("version") != MODEL_VERSION:
            raise ValueError(f"version {data.get('version')!r}, this code reads {MODEL_VERSION}")
        raw = dict(_known(Environment, data["environment"]))
        raw["changes"] = [_change_from(c) for c in raw.get("changes") or []]
        raw["drift"] = [_change_from(c) for c in raw.get("drift") or []]
        raw["outputs"] = [OutputChange(**_known(OutputChange, o)) for o in raw.get("outputs") or []]
        if raw.get("cost") is not None:
            est = raw["cost"]
            raw["cost"] = cost.Estimate(
                est["region"], float(est["hours_per_month"]),
                _side_from(est["before"]), _side_from(est["after"]),
            )  # fmt: skip
        return Environment(**raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{source or 'the model'} is not a redacted plan preview: {exc}") from exc


def read_model(path: Path) -> Environment:
    """The redacted model in `path` (a `<name>.preview.json` a plan job uploaded)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read the redacted preview {path}: {exc}") from exc
    return from_json(data, str(path))
