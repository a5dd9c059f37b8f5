"""gitops.preview.cost and its price tables, over the real plan fixtures and the real modules.

Every test of a table runs for each region's table (scripts/gitops/preview/prices/<region>.json).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from datetime import date
from typing import Any

import pytest
from gitops import environments
from gitops.paths import REPO_ROOT
from gitops.preview import cost
from gitops.preview.cost import PriceTable, estimate, render, table_problems

PLANS = REPO_ROOT / "tests" / "fixtures" / "plans"
RESOURCE_BLOCK = re.compile(r'^\s*resource\s+"(aws_[a-z0-9_]+)"\s+"', re.MULTILINE)


def plan(name: str) -> dict[str, Any]:
    return json.loads((PLANS / f"{name}.json").read_text(encoding="utf-8"))


def stack_resource_types() -> set[str]:
    """Every AWS resource type the stack can create: resource blocks in modules/ and envs/."""
    types = set()
    for tf in [*REPO_ROOT.glob("modules/**/*.tf"), *REPO_ROOT.glob("envs/**/*.tf")]:
        if tf.is_file():
            types |= set(RESOURCE_BLOCK.findall(tf.read_text(encoding="utf-8")))
    return types


@pytest.fixture(scope="module", params=cost.regions())
def table(request: pytest.FixtureRequest) -> PriceTable:
    found = cost.table_for(request.param)
    assert found is not None
    return found


@pytest.fixture
def env_in(table: PriceTable, monkeypatch: pytest.MonkeyPatch) -> str:
    """The name of an AWS environment priced with `table`: the first one's, moved to its region."""
    envs = environments.load()
    name = next(n for n, env in envs.items() if not env.emulated)
    moved = dataclasses.replace(envs[name], region=table.region)
    real = cost.describe
    monkeypatch.setattr(cost, "describe", lambda asked: moved if asked == name else real(asked))
    return name


# --- the table -------------------------------------------------------------------------------


def test_every_resource_type_the_stack_can_create_is_in_the_table(table: PriceTable) -> None:
    types = stack_resource_types()
    assert {"aws_instance", "aws_db_instance", "aws_nat_gateway", "aws_eip"} <= types  # parsed
    unknown = sorted(types - table.resources.keys())
    assert not unknown, (
        f"billable or free? add to scripts/gitops/preview/prices/resources.json: {unknown}"
    )


def test_every_billed_type_has_a_cost_model(table: PriceTable) -> None:
    billed = {rtype for rtype, entry in table.resources.items() if "billed" in entry}
    assert billed == set(cost.COST_MODELS), "a billed type cost.items() ignores, or the reverse"


def test_the_real_table_has_a_date_and_a_source_for_every_price(table: PriceTable) -> None:
    assert table.prices, "an empty table would make every estimate 'not priced'"
    assert table_problems(table) == []


def test_each_table_is_named_after_its_region_and_prices_in_usd() -> None:
    for region in cost.regions():
        data = json.loads(cost.table_path(region).read_text(encoding="utf-8"))
        assert data["region"] == region, f"prices/{region}.json holds {data['region']}"
        assert data["currency"] == "USD" and data["location"], region
    assert cost.table_for("eu-west-1") is None, "a region without a table has none"


def test_every_dimension_is_one_the_cost_model_bills() -> None:
    table = cost.table_for(cost.regions()[0])
    billed = {d for entry in table.resources.values() for d in entry.get("billed", [])}
    sized = {"ec2_instance_hour", "rds_instance_hour"}  # DIMENSION:SIZE keys
    for key, entry in table.dimensions.items():
        dimension, _, size = key.partition(":")
        assert dimension in billed, f"{key}: not a dimension resources.json bills"
        assert bool(size) == (dimension in sized), f"{key}: a size where none belongs, or none"
        assert entry.get("unit"), f"{key}: no unit"


def test_every_table_prices_the_same_keys() -> None:
    """A region's table covers what the others do, so an environment moved between regions is
    priced the same way (a price no source has would be left out, and shown as not priced)."""
    keys = {region: set(cost.table_for(region).prices) for region in cost.regions()}
    every = set().union(*keys.values())
    assert {region: sorted(every - found) for region, found in keys.items()} == {
        region: [] for region in keys
    }


@pytest.mark.parametrize("missing", ["source", "read", "usd"])
def test_a_price_without_its_date_or_source_is_refused(table: PriceTable, missing: str) -> None:
    broken = copy.deepcopy(table)
    key = next(iter(broken.prices))
    del broken.prices[key][missing]
    problems = table_problems(broken)
    assert problems and all(key in p for p in problems)


def test_a_price_under_a_key_that_is_no_dimension_is_refused(table: PriceTable) -> None:
    """A misspelt key would never match what cost.items() asks for: the dimension would stay
    unpriced while the table seems to price it."""
    broken = copy.deepcopy(table)
    broken.prices["ec2_instance_hour:t3.mikro"] = next(iter(broken.prices.values()))
    del broken.dimensions["public_ipv4_hour"]["unit"]
    assert table_problems(broken) == [
        "price public_ipv4_hour: no dimension with a unit in prices/resources.json",
        "price ec2_instance_hour:t3.mikro: no dimension with a unit in prices/resources.json",
    ]


