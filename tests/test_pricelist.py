"""gitops prices: checking the price tables, and writing a region's prices from a file of AWS's
own price data (the meteredUnitMaps feed), offline, on excerpts of the public snapshots the
tables cite (tests/fixtures/prices/, each naming the file it was cut from)."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from gitops.preview import cost, pricelist

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "prices"
TODAY = date(2026, 12, 7)


@pytest.fixture
def prices_dir(tmp_path: Path) -> Path:
    """A prices folder with the real resources.json and no region's table."""
    shutil.copy(cost.RESOURCES_FILE, tmp_path / cost.RESOURCES_FILE.name)
    return tmp_path


def feed(name: str) -> dict:
    return pricelist.read_feed(FIXTURES / name)


def source(name: str) -> str:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))["excerpt_of"]


def run_import(prices_dir: Path, name: str, **kwargs: str) -> list[str]:
    kwargs.setdefault("location", "Asia Pacific (Tokyo)")
    return pricelist.import_feed(
        feed(name), "ap-northeast-1", source(name), prices_dir=prices_dir, today=TODAY, **kwargs
    )


def load(prices_dir: Path, region: str = "ap-northeast-1") -> cost.PriceTable:
    return cost.PriceTable.load(cost.table_path(region, prices_dir), prices_dir / "resources.json")


def test_import_writes_the_committed_tokyo_prices_from_the_same_snapshots(
    prices_dir: Path,
) -> None:
    """The files the Tokyo table cites, put through the importer, give the table's figures."""
    lines = []
    for name in ("vpc.json", "ec2-ondemand-ap-northeast-1.json", "cloudwatch.json"):
        lines += run_import(prices_dir, name)
    written = load(prices_dir)
    committed = cost.table_for("ap-northeast-1")
    assert committed is not None
    assert written.prices.keys() == {
        "public_ipv4_hour", "vpc_endpoint_hour", "vpc_endpoint_gb",
        *(f"ec2_instance_hour:{t}.{s}" for t in ("t3", "t4g") for s in ("micro", "small",
                                                                           "medium")),
        "cloudwatch_logs_ingest_gb", "cloudwatch_logs_storage_gb_month",
        "cloudwatch_detailed_monitoring_month",
    }  # fmt: skip
    for key, price in written.prices.items():
        assert price["usd"] == committed.prices[key]["usd"], key
    assert cost.table_problems(written, today=TODAY) == []
    assert written.location == "Asia Pacific (Tokyo)" and written.region == "ap-northeast-1"
    ipv4 = written.prices["public_ipv4_hour"]
    assert ipv4["read"] == "2026-12-07" and ipv4["source"] == source("vpc.json")
    assert "hawkFilePublicationDate 2025-06-13T18:09:49Z" in ipv4["note"]
    assert "rateCode ZP85FQT9FHKJRAG5.JRTCKXETXF.6YS6EN2CT7" in ipv4["note"]
    assert "times 7" in written.prices["cloudwatch_detailed_monitoring_month"]["note"]
    assert "priced: ec2_instance_hour:t3.micro = 0.0136 USD" in "\n".join(lines)


def test_a_price_the_file_lacks_is_named_and_left_out(prices_dir: Path) -> None:
    lines = run_import(prices_dir, "cloudwatch.json")
    assert "cloudwatch_detailed_monitoring_month" in load(prices_dir).prices
    text = json.loads((FIXTURES / "cloudwatch.json").read_text(encoding="utf-8"))
    del text["regions"]["Asia Pacific (Tokyo)"]["Stored Data"]
    lines = pricelist.import_feed(
        text, "ap-northeast-2", "https://example.com/cw.json",
        location="Asia Pacific (Tokyo)", prices_dir=prices_dir, today=TODAY,
    )  # fmt: skip
    assert "not priced: cloudwatch_logs_storage_gb_month: no positive price for 'Stored Data'" in (
        "\n".join(lines)
    )
    assert "cloudwatch_logs_storage_gb_month" not in load(prices_dir, "ap-northeast-2").prices


