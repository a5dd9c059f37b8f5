"""gitops.pipeline pieces that need no emulator: the connection.env a person sources, `make down`
after a killed run, and the teardown of `make e2e` on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from gitops.pipeline import stages as pipeline
from gitops.pipeline.connection import read_connection_env, write_connection_env

TRICKY = {"DB_PASS": "a'b\"c $HOME `x` \\ end", "DB_HOST": "127.0.0.1", "AWS_REGION": "us-east-1"}


@pytest.fixture
def conn_file(tmp_path: Path) -> Path:
    return tmp_path / "e2e" / "connection.env"


def test_connection_env_is_private_and_round_trips(conn_file: Path) -> None:
    write_connection_env(TRICKY, conn_file)
    assert stat.S_IMODE(conn_file.stat().st_mode) == 0o600
    assert read_connection_env(conn_file) == TRICKY


def test_sourcing_connection_env_exports_the_exact_values(conn_file: Path) -> None:
    write_connection_env(TRICKY, conn_file)
    script = f"source {conn_file} && python3 -c 'import os; print(os.environ[\"DB_PASS\"])'"
    shown = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert shown.stdout.rstrip("\n") == TRICKY["DB_PASS"]


def test_rewriting_replaces_the_old_file(conn_file: Path) -> None:
    write_connection_env({"DB_HOST": "old"}, conn_file)
    write_connection_env({"DB_HOST": "new"}, conn_file)
    assert read_connection_env(conn_file) == {"DB_HOST": "new"}


# --- `make down` after `kill -9` of `make e2e`: Terraform orphaned, still holding the lock ----

ORPHAN = """#!{python}
import os, signal, sys, time
stubborn = os.environ.get("ORPHAN_STUBBORN") == "1"
markers = os.environ["ORPHAN_MARKERS"]
def on_int(*_):
    if stubborn:
        return
    time.sleep(0.5)  # saving the state, releasing the lock
    open(os.path.join(markers, "sigint-received"), "w").write("1")
    sys.exit(1)
signal.signal(signal.SIGINT, on_int)
open(os.path.join(markers, "started"), "w").write("1")
time.sleep(60)
"""


@pytest.fixture
def orphan(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start a process named `terraform` working in a directory, as tf.py starts Terraform."""
    started: list[subprocess.Popen[bytes]] = []
    script = tmp_path / "bin" / "terraform"
    script.parent.mkdir()
    script.write_text(ORPHAN.format(python=sys.executable))
    script.chmod(0o755)

    def start(directory: Path, stubborn: bool = False) -> subprocess.Popen[bytes]:
        markers = tmp_path / f"markers-{len(started)}"
        markers.mkdir()
        env = {
            **os.environ,
            "ORPHAN_STUBBORN": "1" if stubborn else "0",
            "ORPHAN_MARKERS": str(markers),
        }
        proc = subprocess.Popen([str(script), "apply"], cwd=directory, env=env,
                                start_new_session=True)  # fmt: skip
        started.append(proc)
        deadline = time.monotonic() + 10
        while not (markers / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_orphaned_terraform_is_found_by_its_directory(tmp_path: Path, orphan) -> None:
    root, other = tmp_path / "root", tmp_path / "other"
    root.mkdir()
    other.mkdir()
    proc = orphan(root)
    assert pipeline.running_terraform(root) == [proc.pid]
    assert pipeline.running_terraform(other) == []


def test_down_stops_an_orphan_gracefully_before_anything_else(tmp_path: Path, orphan) -> None:
    root = tmp_path / "root"
    root.mkdir()
    proc = orphan(root)
    pipeline.stop_running_terraform(root, wait=10)
    assert (
        tmp_path / "markers-0" / "sigint-received"
    ).read_text() == "1"  # one SIGINT, then it saved and left
    assert proc.wait(timeout=5) == 1
    assert pipeline.running_terraform(root) == []


def test_down_refuses_to_pull_the_emulator_from_under_a_stubborn_orphan(
    tmp_path: Path, orphan, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # envs/localstack stands in a folder of the test's own: `down` signals every terraform that
    # works in the root, and one of the checkout's own (a `make up` running) is not the test's.
    root = tmp_path / "envs" / "localstack"
    root.mkdir(parents=True)
    monkeypatch.setattr(pipeline.tf, "env_dir", lambda env: root)
    proc = orphan(root, stubborn=True)
    stopped: list[str] = []
    monkeypatch.setattr(pipeline, "ORPHAN_WAIT_SECONDS", 1.0)
    monkeypatch.setattr(pipeline.localstack, "stop", lambda emu: stopped.append("emulator"))
    monkeypatch.setattr(pipeline.db_standin, "stop", lambda server: stopped.append("db"))
    monkeypatch.setattr(pipeline.tf, "destroy", lambda *a, **k: stopped.append("destroy"))
    with pytest.raises(SystemExit) as exc:
        pipeline.down()
    assert exc.value.code == 1
    assert stopped == []
    err = capsys.readouterr().err
    assert f"terraform (pid {proc.pid}) is still running in {root}" in err
    assert f"kill -INT {proc.pid}" in err and "make down" in err


# --- `make e2e`: a second Ctrl-C while down destroys must not stop the teardown -------------

SLOW_DESTROY = """#!{python}
import time
print("aws_instance.web: Destroying...", flush=True)
time.sleep(0.8)  # the second Ctrl-C comes 0.3 s after init, while this destroy runs
print("Destroy complete!", flush=True)
"""


def test_a_second_ctrl_c_during_the_destroy_does_not_stop_the_teardown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "terraform").write_text(SLOW_DESTROY.format(python=sys.executable))
    (bin_dir / "terraform").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(pipeline, "ARTIFACTS", tmp_path)
    for name in ("DB_STATE", "LS_STATE", "REPORT", "TF_LOG"):
        monkeypatch.setattr(pipeline, name, tmp_path / f"{name}.json")
    stopped: list[str] = []

    def first_ctrl_c() -> None:
        raise KeyboardInterrupt

    def init_then_second_ctrl_c(env: str) -> None:  # arrives while terraform destroy runs
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()

    monkeypatch.setattr(pipeline, "up", first_ctrl_c)
    monkeypatch.setattr(pipeline, "stop_running_terraform", lambda directory, wait: None)
    monkeypatch.setattr(pipeline, "state_has_resources", lambda: True)
    monkeypatch.setattr(pipeline.localstack, "ready", lambda endpoint: True)
    monkeypatch.setattr(pipeline.tf, "init", init_then_second_ctrl_c)
    monkeypatch.setattr(pipeline.db_standin, "load_state", lambda path: ("server", None))
    monkeypatch.setattr(pipeline.db_standin, "stop", lambda server: stopped.append("db"))
    monkeypatch.setattr(
        pipeline.localstack, "load", lambda path: SimpleNamespace(started_by_us=True)
    )
    monkeypatch.setattr(pipeline.localstack, "stop", lambda emu: stopped.append("emulator"))
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert pipeline.e2e() == 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    assert stopped == ["db", "emulator"]
    stages = json.loads((tmp_path / "REPORT.json").read_text())["stages"]
    assert [(s["stage"], s["ok"]) for s in stages] == [("up", False), ("down", True)]
