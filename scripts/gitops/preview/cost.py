"""Estimate what a planned stack costs to run in its region, offline, from the plan JSON.

    estimate = cost.for_environment(env_name, plan)  # plan: what `terraform show -json` printed
    lines = cost.render(env_name, estimate)          # Markdown for the plan-preview comment

Prices come from the table of the environment's region, prices/<region>.json beside this module
(on-demand list prices, each with the page it was read from and the day); an emulated
environment is priced in the region its description names (`priced_as`), and a region with no
table is named as not priced. prices/resources.json says, for every resource type the stack can
create, whether it is billed and by what, or why it is free, in every region.
Nothing is guessed:

- a billed dimension whose price is not in the table (an instance type nobody priced, a
  volume type without a price) is listed as *not priced* and left out of the sums, which then
  read "at least";
- a resource type the table does not know is listed as not priced too, never as zero;
- usage-based charges (GB processed, logs ingested, API calls) are named, not estimated.

"After the change" is every managed resource the plan leaves in place or creates (its `after`
values); "before" is every one that exists now (its `before` values); the difference is what
the change adds or saves. Standard library only, one pass over resource_changes.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from gitops import environments

PRICES_DIR = Path(__file__).resolve().parent / "prices"
RESOURCES_FILE = PRICES_DIR / "resources.json"  # region-independent: what each type is billed by
HOURS_PER_DAY = 24
# An environment with a nightly destroy (envs/<name>/environment.toml, [nightly_destroy]) is
# recreated by the next deploy; when that is is up to people, so the estimate assumes the start
# of a working day in the environment's time zone, and says so.
ASSUMED_DEPLOY_AT = "09:00"

# Kinds of billed item: per hour, per month (GB-month, secret-month), or usage (not estimated).
HOUR, MONTH, USAGE = "hour", "month", "usage"


@dataclass
class PriceTable:
    region: str
    currency: str
    hours_per_month: float
    prices: dict[str, dict[str, Any]]
    resources: dict[str, dict[str, Any]]
    location: str = ""  # the region's name in AWS's price data: "Asia Pacific (Seoul)"
    # Every price key a table may hold, with its unit (and where `gitops prices import` finds it).
    dimensions: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, resources: Path = RESOURCES_FILE) -> PriceTable:
        """A region's table (prices/<region>.json) with the shared resources.json."""
        data = json.loads(path.read_text(encoding="utf-8"))
        shared = json.loads(resources.read_text(encoding="utf-8"))
        return cls(
            region=data["region"],
            currency=data["currency"],
            hours_per_month=float(shared["hours_per_month"]),
            prices=data["prices"],
            resources=shared["resources"],
            location=data.get("location", ""),
            dimensions=shared["dimensions"],
        )


def table_path(region: str, prices_dir: Path = PRICES_DIR) -> Path:
    return prices_dir / f"{region}.json"


def regions(prices_dir: Path = PRICES_DIR) -> tuple[str, ...]:
    """The regions with a price table, sorted."""
    return tuple(sorted(p.stem for p in prices_dir.glob("*.json") if p.name != RESOURCES_FILE.name))


@functools.cache
def table_for(region: str) -> PriceTable | None:
    """The price table of `region`, or None when it has none (its costs show as not priced)."""
    path = table_path(region)
    return PriceTable.load(path) if region in regions() else None


@dataclass
class Side:
    """The running cost of one state of the stack (before or after the change)."""

    hourly: float = 0.0
    not_priced: Counter[str] = field(default_factory=Counter)
    usage: Counter[str] = field(default_factory=Counter)

    @property
    def complete(self) -> bool:
        return not self.not_priced


@dataclass
class Estimate:
    region: str | None  # whose prices these are; None: no region to price in
    hours_per_month: float
    before: Side
    after: Side
    unpriced: str = ""  # why nothing is priced (no table for the region, ...); "" when priced


def _first(value: object) -> dict[str, Any]:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    return {}


