"""Run one command, stream its output, and record what it did in the GitHub job summary.

    python3 scripts/run_logged.py --title "Destroy (seoul)" [--highlight REGEX]
        [--status 0=clean --status 2=drift] -- make destroy ENV=seoul

- The command's stdout and stderr are streamed to the console as they come (the live log).
- $GITHUB_STEP_SUMMARY gets a section: the title, the result, the output lines matching
  --highlight as a list (for a destroy: every "Destruction complete" line, i.e. what was
  destroyed), and the tail of the output in a collapsed block.
- --status CODE=NAME maps exit codes that are outcomes rather than failures (`make drift` exits
  2 when it finds drift). A mapped code exits 0 and writes `status=NAME`; any other code writes
  `status=error` and is returned as is, so the step fails. Default: `--status 0=ok`.
- --tail-on-error: the output tail goes to the summary only when the command failed (the drift
  check's preview already shows what matters when it succeeds).
- `exit-code=N` is written to $GITHUB_OUTPUT as well.
- --log FILE: the whole output, colour codes removed, is written there too (the deploy's
  report on the pull request reads the apply's error lines from it).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.gha import append_summary, set_outputs

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TAIL_LINES = 300
TAIL_CHARS = 60_000


@dataclass
class Result:
    returncode: int
    lines: list[str] = field(default_factory=list)


def run(command: list[str], echo: bool = True) -> Result:
    """Run the command with stderr folded into stdout; echo and keep every line."""
    try:
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
        )
    except FileNotFoundError:
        line = f"command not found: {command[0]}"
        print(line, file=sys.stderr)
        return Result(127, [line])
    result = Result(0)
    assert proc.stdout is not None
    for line in proc.stdout:
        if echo:
            sys.stdout.write(line)
            sys.stdout.flush()
        result.lines.append(ANSI.sub("", line.rstrip("\n")))
    result.returncode = proc.wait()
    return result


def parse_statuses(pairs: list[str]) -> dict[int, str]:
    statuses: dict[int, str] = {}
    for pair in pairs:
        code, sep, name = pair.partition("=")
        if not sep or not code.strip().lstrip("-").isdigit() or not name.strip():
            raise ValueError(f"--status expects CODE=NAME, got {pair!r}")
        statuses[int(code)] = name.strip()
    return statuses or {0: "ok"}


def fence_for(text: str) -> str:
    """A backtick fence longer than any run of backticks inside the text."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def summary_section(
    title: str,
    command: list[str],
    result: Result,
    status: str,
    highlight: str | None,
    tail: bool = True,
) -> str:
    parts = [f"### {title}", ""]
    parts.append(f"`{' '.join(command)}` → **{status}** (exit {result.returncode})")
    parts.append("")
    if highlight:
        pattern = re.compile(highlight)
        matched = [line.strip() for line in result.lines if pattern.search(line)]
        if matched:
            parts += [f"- `{line}`" for line in matched]
        else:
            parts.append(f"_No output line matched `{highlight}`._")
        parts.append("")
    if not tail:
        return "\n".join(parts)
    kept = result.lines[-TAIL_LINES:]
    text = "\n".join(kept)
    if len(text) > TAIL_CHARS:
        text = text[-TAIL_CHARS:]
    fence = fence_for(text)
    shown = f"last {len(kept)} lines" if len(result.lines) > len(kept) else "output"
    parts += [
        f"<details><summary>Full {shown}</summary>",
        "",
        f"{fence}text",
        text,
        fence,
        "",
        "</details>",
        "",
    ]
    return "\n".join(parts)


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if environ is None else environ
    raw = list(sys.argv[1:] if argv is None else argv)
    if "--" not in raw:
        print("usage: run_logged.py [options] -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    split = raw.index("--")
    own, command = raw[:split], raw[split + 1 :]
    parser = argparse.ArgumentParser(description="Run a command and summarise it for the job.")
    parser.add_argument("--title", required=True)
    parser.add_argument("--highlight", help="regex: matching output lines are listed")
    parser.add_argument("--status", action="append", default=[], metavar="CODE=NAME")
    parser.add_argument(
        "--tail-on-error", action="store_true", help="output tail in the summary only on failure"
    )
    parser.add_argument("--log", type=Path, help="write the whole output to this file as well")
    args = parser.parse_args(own)
    if not command:
        parser.error("no command after --")
    try:
        statuses = parse_statuses(args.status)
    except ValueError as err:
        parser.error(str(err))

    result = run(command)
    if args.log:
        args.log.parent.mkdir(parents=True, exist_ok=True)
        args.log.write_text("\n".join(result.lines) + "\n", encoding="utf-8")
    status = statuses.get(result.returncode, "error")
    set_outputs(env, status=status, **{"exit-code": str(result.returncode)})
    if env.get("GITHUB_STEP_SUMMARY"):
        tail = not args.tail_on_error or result.returncode not in statuses
        append_summary(
            env, summary_section(args.title, command, result, status, args.highlight, tail)
        )
    print(f"{args.title}: {status} (exit {result.returncode})")
    return 0 if result.returncode in statuses else result.returncode


if __name__ == "__main__":
    sys.exit(main())
