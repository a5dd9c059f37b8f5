"""Turn `terraform show -json` plans into the Markdown a reviewer reads before approving a deploy.

    gitops plan-preview localstack=plan-localstack.json seoul=plan-seoul.json \\
        [--failed seoul=plan-seoul.stderr.txt] [--skipped seoul="reason"] \\
        [--summary SUMMARY.md] [--full-url URL] > comment.md

- ENV=FILE: the JSON `terraform show -json PLANFILE` printed for that environment.
- --failed ENV=FILE: what a plan that failed wrote (its stderr); shown with secrets redacted.
- --skipped ENV=REASON: an environment that was not planned, and why.
- stdout: the pull request comment. It starts with the hidden marker `<!-- plan-preview -->` (so
  a workflow can find and edit the same comment on every push) and always stays under GitHub's
  65,536-character limit: past it, detail is dropped and then cut, with a line saying where
  the full version is.
- --summary FILE: the long form (every change, every attribute) for the job summary, capped at
  GitHub's 1 MiB; appended when FILE is $GITHUB_STEP_SUMMARY, written otherwise.

Secret values are never printed: only what the renderer means to show reaches the output (no
variables, no prior state), values Terraform marks sensitive (`before_sensitive`,
`after_sensitive`, sensitive outputs and variables) are masked, and so are values of attributes
whose names say secret (password, secret, token, private key, ...) even where the provider did
not mark them, and any value that equals a secret found anywhere in the plans given.

Exit status: 0 when the preview was written (also when it shows a failed plan), 1 when an input
file cannot be read or is not a plan, 2 on bad arguments (e.g. not ENV=FILE).

Standard library only: it runs wherever `python3` does.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops.preview import cost
from gitops.preview import digest as plan_digest

MARKER = "<!-- plan-preview -->"
TITLE = "Terraform plan preview"
GITHUB_COMMENT_LIMIT = 65_536  # characters GitHub accepts in a comment body
# The comment budget is counted in UTF-8 bytes, which are never fewer than characters (however
# GitHub counts them), with headroom for a workflow that adds a line or two.
COMMENT_BUDGET = 64_000
SUMMARY_BUDGET = 1_000_000  # GitHub takes at most 1 MiB of job summary per step

SENSITIVE = "(sensitive)"
KNOWN_AFTER_APPLY = "(known after apply)"
REDACTED = "(redacted)"

EXIT_OK, EXIT_INPUT, EXIT_USAGE = 0, 1, 2

# ---------------------------------------------------------------------------------------------
# Secrets: what counts as one, and how text is scrubbed of them
# ---------------------------------------------------------------------------------------------

_SECRET_WORDS = (
    r"pass(?:word|wd|phrase)|(?<![a-z])pwd(?![a-z])|secret|token|private[_-]?key|api[_-]?key"
    r"|access[_-]?key|credential|signing[_-]?key|session[_-]?key|conn(?:ection)?[_-]?string"
)
SECRET_NAME = re.compile(_SECRET_WORDS, re.IGNORECASE)
# Names that say secret but point at one or describe it (`secret_id`, `password_length`), and
# IMDS's `http_tokens` ("optional"/"required"), which a reviewer needs to see.
NOT_SECRET_NAME = re.compile(
    r"(_ids?|_arns?|_names?|_versions?|_stages?|_types?|_length|_count|_days|_enabled)$"
    r"|^has_|^http_tokens$",
    re.IGNORECASE,
)

# Values that look like credentials whatever their attribute is called.
SECRET_VALUE = re.compile(
    r"(?:AKIA|ASIA)[A-Z0-9]{16}"  # AWS access key ID
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"  # JWT
)
# 40 characters of base64 with upper case, lower case and a digit: an AWS secret access key.
_AWS_SECRET_KEY = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# `name = "value"`, `"name": "value"`, `var.name is "value"` (Terraform quoting a value in a
# diagnostic); unquoted values only after `=` (`password=hunter2`), since `Secrets Manager: X`
# is prose in AWS error messages. Names are matched from their start and bounded, so a long run
# of word characters (a base64 blob in a log) costs linear time, not cubic.
_SECRET_IDENT = r"(?<![\w.\-])[\w.\-]{0,40}?(?:" + _SECRET_WORDS + r")[\w.\-]{0,40}"
_NAMED_QUOTED = re.compile(
    r"(?P<name>" + _SECRET_IDENT + r")(?P<sep>\"?\s*(?:=>|=|:|\bis\b)\s*)"
    r"(?P<val>\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*')",
    re.IGNORECASE,
)
_NAMED_BARE = re.compile(
    r"(?P<name>" + _SECRET_IDENT + r")(?P<sep>\s*=\s*)"
    r"(?P<val>(?![\"'(])[^\s,;}\])]+)",
    re.IGNORECASE,
)
_PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<kind>[A-Z ]*PRIVATE KEY)-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
_URL_PASSWORD = re.compile(
    r"(?P<head>(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,30}://[^:/\s@]{1,200}:)[^@\s/]{1,500}(?=@)",
    re.I,
)
_AUTH_HEADER = re.compile(r"(?P<head>\b(?:authorization|x-amz-security-token)\s*:\s*)\S.*", re.I)
_BEARER = re.compile(r"(?P<head>\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}", re.I)
# Any string under a secret-named key, anywhere in a plan's JSON text (variables, state,
# config). Found from these lower-case anchors with str.find, which is much faster on a plan of
# many megabytes than a case-insensitive alternation.
_SECRET_ANCHORS = (
    "pass", "pwd", "secret", "token", "private", "api", "access", "credential", "signing",
    "session", "conn",
)  # fmt: skip
_JSON_MEMBER_TAIL = re.compile(r'"\s*:\s*"((?:[^"\\]|\\.)*)"')
MIN_SECRET_LEN = 6  # shorter known values ("test") would redact half of any text


@functools.lru_cache(maxsize=8192)
def _secret_str(name: str) -> bool:
    return SECRET_NAME.search(name) is not None and NOT_SECRET_NAME.search(name) is None


def is_secret_name(name: object) -> bool:
    return isinstance(name, str) and _secret_str(name)


@functools.lru_cache(maxsize=8192)
def is_secret_path(path: tuple[object, ...]) -> bool:
    return any(is_secret_name(part) for part in path)


def secret_members(raw: str) -> Iterator[str]:
    """String values of JSON members whose key says secret, found in the raw JSON text."""
    low = raw.lower()
    seen: set[int] = set()
    for anchor in _SECRET_ANCHORS:
        at = low.find(anchor)
        while at != -1:
            start = raw.rfind('"', 0, at)
            end = raw.find('"', at)
            at = low.find(anchor, at + 1)
            if start == -1 or end == -1 or start in seen or raw[start - 1] == "\\":
                continue
            seen.add(start)
            key = raw[start + 1 : end]
            if "\n" in key or not _secret_str(key):
                continue
            member = _JSON_MEMBER_TAIL.match(raw, end)
            if member is None:
                continue
            try:
                yield json.loads(f'"{member.group(1)}"')
            except ValueError:
                yield member.group(1)


def looks_secret(value: str) -> bool:
    if SECRET_VALUE.search(value):
        return True
    for match in _AWS_SECRET_KEY.finditer(value):
        token = match.group(0)
        if (
            any(c.isupper() for c in token)
            and any(c.islower() for c in token)
            and any(c.isdigit() for c in token)
        ):
            return True
    return False


class Secrets:
    """Secret values gathered from every plan given, and the scrubbing of free text."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: object) -> None:
        for leaf in _string_leaves(value):
            if len(leaf) >= MIN_SECRET_LEN:
                self.values.add(leaf)
                self._pattern = None
            stripped = leaf.strip()
            if stripped[:1] in "{[":  # a JSON document (secret_string): its members too
                try:
                    inner = json.loads(stripped)
                except ValueError:
                    continue
                if not isinstance(inner, str):
                    self.add(inner)

    def contains_secret(self, text: str) -> bool:
        if looks_secret(text):
            return True
        return bool(self.values) and self._compiled().search(text) is not None

    def _compiled(self) -> re.Pattern[str]:
        if self._pattern is None:
            ordered = sorted(self.values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
        return self._pattern

    def redact(self, text: str) -> str:
        """Text with every known secret value and anything shaped like a secret replaced."""
        text = _ANSI.sub("", text)
        if self.values:
            text = self._compiled().sub(REDACTED, text)
        text = _PEM_BLOCK.sub(lambda m: f"-----BEGIN {m['kind']}----- {REDACTED}", text)
        text = _NAMED_QUOTED.sub(lambda m: f'{m["name"]}{m["sep"]}"{REDACTED}"', text)
        text = _NAMED_BARE.sub(lambda m: f"{m['name']}{m['sep']}{REDACTED}", text)
        text = _URL_PASSWORD.sub(lambda m: m["head"] + REDACTED, text)
        text = _AUTH_HEADER.sub(lambda m: m["head"] + REDACTED, text)
        text = _BEARER.sub(lambda m: m["head"] + REDACTED, text)
        text = SECRET_VALUE.sub(REDACTED, text)
        return _AWS_SECRET_KEY.sub(
            lambda m: REDACTED if looks_secret(m.group(0)) else m.group(0), text
        )


def _string_leaves(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _string_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _string_leaves(item)


def _masked_leaves(value: object, mask: object) -> Iterator[object]:
    """The parts of value that a Terraform sensitivity mask marks true."""
    if mask is True:
        yield value
    elif isinstance(mask, dict) and isinstance(value, dict):
        for key, sub in mask.items():
            if sub and key in value:
                yield from _masked_leaves(value[key], sub)
    elif isinstance(mask, list) and isinstance(value, list):
        for item, sub in zip(value, mask, strict=False):
            if sub:
                yield from _masked_leaves(item, sub)


def collect_secrets(plan: dict[str, Any], raw_text: str, secrets: Secrets) -> None:
    """Add every secret value a plan carries in clear text to secrets."""
    for value in secret_members(raw_text):
        if _worth_redacting(value):
            secrets.add(value)
    config_vars = _get(plan, "configuration", "root_module", "variables") or {}
    for name, var in (plan.get("variables") or {}).items():
        declared = config_vars.get(name) or {}
        value = (var or {}).get("value")
        if declared.get("sensitive") or (is_secret_name(name) and _worth_redacting(value)):
            secrets.add(value)
    for out in (plan.get("output_changes") or {}).values():
        secrets.add(list(_masked_leaves(out.get("before"), out.get("before_sensitive"))))
        secrets.add(list(_masked_leaves(out.get("after"), out.get("after_sensitive"))))
    for section in ("planned_values", "prior_state"):
        values = plan.get(section) or {}
        if section == "prior_state":
            values = values.get("values") or {}
        for out in (values.get("outputs") or {}).values():
            if out.get("sensitive"):
                secrets.add(out.get("value"))
        for res in _module_resources(values.get("root_module") or {}):
            secrets.add(list(_masked_leaves(res.get("values"), res.get("sensitive_values"))))
    for value in _config_constants(plan.get("configuration")):
        if _worth_redacting(value):
            secrets.add(value)
    for key in ("resource_changes", "resource_drift"):
        for rc in plan.get(key) or []:
            change = rc.get("change") or {}
            secrets.add(list(_masked_leaves(change.get("before"), change.get("before_sensitive"))))
            secrets.add(list(_masked_leaves(change.get("after"), change.get("after_sensitive"))))


_PLAIN_WORD = re.compile(r"[a-z]{1,12}|arn:.*|[0-9.]+", re.DOTALL)


def _worth_redacting(value: object) -> bool:
    """Whether a value found only by its name is worth scrubbing from all text.

    A value Terraform marks sensitive is always taken; one found by a secret-sounding name is
    taken unless it is a plain word, an ARN or a number (an enum like "optional", a reference),
    which would otherwise be scrubbed from every error message.
    """
    return isinstance(value, str) and not _PLAIN_WORD.fullmatch(value)


def _config_constants(node: object, secret: bool = False) -> Iterator[object]:
    """Literal values the configuration gives to secret-named arguments (provider blocks too)."""
    if isinstance(node, dict):
        if secret and "constant_value" in node:
            yield node["constant_value"]
        for key, value in node.items():
            if isinstance(value, dict | list):
                yield from _config_constants(value, secret or is_secret_name(key))
    elif isinstance(node, list):
        for item in node:
            yield from _config_constants(item, secret)


def _module_resources(module: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from module.get("resources") or []
    for child in module.get("child_modules") or []:
        yield from _module_resources(child)


def _get(data: object, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


# ---------------------------------------------------------------------------------------------
# The model: what a plan says, in the terms a reviewer reads
# ---------------------------------------------------------------------------------------------

# Order in which changes are listed: what cannot be undone first.
KINDS = ("delete", "replace", "create", "update", "import", "move", "forget", "read")
ICON = {
    "delete": "🔴",
    "replace": "♻️",
    "create": "➕",
    "update": "🔧",
    "import": "📥",
    "move": "🚚",
    "forget": "👋",
    "read": "📖",
}
VERB = {
    "delete": "destroy",
    "replace": "replace",
    "create": "create",
    "update": "update in place",
    "import": "import",
    "move": "move",
    "forget": "forget (stays in AWS)",
    "read": "read",
}
DESTRUCTIVE = ("delete", "replace")

# Attributes shown for a created or destroyed object so a reviewer can tell which one it is.
IDENTITY = ("name", "bucket", "identifier", "cidr_block", "instance_type", "engine", "type")
# Values never shown, whatever they hold: scripts and documents carry secrets as often as not.
NEVER_SHOW = re.compile(
    r"^(user_data(_base64)?|.*_json|policy|.*_policy|.*document|(.*_)?script|.*body)$"
)
# Types whose destruction loses data, not only a running thing.
HOLDS_DATA = {
    "aws_db_instance": "the database and its data (unless a final snapshot is taken)",
    "aws_rds_cluster": "the cluster and its data (unless a final snapshot is taken)",
    "aws_s3_bucket": "the bucket and every object in it",
    "aws_dynamodb_table": "the table and its items",
    "aws_ebs_volume": "the volume and its data",
    "aws_efs_file_system": "the file system and its files",
    "aws_secretsmanager_secret": "the secret (after its recovery window)",
    "aws_ssm_parameter": "the parameter and its value",
    "aws_kms_key": "the key (data encrypted with it becomes unreadable after the waiting period)",
}
REPLACE_BECAUSE = {
    "replace_because_tainted": "it is tainted (an earlier apply failed part-way, or it was "
    "marked with `terraform taint`)",
    "replace_by_request": "someone asked for it (`terraform plan -replace`)",
    "replace_by_triggers": "`replace_triggered_by` fired: something it depends on changed",
}
DELETE_BECAUSE = {
    "delete_because_no_resource_config": "its block was removed from the configuration",
    "delete_because_no_module": "its module was removed from the configuration",
    "delete_because_wrong_repetition": "`count`/`for_each` changed shape",
    "delete_because_count_index": "`count` went down and this index is gone",
    "delete_because_each_key": "its `for_each` key is gone",
    "delete_because_no_move_target": "its `moved` block points nowhere",
}
READ_BECAUSE = {
    "read_because_config_unknown": "its arguments are only known during apply",
    "read_because_dependency_pending": "it depends on changes that are still to happen",
    "read_because_check_nested": "a `check` block reads it",
}


@dataclass
class AttrChange:
    path: str
    before: str | None  # display text, already masked; None: not shown
    after: str | None
    note: str = ""  # "sensitive", "added", "removed", "unknown", "hidden"
    unknown: bool = False  # the new value is only known after apply
    cleared: bool = False  # the new value is null or empty: a computed attribute, not config


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


@functools.lru_cache(maxsize=8192)
def _fmt_path(path: tuple[object, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


def _sub(mask: object, key: object) -> object:
    if mask is True:
        return True
    if isinstance(mask, dict):
        return mask.get(key, False)
    if isinstance(mask, list) and isinstance(key, int) and 0 <= key < len(mask):
        return mask[key]
    return False


MAX_VALUE_LEN = 60
MAX_DEPTH = 4  # attribute paths are followed this deep (`metadata_options[0].http_tokens`)
MAX_LIST = 20  # longer lists are compared whole


class Renderer:
    """Turns plan JSON into Environments; masks every value on the way."""

    def __init__(self, secrets: Secrets) -> None:
        self.secrets = secrets
        self._quoted: dict[str, str | None] = {}  # string value -> display (values repeat)
        self._computed = True

    # -- values --------------------------------------------------------------------------------

    def show(self, value: object, path: tuple[object, ...], sensitive: object) -> str | None:
        """A value as a reviewer may see it, SENSITIVE, or None when it is not shown at all."""
        if sensitive is True:
            return SENSITIVE
        if is_secret_path(path) and not isinstance(value, bool) and value is not None:
            return SENSITIVE
        last = path[-1] if path else ""
        if isinstance(last, str) and NEVER_SHOW.match(last):
            return None
        if value is None:
            return "null"
        if isinstance(value, bool | int | float):
            return json.dumps(value)
        if isinstance(value, str):
            if len(value) > MAX_VALUE_LEN or "\n" in value or "\r" in value:
                return None
            shown = self._quoted.get(value, "")
            if shown == "":
                if self.secrets.contains_secret(value):
                    shown = SENSITIVE
                else:
                    shown = json.dumps(value, ensure_ascii=False)
                self._quoted[value] = shown
            return shown
        if isinstance(value, list | dict) and not value:
            return "[]" if isinstance(value, list) else "{}"
        if isinstance(value, list):
            return f"({_plural(len(value), 'item')})"
        return None

    # -- attribute differences -----------------------------------------------------------------

    def diff(
        self, change: dict[str, Any], skip: set[str] | None = None, computed: bool = True
    ) -> list[AttrChange]:
        """Changed attributes; computed=False leaves out what apply computes (unknown/cleared)."""
        out: list[AttrChange] = []
        self._computed = computed
        self._diff(
            change.get("before"),
            change.get("after"),
            change.get("before_sensitive"),
            change.get("after_sensitive"),
            change.get("after_unknown"),
            (),
            out,
        )
        changed = {a.path.split(".")[0].split("[")[0] for a in out}
        if "tags" in changed:  # tags_all repeats tags plus provider default_tags
            out = [a for a in out if not a.path.startswith("tags_all")]
        if skip:
            out = [a for a in out if a.path not in skip]
        # Values that change first, then what only becomes known during apply.
        out.sort(key=lambda a: a.note == "unknown")
        return out

    def _diff(
        self,
        before: object,
        after: object,
        bsens: object,
        asens: object,
        unknown: object,
        path: tuple[object, ...],
        out: list[AttrChange],
    ) -> None:
        if not self._computed and (unknown is True or (after is None and before is not None)):
            return
        secret = (
            bsens is True
            or asens is True
            or (bool(path) and is_secret_name(path[-1]) and not _flags(before, after))
        )
        if secret:
            if unknown is True or before != after or _has_true(unknown):
                out.append(
                    AttrChange(
                        _fmt_path(path),
                        SENSITIVE,
                        SENSITIVE,
                        "sensitive",
                        unknown=_has_true(unknown),
                        cleared=_empty(after),
                    )
                )
            return
        if unknown is True:
            shown = self.show(before, path, bsens)
            out.append(AttrChange(_fmt_path(path), shown, KNOWN_AFTER_APPLY, "unknown", True))
            return
        if isinstance(before, dict) and isinstance(after, dict) and len(path) < MAX_DEPTH:
            keys = list(before) + [k for k in after if k not in before]
            if isinstance(unknown, dict):
                keys += [k for k in unknown if k not in before and k not in after]
            for key in keys:
                b, a, u = before.get(key), after.get(key), _sub(unknown, key)
                if b == a and not u:
                    continue
                sub_path = (*path, key)
                if b is None and a is None and u is not True:
                    continue
                if key not in after and u is not True and path:
                    out.append(
                        AttrChange(
                            _fmt_path(sub_path),
                            self.show(b, sub_path, _sub(bsens, key)),
                            None,
                            "removed",
                        )
                    )
                    continue
                if key not in before and path:
                    out.append(
                        AttrChange(
                            _fmt_path(sub_path),
                            None,
                            self.show(a, sub_path, _sub(asens, key)),
                            "added",
                        )
                    )
                    continue
                self._diff(b, a, _sub(bsens, key), _sub(asens, key), u, sub_path, out)
            return
        if (
            isinstance(before, list)
            and isinstance(after, list)
            and len(before) == len(after) <= MAX_LIST
            and len(path) < MAX_DEPTH
        ):  # nested blocks and lists, element by element
            for index, (b, a) in enumerate(zip(before, after, strict=True)):
                u = _sub(unknown, index)
                if b != a or u:
                    sub = (*path, index)
                    self._diff(b, a, _sub(bsens, index), _sub(asens, index), u, sub, out)
            return
        if before == after and not _has_true(unknown):
            return
        unknown_inside = _has_true(unknown)
        cleared = _empty(after)
        if _has_true(bsens) or _has_true(asens):
            out.append(
                AttrChange(
                    _fmt_path(path),
                    SENSITIVE,
                    SENSITIVE,
                    "sensitive",
                    unknown=unknown_inside,
                    cleared=cleared,
                )
            )
            return
        shown_b, shown_a = self.show(before, path, bsens), self.show(after, path, asens)
        if shown_b is None or shown_a is None:
            out.append(AttrChange(_fmt_path(path), None, None, "hidden", unknown_inside, cleared))
        else:
            out.append(AttrChange(_fmt_path(path), shown_b, shown_a, "", unknown_inside, cleared))

    # -- one plan ------------------------------------------------------------------------------

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
                value = self.show(out.get("after"), (out_name,), False) or "(not shown)"
            env.outputs.append(OutputChange(out_name, kind, value))
        managed_before = sum(
            1
            for res in _module_resources(_get(plan, "prior_state", "values", "root_module") or {})
            if res.get("mode") == "managed"
        )
        deletes = env.count("delete")
        env.destroys_everything = (
            deletes > 0 and deletes == len(env.changes) and deletes >= managed_before
        )
        for check in plan.get("checks") or []:
            if check.get("status") in ("fail", "error"):
                label = _get(check, "address", "to_display") or "a check"
                problems = [
                    p.get("message", "")
                    for inst in check.get("instances") or []
                    for p in inst.get("problems") or []
                ]
                text = f"{label}: {check['status']}" + (
                    f" — {'; '.join(problems)}" if problems else ""
                )
                env.checks.append(self.secrets.redact(text))
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
            item.reasons = self._replace_reasons(rc, change, ip)
            forced = {_fmt_path(tuple(p)) for p in change.get("replace_paths") or []}
            # Everything computed is recomputed on a replacement; what the configuration sets
            # differently is what a reviewer wants to see beside the reason.
            item.attrs = [
                a
                for a in self.diff(change, skip=forced, computed=False)
                if not a.unknown and not a.cleared
            ]
            item.identity = self._identity(before, change.get("before_sensitive"), with_id=True)
        elif kind == "delete":
            why = DELETE_BECAUSE.get(str(reason), "")
            item.reasons = [why] if why else []
            loses = HOLDS_DATA.get(rtype)
            if loses:
                item.reasons.append(f"destroying it deletes {loses}")
            ip = self._public_ip(before, change.get("before_sensitive"))
            if ip:
                item.reasons.append(f"its public IP {ip} is released")
            item.identity = self._identity(before, change.get("before_sensitive"), with_id=True)
        elif kind == "create":
            item.identity = self._identity(after, change.get("after_sensitive"), with_id=False)
        elif kind == "update":
            item.attrs = self.diff(change)
        elif kind == "read":
            why = READ_BECAUSE.get(str(reason), "")
            item.reasons = [f"read during apply: {why}"] if why else []
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
            item.attrs = self.diff(change)
        return item

    def _identity(self, values: dict[str, Any], sens: object, with_id: bool) -> list[str]:
        keys = ("id", *IDENTITY) if with_id else IDENTITY
        shown = []
        for key in keys:
            if key in values and values[key] not in (None, ""):
                text = self.show(values[key], (key,), _sub(sens, key))
                if text is not None:
                    shown.append(f"{key} = {text}")
            if len(shown) == 3:
                break
        return shown

    def _public_ip(self, values: dict[str, Any], sens: object) -> str:
        """The public IP of an instance being destroyed, when there is one to show."""
        shown = self.show(values.get("public_ip"), ("public_ip",), _sub(sens, "public_ip"))
        if not shown or not shown.startswith('"') or shown == '""':
            return ""
        return shown.strip('"')

    def _replace_reasons(self, rc: dict[str, Any], change: dict[str, Any], ip: str) -> list[str]:
        rtype = str(rc.get("type") or "")
        reasons: list[str] = []
        why = REPLACE_BECAUSE.get(str(rc.get("action_reason")))
        if why:
            reasons.append(why)
        for path in change.get("replace_paths") or []:
            reasons.append(explain_replace_path(rtype, path))
        if not reasons:
            reasons.append("the provider cannot change it in place")
        if change.get("actions") == ["create", "delete"]:
            reasons.append(
                "order: the new one is created first, then the old one destroyed "
                "(`create_before_destroy`)"
            )
        else:
            reasons.append(
                "order: the old one is destroyed first, then the new one created (a short gap)"
            )
        if rtype == "aws_instance":
            reasons.append(
                "it comes back with a new instance ID and a new public IP"
                + (f" (now {ip})" if ip else "")
                + ": update anything that points at the old address"
            )
        loses = HOLDS_DATA.get(rtype)
        if loses:
            reasons.append(f"replacing it deletes {loses}")
        return reasons


def explain_replace_path(rtype: str, path: list[object]) -> str:
    """Why changing this attribute path replaces the resource, in words a reviewer reads."""
    text = _fmt_path(tuple(path))
    attr = str(path[0]) if path else ""
    if rtype == "aws_instance" and attr in ("user_data", "user_data_base64"):
        return (
            f"`{text}` (its boot script) changed, and `user_data_replace_on_change = true` "
            "replaces the instance so the new script runs on a fresh boot: expected when "
            "the script changes"
        )
    if attr == "ami":
        return f"`{text}` changed: an instance cannot switch to another image in place"
    if attr in ("subnet_id", "availability_zone"):
        return f"`{text}` changed: it moves to another subnet or availability zone"
    if attr == "vpc_id":
        return f"`{text}` changed: it moves to another VPC"
    if attr in ("cidr_block", "ipv6_cidr_block"):
        return f"`{text}` changed: AWS cannot change its address range in place"
    if attr in ("name", "name_prefix", "bucket", "identifier", "family"):
        return f"`{text}` changed: AWS cannot rename it, so it is re-created under the new name"
    if attr in ("key_name", "private_ip", "associate_public_ip_address"):
        return f"`{text}` changed: it is only set when the instance is launched"
    if attr in ("kms_key_id", "encrypted", "storage_encrypted"):
        return f"`{text}` changed: encryption is chosen at creation only"
    return f"`{text}` changed, and it cannot be changed in place"


def _flags(*values: object) -> bool:
    """True when every value is a bool or null: a switch, never a secret."""
    return all(v is None or isinstance(v, bool) for v in values)


def _empty(value: object) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _has_true(mask: object) -> bool:
    if mask is True:
        return True
    if isinstance(mask, dict):
        return any(_has_true(v) for v in mask.values())
    if isinstance(mask, list):
        return any(_has_true(v) for v in mask)
    return False


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#!])")


def md_text(text: str) -> str:
    """Plain text that Markdown shows as is, on one line (safe in a table cell)."""
    text = str(text)
    lead = " " if text[:1].isspace() else ""
    trail = " " if text[-1:].isspace() and text.strip() else ""
    return lead + _MD_SPECIAL.sub(r"\\\1", " ".join(text.split())) + trail


def code(text: str, cell: bool = False) -> str:
    """An inline code span that survives backticks (and pipes, inside a table)."""
    text = " ".join(str(text).split())
    if "`" not in text:
        if cell:
            text = text.replace("|", "\\|")
        return f"`{text}`"
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    if cell:
        text = text.replace("|", "\\|")
    return f"{fence}{pad}{text}{pad}{fence}"


def inline(text: str, cell: bool = False) -> str:
    """Text written with `backticks` for names: each part escaped for what it is."""
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) >= 2:
            out.append(code(part[1:-1], cell))
        else:
            out.append(md_text(part) if part else "")
    return "".join(out)


def fenced(text: str) -> list[str]:
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    fence = "`" * (longest + 1)
    return [f"{fence}text", *text.splitlines(), fence]


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


@dataclass
class Style:
    """How much detail a rendering carries."""

    long: bool  # the job summary: everything, tables open
    detail_tables: bool = True
    max_attrs: int = 6
    max_destructive: int = 10_000
    max_error_bytes: int = 12_000


def render_attr(attr: AttrChange, cell: bool) -> str:
    path = code(attr.path, cell)
    if attr.note == "sensitive":
        return f"{path} {SENSITIVE}"
    if attr.note == "hidden":
        return f"{path} changed (value not shown)"
    if attr.note == "added":
        return f"{path} added" + (f": {_value(attr.after, cell)}" if attr.after else "")
    if attr.note == "removed":
        return f"{path} removed" + (f" (was {_value(attr.before, cell)})" if attr.before else "")
    return f"{path}: {_value(attr.before, cell)} → {_value(attr.after, cell)}"


def _value(shown: str | None, cell: bool) -> str:
    if shown is None:
        return "(not shown)"
    if shown in (SENSITIVE, KNOWN_AFTER_APPLY):
        return shown
    return code(shown, cell)


def change_detail(change: Change, style: Style, cell: bool) -> str:
    parts: list[str] = []
    if change.kind in DESTRUCTIVE and change.reasons and cell:
        parts.append(inline(change.reasons[0], cell))
    if change.identity and change.kind in ("create", "delete", "replace"):
        parts.append(", ".join(code(i, cell) for i in change.identity))
    parts += [inline(e, cell) for e in change.extra]
    if change.attrs:
        shown = [render_attr(a, cell) for a in change.attrs[: style.max_attrs]]
        more = len(change.attrs) - len(shown)
        if more > 0:
            shown.append(f"+{more} more")
        parts.append(("; " if not cell else "<br>").join(shown))
    if change.kind == "read" and change.reasons:
        parts.append(inline(change.reasons[0], cell))
    return "<br>".join(p for p in parts if p) if cell else "; ".join(p for p in parts if p)


def headline(env: Environment) -> str:
    counts = [
        (env.count("create"), "to add"),
        (env.count("update"), "to change"),
        (env.count("replace"), "to replace"),
        (env.count("delete"), "to destroy"),
    ]
    text = ", ".join(f"{n} {what}" for n, what in counts)
    others = [
        (env.count("import"), "to import"),
        (env.count("move"), "moved"),
        (env.count("forget"), "to forget"),
    ]
    return text + "".join(f", {n} {what}" for n, what in others if n)


def summary_table(envs: list[Environment]) -> list[str]:
    lines = [
        "| Environment | Result | ➕ Add | 🔧 Change | ♻️ Replace | 🔴 Destroy |",
        "|:--|:--|--:|--:|--:|--:|",
    ]
    for env in envs:
        if env.state == "failed":
            result, nums = "❌ **plan failed**", ["–"] * 4
        elif env.state == "skipped":
            result, nums = "⏭️ skipped", ["–"] * 4
        else:
            nums = [str(env.count(k)) for k in ("create", "update", "replace", "delete")]
            destructive = env.count("replace") + env.count("delete")
            if env.destroys_everything:
                result = "🔴 **destroys everything**"
            elif destructive:
                result = f"⚠️ **{_plural(destructive, 'destructive change')}**"
            elif env.has_changes:
                result = "changes"
            else:
                result = "✅ no changes"
            if env.errored:
                result += " (plan errored: incomplete)"
            kinds = ("create", "update", "replace", "delete")
            nums = [
                f"**{n}**" if k in DESTRUCTIVE and n != "0" else n
                for k, n in zip(kinds, nums, strict=True)
            ]
        lines.append(f"| {code(env.name, True)} | {result} | " + " | ".join(nums) + " |")
    return lines


HOW_TO_READ = (
    "<sub>**How to read this:** 🔴 destroy and ♻️ replace (destroyed, then created again) come "
    "first in every environment, each with the reason; ➕ create, 🔧 update in place. "
    "Secret values are never shown.</sub>"
)


def render_environment(env: Environment, style: Style, full_where: str) -> list[str]:
    lines: list[str] = []
    if env.state == "skipped":
        lines += [f"### {code(env.name)}: skipped", ""]
        lines += [f"⏭️ **Skipped**, not planned: {md_text(env.skip_reason) or 'no reason given'}"]
        return lines
    if env.state == "failed":
        lines += [f"### {code(env.name)}: ❌ plan failed", ""]
        lines += render_failure(env, style)
        return lines

    destructive = [c for c in env.changes if c.kind in DESTRUCTIVE]
    title = headline(env) if env.has_changes else "no changes"
    lines += [f"### {code(env.name)}: {title}", ""]
    meta = []
    if env.terraform_version:
        meta.append(f"Terraform {md_text(env.terraform_version)}")
    if env.timestamp:
        meta.append(f"planned {md_text(env.timestamp)}")
    if env.source:
        meta.append(code(env.source))
    if meta:
        lines += ["<sub>" + " · ".join(meta) + "</sub>", ""]
    if env.errored:
        lines += [
            "> [!CAUTION]",
            "> Terraform reports this plan **errored**: the changes below are incomplete.",
            "",
        ]
    elif env.incomplete:
        lines += ["> [!NOTE]", "> Terraform marks this plan incomplete (deferred changes).", ""]

    if env.cost is not None:
        lines += cost.render(env.name, env.cost, changed=env.has_changes)

    if not env.has_changes:
        lines.append(
            "✅ **No changes.** The infrastructure matches the configuration: applying this "
            "plan would change nothing."
        )
        if env.drift:
            lines.append("")
            lines += render_drift(env, style)
        return lines

    tf_add = env.count("create") + env.count("replace")
    tf_destroy = env.count("delete") + env.count("replace")
    if destructive:
        warn = []
        if env.destroys_everything:
            warn.append(
                f"**This plan destroys everything in `{env.name}`** "
                f"({_plural(len(destructive), 'resource')})."
            )
        else:
            if env.count("replace"):
                warn.append(
                    f"**{_plural(env.count('replace'), 'resource')} will be replaced** "
                    "(destroyed and created again)."
                )
            if env.count("delete"):
                warn.append(f"**{_plural(env.count('delete'), 'resource')} will be destroyed.**")
        lines += ["> [!WARNING]", "> " + " ".join(inline_md(w) for w in warn), ""]
        lines += ["**Destroyed or replaced** (read these first):", ""]
        default = (
            "this plan destroys the whole environment (`terraform plan -destroy`)"
            if env.destroys_everything
            else "Terraform plans to destroy it"
        )
        shown = destructive
        if len(destructive) > style.max_destructive:
            # A share of each kind, so replacements are not crowded out by destroys.
            share = style.max_destructive / len(destructive)
            shown = [
                c
                for kind in DESTRUCTIVE
                for c in [d for d in destructive if d.kind == kind][
                    : max(1, round(share * env.count(kind)))
                ]
            ]
        for change in shown:
            lines += render_destructive(change, default)
        if len(destructive) > len(shown):
            lines.append(f"- …and {len(destructive) - len(shown)} more: see {full_where}")
        lines.append("")
    lines.append(
        f"<sub>Terraform's own count: {tf_add} to add, {env.count('update')} to change, "
        f"{tf_destroy} to destroy.</sub>"
    )
    lines.append("")

    if env.changes:
        if style.detail_tables:
            lines += render_tables(env.changes, style)
        else:
            lines += render_module_counts(env.changes, full_where)
    if env.outputs:
        lines += render_outputs(env, style)
    if env.drift:
        lines += render_drift(env, style)
    if env.checks:
        lines += ["**Failed checks:**", ""]
        lines += [f"- {md_text(c)}" for c in env.checks]
        lines.append("")
    while lines and lines[-1] == "":
        lines.pop()
    return lines


def inline_md(text: str) -> str:
    """Text already written as Markdown by this module (bold, code): kept, single line."""
    return " ".join(text.split())


def render_destructive(change: Change, default_reason: str) -> list[str]:
    verb = "**destroyed**" if change.kind == "delete" else "**replaced**"
    head = f"- {ICON[change.kind]} {code(change.address)} {verb}"
    if change.identity:
        head += " (" + ", ".join(code(i) for i in change.identity) + ")"
    lines = [head]
    reasons = change.reasons or [default_reason]
    lines += [f"  - {inline(r)}" for r in reasons]
    for extra in change.extra:
        lines.append(f"  - {inline(extra)}")
    if change.kind == "replace" and change.attrs:
        other = ", ".join(code(a.path) for a in change.attrs[:8])
        more = len(change.attrs) - 8
        lines.append(f"  - also changing: {other}" + (f" (+{more} more)" if more > 0 else ""))
    return lines


def _group_by_module(changes: list[Change]) -> list[tuple[str, list[Change]]]:
    groups: dict[str, list[Change]] = {}
    for change in changes:
        groups.setdefault(change.module, []).append(change)
    # Modules with something destroyed or replaced first, then the root, then by name.
    return sorted(
        groups.items(),
        key=lambda item: (
            not any(c.kind in DESTRUCTIVE for c in item[1]),
            item[0] != "",
            natural_key(item[0]),
        ),
    )


def render_tables(changes: list[Change], style: Style) -> list[str]:
    groups = _group_by_module(changes)
    lines: list[str] = []
    if not style.long:
        lines += [
            "<details>",
            f"<summary>All {_plural(len(changes), 'change')} by module "
            f"({_plural(len(groups), 'module')})</summary>",
            "",
        ]
    else:
        lines += [f"#### All {_plural(len(changes), 'change')} by module", ""]
    for module, items in groups:
        lines += [f"**{code(module) if module else 'root module'}**", ""]
        lines += ["| | Action | Resource | What and why |", "|:-:|:--|:--|:--|"]
        prefix = module + "." if module else ""
        for change in items:
            name = change.address
            if prefix and name.startswith(prefix):
                name = name[len(prefix) :]
            verb = VERB[change.kind]
            if change.kind in DESTRUCTIVE:
                verb = f"**{verb.upper()}**"
            detail = change_detail(change, style, cell=True)
            lines.append(f"| {ICON[change.kind]} | {verb} | {code(name, True)} | {detail} |")
        lines.append("")
    if not style.long:
        lines += ["</details>", ""]
    return lines


def render_module_counts(changes: list[Change], full_where: str) -> list[str]:
    groups = _group_by_module(changes)
    lines = [
        f"Changes by module (the table of every change is in {full_where}):",
        "",
        "| Module | ➕ | 🔧 | ♻️ | 🔴 | other |",
        "|:--|--:|--:|--:|--:|--:|",
    ]
    for module, items in groups:
        counts = {k: 0 for k in KINDS}
        for change in items:
            counts[change.kind] += 1
        other = sum(counts[k] for k in ("import", "move", "forget", "read"))
        nums = [counts["create"], counts["update"], counts["replace"], counts["delete"], other]
        label = code(module, True) if module else "root module"
        lines.append(f"| {label} | " + " | ".join(map(str, nums)) + " |")
    lines.append("")
    return lines


def render_outputs(env: Environment, style: Style) -> list[str]:
    lines = []
    if not style.long:
        lines += ["<details>", f"<summary>Outputs: {_plural(len(env.outputs), 'change')}</summary>"]
    else:
        lines += [f"#### Outputs: {_plural(len(env.outputs), 'change')}"]
    lines += ["", "| | Output | Action | New value |", "|:-:|:--|:--|:--|"]
    for out in env.outputs:
        value = md_text(out.value) if out.value.startswith("(") else code(out.value, True)
        if out.value == "removed":
            value = "–"
        verb = VERB.get(out.kind, out.kind)
        lines.append(f"| {ICON.get(out.kind, '')} | {code(out.name, True)} | {verb} | {value} |")
    lines.append("")
    if not style.long:
        lines += ["</details>", ""]
    return lines


def render_drift(env: Environment, style: Style) -> list[str]:
    title = (
        f"Drift: {_plural(len(env.drift), 'resource')} changed outside Terraform "
        "(this plan accepts or undoes that)"
    )
    lines = []
    if not style.long:
        lines += ["<details>", f"<summary>{title}</summary>", ""]
    else:
        lines += [f"#### {title}", ""]
    for drift in env.drift:
        if drift.kind == "delete":
            lines.append(f"- {code(drift.address)}: deleted outside Terraform")
            continue
        attrs = [render_attr(a, cell=False) for a in drift.attrs[: style.max_attrs]]
        more = len(drift.attrs) - len(attrs)
        if more > 0:
            attrs.append(f"+{more} more")
        lines.append(f"- {code(drift.address)}: " + ("; ".join(attrs) or "changed"))
    lines.append("")
    if not style.long:
        lines += ["</details>", ""]
    return lines


def _error_headlines(text: str) -> list[str]:
    heads = []
    for line in text.splitlines():
        stripped = line.strip().lstrip("│╷╵").strip()
        if stripped.startswith("Error: "):
            heads.append(stripped)
    return heads


def _clip_text(text: str, max_bytes: int) -> str:
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    head = data[: max_bytes * 2 // 3].decode(errors="ignore")
    tail = data[-(max_bytes // 3) :].decode(errors="ignore")
    head = head[: head.rfind("\n") + 1] or head
    tail = tail[tail.find("\n") + 1 :] or tail
    cut = len(data) - len(head.encode()) - len(tail.encode())
    return f"{head}[… {cut} bytes cut here: the full output is in the job's log …]\n{tail}"


def render_failure(env: Environment, style: Style) -> list[str]:
    text = env.error_text.strip("\n")
    lines = [
        f"❌ **The plan failed**, so there is nothing to review for {code(env.name)} yet. "
        "Terraform said:",
        "",
    ]
    heads = _error_headlines(text)
    if text.count("\n") < 40 and not style.long:
        heads = []  # the output itself is shown open: short enough to read whole
    for head in heads[:10]:
        lines.append(f"- {md_text(head)}")
    if len(heads) > 10:
        lines.append(f"- …and {_plural(len(heads) - 10, 'more error')}")
    if heads:
        lines.append("")
    if not text:
        lines.append("_The plan produced no error output._")
        return lines
    shown = _clip_text(text, style.max_error_bytes)
    if style.long or shown.count("\n") < 40:
        lines += fenced(shown)
    else:
        lines += ["<details>", "<summary>Full error output (secrets redacted)</summary>", ""]
        lines += fenced(shown)
        lines += ["", "</details>"]
    return lines


def render(
    envs: list[Environment], style: Style, full_where: str, marker: bool, title: str = TITLE
) -> list[str]:
    lines = [MARKER] if marker else []
    lines += [f"## {title}" + (" (full)" if style.long else ""), ""]
    lines += summary_table(envs)
    lines += ["", HOW_TO_READ, ""]
    for env in envs:
        lines += render_environment(env, style, full_where)
        lines += ["", "---", ""]
    while lines and lines[-1] in ("", "---"):
        lines.pop()
    lines.append("")
    return lines


def cut_to_budget(lines: list[str], budget: int, cut_line: str) -> tuple[str, bool]:
    """The lines joined, cut at a line boundary so that they and the cut line fit the budget.

    Open `<details>` blocks and code fences are closed, so the cut never breaks what follows.
    """
    total = sum(len(line.encode()) + 1 for line in lines)
    if total <= budget:
        return "\n".join(lines), False
    reserve = len(cut_line.encode()) + 64
    kept: list[str] = []
    open_blocks: list[str] = []  # closing lines, innermost last
    fence: str | None = None
    used = 0
    for line in lines:
        size = len(line.encode()) + 1
        closing = sum(len(c.encode()) + 1 for c in open_blocks)
        if used + size + closing + reserve > budget:
            break
        kept.append(line)
        used += size
        if fence is not None:
            if line == fence:
                fence = None
                open_blocks.pop()
            continue
        if line.startswith("```"):
            fence = line.rstrip("abcdefghijklmnopqrstuvwxyz")
            open_blocks.append(fence)
        elif line.startswith("<details"):
            open_blocks.append("</details>")
        elif line == "</details>" and "</details>" in open_blocks:
            open_blocks.remove("</details>")
    if kept and kept[-1].startswith("|"):
        kept.append("")  # end a table before the closers
    for closer in reversed(open_blocks):
        kept += ["", closer] if closer == "</details>" else [closer]
    kept += ["", cut_line, ""]
    return "\n".join(kept), True


def _size(lines: list[str]) -> int:
    return sum(len(line.encode()) + 1 for line in lines)


def build_comment(
    envs: list[Environment], full_where: str, budget: int = COMMENT_BUDGET, title: str = TITLE
) -> str:
    """The pull request comment: full detail if it fits, else compact, else cut.

    Compact drops the per-resource tables for per-module counts and lists as many destroyed
    and replaced resources as fit; what still does not fit is cut, with a line saying where the
    full version is.
    """
    lines = render(envs, Style(long=False), full_where, marker=True, title=title)
    if _size(lines) <= budget:
        return "\n".join(lines)
    note = [
        "> [!NOTE]",
        "> This plan is too long for a comment: the tables of every change are left out here. "
        f"The full version is in {full_where}.",
        "",
    ]
    most = max((sum(c.kind in DESTRUCTIVE for c in e.changes) for e in envs), default=0)
    limits = [n for n in (1000, 300, 100, 30) if n < most] + [10]
    for limit in [most, *limits] if most > 10 else [10]:
        style = Style(
            long=False, detail_tables=False, max_attrs=3, max_destructive=limit,
            max_error_bytes=4_000,
        )  # fmt: skip
        lines = render(envs, style, full_where, marker=True, title=title)
        lines[3:3] = note  # under the title
        if _size(lines) <= budget:
            return "\n".join(lines)
    cut_line = (
        f"✂️ **Cut here to stay under GitHub's {GITHUB_COMMENT_LIMIT:,}-character limit.** "
        f"The full version is in {full_where}."
    )
    text, _ = cut_to_budget(lines, budget, cut_line)
    return text


def build_summary(envs: list[Environment], title: str = TITLE) -> str:
    style = Style(long=True, max_attrs=200, max_destructive=10**9, max_error_bytes=200_000)
    lines = render(envs, style, "", False, title)
    cut_line = (
        "✂️ **Cut here: GitHub keeps at most 1 MiB of job summary.** The plan JSON files are in "
        "this run's artifacts."
    )
    text, _ = cut_to_budget(lines, SUMMARY_BUDGET, cut_line)
    return text


# ---------------------------------------------------------------------------------------------
# Inputs and the command line
# ---------------------------------------------------------------------------------------------

ENV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def parse_pair(spec: str, option: str, empty_ok: bool = False) -> tuple[str, str]:
    """`ENV=VALUE` split at the first `=`; ValueError naming the argument when malformed."""
    name, sep, value = spec.partition("=")
    if not sep or not (value or empty_ok):
        raise ValueError(f"{option}: expected ENV=VALUE, got {spec!r}")
    if not ENV_NAME.fullmatch(name):
        raise ValueError(
            f"{option}: environment name {name!r} in {spec!r} must be letters, digits, '.', '_' "
            "or '-'"
        )
    return name, value


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


def where_full(summary: str | None, url: str | None) -> str:
    place = "this run's job summary" if summary else "the workflow run's job summary and artifacts"
    if url:
        return f"[{place}]({url})"
    return place


def build(
    plans: list[tuple[str, Path]],
    failed: list[tuple[str, Path]],
    skipped: list[tuple[str, str]],
    order: list[str] | None = None,
) -> list[Environment]:
    """Environments from the files given, in order; secrets gathered from all plans first."""
    secrets = Secrets()
    loaded = []
    for name, path in plans:
        plan, raw = read_plan(path)
        collect_secrets(plan, raw, secrets)
        loaded.append((name, path, plan))
    renderer = Renderer(secrets)
    envs: dict[str, Environment] = {}
    for name, path, plan in loaded:
        envs[name] = renderer.environment(name, path.name, plan)
        envs[name].digest = plan_digest.digest(plan)
        envs[name].cost = cost.estimate(plan)
    for name, path in failed:
        text = read_text(path)
        envs[name] = Environment(
            name=name, state="failed", source=path.name, error_text=secrets.redact(text)
        )
    for name, reason in skipped:
        envs[name] = Environment(name=name, state="skipped", skip_reason=secrets.redact(reason))
    names = order or list(envs)
    return [envs[n] for n in names if n in envs]


def plan_has_changes(plan: dict[str, Any]) -> bool:
    """Whether applying this `terraform show -json` plan would change anything (see has_changes)."""
    return Renderer(Secrets()).environment("", "", plan).has_changes


def render_files(
    plans: list[tuple[str, Path]],
    failed: list[tuple[str, Path]],
    skipped: list[tuple[str, str]],
    order: list[str] | None = None,
    *,
    summary: str | None = None,
    append_summary: bool = False,
    full_url: str | None = None,
    title: str = TITLE,
) -> tuple[str, list[Environment]]:
    """The comment for these files, and the environments it shows; the long form to `summary`.

    Raises InputError when an input cannot be read or the summary cannot be written.
    """
    envs = build(plans, failed, skipped, order)
    digests = plan_digest.comment_block({e.name: e.digest for e in envs if e.digest is not None})
    comment = build_comment(
        envs,
        where_full(summary, full_url),
        budget=COMMENT_BUDGET - len(digests.encode()),
        title=title,
    )
    comment = plan_digest.attach(comment, digests)
    if summary:
        text = build_summary(envs, title=title)
        target = Path(summary)
        try:
            with target.open("a" if append_summary else "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise InputError(f"cannot write summary {target}: {exc}") from exc
    return comment, envs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="plan_preview.py",
        description="Render `terraform show -json` plans as the Markdown a reviewer reads.",
        epilog=f"stdout is the PR comment; it starts with {MARKER}. Exit 0 rendered, 1 an input "
        "file unreadable or not a plan, 2 bad arguments.",
    )
    parser.add_argument("plans", nargs="*", metavar="ENV=PLAN.json", help="a plan's JSON")
    parser.add_argument(
        "--failed",
        action="append",
        default=[],
        metavar="ENV=OUTPUT",
        help="captured output (stderr) of a plan that failed",
    )
    parser.add_argument(
        "--skipped",
        action="append",
        default=[],
        metavar="ENV=REASON",
        help="an environment that was not planned, and why",
    )
    parser.add_argument("--summary", metavar="FILE", help="write the long form here")
    parser.add_argument(
        "--full-url", metavar="URL", help="link to where the full version lives (the run)"
    )
    parser.add_argument("--title", default=TITLE, help="heading of the comment")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        plans = [(n, Path(v)) for n, v in (parse_pair(s, "ENV=PLAN.json") for s in args.plans)]
        failed = [(n, Path(v)) for n, v in (parse_pair(s, "--failed") for s in args.failed)]
        skipped = [parse_pair(s, "--skipped", empty_ok=True) for s in args.skipped]
    except ValueError as exc:
        parser.error(str(exc))
    names = [n for n, _ in plans] + [n for n, _ in failed] + [n for n, _ in skipped]
    if not names:
        parser.error("nothing to render: give at least one ENV=PLAN.json, --failed or --skipped")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        parser.error(f"environment given more than once: {', '.join(dupes)}")
    # Environments in the order the command line names them.
    position = {}
    for index, token in enumerate(argv):
        name = token.partition("=")[0]
        if name in names and name not in position:
            position[name] = index
    order = sorted(names, key=lambda n: position.get(n, len(argv)))
    try:
        comment, _ = render_files(
            plans, failed, skipped, order,
            summary=args.summary,
            append_summary=os.environ.get("GITHUB_STEP_SUMMARY") == args.summary,
            full_url=args.full_url, title=args.title,
        )  # fmt: skip
    except InputError as exc:
        print(f"plan_preview: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    sys.stdout.write(comment)
    return EXIT_OK
