"""Decide whether tonight's unattended destroy of Seoul runs, from KEEP_SEOUL_UNTIL.

    python3 scripts/keep_alive.py [--until YYYY-MM-DD] [--today YYYY-MM-DD]

KEEP_SEOUL_UNTIL (a repository variable, read from the environment unless --until is given)
names the first day on which the nightly destroy runs again (docs/PIPELINE.md). While that date
is still in the future, in Korea Standard Time, the nightly destroy is skipped; on that date and
after it, or when the variable is empty, Seoul is destroyed. A value that is not a real
YYYY-MM-DD date is an error (exit 2): a typo must never destroy a stack someone asked to keep.

The decision goes to $GITHUB_OUTPUT (`destroy=true|false`, `reason=...`) and one line to
$GITHUB_STEP_SUMMARY when those files are named; it is also printed, so a laptop run shows it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.gha import append_summary, set_outputs

# Korea has kept UTC+9 without daylight saving since 1988: a fixed offset needs no tz database.
KST = timezone(timedelta(hours=9), "KST")
VARIABLE = "KEEP_SEOUL_UNTIL"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class KeepAliveError(ValueError):
    """KEEP_SEOUL_UNTIL holds something that is not a date."""


@dataclass(frozen=True)
class Decision:
    destroy: bool
    reason: str


def today_kst(now: datetime | None = None) -> date:
    """Today's date in Korea (the nightly run fires at a KST hour, so KST decides the day)."""
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return moment.astimezone(KST).date()


def parse_until(raw: str) -> date | None:
    """The keep-alive date, or None when the variable is unset or blank."""
    value = raw.strip()
    if not value:
        return None
    if not _DATE.match(value):
        raise KeepAliveError(
            f"{VARIABLE}={raw!r} is not a date in the form YYYY-MM-DD (for example 2026-12-31)"
        )
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise KeepAliveError(f"{VARIABLE}={raw!r} is not a real calendar date: {err}") from err


def decide(raw_until: str, today: date) -> Decision:
    """Skip while the keep-alive date lies in the future; destroy otherwise."""
    until = parse_until(raw_until)
    if until is None:
        return Decision(True, f"{VARIABLE} is not set: the nightly destroy runs")
    if until > today:
        days = (until - today).days
        return Decision(
            False,
            f"{VARIABLE}={until.isoformat()} is {days} day(s) after today "
            f"({today.isoformat()} KST): Seoul is kept, the nightly destroy is skipped",
        )
    return Decision(
        True,
        f"{VARIABLE}={until.isoformat()} is not after today ({today.isoformat()} KST): "
        "the nightly destroy runs",
    )


def write_outputs(decision: Decision, environ: dict[str, str]) -> None:
    """Append the decision to the files GitHub Actions names, when it names them."""
    set_outputs(environ, destroy="true" if decision.destroy else "false", reason=decision.reason)
    verb = "Destroying Seoul tonight" if decision.destroy else "Keeping Seoul tonight"
    append_summary(environ, f"**{verb}**: {decision.reason}\n\n")


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if environ is None else environ
    parser = argparse.ArgumentParser(description="Decide whether the nightly destroy runs.")
    parser.add_argument("--until", help=f"the keep-alive date (default: ${VARIABLE})")
    parser.add_argument("--today", help="today's date in KST, YYYY-MM-DD (default: the clock)")
    args = parser.parse_args(argv)

    raw_until = args.until if args.until is not None else env.get(VARIABLE, "")
    try:
        today = date.fromisoformat(args.today) if args.today else today_kst()
        decision = decide(raw_until, today)
    except ValueError as err:
        message = str(err)
        print(f"::error title=Bad {VARIABLE}::{message}")
        print(f"ERROR: {message}", file=sys.stderr)
        append_summary(env, f"**Nightly destroy not run**: {message}\n\n")
        return 2
    write_outputs(decision, env)
    print(("destroy: " if decision.destroy else "skip: ") + decision.reason)
    return 0


if __name__ == "__main__":
    sys.exit(main())
