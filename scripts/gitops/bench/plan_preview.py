"""How fast the plan preview renders big plans: prints figures, asserts nothing.

    gitops bench-plan-preview [--sizes 3000 10000] [--runs 5]

Each size is a synthetic plan of that many resource changes, cloned from the real plans in
tests/fixtures/plans/ (an instance replaced through user_data, a VPC updated in place, a subnet
destroyed, a SecureString parameter created: a quarter each), spread over 50 modules, with the
prior state and planned values of each resource as a real plan carries them. The plan is
written to a temporary file and put through what the CLI does: read and parse the JSON, gather
its secrets, build the model (with the plan digest; "bench" is no environment, so its cost is
not priced there), render the comment and the long summary. Figures are the median of --runs
runs, in seconds; "cost+digest" is what scripts/gitops/preview/cost.py (with the first region's
price table) and scripts/gitops/preview/digest.py take on their own.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gitops.paths import REPO_ROOT
from gitops.preview import cost, model, render
from gitops.preview import digest as plan_digest

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "plans"
BENCH_PRICES = cost.PriceTable.load(cost.table_path(cost.regions()[0]))
TEMPLATES = (
    ("replace", "module.web.aws_instance.this"),
    ("update", "module.network.aws_vpc.this"),
    ("destroy", "module.network.aws_subnet.public"),
    ("create", "aws_ssm_parameter.db_password"),
)


def synthetic_plan(count: int, modules: int = 50) -> dict[str, Any]:
    """count resource changes, with the prior state and planned values a real plan carries."""
    plans = {name: json.loads((FIXTURES / f"{name}.json").read_text()) for name, _ in TEMPLATES}
    templates = [
        next(rc for rc in plans[name]["resource_changes"] if rc["address"] == address)
        for name, address in TEMPLATES
    ]
    plan = plans["replace"]
    changes = []
    prior: dict[str, list[dict[str, Any]]] = {}
    planned: dict[str, list[dict[str, Any]]] = {}
    for i in range(count):
        template = templates[i % len(templates)]
        module = f"module.svc{i % modules}"
        address = f"{module}.{template['type']}.n{i}"
        changes.append(dict(template, address=address, module_address=module))
        change = template["change"]
        common = {"address": address, "mode": "managed", "type": template["type"], "name": f"n{i}"}
        if change.get("before") is not None:
            prior.setdefault(module, []).append(
                {**common, "values": change["before"], "sensitive_values": {}}
            )
        if change.get("after") is not None:
            planned.setdefault(module, []).append(
                {**common, "values": change["after"], "sensitive_values": {}}
            )
    plan["resource_changes"] = changes
    plan["prior_state"]["values"]["root_module"] = {
        "child_modules": [{"address": m, "resources": r} for m, r in prior.items()]
    }
    plan["planned_values"]["root_module"] = {
        "child_modules": [{"address": m, "resources": r} for m, r in planned.items()]
    }
    return plan


def run_once(path: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    envs = model.build([("bench", path)], [], [])
    t1 = time.perf_counter()
    comment = render.build_comment(envs, render.where_full("summary.md", None))
    t2 = time.perf_counter()
    summary = render.build_summary(envs)
    t3 = time.perf_counter()
    plan = json.loads(path.read_text())
    t4 = time.perf_counter()
    cost.estimate(plan, BENCH_PRICES)
    plan_digest.digest(plan)
    t5 = time.perf_counter()
    return {
        "cost+digest": t5 - t4,
        "parse+model": t1 - t0,
        "comment": t2 - t1,
        "summary": t3 - t2,
        "total": t3 - t0,
        "comment_chars": float(len(comment)),
        "summary_bytes": float(len(summary.encode())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3000, 10000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, median of {args.runs} runs, seconds")
    header = (
        f"{'changes':>8} {'plan MB':>8} {'parse+model':>12} {'cost+digest':>12} "
        f"{'comment':>8} {'summary':>8} "
        f"{'total':>7} {'comment chars':>14} {'summary KB':>11}"
    )
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path = Path(tmp) / f"plan-{size}.json"
            path.write_text(json.dumps(synthetic_plan(size)))
            runs = [run_once(path) for _ in range(args.runs)]
            med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            print(
                f"{size:>8} {path.stat().st_size / 1e6:>8.1f} {med['parse+model']:>12.3f} "
                f"{med['cost+digest']:>12.3f} "
                f"{med['comment']:>8.3f} {med['summary']:>8.3f} {med['total']:>7.3f} "
                f"{int(med['comment_chars']):>14} {med['summary_bytes'] / 1024:>11.0f}"
            )
    return 0
