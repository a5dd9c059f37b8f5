"""Check the price tables, or write a region's prices from a file of AWS's own price data.

    gitops prices check
    gitops prices import FILE --region REGION --source URL [--location NAME]

`check` prints each table (scripts/gitops/preview/prices/<region>.json) or what is wrong with
it, as tests/test_cost.py does, and exits 1 on a problem.

`import` reads FILE, one file of the price data AWS's pricing pages render (the meteredUnitMaps
feed, https://b0.p.awsstatic.com/pricing/2.0/meteredUnitMaps/<service>/USD/current/<file>.json,
downloaded as it is, or a snapshot of one), and writes into prices/<REGION>.json every price
that prices/resources.json says comes from that file (`dimensions`, `import`: the file's
manifest `source`, and the entry's label or attributes). Each price gets the --source URL (the
https address FILE was downloaded from, or of the public snapshot), today's date and a note
naming the file's publication date, the entry and its rate code. LOCATION is the region's name
in the feed ("Asia Pacific (Tokyo)"); a new table needs it once, then the table remembers it.
A price the file lacks is reported and left out, so the preview shows it as not priced; prices
of other files, and everything else in the table, stay as they are. docs/PLAN_PREVIEW.md,
"Add a region's prices", walks through it.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from gitops import environments
from gitops.preview import cost


class PriceFileError(ValueError):
    """The file, the region or the table is not what an import can work with."""


def read_feed(path: Path) -> dict[str, Any]:
    """A meteredUnitMaps file: {"manifest": {"source", "currencyCode", ...}, "regions": {...}}."""
    try:
        feed = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise PriceFileError(f"{path}: cannot read it as JSON: {err}") from None
    manifest = feed.get("manifest") if isinstance(feed, dict) else None
    if not isinstance(manifest, dict) or not isinstance(feed.get("regions"), dict):
        raise PriceFileError(
            f"{path}: not a file of AWS's meteredUnitMaps price data (no manifest and regions)"
        )
    if manifest.get("currencyCode") != "USD":
        raise PriceFileError(f"{path}: prices in {manifest.get('currencyCode')!r}, not USD")
    if not manifest.get("source"):
        raise PriceFileError(f"{path}: its manifest names no source (which feed it is)")
    return feed


def find(entries: dict[str, Any], rule: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The entry a dimension's import rule names: by its label, or the one entry whose
    attributes match; None when there is none."""
    if "label" in rule:
        entry = entries.get(rule["label"])
        return (rule["label"], entry) if isinstance(entry, dict) else None
    matches = [
        (label, entry)
        for label, entry in entries.items()
        if isinstance(entry, dict) and all(entry.get(k) == v for k, v in rule["match"].items())
    ]
    if len({entry.get("price") for _, entry in matches}) > 1:
        labels = ", ".join(label for label, _ in matches)
        raise PriceFileError(f"{rule['match']} matches entries of different prices: {labels}")
    return matches[0] if matches else None