def test_a_second_import_keeps_what_other_files_and_the_user_wrote(prices_dir: Path) -> None:
    run_import(prices_dir, "vpc.json")
    path = cost.table_path("ap-northeast-1", prices_dir)
    table = json.loads(path.read_text(encoding="utf-8"))
    table["about"] = "my own words"
    by_hand = {"usd": 0.138, "source": "https://example.com/rds", "read": "2026-12-01"}
    table["prices"]["rds_gp3_gb_month"] = {**by_hand, "note": "read by hand"}
    path.write_text(json.dumps(table), encoding="utf-8")
    run_import(prices_dir, "ec2-ondemand-ap-northeast-1.json", location="")  # the table knows it
    again = json.loads(path.read_text(encoding="utf-8"))
    assert again["about"] == "my own words"
    assert again["prices"]["rds_gp3_gb_month"]["note"] == "read by hand"
    assert again["prices"]["public_ipv4_hour"] == table["prices"]["public_ipv4_hour"]
    assert again["prices"]["ec2_instance_hour:t3.micro"]["usd"] == 0.0136
    # In the order resources.json lists the dimensions, so a diff stays readable.
    order = list(json.loads(cost.RESOURCES_FILE.read_text(encoding="utf-8"))["dimensions"])
    assert list(again["prices"]) == sorted(again["prices"], key=order.index)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"location": "Asia Pacific (Edo)"}, "the file has no prices for 'Asia Pacific (Edo)'; "
                                             "it has: Asia Pacific (Seoul), Asia Pacific (Tokyo)"),
        ({"location": ""}, "--location: the name of ap-northeast-1 in AWS's price data"),
        ({"source": "http://example.com/vpc.json"}, "--source 'http://example.com/vpc.json'"),
        ({"region": "../../etc"}, "--region '../../etc': a region's code"),
    ],
)  # fmt: skip
def test_a_bad_location_source_or_region_is_refused_before_anything_is_written(
    prices_dir: Path, change: dict[str, str], expected: str
) -> None:
    args = {"region": "ap-northeast-1", "source": source("vpc.json"),
            "location": "Asia Pacific (Tokyo)", **change}  # fmt: skip
    with pytest.raises(pricelist.PriceFileError) as err:
        pricelist.import_feed(feed("vpc.json"), prices_dir=prices_dir, today=TODAY, **args)
    assert str(err.value).startswith(expected)
    assert sorted(p.name for p in prices_dir.iterdir()) == ["resources.json"]


def test_a_file_that_is_not_aws_price_data_is_refused(tmp_path: Path, prices_dir: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"products": {}}', encoding="utf-8")
    with pytest.raises(pricelist.PriceFileError, match="not a file of AWS's meteredUnitMaps"):
        pricelist.read_feed(bad)
    text = json.loads((FIXTURES / "vpc.json").read_text(encoding="utf-8"))
    text["manifest"]["currencyCode"] = "CNY"
    bad.write_text(json.dumps(text), encoding="utf-8")
    with pytest.raises(pricelist.PriceFileError, match="prices in 'CNY', not USD"):
        pricelist.read_feed(bad)
    text["manifest"].update(currencyCode="USD", source="lambda")
    with pytest.raises(pricelist.PriceFileError, match="no price is read from a 'lambda' file"):
        pricelist.import_feed(text, "ap-northeast-1", source("vpc.json"),
                              location="Asia Pacific (Tokyo)", prices_dir=prices_dir)  # fmt: skip


def test_the_command_checks_the_tables_and_imports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert pricelist.main(["check"]) == 0
    out = capsys.readouterr().out
    assert all(f"ok {region}.json:" in out for region in cost.regions())
    shutil.copy(cost.RESOURCES_FILE, tmp_path / "resources.json")
    args = ["import", str(FIXTURES / "vpc.json"), "--region", "ap-northeast-1",
            "--source", source("vpc.json"), "--location", "Asia Pacific (Tokyo)"]  # fmt: skip
    assert pricelist.main(args, prices_dir=tmp_path) == 0
    assert "priced: public_ipv4_hour = 0.005 USD" in capsys.readouterr().out
    assert pricelist.main([*args[:-1], "Nowhere"], prices_dir=tmp_path) == 1
    assert "ERROR: the file has no prices for 'Nowhere'" in capsys.readouterr().err
    broken = json.loads((tmp_path / "ap-northeast-1.json").read_text(encoding="utf-8"))
    broken["prices"]["public_ipv4_hour"]["read"] = "someday"
    (tmp_path / "ap-northeast-1.json").write_text(json.dumps(broken), encoding="utf-8")
    assert pricelist.main(["check"], prices_dir=tmp_path) == 1
    assert "ERROR: ap-northeast-1.json: price public_ipv4_hour: no date" in capsys.readouterr().out
