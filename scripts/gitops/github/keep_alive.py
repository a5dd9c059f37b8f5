"""Decide whether tonight's unattended destroy of an environment runs, from its keep-alive variable.

    gitops keep-alive --env NAME [--until YYYY-MM-DD] [--today YYYY-MM-DD] [--schedule CRON]

Everything environment-specific comes from envs/NAME/environment.toml, `[nightly_destroy]`:
the keep-alive variable's name (`keep_alive`, for instance KEEP_SEOUL_UNTIL), the time zone whose
date decides (`time_zone`), and the environment's name in the messages. --env is required: a
decision made in another environment's zone, or from another's variable, could destroy a stack
someone asked to keep.

The variable (a repository variable, read from the process environment unless --until is given)
names the first day on which the nightly destroy runs again (docs/PIPELINE.md). While that date
is still in the future, in the environment's own time zone, the nightly destroy is skipped; on
that date and after it, or when the variable is empty, the environment is destroyed. A value
that is not a real YYYY-MM-DD date is an error (exit 2): a typo must never destroy a stack
someone asked to keep.

"Today" is the local date of the scheduled firing, not of the moment this runs: GitHub starts a
scheduled run late under load, and a run can wait in its queue, so a 23:07 firing may be decided
after local midnight. --schedule takes the cron line that fired (`github.event.schedule`, a
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
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from gitops import environments
from gitops.environments import scheduled_firing  # one home of the firing arithmetic
from gitops.github.outputs import append_summary, set_outputs
from gitops.paths import ENVS_DIR

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class KeepAliveError(ValueError):
    """The keep-alive variable holds something that is not a date."""


@dataclass(frozen=True)
class Decision:
    destroy: bool
    reason: str


def local_date(moment: datetime, time_zone: str) -> date:
    """The date in `time_zone` (an IANA name) at `moment`: the nightly destroy fires at a local
    hour, so the local date decides the day."""
    if moment.tzinfo is None:
        raise ValueError("the moment must be timezone-aware")
    return moment.astimezone(ZoneInfo(time_zone)).date()


def parse_until(raw: str, variable: str) -> date | None:
    """The keep-alive date held by `variable`, or None when it is unset or blank."""
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


def decide(raw_until: str, today: date, env: str, nightly: environments.Nightly) -> Decision:
    """Skip while the keep-alive date lies in the future; destroy otherwise. `today` is the date
    in the environment's own time zone; the messages name its variable, zone and name."""
    variable, zone = nightly.keep_alive, nightly.time_zone
    until = parse_until(raw_until, variable)
    if until is None:
        return Decision(True, f"{variable} is not set: the nightly destroy runs")
    if until > today:
        days = (until - today).days
        return Decision(
            False,
            f"{variable}={until.isoformat()} is {days} day(s) after today "
            f"({today.isoformat()} {zone}): {env} is kept, the nightly destroy is skipped",
        )
    return Decision(
        True,
        f"{variable}={until.isoformat()} is not after today ({today.isoformat()} {zone}): "
        "the nightly destroy runs",
    )


def write_outputs(decision: Decision, environ: dict[str, str], env: str) -> None:
    """Append the decision to the files GitHub Actions names, when it names them."""
    set_outputs(environ, destroy="true" if decision.destroy else "false", reason=decision.reason)
    verb = f"Destroying {env} tonight" if decision.destroy else f"Keeping {env} tonight"
    append_summary(environ, f"**{verb}**: {decision.reason}\n\n")


def nightly_of(name: str | None, envs_dir: Path = ENVS_DIR) -> environments.Nightly:
    """The [nightly_destroy] of the environment named; ValueError, naming the environments that
    have one, when no name is given or the one named has none."""
    envs = environments.load(envs_dir)
    choices = ", ".join(n for n, e in envs.items() if e.nightly) or "none describes one"
    if name is None:
        raise ValueError(
            f"--env is required: the environment whose nightly destroy this decides, whose "
            f"[nightly_destroy] names the keep-alive variable and the time zone (one of: {choices})"
        )
    if name not in envs:
        raise ValueError(str(environments.UnknownEnvironment(name, envs)))
    nightly = envs[name].nightly
    if nightly is None:
        raise ValueError(
            f"envs/{name} has no [nightly_destroy] in its environment.toml (environments with "
            f"one: {choices})"
        )
    return nightly


def main(
    argv: list[str] | None = None,
    environ: dict[str, str] | None = None,
    now: datetime | None = None,
    envs_dir: Path = ENVS_DIR,
) -> int:
    env = dict(os.environ) if environ is None else environ
    parser = argparse.ArgumentParser(description="Decide whether the nightly destroy runs.")
    parser.add_argument(
        "--env", help="the environment whose nightly destroy this decides (required; its "
        "[nightly_destroy] names the keep-alive variable and the time zone)",
    )  # fmt: skip
    parser.add_argument("--until", help="the keep-alive date (default: the value of the "
                        "environment's keep-alive variable)")  # fmt: skip
    parser.add_argument("--today", help="today's date in the environment's time zone, "
                        "YYYY-MM-DD (default: the clock)")  # fmt: skip
    parser.add_argument(
        "--schedule", help="the cron line that fired (github.event.schedule): judge by its date"
    )
    args = parser.parse_args(argv)
    try:
        nightly = nightly_of(args.env, envs_dir)
    except (ValueError, environments.DescriptionError) as err:
        parser.error(str(err))

    variable = nightly.keep_alive
    raw_until = args.until if args.until is not None else env.get(variable, "")
    try:
        if args.today:
            today = date.fromisoformat(args.today)
        else:
            moment = now or datetime.now(UTC)
            if args.schedule:
                moment = scheduled_firing(args.schedule, moment)
            today = local_date(moment, nightly.time_zone)
        decision = decide(raw_until, today, args.env, nightly)
    except ValueError as err:
        message = str(err)
        title = f"Bad {variable}" if isinstance(err, KeepAliveError) else "Bad schedule"
        print(f"::error title={title}::{message}")
        print(f"ERROR: {message}", file=sys.stderr)
        append_summary(env, f"**Nightly destroy not run**: {message}\n\n")
        return 2
    write_outputs(decision, env, args.env)
    print(("destroy: " if decision.destroy else "skip: ") + decision.reason)
    return 0
