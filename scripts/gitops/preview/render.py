"""The model as Markdown: the pull request comment within GitHub's size budget, and the summary.

The comment starts with the hidden marker `<!-- plan-preview -->` (so a workflow can find and
edit the same comment on every push) and always stays under GitHub's 65,536-character limit:
past it, detail is dropped (`build_comment` tries full, then compact with fewer destroyed and
replaced resources listed) and then cut at a line boundary, with a line saying where the full
version is. The job summary (`build_summary`) is the long form, capped at GitHub's 1 MiB. Each
environment's section comes from gitops.preview.sections. `render_files` is the library call
both commands make: plan files in, comment out, summary
written.
"""

from __future__ import annotations

from pathlib import Path

from gitops.preview.markdown import code, plural
from gitops.preview.model import DESTRUCTIVE, Environment, InputError, build
from gitops.preview.sections import Style, render_environment

MARKER = "<!-- plan-preview -->"
TITLE = "Terraform plan preview"
GITHUB_COMMENT_LIMIT = 65_536  # characters GitHub accepts in a comment body
# The comment budget is counted in UTF-8 bytes, which are never fewer than characters (however
# GitHub counts them), with headroom for a workflow that adds a line or two.
COMMENT_BUDGET = 64_000
SUMMARY_BUDGET = 1_000_000  # GitHub takes at most 1 MiB of job summary per step


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
                result = f"⚠️ **{plural(destructive, 'destructive change')}**"
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


def where_full(summary: str | None, url: str | None) -> str:
    place = "this run's job summary" if summary else "the workflow run's job summary and artifacts"
    if url:
        return f"[{place}]({url})"
    return place


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
    models: list[tuple[str, Path]] | None = None,
) -> tuple[str, list[Environment]]:
    """The comment for these files (plans, failed plans' output, skip reasons and redacted
    models), and the environments it shows; the long form to `summary`.

    Raises InputError when an input cannot be read or the summary cannot be written.
    """
    envs = build(plans, failed, skipped, order, models)
    comment = build_comment(envs, where_full(summary, full_url), title=title)
    if summary:
        text = build_summary(envs, title=title)
        target = Path(summary)
        try:
            with target.open("a" if append_summary else "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise InputError(f"cannot write summary {target}: {exc}") from exc
    return comment, envs
