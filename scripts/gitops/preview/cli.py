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

Secret values are never printed: only what the preview means to show reaches the output (no
variables, no prior state), values Terraform marks sensitive (`before_sensitive`,
`after_sensitive`, sensitive outputs and variables) are masked, and so are values of attributes
whose names say secret (password, secret, token, private key, ...) even where the provider did
not mark them, and any value that equals a secret found anywhere in the plans given.

The library behind it, by concern: model.py (plan JSON to the model), redact.py (secrets),
values.py (values as shown, attribute differences), replacements.py (why a resource is
replaced or destroyed), sections.py and render.py (Markdown within GitHub's size budget),
markdown.py (escaping), cost.py and digest.py.

Exit status: 0 when the preview was written (also when it shows a failed plan), 1 when an input
file cannot be read or is not a plan, 2 on bad arguments (e.g. not ENV=FILE).

Standard library only: it runs wherever `python3` does.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from gitops.preview.model import InputError
from gitops.preview.render import MARKER, TITLE, render_files

EXIT_OK, EXIT_INPUT, EXIT_USAGE = 0, 1, 2

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
