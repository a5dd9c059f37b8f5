"""The environments this repository manages, read from envs/<name>/environment.toml.

    gitops envs list
    gitops envs check
    gitops envs matrix plan|deploy|nightly-destroy|drift [--schedule CRON]
        [--aws | --emulated] [--only NAME] [--github-output OUTPUT]
    gitops envs crons

An environment is a Terraform root under envs/ with an environment.toml beside its
terraform.tfvars. The folder name is the environment's name; the file says the rest:

    emulated = false              # true: LocalStack (local state, dummy credentials)
    region = "ap-northeast-2"     # must equal aws_region in terraform.tfvars
    priced_as = "ap-northeast-2"  # emulated only: the AWS region whose prices its preview shows
    state_key = "seoul/terraform.tfstate"   # AWS only; default "<name>/terraform.tfstate"
    gate = "seoul"                # AWS only: GitHub environment that gates apply and destroy
    drift = true                  # AWS only, required: include it in the nightly drift check

    [roles]                       # AWS only: repository variables holding the role ARNs
    plan = "AWS_PLAN_ROLE_ARN"
    apply = "AWS_APPLY_ROLE_ARN"
    destroy = "AWS_DESTROY_ROLE_ARN"  # the nightly destroy's destroy-only role (make bootstrap)

    [nightly_destroy]             # AWS only; leave the table out for no nightly destroy
    at = "23:07"                  # local time, 24-hour HH:MM
    time_zone = "Asia/Seoul"      # IANA name
    environment = "seoul-nightly" # GitHub environment of the unattended destroy
    keep_alive = "KEEP_SEOUL_UNTIL"  # repository variable that postpones it (YYYY-MM-DD)

Everything is checked on load; each problem is reported as `envs/<name>: <field>: <what>`, all
of them at once. `check` also checks each AMI pin in terraform.tfvars (gitops.terraform.ami_pin:
resolved for the environment's own region), and prints the environments or the problems
(exit 1). `matrix` prints, on
one line, the `{"include": [...]}` object a workflow passes to `fromJSON()` as a job matrix:
every entry has the same keys (see `matrix_entry`), and the four kinds differ only in which
environments they hold; `--aws`/`--emulated` keep only AWS or only emulated ones (a pull
request plans them in different jobs), `--only NAME` the one named (an unknown name is an error
that lists the known ones), and `--github-output OUTPUT` also sets the step output OUTPUT to that
line, so a workflow step needs no shell to pass it on. `crons` prints the UTC cron expressions
the nightly destroy's schedule must carry, one a line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gitops.github.outputs import set_outputs
from gitops.paths import ENVS_DIR
from gitops.terraform import ami_pin

DESCRIPTION = "environment.toml"
SHARED_DIR = "common"  # envs/common holds the files every root links to; it is no environment
# What every root must hold (docs/PIPELINE.md, "Add an environment").
REQUIRED_FILES = ("backend.tf", "providers.tf", "terraform.tfvars", ".terraform.lock.hcl")
MATRICES = ("plan", "deploy", "nightly-destroy", "drift")

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
# The rule of aws_region's validation in envs/common/variables.tf, verbatim (a test holds them
# together), so a bad region is refused here before Terraform would.
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")
REGION_NAME = _REGION  # the same rule, for the modules that take a region name elsewhere
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # a GitHub Actions variable name
_GITHUB_ENVIRONMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_EXPECTED = {  # what each rule asks for, in the words of an error message
    _REGION: "an AWS region name such as ap-northeast-2",
    _VARIABLE: "a repository variable name such as AWS_PLAN_ROLE_ARN",
    _GITHUB_ENVIRONMENT: "a GitHub environment name (letters, digits, '.', '_', '-')",
    _TIME: "a 24-hour local time HH:MM such as 23:07",
}
_STATE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*\.tfstate$")
_TFVARS_REGION = re.compile(r'^\s*aws_region\s*=\s*"([^"]*)"', re.MULTILINE)
_TFVARS_PROJECT = re.compile(r'^\s*project_name\s*=\s*"([^"]*)"', re.MULTILINE)
_TFVARS_DB_MODE = re.compile(r'^\s*db_mode\s*=\s*"([^"]*)"', re.MULTILINE)

_TOP_FIELDS = {
    "emulated", "region", "priced_as", "state_key", "gate", "drift", "roles", "nightly_destroy",
}  # fmt: skip
_AWS_ONLY = ("state_key", "gate", "drift", "roles", "nightly_destroy")
_EMULATED_ONLY = ("priced_as",)
_ROLE_FIELDS = ("plan", "apply", "destroy")
_NIGHTLY_FIELDS = ("at", "time_zone", "environment", "keep_alive")


class DescriptionError(ValueError):
    """One or more environment descriptions are wrong; str() lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class UnknownEnvironment(KeyError):
    """A name that no envs/<name>/environment.toml describes."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name, self.known = name, tuple(known)
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown environment {self.name!r}; known: {', '.join(self.known)}"


@dataclass(frozen=True)
class Roles:
    """Names of the repository variables that hold each role's ARN."""

    plan: str
    apply: str
    destroy: str


