"""Benchmark `make e2e`: run the local pipeline several times and print each stage's median.

    gitops bench-e2e [--runs N]      (make bench)

Run it after `make setup` (so setup is cached and not measured). Figures, not a pass/fail:
this prints what it measured and where, for docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

from gitops.paths import E2E_DIR, REPO_ROOT

REPORT = E2E_DIR / "report.json"
STAGES = ("up", "smoke", "down")


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or platform.machine(),
    ) if Path("/proc/cpuinfo").exists() else platform.machine()  # fmt: skip
    mem = ""
    if Path("/proc/meminfo").exists():
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    return f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    per_stage: dict[str, list[float]] = {s: [] for s in STAGES}
    totals: list[float] = []
    for run in range(1, args.runs + 1):
        began = time.monotonic()
        print(f"[bench] run {run}/{args.runs}: make e2e ...", flush=True)
        proc = subprocess.run(
            ["make", "--no-print-directory", "e2e"],  # what it benchmarks: the front door
            cwd=REPO_ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = time.monotonic() - began
        if proc.returncode != 0:
            print(proc.stdout[-3000:] + proc.stderr[-3000:])
            print(f"[bench] run {run} failed (exit {proc.returncode}); figures would mislead")
            return 1
        report = json.loads(REPORT.read_text(encoding="utf-8"))
        for stage in report["stages"]:
            per_stage[stage["stage"]].append(stage["seconds"])
        totals.append(wall)
        times = ", ".join(f"{s['stage']} {s['seconds']:.1f}s" for s in report["stages"])
        print(f"[bench] run {run}: {wall:.1f}s ({times})", flush=True)
    print(f"\nmachine: {machine()}")
    print(f"runs: {args.runs}\n\n| stage | median s | min s | max s |\n|---|--:|--:|--:|")
    for stage, values in [*per_stage.items(), ("total (wall)", totals)]:
        print(
            f"| {stage} | {statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f} |"
        )
    return 0
