"""Write GitHub Actions step outputs and job summaries, safely, from any script.

    set_outputs(environ, ready="true", reason=reason)   # appends to $GITHUB_OUTPUT
    append_summary(environ, "**Deployed**\\n\\n")         # appends to $GITHUB_STEP_SUMMARY

The runner reads $GITHUB_OUTPUT line by line, so `name=value` is only safe for a value without a
line break: in `reason=x\\nready=true` the second line would set an output of its own. A value
that holds a line break is written in GitHub's multi-line form instead,

    name<<ghadelimiter_<32 random hex digits>
    value
    ghadelimiter_<the same digits>

with a fresh delimiter that does not occur in the value; a single-line value keeps the plain
`name=value` line. Output names must be GitHub identifiers (a letter or `_`, then letters,
digits, `_` or `-`); anything else raises ValueError before a byte is written.

When a variable is unset or empty (a run on a laptop), nothing is written, so callers need no
guard of their own. Standard library only.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from pathlib import Path

OUTPUT_VAR = "GITHUB_OUTPUT"
SUMMARY_VAR = "GITHUB_STEP_SUMMARY"
# The login GitHub gives a workflow's GITHUB_TOKEN; what the pipeline writes on pull requests and
# issues carries it. (A GitHub App's token writes as `<app-slug>[bot]` instead.)
BOT_LOGIN = "github-actions[bot]"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _delimiter(value: str) -> str:
    """A random heredoc delimiter that cannot be mistaken for a line of `value`."""
    while True:
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        if delimiter not in value:
            return delimiter


def format_output(name: str, value: str) -> str:
    """The $GITHUB_OUTPUT text that sets output `name` to exactly `value`."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"output name {name!r} is not an identifier (a letter or _, then letters, digits, "
            "_ or -)"
        )
    if not isinstance(value, str):
        raise TypeError(f"output {name} must be a str, not {type(value).__name__}")
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    delimiter = _delimiter(value)
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def _append(path: str, text: str) -> None:
    with Path(path).open("a", encoding="utf-8") as fh:
        fh.write(text)


def set_outputs(environ: Mapping[str, str], **values: str) -> None:
    """Append each `name=value` to $GITHUB_OUTPUT, in the order given, when it is set.

    Every name and value is checked first, so a bad one leaves the file untouched.
    """
    text = "".join(format_output(name, value) for name, value in values.items())
    path = environ.get(OUTPUT_VAR)
    if path and text:
        _append(path, text)


def append_summary(environ: Mapping[str, str], markdown: str) -> None:
    """Append `markdown`, as it is, to $GITHUB_STEP_SUMMARY when it is set."""
    path = environ.get(SUMMARY_VAR)
    if path and markdown:
        _append(path, markdown)