@dataclass(frozen=True)
class Nightly:
    at: str  # HH:MM, local time
    time_zone: str  # IANA name
    environment: str  # GitHub environment of the unattended destroy
    keep_alive: str  # repository variable that postpones it

    def local_at(self, day: date) -> datetime:
        """The moment it is due on a local day: `at` that day, in its time zone."""
        hour, minute = (int(part) for part in self.at.split(":"))
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(self.time_zone))

    def crons(self, year: int | None = None) -> tuple[str, ...]:
        """UTC cron expressions that fire at `at` local time on some day of the year.

        One for a zone without daylight saving time; one per UTC offset otherwise, and the job
        picks the firing that is `at` local time that day (`due`).
        """
        year = year or datetime.now(UTC).year
        found: dict[tuple[int, int], None] = {}
        day = date(year, 1, 1)
        while day.year == year:
            utc = self.local_at(day).astimezone(UTC)
            found[(utc.hour, utc.minute)] = None
            day += timedelta(days=1)
        return tuple(f"{m} {h} * * *" for h, m in sorted(found))

    def due(self, schedule: str, on: date | datetime) -> bool:
        """Whether a firing of UTC cron `schedule` is `at` local time: the firing on date `on`
        (UTC), or, given a moment, the scheduled firing of that run (`scheduled_firing`)."""
        if isinstance(on, datetime):
            fired = scheduled_firing(schedule, on)
        else:
            hour, minute = daily_time(schedule)
            fired = datetime(on.year, on.month, on.day, hour, minute, tzinfo=UTC)
        return fired.astimezone(ZoneInfo(self.time_zone)).strftime("%H:%M") == self.at


def daily_time(schedule: str) -> tuple[int, int]:
    """(hour, minute) in UTC of a daily cron line `M H * * *`; ValueError for any other form."""
    fields = schedule.split()
    if (
        len(fields) != 5
        or fields[2:] != ["*", "*", "*"]
        or not all(f.isdigit() for f in fields[:2])
    ):
        raise ValueError(
            f"schedule {schedule!r} is not a daily `M H * * *` cron line: keep the nightly "
            "destroy's schedule daily, or teach gitops.environments.daily_time the new form"
        )
    minute, hour = int(fields[0]), int(fields[1])
    if minute > 59 or hour > 23:
        raise ValueError(f"schedule {schedule!r} names no real time of day")
    return hour, minute


def scheduled_firing(schedule: str, now: datetime) -> datetime:
    """The latest firing of daily UTC cron `schedule` (`M H * * *`) at or before `now`: the
    firing a scheduled run belongs to, even when GitHub started it late, past midnight UTC."""
    hour, minute = daily_time(schedule)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    moment = now.astimezone(UTC)
    fired = moment.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return fired if fired <= moment else fired - timedelta(days=1)


@dataclass(frozen=True)
class Environment:
    name: str
    emulated: bool
    region: str
    state_key: str | None  # None: local state (emulated)
    gate: str | None
    drift: bool
    roles: Roles | None
    nightly: Nightly | None
    root: Path
    # Emulated only: the AWS region whose prices the plan preview shows for it (an AWS
    # environment is priced in its own region); None: its cost is not estimated.
    priced_as: str | None = None

    @property
    def relpath(self) -> str:
        return f"envs/{self.name}"