def test_a_price_read_in_the_future_or_from_a_plain_http_page_is_refused(
    table: PriceTable,
) -> None:
    broken = copy.deepcopy(table)
    key = next(iter(broken.prices))
    broken.prices[key]["read"] = "2999-01-01"
    broken.prices[key]["source"] = "http://example.com/prices"
    problems = table_problems(broken, today=date(2026, 11, 26))
    assert any("future" in p for p in problems) and any("source" in p for p in problems)


def test_a_type_neither_free_nor_billed_is_refused(table: PriceTable) -> None:
    broken = copy.deepcopy(table)
    broken.resources["aws_lb"] = {}
    broken.resources["aws_vpc"] = {"free": " "}
    problems = table_problems(broken)
    assert any("aws_lb" in p for p in problems) and any("aws_vpc" in p for p in problems)


def test_the_nightly_destroy_comes_from_the_environment_description() -> None:
    seoul = environments.get("seoul")
    assert seoul.nightly is not None and seoul.nightly.at == "23:07"
    assert cost.up_hours(seoul.nightly) == pytest.approx(23 + 7 / 60 - 9)
    assert environments.get("localstack").nightly is None


# --- estimates over the real plans -------------------------------------------------------------


def fixture_stack_hourly(table: PriceTable) -> float:
    """What the fixtures' stack (one t3.micro with a public IPv4 address, one secret) costs an
    hour with the table's prices; its root volume's size is known only after apply."""
    p = table.prices
    return (
        p["ec2_instance_hour:t3.micro"]["usd"]
        + p["public_ipv4_hour"]["usd"]
        + p["secretsmanager_secret_month"]["usd"] / table.hours_per_month
    )


def test_created_stack_prices_what_it_can_and_names_what_it_cannot(
    table: PriceTable, env_in: str
) -> None:
    est = estimate(plan("create"), table)
    assert est.before.hourly == 0 and not est.before.not_priced
    # Instance hours, its public IPv4 address and the secret are priced; the root volume's size
    # is known only after apply, so it is named, not guessed.
    hourly = fixture_stack_hourly(table)
    assert est.after.hourly == pytest.approx(hourly)
    assert dict(est.after.not_priced) == {"ebs root volume (size known after apply)": 1}
    text = "\n".join(render(env_in, est))
    assert f"(in {table.region};" in text
    assert "Not priced" in text and "`ebs root volume (size known after apply)`" in text
    # a day: a lower bound, said so, never a silent zero
    assert f"≥ {cost.usd(hourly * 24)} |" in text
    assert "$0.0000" not in text.split("difference")[0]


def test_destroy_shows_the_saving(table: PriceTable, env_in: str) -> None:
    est = estimate(plan("destroy"), table)
    assert est.after.hourly == 0
    hourly = fixture_stack_hourly(table)
    assert est.before.hourly == pytest.approx(hourly)
    text = "\n".join(render(env_in, est))
    assert cost.usd(-hourly, True) in text and cost.usd(-hourly * 730, True) in text


def test_no_changes_costs_the_same_before_and_after(table: PriceTable, env_in: str) -> None:
    est = estimate(plan("no_changes"), table)
    assert est.before.hourly == est.after.hourly == pytest.approx(fixture_stack_hourly(table))
    assert render(env_in, est, changed=False)[0].startswith("💰 Running cost unchanged")


def test_a_resource_type_the_table_does_not_know_is_not_priced_never_zero(
    table: PriceTable, env_in: str
) -> None:
    p = plan("create")
    extra = copy.deepcopy(p["resource_changes"][0])
    extra.update(address="aws_lb.front", type="aws_lb", name="front")
    p["resource_changes"].append(extra)
    est = estimate(p, table)
    assert any(k.startswith("aws_lb ") for k in est.after.not_priced)
    assert "aws_lb" in "\n".join(render(env_in, est))


def test_each_environment_is_priced_with_its_own_regions_table() -> None:
    for name in environments.names():
        described = environments.get(name)
        region = described.priced_as if described.emulated else described.region
        est = cost.for_environment(name, plan("create"))
        assert est.region == region, name
        if cost.table_for(region) is not None:
            assert not est.unpriced and est.after.hourly > 0, name


