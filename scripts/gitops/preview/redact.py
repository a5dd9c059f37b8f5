"""Secrets in plans: what counts as one, where a plan carries them, and scrubbing text of them.

Secret values are never printed: values Terraform marks sensitive (`before_sensitive`,
`after_sensitive`, sensitive outputs and variables) are gathered from every plan given, as are
values of attributes whose names say secret (password, secret, token, private key, ...) even
where the provider did not mark them; `Secrets.redact` scrubs free text (a failed plan's
output, a check's message, a skip reason) of those values and of anything shaped like a
credential. gitops.github.apply_report redacts the apply's log with the same code.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any

from gitops.preview.planjson import get_path, module_resources

REDACTED = "(redacted)"

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
    config_vars = get_path(plan, "configuration", "root_module", "variables") or {}
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
        for res in module_resources(values.get("root_module") or {}):
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
