"""Run one command, stream its output, and record what it did in the GitHub job summary.

    gitops run-logged --title "Destroy (seoul)" [--highlight REGEX]
        [--status 0=clean --status 2=drift] -- make destroy ENV=seoul

- The command's stdout and stderr are streamed to the console as they come (the live log).
- $GITHUB_STEP_SUMMARY gets a section: the title, the result, the output lines matching
  --highlight as a list (for a destroy: every "Destruction complete" line, i.e. what was
  destroyed), and the tail of the output in a collapsed block.
- --status CODE=NAME maps exit codes that are outcomes rather than failures (`make drift` exits
  2 when it finds drift). A mapped code exits 0 and writes `status=NAME`; any other code writes
  `status=error` and is returned as is, so the step fails. Default: `--status 0=ok`.
- --status-file FILE: the command writes the outcome's NAME to FILE. GNU make exits 2 for any
  failed recipe, so `make drift`'s exit 2 means drift *or* error; with a status file the exit
  code counts as the outcome only when FILE names that same outcome. A missing file, or one
  naming anything else, is `status=error` and the step fails with the command's code.
- --tail-on-error: the output tail goes to the summary only when the command failed (the drift
  check's preview already shows what matters when it succeeds).
- The summary's heading says what happened: `TITLE: NAME` for an outcome, `TITLE: failed` for
  an error; the title itself names the operation, never its result ("Destroy (seoul)").
- `exit-code=N` is written to $GITHUB_OUTPUT as well.
- --log FILE: the whole output, colour codes removed, is written there too (the deploy's
  report on the pull request reads the apply's error lines from it).
- Cancelling: the command runs in a process group of its own. The first SIGINT or SIGTERM this
  script receives becomes one SIGINT to that whole group (make and `gitops tf`, which stops
  Terraform gracefully); later signals are noted, not obeyed, and the script waits for the
  command to end (gitops.signals). GitHub's runner signals only the step's own process,
  SIGINT and then SIGTERM a few seconds later, so a step that must stop gracefully starts this
  script with `exec`.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gitops.github.outputs import append_summary, set_outputs
from gitops.preview.markdown import fenced
from gitops.signals import forward_stop_signals

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
            start_new_session=True,  # a group of its own, signalled as one (see below)
        )
    except FileNotFoundError:
        line = f"command not found: {command[0]}"
        print(line, file=sys.stderr)
        return Result(127, [line])
    result = Result(0)
    assert proc.stdout is not None
    with forward_stop_signals(
        proc.pid,
        first=f"signal {{signum}}: asking {command[0]} to stop (SIGINT) and waiting",
        later=f"signal {{signum}}: still waiting for {command[0]} to stop",
    ):
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


def read_status(path: Path) -> str:
    """The outcome name the command wrote, or "" when it wrote none."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def summary_section(
    title: str,
    command: list[str],
    result: Result,
    status: str,
    highlight: str | None,
    tail: bool = True,
) -> str:
    heading = f"{title}: {status}" if status != "error" else f"{title}: failed"
    parts = [f"### {heading}", ""]
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
    shown = f"last {len(kept)} lines" if len(result.lines) > len(kept) else "output"
    parts += [f"<details><summary>Full {shown}</summary>", "", *fenced(text), "", "</details>", ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if environ is None else environ
    raw = list(sys.argv[1:] if argv is None else argv)
    if "--" not in raw:
        print("usage: gitops run-logged [options] -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    split = raw.index("--")
    own, command = raw[:split], raw[split + 1 :]
    parser = argparse.ArgumentParser(description="Run a command and summarise it for the job.")
    parser.add_argument("--title", required=True)
    parser.add_argument("--highlight", help="regex: matching output lines are listed")
    parser.add_argument("--status", action="append", default=[], metavar="CODE=NAME")
    parser.add_argument(
        "--status-file", type=Path, help="file where the command writes the outcome's NAME"
    )
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

    if args.status_file is not None:
        args.status_file.unlink(missing_ok=True)  # only what this command writes counts
    result = run(command)
    if args.log:
        args.log.parent.mkdir(parents=True, exist_ok=True)
        args.log.write_text("\n".join(result.lines) + "\n", encoding="utf-8")
    status = statuses.get(result.returncode, "error")
    if args.status_file is not None and status != "error":
        written = read_status(args.status_file)
        if written != status:
            print(
                f"{args.title}: exit {result.returncode} would mean {status!r}, but "
                f"{args.status_file} says {written or 'nothing'!r}: treated as an error; "
                "read the command's output above",
                file=sys.stderr,
            )
            status = "error"
    ok = status != "error"
    set_outputs(env, status=status, **{"exit-code": str(result.returncode)})
    if env.get("GITHUB_STEP_SUMMARY"):
        tail = not args.tail_on_error or not ok
        append_summary(
            env, summary_section(args.title, command, result, status, args.highlight, tail)
        )
    print(f"{args.title}: {status} (exit {result.returncode})")
    if ok:
        return 0
    return result.returncode or 1