def test_an_emulated_environment_is_labelled_with_the_region_it_is_priced_as(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    local = environments.get("localstack")
    for region in cost.regions():
        moved = dataclasses.replace(local, priced_as=region)
        monkeypatch.setattr(cost, "describe", lambda name, moved=moved: moved)
        est = cost.for_environment("localstack", plan("create"))
        text = "\n".join(render("localstack", est))
        assert f"what the same stack would cost in {region}" in text
        assert est.after.hourly == pytest.approx(fixture_stack_hourly(cost.table_for(region)))
        assert "nightly destroy" not in text
    monkeypatch.setattr(cost, "describe", lambda name: dataclasses.replace(local, priced_as=None))
    text = "\n".join(render("localstack", cost.for_environment("localstack", plan("create"))))
    assert "not priced (localstack is emulated; `priced_as`" in text and "$" not in text


def test_an_environment_in_a_region_without_a_table_is_named_as_not_priced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    elsewhere = dataclasses.replace(environments.get("seoul"), region="eu-west-1")
    monkeypatch.setattr(cost, "describe", lambda name: elsewhere)
    text = "\n".join(render("seoul", cost.for_environment("seoul", plan("create"))))
    assert "not priced (no price table for eu-west-1" in text and "$" not in text


def test_prices_of_another_region_are_never_shown_for_an_environment(
    table: PriceTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = dataclasses.replace(environments.get("seoul"), region="eu-west-1")
    monkeypatch.setattr(cost, "describe", lambda name: elsewhere)
    text = "\n".join(render("seoul", estimate(plan("create"), table)))
    assert "not priced" in text and "eu-west-1" in text and "$" not in text


def test_a_name_that_is_no_environment_gets_no_label_and_no_nightly_line(
    table: PriceTable,
) -> None:
    text = "\n".join(render("bench", estimate(plan("create"), table)))
    assert f"(in {table.region};" in text and "nightly" not in text
    unpriced = "\n".join(render("bench", cost.for_environment("bench", plan("create"))))
    assert "not priced (no environment describes 'bench'" in unpriced


def test_seoul_shows_a_day_with_the_nightly_destroy_next_to_left_running() -> None:
    table = cost.table_for(environments.get("seoul").region)
    assert table is not None
    text = "\n".join(render("seoul", cost.for_environment("seoul", plan("create"))))
    hours = 23 + 7 / 60 - 9
    assert "nightly destroy (23:07 KST) and the next deploy at 09:00 KST" in text
    assert "14 h 07 min a day" in text
    hourly = fixture_stack_hourly(table)
    assert f"{cost.usd(hourly * hours)} a day**" in text
    assert f"{cost.usd(hourly * 24)} left running" in text


def test_rds_multi_az_storage_and_secret_are_counted_with_prices_given() -> None:
    values = {
        "engine": "mysql",
        "instance_class": "db.t3.micro",
        "allocated_storage": 20,
        "storage_type": "gp3",
        "multi_az": True,
        "manage_master_user_password": True,
        "enabled_cloudwatch_logs_exports": ["error"],
    }
    priced = PriceTable(
        region="test",
        currency="USD",
        hours_per_month=730,
        prices={
            "rds_instance_hour:mysql:db.t3.micro": {"usd": 0.1},
            "rds_gp3_gb_month": {"usd": 0.73},
            "secretsmanager_secret_month": {"usd": 7.3},
        },
        resources={"aws_db_instance": {"billed": ["rds"], "why": "x"}},
    )
    change = {"actions": ["create"], "before": None, "after": values}
    rc = {"address": "module.db.aws_db_instance.this[0]", "mode": "managed"}
    rc.update(type="aws_db_instance", change=change)
    est = estimate({"resource_changes": [rc]}, priced)
    # two instances (multi-AZ) + 2 x 20 GB at 0.73/GB-month + one secret at 7.3/month
    assert est.after.hourly == pytest.approx(2 * 0.1 + 40 * 0.73 / 730 + 7.3 / 730)
    assert est.after.usage["cloudwatch_logs_ingest_gb"] == 1
    assert est.after.complete


def test_a_web_tier_with_its_volume_monitoring_and_a_nat_gateway_is_fully_priced(
    table: PriceTable, env_in: str
) -> None:
    """The stack's variants the fixtures do not cover, with each real table: a known gp3
    root volume, detailed monitoring on, and a NAT gateway (whose data is usage, named)."""
    web = {
        "instance_type": "t3.micro",
        "associate_public_ip_address": True,
        "monitoring": True,
        "root_block_device": [{"volume_size": 8, "volume_type": "gp3"}],
    }
    changes = []
    for rtype, values in (("aws_instance", web), ("aws_nat_gateway", {}), ("aws_eip", {})):
        change = {"actions": ["create"], "before": None, "after": values}
        changes.append({"address": f"{rtype}.this", "mode": "managed", "type": rtype,
                        "change": change})  # fmt: skip
    est = estimate({"resource_changes": changes}, table)
    p = {key: entry["usd"] for key, entry in table.prices.items()}
    per_month = (8 * p["ebs_gp3_gb_month"] + p["cloudwatch_detailed_monitoring_month"]) / 730
    hourly = p["ec2_instance_hour:t3.micro"] + 2 * p["public_ipv4_hour"] + p["nat_gateway_hour"]
    assert est.after.complete, est.after.not_priced
    assert est.after.hourly == pytest.approx(hourly + per_month)
    assert est.after.usage["nat_gateway_gb"] == 1
    assert "Not priced" not in "\n".join(render(env_in, est))