def items(rtype: str, values: dict[str, Any]) -> list[tuple[str, float, str]]:
    """What one resource is billed for: (price key, quantity, kind). Unknown values give a key
    that no price matches, so they show as not priced."""
    if rtype == "aws_instance":
        out = [(f"ec2_instance_hour:{values.get('instance_type') or 'unknown'}", 1, HOUR)]
        root = _first(values.get("root_block_device"))
        size, vtype = root.get("volume_size"), root.get("volume_type")
        if size and vtype:
            out.append((f"ebs_{vtype}_gb_month", float(size), MONTH))
        else:
            out.append(("ebs root volume (size known after apply)", 1, MONTH))
        if values.get("associate_public_ip_address"):
            out.append(("public_ipv4_hour", 1, HOUR))
        if values.get("monitoring"):
            out.append(("cloudwatch_detailed_monitoring_month", 1, MONTH))
        return out
    if rtype == "aws_db_instance":
        copies = 2 if values.get("multi_az") else 1
        engine = values.get("engine") or "unknown"
        cls = values.get("instance_class") or "unknown"
        out = [(f"rds_instance_hour:{engine}:{cls}", copies, HOUR)]
        storage = values.get("allocated_storage")
        stype = values.get("storage_type") or "unknown"
        if storage:
            out.append((f"rds_{stype}_gb_month", float(storage) * copies, MONTH))
        if values.get("manage_master_user_password"):
            out.append(("secretsmanager_secret_month", 1, MONTH))
        if values.get("enabled_cloudwatch_logs_exports"):
            out.append(("cloudwatch_logs_ingest_gb", 1, USAGE))
        return out
    if rtype == "aws_nat_gateway":
        return [("nat_gateway_hour", 1, HOUR), ("nat_gateway_gb", 1, USAGE)]
    if rtype == "aws_eip":
        return [("public_ipv4_hour", 1, HOUR)]
    if rtype == "aws_secretsmanager_secret":
        return [("secretsmanager_secret_month", 1, MONTH), ("secretsmanager_api_10k", 1, USAGE)]
    if rtype == "aws_vpc_endpoint":
        if (values.get("vpc_endpoint_type") or "Gateway") == "Gateway":
            return []
        zones = len(values.get("subnet_ids") or []) or 1
        return [("vpc_endpoint_hour", zones, HOUR), ("vpc_endpoint_gb", 1, USAGE)]
    if rtype == "aws_cloudwatch_log_group":
        return [
            ("cloudwatch_logs_ingest_gb", 1, USAGE),
            ("cloudwatch_logs_storage_gb_month", 1, USAGE),
        ]
    return []


# Resource types items() knows how to bill; a billed type missing here is caught by a test.
COST_MODELS = frozenset(
    {
        "aws_instance",
        "aws_db_instance",
        "aws_nat_gateway",
        "aws_eip",
        "aws_secretsmanager_secret",
        "aws_vpc_endpoint",
        "aws_cloudwatch_log_group",
    }
)


def _add(side: Side, table: PriceTable, rtype: str, values: dict[str, Any]) -> None:
    entry = table.resources.get(rtype)
    if entry is None:
        side.not_priced[f"{rtype} (a resource type the price table does not know)"] += 1
        return
    if "free" in entry:
        return
    for key, quantity, kind in items(rtype, values):
        if kind == USAGE:
            side.usage[key] += 1
            continue
        price = table.prices.get(key)
        if price is None:
            side.not_priced[key] += 1
            continue
        per = 1.0 if kind == HOUR else table.hours_per_month
        side.hourly += float(price["usd"]) * quantity / per


def estimate(plan: dict[str, Any], table: PriceTable) -> Estimate:
    """The stack's running cost before and after the plan, from its resource changes."""
    before, after = Side(), Side()
    for rc in plan.get("resource_changes") or []:
        if rc.get("mode") != "managed":
            continue
        change = rc.get("change") or {}
        actions = change.get("actions") or []
        rtype = rc.get("type", "")
        if actions != ["create"] and isinstance(change.get("before"), dict):
            _add(before, table, rtype, change["before"])
        if actions not in (["delete"], ["forget"]) and isinstance(change.get("after"), dict):
            _add(after, table, rtype, change["after"])
    return Estimate(table.region, table.hours_per_month, before, after)


@functools.cache
def describe(env_name: str) -> environments.Environment | None:
    """The environment's description, or None for a name that is not an environment."""
    try:
        return environments.get(env_name)
    except (environments.UnknownEnvironment, environments.DescriptionError):
        return None


def price_region(env_name: str) -> str | None:
    """The region whose prices apply to an environment: its own, or for an emulated one the
    region its description names (`priced_as`); None for no environment or no such region."""
    described = describe(env_name)
    if described is None:
        return None
    return described.priced_as if described.emulated else described.region


