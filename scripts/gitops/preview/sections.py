"""One environment's section of the preview, in Markdown.

Its headline and counts, the running cost and the AMI release, then what is destroyed or replaced
(read these first, each with its reasons), the table of every change by module (or, compact, the
counts by module), output changes, drift and failed checks; for a failed plan, Terraform's error
output.
`Style` says how much detail: the comment (collapsed, capped) or the job summary (everything).
"""

from __future__ import annotations

from dataclasses import dataclass

from gitops.preview import cost
from gitops.preview.markdown import code, fenced, inline, inline_md, md_text, plural
from gitops.preview.model import DESTRUCTIVE, KINDS, Change, Environment, natural_key
from gitops.preview.values import KNOWN_AFTER_APPLY, SENSITIVE, AttrChange

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


def render_ami(env: Environment) -> list[str]:
    """Which AMI release the environment runs after the plan (its pin), and what it leaves."""
    pin = env.ami
    if pin is None:
        return []
    release = f"Amazon Linux {pin.release}, " if pin.release else ""
    where = f"{code(pin.id)}, pinned for {md_text(pin.region)}"
    line = f"🖼️ **AMI:** {release}{code(pin.name)} ({where})"
    if env.ami_before:
        line += "; the instances move to it from " + ", ".join(code(a) for a in env.ami_before)
    return [line + ".", ""]


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
    lines += render_ami(env)

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
                f"({plural(len(destructive), 'resource')})."
            )
        else:
            if env.count("replace"):
                warn.append(
                    f"**{plural(env.count('replace'), 'resource')} will be replaced** "
                    "(destroyed and created again)."
                )
            if env.count("delete"):
                warn.append(f"**{plural(env.count('delete'), 'resource')} will be destroyed.**")
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
            f"<summary>All {plural(len(changes), 'change')} by module "
            f"({plural(len(groups), 'module')})</summary>",
            "",
        ]
    else:
        lines += [f"#### All {plural(len(changes), 'change')} by module", ""]
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
        lines += ["<details>", f"<summary>Outputs: {plural(len(env.outputs), 'change')}</summary>"]
    else:
        lines += [f"#### Outputs: {plural(len(env.outputs), 'change')}"]
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
        f"Drift: {plural(len(env.drift), 'resource')} changed outside Terraform "
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
        lines.append(f"- …and {plural(len(heads) - 10, 'more error')}")
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
