"""Markdown that shows text as it is: escaping, inline code, fences, and plurals."""

from __future__ import annotations

import re

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


def inline_md(text: str) -> str:
    """Text already written as Markdown by this package (bold, code): kept, single line."""
    return " ".join(text.split())


def plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"
