"""gitops bench-tests (make bench-tests): each tier's make target timed, with pytest's summary
and the load average beside it; a failed tier gives no figure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gitops.bench import tests as bench

FAKE_MAKE = """#!/bin/sh
echo "make $*" >> "{record}"
echo "........ [100%]"
if [ "$2" = "test-integration" ]; then echo "= 1 failed, 9 passed in 3.20s ="; exit 2; fi
echo "===== 12 passed, 1 skipped, 3 deselected in 1.50s ====="
"""


@pytest.fixture
def fake_make(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    record = tmp_path / "calls"
    (tmp_path / "make").write_text(FAKE_MAKE.format(record=record), encoding="utf-8")
    (tmp_path / "make").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return record


def test_each_tier_is_timed_with_its_summary_and_the_load(
    fake_make: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(["--tier", "test-unit", "--tier", "test"]) == 0
    out = capsys.readouterr().out
    assert fake_make.read_text().splitlines() == [
        "make --no-print-directory test-unit",
        "make --no-print-directory test",
    ]
    rows = [line for line in out.splitlines() if line.startswith("| `make ")]
    assert [row.split(" | ")[0] for row in rows] == ["| `make test-unit`", "| `make test`"]
    assert all("12 passed, 1 skipped, 3 deselected in 1.50s" in row for row in rows)
    assert "........ [100%]" in out  # the tier's own progress is shown as it runs
    assert "machine: " in out and "load average before / after" in out


def test_a_failed_tier_gives_no_figure(fake_make: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--tier", "test-integration", "--tier", "test"]) == 1
    out = capsys.readouterr().out
    assert "make test-integration failed (exit 2)" in out
    assert "| `make" not in out
    assert "make --no-print-directory test\n" not in fake_make.read_text()