def import_feed(
    feed: dict[str, Any],
    region: str,
    source: str,
    location: str | None = None,
    prices_dir: Path = cost.PRICES_DIR,
    today: date | None = None,
) -> list[str]:
    """Write the prices `feed` holds for `region` into its table; one line per price key."""
    if not environments.REGION_NAME.match(region):
        raise PriceFileError(f"--region {region!r}: a region's code, such as ap-northeast-1")
    if not source.startswith("https://"):
        raise PriceFileError(f"--source {source!r}: the https:// address the file came from")
    path = cost.table_path(region, prices_dir)
    table = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    if table is not None and table.get("region") != region:
        raise PriceFileError(f"{path} holds the prices of {table.get('region')!r}")
    location = location or (table or {}).get("location")
    if not location:
        raise PriceFileError(
            f"--location: the name of {region} in AWS's price data, such as "
            '"Asia Pacific (Tokyo)" (the feed\'s regions; AWS lists them at '
            "https://b0.p.awsstatic.com/locations/1.0/aws/current/locations.json)"
        )
    entries = feed["regions"].get(location)
    if not isinstance(entries, dict):
        known = ", ".join(sorted(feed["regions"]))
        raise PriceFileError(f"the file has no prices for {location!r}; it has: {known}")
    shared = json.loads((prices_dir / cost.RESOURCES_FILE.name).read_text(encoding="utf-8"))
    manifest = feed["manifest"]
    wanted = {
        key: d["import"]
        for key, d in shared["dimensions"].items()
        if (d.get("import") or {}).get("feed") == manifest["source"]
    }
    if not wanted:
        feeds = {d["import"]["feed"] for d in shared["dimensions"].values() if "import" in d}
        raise PriceFileError(
            f"no price is read from a {manifest['source']!r} file; prices/resources.json reads "
            f"these: {', '.join(sorted(feeds))}"
        )
    table = table or {
        "region": region,
        "currency": "USD",
        "location": location,
        "about": f"On-demand list prices for {location}, read by scripts/gitops/preview/cost.py "
        f"for every environment in {region} (resources.json beside it says what each resource "
        "type is billed by). Every price names the page it was read from and the day it was "
        "read; a price no source has is left out, and the preview shows it as not priced.",
        "prices": {},
    }
    today = today or date.today()
    published = manifest.get("hawkFilePublicationDate", "not stated")
    lines = []
    for key, rule in wanted.items():
        found = find(entries, rule)
        what = rule.get("label") or rule.get("match")
        if found is None or float(found[1].get("price") or 0) <= 0:
            lines.append(f"not priced: {key}: no positive price for {what!r} in {location!r}")
            continue
        label, entry = found
        times = rule.get("times", 1)
        usd = round(float(entry["price"]) * times, 10)
        rate = f" (rateCode {entry['rateCode']})" if entry.get("rateCode") else ""
        factor = f", times {times:,}" if times != 1 else ""
        table["prices"][key] = {
            "usd": int(usd) if usd == int(usd) else usd,
            "source": source,
            "read": today.isoformat(),
            "note": f"Read by `gitops prices import` from AWS's price data (meteredUnitMaps, "
            f"source {manifest['source']}, hawkFilePublicationDate {published}): "
            f"regions[{json.dumps(location)}][{json.dumps(label)}] = {entry['price']}{rate}"
            f"{factor}.",
        }
        lines.append(f"priced: {key} = {usd} USD ({label}{rate})")
    order = list(shared["dimensions"])
    table["prices"] = dict(
        sorted(table["prices"].items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 0)
    )
    path.write_text(json.dumps(table, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return lines


def check(prices_dir: Path = cost.PRICES_DIR) -> list[str]:
    """One line per table: ok, or ERROR with each problem."""
    lines = []
    for region in cost.regions(prices_dir):
        path = cost.table_path(region, prices_dir)
        problems = cost.table_problems(cost.PriceTable.load(path, prices_dir / "resources.json"))
        lines += [f"ERROR: {path.name}: {p}" for p in problems]
        if not problems:
            table = json.loads(path.read_text(encoding="utf-8"))
            lines.append(f"ok {path.name}: {len(table['prices'])} prices, {table['location']}")
    return lines


def main(argv: list[str] | None = None, prices_dir: Path = cost.PRICES_DIR) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="check every region's price table; exit 1 on a problem")
    imp = sub.add_parser("import", help="write a region's prices from a meteredUnitMaps file")
    imp.add_argument("file", type=Path, help="the downloaded file of AWS's price data")
    imp.add_argument("--region", required=True, help="the region's code, such as ap-northeast-1")
    imp.add_argument("--source", required=True, help="https address the file came from")
    imp.add_argument("--location", help='its name in the file, such as "Asia Pacific (Tokyo)"')
    args = parser.parse_args(argv)
    if args.command == "check":
        lines = check(prices_dir)
        print("\n".join(lines))
        return 1 if any(line.startswith("ERROR") for line in lines) else 0
    try:
        feed = read_feed(args.file)
        lines = import_feed(feed, args.region, args.source, args.location, prices_dir)
    except PriceFileError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    path = cost.table_path(args.region, prices_dir)
    print(f"wrote {path}: review the diff and `gitops prices check`, then commit it")
    return 0
