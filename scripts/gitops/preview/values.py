"""Plan values as a reviewer may see them, and the attribute differences of one object.

A value is shown only when it is short, single-line and not secret: values Terraform marks
sensitive, values under a secret-sounding name and values that equal a secret found anywhere in
the plans become `(sensitive)`; scripts, policies and documents (NEVER_SHOW) are left out.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from gitops.preview.markdown import plural
from gitops.preview.redact import Secrets, is_secret_name, is_secret_path

SENSITIVE = "(sensitive)"
KNOWN_AFTER_APPLY = "(known after apply)"

# Values never shown, whatever they hold: scripts and documents carry secrets as often as not.
NEVER_SHOW = re.compile(
    r"^(user_data(_base64)?|.*_json|policy|.*_policy|.*document|(.*_)?script|.*body)$"
)


@dataclass
class AttrChange:
    path: str
    before: str | None  # display text, already masked; None: not shown
    after: str | None
    note: str = ""  # "sensitive", "added", "removed", "unknown", "hidden"
    unknown: bool = False  # the new value is only known after apply
    cleared: bool = False  # the new value is null or empty: a computed attribute, not config


@functools.lru_cache(maxsize=8192)
def fmt_path(path: tuple[object, ...]) -> str:
    """An attribute path as Terraform writes it: `metadata_options[0].http_tokens`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


def mask_at(mask: object, key: object) -> object:
    """The part of a sensitivity or unknown mask that covers `key` (True covers everything)."""
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


class ValueMasker:
    """Shows plan values as a reviewer may see them, and diffs an object's attributes with them."""

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
            return f"({plural(len(value), 'item')})"
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
                out.append(_sensitive(path, unknown, after))
            return
        if unknown is True:
            shown = self.show(before, path, bsens)
            out.append(AttrChange(fmt_path(path), shown, KNOWN_AFTER_APPLY, "unknown", True))
            return
        if isinstance(before, dict) and isinstance(after, dict) and len(path) < MAX_DEPTH:
            keys = list(before) + [k for k in after if k not in before]
            if isinstance(unknown, dict):
                keys += [k for k in unknown if k not in before and k not in after]
            for key in keys:
                b, a, u = before.get(key), after.get(key), mask_at(unknown, key)
                if b == a and not u:
                    continue
                sub_path = (*path, key)
                if b is None and a is None and u is not True:
                    continue
                if key not in after and u is not True and path:
                    out.append(
                        AttrChange(
                            fmt_path(sub_path),
                            self.show(b, sub_path, mask_at(bsens, key)),
                            None,
                            "removed",
                        )
                    )
                    continue
                if key not in before and path:
                    out.append(
                        AttrChange(
                            fmt_path(sub_path),
                            None,
                            self.show(a, sub_path, mask_at(asens, key)),
                            "added",
                        )
                    )
                    continue
                self._diff(b, a, mask_at(bsens, key), mask_at(asens, key), u, sub_path, out)
            return
        if (
            isinstance(before, list)
            and isinstance(after, list)
            and len(before) == len(after) <= MAX_LIST
            and len(path) < MAX_DEPTH
        ):  # nested blocks and lists, element by element
            for index, (b, a) in enumerate(zip(before, after, strict=True)):
                u = mask_at(unknown, index)
                if b != a or u:
                    sub = (*path, index)
                    self._diff(b, a, mask_at(bsens, index), mask_at(asens, index), u, sub, out)
            return
        if before == after and not _has_true(unknown):
            return
        if _has_true(bsens) or _has_true(asens):
            out.append(_sensitive(path, unknown, after))
            return
        unknown_inside = _has_true(unknown)
        cleared = _empty(after)
        shown_b, shown_a = self.show(before, path, bsens), self.show(after, path, asens)
        if shown_b is None or shown_a is None:
            out.append(AttrChange(fmt_path(path), None, None, "hidden", unknown_inside, cleared))
        else:
            out.append(AttrChange(fmt_path(path), shown_b, shown_a, "", unknown_inside, cleared))


def _sensitive(path: tuple[object, ...], unknown: object, after: object) -> AttrChange:
    """A change to a sensitive value: that it changes is shown, never what to."""
    return AttrChange(
        fmt_path(path),
        SENSITIVE,
        SENSITIVE,
        "sensitive",
        unknown=_has_true(unknown),
        cleared=_empty(after),
    )


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
