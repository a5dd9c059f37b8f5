"""Benchmark the test tiers: run each tier's make target once and print its wall time.

    gitops bench-tests [--tier test-unit --tier test ...]      (make bench-tests)

Run it after `make setup` (setup is not measured), on a machine doing nothing else: the figures
are for docs/PERFORMANCE.md, not a pass/fail. The load average before and after each run is
printed beside it, so a figure taken while something else ran says so. The tiers that start
LocalStack (test-integration, test) need port 4566 free or an emulator answering there.
"""

from __future__ import annotations

import argparse
import codecs
import os
import re
import subprocess
import sys
import time

from gitops.bench.e2e import machine
from gitops.paths import REPO_ROOT

TIERS = ("test-unit", "test-integration", "test")
SUMMARY = re.compile(r"\b\d+ (passed|failed|errors?)\b.* in [0-9.]+s")


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def run_tier(tier: str) -> tuple[int, float, str]:
    """Run `make <tier>`, echoing its output as it comes (pytest's progress dots too, before
    their line ends); (exit code, wall seconds, pytest's summary)."""
    began = time.monotonic()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    tail = ""
    with subprocess.Popen(
        ["make", "--no-print-directory", tier], cwd=REPO_ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    ) as proc:  # fmt: skip
        assert proc.stdout is not None
        while chunk := proc.stdout.read1(65536):
            text = decoder.decode(chunk)
            sys.stdout.write(text)
            sys.stdout.flush()
            tail = (tail + text)[-4096:]
    summary = next((m.group(0) for m in reversed(list(SUMMARY.finditer(tail)))), "")
    return proc.returncode, time.monotonic() - began, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tier", action="append", choices=TIERS, help="a tier to time (default: all three)"
    )
    args = parser.parse_args(argv)
    rows = []
    for tier in args.tier or TIERS:
        before = load()
        print(f"[bench] make {tier} (load average {before}) ...", flush=True)
        code, wall, summary = run_tier(tier)
        rows.append((tier, wall, summary, before, load()))
        print(f"[bench] make {tier}: {wall:.1f}s, {summary or 'no pytest summary'}", flush=True)
        if code != 0:
            print(f"[bench] make {tier} failed (exit {code}); its figure would mislead")
            return 1
    print(f"\nmachine: {machine()}\n")
    print("| tier | wall s | tests | load average before / after |\n|---|--:|---|---|")
    for tier, wall, summary, before, after in rows:
        print(f"| `make {tier}` | {wall:.1f} | {summary} | {before} / {after} |")
    return 0