def for_environment(env_name: str, plan: dict[str, Any]) -> Estimate:
    """The estimate of `plan` with the prices of the environment's region, or an unpriced one
    that says why (no environment of that name, no region to price in, no table for it)."""
    region = price_region(env_name)
    table = table_for(region) if region else None
    if table is not None:
        return estimate(plan, table)
    described = describe(env_name)
    if described is None:
        why = f"no environment describes {env_name!r}, so there is no region to price it in"
    elif region is None:
        why = (f"{env_name} is emulated; `priced_as` in envs/{env_name}/environment.toml names "
               "the AWS region whose prices it would show")  # fmt: skip
    else:
        why = (f"no price table for {region}: scripts/gitops/preview/prices/{region}.json, "
               "docs/PLAN_PREVIEW.md says how to add one")  # fmt: skip
    return Estimate(region, 0.0, Side(), Side(), unpriced=why)


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def table_problems(table: PriceTable, today: date | None = None) -> list[str]:
    """What is wrong with the price table: a price without a positive amount, an https source
    or the date it was read (not in the future), or under a key that is no dimension (with a
    unit) of resources.json; a resource type neither billed (by what, and why) nor free (and
    why). Empty when it is sound."""
    today = today or date.today()
    problems = []
    for key, price in table.prices.items():
        if not isinstance(price.get("usd"), int | float) or price["usd"] <= 0:
            problems.append(f"price {key}: no positive usd amount")
        if not (table.dimensions.get(key) or {}).get("unit"):
            problems.append(f"price {key}: no dimension with a unit in prices/resources.json")
        if not str(price.get("source", "")).startswith("https://"):
            problems.append(f"price {key}: no source (an https:// page)")
        read = str(price.get("read", ""))
        if not _DATE.fullmatch(read):
            problems.append(f"price {key}: no date it was read (YYYY-MM-DD)")
        elif date.fromisoformat(read) > today:
            problems.append(f"price {key}: read on {read}, a date in the future")
    for rtype, entry in table.resources.items():
        if "free" in entry:
            if not str(entry["free"]).strip():
                problems.append(f"resource {rtype}: free, but not why")
        elif not entry.get("billed") or not entry.get("why"):
            problems.append(f"resource {rtype}: neither free (and why) nor billed (by what, why)")
    return problems


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def usd(amount: float, signed: bool = False) -> str:
    digits = 4 if abs(amount) < 0.1 else 2
    text = f"${abs(amount):,.{digits}f}"
    if signed:
        return ("+" if amount >= 0 else "−") + text
    return text


def _hours(hhmm: str) -> float:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return hour + minute / 60


def up_hours(nightly: environments.Nightly) -> float:
    """Hours a day the stack exists when destroyed at `nightly.at` and deployed at 09:00."""
    return (_hours(nightly.at) - _hours(ASSUMED_DEPLOY_AT)) % 24


def _hm(hours: float) -> str:
    whole = int(hours)
    return f"{whole} h {round((hours - whole) * 60):02d} min"


def _listing(counter: Counter[str], limit: int = 8) -> str:
    parts = [f"`{key}`" + (f" ×{n}" if n > 1 else "") for key, n in counter.most_common(limit)]
    if len(counter) > limit:
        parts.append(f"and {len(counter) - limit} more")
    return ", ".join(parts)


def render(env_name: str, est: Estimate, changed: bool = True) -> list[str]:
    """The cost block of one environment in the preview; one line when nothing changes."""
    described = describe(env_name)
    expected = price_region(env_name)
    if est.unpriced:
        return [f"💰 Running cost: not priced ({est.unpriced}).", ""]
    if described is not None and expected != est.region:
        return [
            f"💰 Running cost: not priced (the prices are for {est.region}, this environment "
            f"is priced in {expected}).",
            "",
        ]
    where = f"in {est.region}"
    if described is not None and described.emulated:
        where = f"what the same stack would cost in {est.region}"
    after, before = est.after, est.before
    at_least = "" if after.complete else "≥ "
    if not changed:
        unpriced = f"; not priced: {_listing(after.not_priced)}" if after.not_priced else ""
        return [
            f"💰 Running cost unchanged ({where}): {at_least}{usd(after.hourly * HOURS_PER_DAY)} "
            f"a day, {at_least}{usd(after.hourly * est.hours_per_month)} a month{unpriced}.",
            "",
        ]
    delta = after.hourly - before.hourly
    approx = "" if after.complete and before.complete else " (priced items only)"
    lines = [
        f"**💰 Estimated running cost** ({where}; on-demand list prices, before tax)",
        "",
        "| | per hour | per day | per month |",
        "|:--|--:|--:|--:|",
        f"| after this change | {at_least}{usd(after.hourly)} | "
        f"{at_least}{usd(after.hourly * HOURS_PER_DAY)} | "
        f"{at_least}{usd(after.hourly * est.hours_per_month)} |",
        f"| difference{approx} | {usd(delta, True)} | {usd(delta * HOURS_PER_DAY, True)} | "
        f"{usd(delta * est.hours_per_month, True)} |",
        "",
    ]
    nightly = described.nightly if described is not None else None
    if nightly is not None:
        hours = up_hours(nightly)
        zone = datetime.now(ZoneInfo(nightly.time_zone)).tzname() or nightly.time_zone
        lines += [
            f"With the nightly destroy ({nightly.at} {zone}) and the next deploy at "
            f"{ASSUMED_DEPLOY_AT} {zone}, the stack exists {_hm(hours)} a day: "
            f"**{at_least}{usd(after.hourly * hours)} a day**, against "
            f"{at_least}{usd(after.hourly * HOURS_PER_DAY)} left running "
            "(a day with no deploy costs nothing).",
            "",
        ]
    if after.not_priced:
        lines += [
            "⚠️ **Not priced** (left out of the sums, never counted as zero): "
            + _listing(after.not_priced)
            + ".",
            "",
        ]
    if after.usage:
        lines += ["Usage-based, not estimated: " + _listing(after.usage) + ".", ""]
    return lines
