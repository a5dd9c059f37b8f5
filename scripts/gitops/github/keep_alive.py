"""Decide whether tonight's unattended destroy of an environment runs, from its keep-alive variable.

    gitops keep-alive [--env NAME] [--until YYYY-MM-DD] [--today YYYY-MM-DD]
        [--schedule CRON]

--env NAME takes the keep-alive variable's name and the time zone from that environment's
`[nightly_destroy]` (envs/NAME/environment.toml), as the nightly destroy passes it; without it,
Seoul's (KEEP_SEOUL_UNTIL, KST), as described below.

KEEP_SEOUL_UNTIL (a repository variable, read from the environment unless --until is given)
names the first day on which the nightly destroy runs again (docs/PIPELINE.md). While that date
is still in the future, in Korea Standard Time, the nightly destroy is skipped; on that date and
after it, or when the variable is empty, Seoul is destroyed. A value that is not a real
YYYY-MM-DD date is an error (exit 2): a typo must never destroy a stack someone asked to keep.

"Today" is the KST date of the scheduled firing, not of the moment this runs: GitHub starts a
scheduled run late under load, and a run can wait in its queue, so the 23:07 KST firing may be
decided after midnight. --schedule takes the cron line that fired (`github.event.schedule`, a
daily `M H * * *` in UTC); the firing is the latest time it names at or before now, exact for
any delay shorter than the day between firings.

The decision goes to $GITHUB_OUTPUT (`destroy=true|false`, `reason=...`) and one line to
$GITHUB_STEP_SUMMARY when those files are named; it is also printed, so a laptop run shows it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from gitops import environments
from gitops.environments import scheduled_firing  # one home of the firing arithmetic
from gitops.github.outputs import append_summary, set_outputs

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


def today_kst(now: datetime | None = None, zone: tzinfo = KST) -> date:
    """Today's date in Korea, or in `zone` (the nightly run fires at a local hour, so the local
    date decides the day)."""
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return moment.astimezone(zone).date()


def parse_until(raw: str, variable: str = VARIABLE) -> date | None:
    """The keep-alive date, or None when the variable is unset or blank."""
    value = raw.strip()
    if not value:
        return None
    if not _DATE.match(value):
        raise KeepAliveError(
            f"{variable}={raw!r} is not a date in the form YYYY-MM-DD (for example 2026-12-31)"
        )
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise KeepAliveError(f"{variable}={raw!r} is not a real calendar date: {err}") from err


def decide(
    raw_until: str, today: date, variable: str = VARIABLE, name: str = "Seoul", zone: str = "KST"
) -> Decision:
    """Skip while the keep-alive date lies in the future; destroy otherwise."""
    until = parse_until(raw_until, variable)
    if until is None:
        return Decision(True, f"{variable} is not set: the nightly destroy runs")
    if until > today:
        days = (until - today).days
        return Decision(
            False,
            f"{variable}={until.isoformat()} is {days} day(s) after today "
            f"({today.isoformat()} {zone}): {name} is kept, the nightly destroy is skipped",
        )
    return Decision(
        True,
        f"{variable}={until.isoformat()} is not after today ({today.isoformat()} {zone}): "
        "the nightly destroy runs",
    )


def write_outputs(decision: Decision, environ: dict[str, str], name: str = "Seoul") -> None:
    """Append the decision to the files GitHub Actions names, when it names them."""
    set_outputs(environ, destroy="true" if decision.destroy else "false", reason=decision.reason)
    verb = f"Destroying {name} tonight" if decision.destroy else f"Keeping {name} tonight"
    append_summary(environ, f"**{verb}**: {decision.reason}\n\n")


def main(
    argv: list[str] | None = None,
    environ: dict[str, str] | None = None,
    now: datetime | None = None,
) -> int:
    env = dict(os.environ) if environ is None else environ
    parser = argparse.ArgumentParser(description="Decide whether the nightly destroy runs.")
    parser.add_argument("--env", help="the environment whose nightly destroy this decides")
    parser.add_argument("--until", help=f"the keep-alive date (default: ${VARIABLE})")
    parser.add_argument("--today", help="today's date in KST, YYYY-MM-DD (default: the clock)")
    parser.add_argument(
        "--schedule", help="the cron line that fired (github.event.schedule): judge by its date"
    )
    args = parser.parse_args(argv)

    variable, name, zone, zone_label = VARIABLE, "Seoul", KST, "KST"
    if args.env:
        try:
            described = environments.get(args.env)
        except (environments.UnknownEnvironment, environments.DescriptionError) as err:
            parser.error(str(err))
        if described.nightly is None:
            parser.error(f"envs/{args.env} has no [nightly_destroy] in its environment.toml")
        variable, name = described.nightly.keep_alive, args.env
        zone, zone_label = ZoneInfo(described.nightly.time_zone), described.nightly.time_zone
    raw_until = args.until if args.until is not None else env.get(variable, "")
    try:
        if args.today:
            today = date.fromisoformat(args.today)
        elif args.schedule:
            today = today_kst(scheduled_firing(args.schedule, now or datetime.now(UTC)), zone)
        else:
            today = today_kst(now, zone)
        decision = decide(raw_until, today, variable, name, zone_label)
    except ValueError as err:
        message = str(err)
        title = f"Bad {variable}" if isinstance(err, KeepAliveError) else "Bad schedule"
        print(f"::error title={title}::{message}")
        print(f"ERROR: {message}", file=sys.stderr)
        append_summary(env, f"**Nightly destroy not run**: {message}\n\n")
        return 2
    write_outputs(decision, env, name)
    print(("destroy: " if decision.destroy else "skip: ") + decision.reason)
    return 0