def _is_time_zone(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _parse(name: str, root: Path, raw: Mapping[str, Any], problems: list[str]) -> Environment:
    where = f"envs/{name}"

    def bad(field: str, what: str) -> None:
        problems.append(f"{where}: {field}: {what}")

    def text(table: Mapping[str, Any], field: str, label: str, rule: re.Pattern[str]) -> str:
        value = table.get(field)
        if value is None:
            bad(label, "missing")
        elif not isinstance(value, str) or not rule.match(value):
            bad(label, f"{value!r} is not {_EXPECTED[rule]}")
        return value if isinstance(value, str) else ""

    for field in sorted(set(raw) - _TOP_FIELDS):
        bad(field, f"unknown field (known: {', '.join(sorted(_TOP_FIELDS))})")

    emulated = raw.get("emulated", False)
    if not isinstance(emulated, bool):
        bad("emulated", f"{emulated!r} is not true or false")
        emulated = False

    region = text(raw, "region", "region", _REGION)
    tfvars = root / "terraform.tfvars"
    if region and tfvars.is_file():
        match = _TFVARS_REGION.search(tfvars.read_text(encoding="utf-8"))
        if match is None:
            bad("region", f"{where}/terraform.tfvars sets no aws_region to compare with")
        elif match.group(1) != region:
            bad("region", f"{region!r} but {where}/terraform.tfvars has aws_region = "
                          f"{match.group(1)!r}; they must be the same")  # fmt: skip

    if emulated:
        for field in _AWS_ONLY:
            if field in raw:
                bad(field, "only for AWS environments (an emulated one keeps local state, "
                           "uses LocalStack's dummy credentials and is never gated)")  # fmt: skip
        priced_as = text(raw, "priced_as", "priced_as", _REGION) if "priced_as" in raw else None
        return Environment(name, True, region, None, None, False, None, None, root,
                           priced_as=priced_as or None)  # fmt: skip
    for field in _EMULATED_ONLY:
        if field in raw:
            bad(field, f"only for emulated environments (an AWS one is priced in its own "
                       f"region, {region!r})")  # fmt: skip

    state_key = raw.get("state_key", f"{name}/terraform.tfstate")
    if not isinstance(state_key, str) or not _STATE_KEY.match(state_key):
        bad("state_key", f"{state_key!r} is not an object key ending in .tfstate")
    gate = text(raw, "gate", "gate", _GITHUB_ENVIRONMENT) or None
    drift = raw.get("drift")
    if not isinstance(drift, bool):
        bad(
            "drift",
            "missing (true or false)" if drift is None else f"{drift!r} is not true or false",
        )

    roles = None
    table = raw.get("roles")
    if not isinstance(table, dict):
        bad("roles", "missing: a [roles] table with plan, apply and destroy")
    else:
        for field in sorted(set(table) - set(_ROLE_FIELDS)):
            bad(f"roles.{field}", f"unknown field (known: {', '.join(_ROLE_FIELDS)})")
        values = [text(table, f, f"roles.{f}", _VARIABLE) for f in _ROLE_FIELDS]
        roles = Roles(*values)

    nightly = None
    table = raw.get("nightly_destroy")
    if table is not None and not isinstance(table, dict):
        bad("nightly_destroy", "must be a table ([nightly_destroy]); leave it out for none")
    elif table is not None:
        for field in sorted(set(table) - set(_NIGHTLY_FIELDS)):
            bad(f"nightly_destroy.{field}", f"unknown field (known: {', '.join(_NIGHTLY_FIELDS)})")
        at = text(table, "at", "nightly_destroy.at", _TIME)
        zone = table.get("time_zone")
        zone_ok = _is_time_zone(zone)
        if not zone_ok:
            bad("nightly_destroy.time_zone", f"{zone!r} is not an IANA time zone (Asia/Seoul)")
        environment = text(table, "environment", "nightly_destroy.environment",
                           _GITHUB_ENVIRONMENT)  # fmt: skip
        if environment and environment == gate:
            bad("nightly_destroy.environment", f"{environment!r} is the gate itself: an "
                "unattended destroy needs its own environment, without reviewers")  # fmt: skip
        keep_alive = text(table, "keep_alive", "nightly_destroy.keep_alive", _VARIABLE)
        nightly = Nightly(at, zone if zone_ok else "UTC", environment, keep_alive)

    # ec2 mode keeps the app's password in a secret Terraform writes; every plan, drift check
    # and destroy refreshes it with GetSecretValue, which the plan role (any pull request of the
    # repository) and the destroy role must not have (docs/SECURITY.md).
    mode = _TFVARS_DB_MODE.search(tfvars.read_text(encoding="utf-8")) if tfvars.is_file() else None
    if mode and mode.group(1) == "ec2":
        bad("terraform.tfvars", 'db_mode = "ec2" is for emulated environments: on AWS each plan '
            "would read the database password through the plan role any pull request can use; "
            'use db_mode = "rds"')  # fmt: skip

    return Environment(
        name, False, region, state_key if isinstance(state_key, str) else None, gate,
        drift is True, roles, nightly, root,
    )  # fmt: skip


def load(envs_dir: Path = ENVS_DIR) -> dict[str, Environment]:
    """Every described environment by name, sorted; DescriptionError lists all problems."""
    problems: list[str] = []
    found: dict[str, Environment] = {}
    if not envs_dir.is_dir():
        raise DescriptionError([f"{envs_dir}: no such folder"])
    for root in sorted(p for p in envs_dir.iterdir() if p.is_dir() and p.name != SHARED_DIR):
        name, where = root.name, f"envs/{root.name}"
        description = root / DESCRIPTION
        if not description.is_file():
            if any(root.glob("*.tf")):
                problems.append(f"{where}: {DESCRIPTION}: missing (a Terraform root "
                                "without one is in no pipeline; see docs/PIPELINE.md)")  # fmt: skip
            continue
        if not _NAME.match(name):
            problems.append(f"{where}: name: {name!r} must be 2-32 lowercase letters, digits "
                            "and hyphens, starting with a letter")  # fmt: skip
        for required in REQUIRED_FILES:
            if not (root / required).is_file():
                problems.append(f"{where}: {required}: missing")
        try:
            raw = tomllib.loads(description.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            problems.append(f"{where}: {DESCRIPTION}: not valid TOML: {err}")
            continue
        found[name] = _parse(name, root, raw, problems)
    if not found and not problems:
        problems.append(f"envs: no environment described (no envs/*/{DESCRIPTION})")
    _check_unique(found.values(), problems)
    if problems:
        raise DescriptionError(problems)
    return found


def project_name(env: Environment) -> str:
    """The environment's project_name (its terraform.tfvars): the Project tag and the IAM and
    secret name space (/gitops/<project_name>/) of its stack; "" when the file sets none."""
    tfvars = env.root / "terraform.tfvars"
    match = _TFVARS_PROJECT.search(tfvars.read_text(encoding="utf-8")) if tfvars.is_file() else None
    return match.group(1) if match else ""


def prefix_clash(project: str, others: Iterable[str]) -> str | None:
    """Another project name that equals `project` or of which one is a prefix of the other: two
    such stacks in one account would match each other's `<project>-...` names."""
    for other in sorted(others):
        if other != project and (other.startswith(project) or project.startswith(other)):
            return other
    return None


def _check_unique(envs: Iterable[Environment], problems: list[str]) -> None:
    """State keys share one bucket; a GitHub environment gates or runs one environment; the AWS
    environments' project names (one account, IAM is global) are distinct and prefix-free."""
    keys: dict[str, str] = {}
    github: dict[str, str] = {}
    projects: dict[str, str] = {}
    for env in envs:
        if not env.emulated:
            project = project_name(env)  # none set: make bootstrap refuses it, by name
            if not project:
                pass
            elif project in projects:
                problems.append(f"envs/{env.name}: project_name: {project!r} is also the "
                                f"project of envs/{projects[project]} (IAM names are per "
                                "account)")  # fmt: skip
            elif clash := prefix_clash(project, projects):
                problems.append(f"envs/{env.name}: project_name: {project!r} and {clash!r} "
                                f"(envs/{projects[clash]}) are prefixes of one another: names "
                                "and patterns of one would match the other's")  # fmt: skip
            if project:
                projects.setdefault(project, env.name)
        if env.state_key:
            if env.state_key in keys:
                problems.append(f"envs/{env.name}: state_key: {env.state_key!r} is also the "
                                f"state key of envs/{keys[env.state_key]}")  # fmt: skip
            keys.setdefault(env.state_key, env.name)
        named = [("gate", env.gate)]
        named += [("nightly_destroy.environment", env.nightly.environment)] if env.nightly else []
        for field, value in named:
            if value and value in github:
                problems.append(f"envs/{env.name}: {field}: GitHub environment {value!r} is "
                                f"already used by envs/{github[value]}")  # fmt: skip
            elif value:
                github[value] = env.name


def get(name: str, envs_dir: Path = ENVS_DIR) -> Environment:
    envs = load(envs_dir)
    if name not in envs:
        raise UnknownEnvironment(name, envs)
    return envs[name]


def names(envs_dir: Path = ENVS_DIR) -> tuple[str, ...]:
    return tuple(load(envs_dir))


def matrix_entry(env: Environment, year: int | None = None) -> dict[str, Any]:
    """One job-matrix entry: the same keys for every environment, null where not applicable."""
    roles, nightly = env.roles, env.nightly
    return {
        "name": env.name,
        "emulated": env.emulated,
        "region": env.region,
        "state_key": env.state_key,
        "gate": env.gate,
        "plan_role": roles.plan if roles else None,
        "apply_role": roles.apply if roles else None,
        "destroy_role": roles.destroy if roles else None,
        "drift": env.drift,
        "nightly_environment": nightly.environment if nightly else None,
        "nightly_at": nightly.at if nightly else None,
        "nightly_time_zone": nightly.time_zone if nightly else None,
        "nightly_crons": list(nightly.crons(year)) if nightly else [],
        "keep_alive": nightly.keep_alive if nightly else None,
    }


def select(kind: str, envs: Iterable[Environment]) -> list[Environment]:
    """Which environments a matrix holds: plan every one; the rest only what asks for it."""
    wanted = {
        "plan": lambda e: True,
        "deploy": lambda e: not e.emulated,
        "nightly-destroy": lambda e: e.nightly is not None,
        "drift": lambda e: e.drift,
    }
    if kind not in wanted:
        raise ValueError(f"unknown matrix {kind!r}; known: {', '.join(MATRICES)}")
    return [env for env in envs if wanted[kind](env)]


def matrix(
    kind: str,
    envs: Mapping[str, Environment],
    *,
    schedule: str | None = None,
    on: date | None = None,
    now: datetime | None = None,
    emulated: bool | None = None,
    only: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The `{"include": [...]}` matrix of `kind`; with `schedule`, only nightly environments
    whose destroy that UTC cron firing is (the firing on date `on`; without it, the latest
    firing at or before `now`, default the current time, as gitops keep-alive judges a
    late run); with `emulated`,
    only the emulated (True) or AWS (False) ones; with `only`, only that one (UnknownEnvironment
    when nothing describes it, ValueError when the matrix leaves it out)."""
    if only is not None and only not in envs:
        raise UnknownEnvironment(only, envs)
    chosen = select(kind, envs.values())
    if emulated is not None:
        chosen = [e for e in chosen if e.emulated is emulated]
    if only is not None:
        chosen = [e for e in chosen if e.name == only]
        if not chosen:
            raise ValueError(f"{only!r} is not in the {kind} matrix (an emulated environment is "
                             "only planned; see its environment.toml)")  # fmt: skip
    if schedule is not None:
        when: date | datetime = on if on is not None else (now or datetime.now(UTC))
        chosen = [e for e in chosen if e.nightly and e.nightly.due(schedule, when)]
    year = on.year if on else None
    return {"include": [matrix_entry(env, year) for env in chosen]}


# The workflow whose `on.schedule` fires the nightly destroys, relative to the checkout.
DESTROY_WORKFLOW = Path(".github") / "workflows" / "destroy.yml"


def schedule_problems(envs: Mapping[str, Environment], workflow: Path) -> list[str]:
    """A nightly time no `cron:` line of the destroy workflow fires at: GitHub would never run
    that environment's destroy, and the stack would bill all night with nobody told. The
    workflow is read as GitHub reads it (YAML, `on.schedule`), each line by its time."""
    import yaml  # noqa: PLC0415 - only this check reads a workflow

    if not workflow.is_file():
        return [f"{DESTROY_WORKFLOW}: not found: it holds the nightly destroy's schedule"]
    document = yaml.safe_load(workflow.read_text(encoding="utf-8")) or {}
    triggers = document.get("on", document.get(True))  # YAML 1.1 reads a bare `on` as True
    entries = triggers.get("schedule") if isinstance(triggers, dict) else None
    problems, scheduled = [], set()
    for entry in entries or []:
        cron = str(entry.get("cron", "")) if isinstance(entry, dict) else repr(entry)
        try:
            scheduled.add(daily_time(cron))
        except ValueError as err:
            problems.append(f"{DESTROY_WORKFLOW}: {err}")
    for env in envs.values():
        if env.nightly is None:
            continue
        for cron in env.nightly.crons():
            hour, minute = daily_time(cron)
            if (hour, minute) not in scheduled:
                problems.append(
                    f"{DESTROY_WORKFLOW}: no schedule fires at {hour:02d}:{minute:02d} UTC, "
                    f"when {env.relpath}'s nightly destroy is due ({env.nightly.at} "
                    f'{env.nightly.time_zone}): add `- cron: "{cron}"` under on.schedule '
                    "(`gitops envs crons` lists every line the schedule needs)"
                )
    return problems


def nightly_crons(envs: Mapping[str, Environment], year: int | None = None) -> list[str]:
    """Every UTC cron expression the nightly destroy workflow must be scheduled at."""
    found = {cron for env in envs.values() if env.nightly for cron in env.nightly.crons(year)}
    return sorted(found, key=lambda c: tuple(int(x) for x in c.split()[1::-1]))


def main(argv: list[str] | None = None, envs_dir: Path = ENVS_DIR) -> int:
    parser = argparse.ArgumentParser(description="The environments envs/*/environment.toml "
                                     "describe.")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the names, one a line")
    sub.add_parser("check", help="validate every description; exit 1 on a problem")
    mat = sub.add_parser("matrix", help="a job matrix as JSON, for fromJSON()")
    mat.add_argument("kind", choices=MATRICES)
    mat.add_argument("--schedule", help="nightly-destroy: only environments due at this "
                     "UTC cron firing (github.event.schedule)")  # fmt: skip
    mat.add_argument("--date", type=date.fromisoformat, help="UTC date of that firing (default: "
                     "that of its latest firing at or before now)")  # fmt: skip
    where = mat.add_mutually_exclusive_group()
    where.add_argument("--aws", dest="emulated", action="store_false", default=None,
                       help="only AWS environments")  # fmt: skip
    where.add_argument("--emulated", dest="emulated", action="store_true", default=None,
                       help="only emulated (LocalStack) environments")  # fmt: skip
    mat.add_argument("--only", metavar="NAME", help="only this environment")
    mat.add_argument("--github-output", metavar="OUTPUT",
                     help="also set step output OUTPUT to the matrix ($GITHUB_OUTPUT)")  # fmt: skip
    sub.add_parser("crons", help="UTC cron expressions the nightly destroy must carry")
    args = parser.parse_args(argv)

    try:
        envs = load(envs_dir)
    except DescriptionError as err:
        for problem in err.problems:
            print(f"ERROR: {problem}", file=sys.stderr)
        return 1
    if args.command == "list":
        print("\n".join(envs))
    elif args.command == "check":
        # The AMI pins are checked here, not on every load: `make ami` must run to mend one.
        problems = ami_pin.problems(envs.values())
        # A description folder outside a checkout (tests, a copy of envs/) has no workflows.
        if (envs_dir.parent / ".github").is_dir():
            problems += schedule_problems(envs, envs_dir.parent / DESTROY_WORKFLOW)
        for problem in problems:
            print(f"ERROR: {problem}", file=sys.stderr)
        if problems:
            return 1
        for env in envs.values():
            kind = "emulated" if env.emulated else f"aws, state {env.state_key}, gate {env.gate}"
            print(f"ok {env.relpath}: {env.region}, {kind}")
    elif args.command == "crons":
        print("\n".join(nightly_crons(envs)))
    else:
        if args.schedule is not None and args.kind != "nightly-destroy":
            parser.error("--schedule applies to the nightly-destroy matrix only")
        if args.schedule is not None:
            try:
                daily_time(args.schedule)
            except ValueError as err:
                parser.error(f"--schedule: {err}")
        try:
            chosen = matrix(args.kind, envs, schedule=args.schedule, on=args.date,
                            emulated=args.emulated, only=args.only)  # fmt: skip
        except (UnknownEnvironment, ValueError) as err:
            print(f"ERROR: {err}", file=sys.stderr)
            return 1
        line = json.dumps(chosen, separators=(",", ":"))
        if args.github_output:
            set_outputs(os.environ, **{args.github_output: line})
        print(line)
    return 0
