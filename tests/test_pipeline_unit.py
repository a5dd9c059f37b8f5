"""scripts/pipeline.py pieces that need no emulator: the connection.env a person sources."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from scripts import pipeline

TRICKY = {"DB_PASS": "a'b\"c $HOME `x` \\ end", "DB_HOST": "127.0.0.1", "AWS_REGION": "us-east-1"}


@pytest.fixture
def conn_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(pipeline, "ARTIFACTS", tmp_path)
    monkeypatch.setattr(pipeline, "CONNECTION_ENV", tmp_path / "connection.env")
    return tmp_path / "connection.env"


def test_connection_env_is_private_and_round_trips(conn_file: Path) -> None:
    pipeline.write_connection_env(TRICKY)
    assert stat.S_IMODE(conn_file.stat().st_mode) == 0o600
    assert pipeline.read_connection_env(conn_file) == TRICKY


def test_sourcing_connection_env_exports_the_exact_values(conn_file: Path) -> None:
    pipeline.write_connection_env(TRICKY)
    script = f"source {conn_file} && python3 -c 'import os; print(os.environ[\"DB_PASS\"])'"
    shown = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert shown.stdout.rstrip("\n") == TRICKY["DB_PASS"]


def test_rewriting_replaces_the_old_file(conn_file: Path) -> None:
    pipeline.write_connection_env({"DB_HOST": "old"})
    pipeline.write_connection_env({"DB_HOST": "new"})
    assert pipeline.read_connection_env(conn_file) == {"DB_HOST": "new"}
