"""gitops.pipeline.db_standin: find, start, reuse, provision and stop a real MySQL server."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import gitops.pipeline.db_standin as standin
import pymysql
import pytest
from gitops.paths import REPO_ROOT
from gitops.pipeline.db_standin import (
    AppDB,
    DBServer,
    StandinError,
    deprovision,
    ensure_db,
    port_open,
    provision,
    stop,
)

SCHEMA_SQL = standin.SCHEMA_FILE.read_text(encoding="utf-8")


@pytest.mark.db  # starts a server of its own
def test_started_server_answers_and_stop_leaves_nothing_behind() -> None:
    server = ensure_db(env={})  # no DB_HOST: a throwaway local instance
    try:
        assert server.started_by_us and server.kind in {"local", "docker"}
        assert port_open(server.host, server.port)
        assert server.password not in repr(server)
        name = f"s_{secrets.token_hex(4)}"
        app_db = provision(server, name, name, secrets.token_urlsafe(12), SCHEMA_SQL)
        with app_db.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT USER(), @@character_set_database FROM DUAL")
            user, charset = cur.fetchone()
        assert user.startswith(f"{name}@") and charset == "utf8mb4"
    finally:
        stop(server)
    assert not port_open(server.host, server.port)
    if server.kind == "local":
        assert server.pid is not None and not standin._process_alive(server.pid, None)
        assert server.tmpdir is not None and not Path(server.tmpdir).exists()
    stop(server)  # again: already gone is fine


def test_a_running_server_named_by_db_host_is_reused_and_left_running(
    mysql_admin: DBServer,
) -> None:
    env = {
        "DB_HOST": mysql_admin.host,
        "DB_PORT": str(mysql_admin.port),
        "DB_USER": mysql_admin.user,
        "DB_PASS": mysql_admin.password,
    }
    reused = ensure_db(env=env)
    assert (reused.host, reused.port, reused.kind) == (mysql_admin.host, mysql_admin.port, "env")
    assert reused.started_by_us is False and reused.pid is None
    stop(reused)
    assert mysql_admin.answers()


@pytest.mark.db  # starts a server of its own
def test_db_host_that_does_not_answer_falls_back_to_a_local_server() -> None:
    closed = standin.free_port()
    server = ensure_db(env={"DB_HOST": "127.0.0.1", "DB_PORT": str(closed)})
    try:
        assert server.started_by_us and server.port != closed and server.answers()
    finally:
        stop(server)


def test_provision_is_idempotent_and_resets_the_password(mysql_admin: DBServer) -> None:
    name = f"p_{secrets.token_hex(4)}"
    old, new = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    try:
        first = provision(mysql_admin, name, name, old, SCHEMA_SQL)
        with first.connect() as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO study_log (content) VALUES (%s)", ("kept",))
        second = provision(mysql_admin, name, name, new, SCHEMA_SQL)
        with second.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT content FROM study_log")
            assert cur.fetchall() == (("kept",),)
        with pytest.raises(pymysql.err.OperationalError) as denied:
            first.connect()
        assert denied.value.args[0] == 1045
    finally:
        deprovision(mysql_admin, name, name)
    with pytest.raises(pymysql.err.OperationalError):
        second.connect()


@pytest.mark.parametrize("bad", ["a`b", "x; DROP DATABASE mysql", "", "a" * 33])
def test_provision_rejects_unsafe_names(mysql_admin: DBServer, bad: str) -> None:
    with pytest.raises(ValueError):
        provision(mysql_admin, bad, "app", "pw", SCHEMA_SQL)
    with pytest.raises(ValueError):
        provision(mysql_admin, "app", bad, "pw", SCHEMA_SQL)


def test_stop_leaves_a_process_alone_once_the_pid_is_someone_else(tmp_path: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        recycled = DBServer(
            "127.0.0.1", 1, "x", "x", kind="local", started_by_us=True,
            pid=other.pid, tmpdir=str(tmp_path / "db-standin-gone"),
        )  # fmt: skip
        stop(recycled)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_no_server_anywhere_raises_an_error_that_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(standin, "find_server_binary", lambda: None)
    monkeypatch.setattr(standin, "docker_answers", lambda: False)
    monkeypatch.setattr(standin.apt, "can_install", lambda: False)
    with pytest.raises(StandinError) as error:
        ensure_db(env={})
    message = str(error.value)
    for hint in ("DB_HOST", "mariadb-server", "docker info", "mariadbd"):
        assert hint in message


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gitops", "db-standin", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_cli_keeps_its_record_in_the_checkout_wherever_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The record holds passwords: it goes to the git-ignored .cache of the checkout, never to
    a .cache/ beside wherever the command was started."""
    looked_at: list[Path] = []
    monkeypatch.setattr(standin, "load_state", lambda path: looked_at.append(path))
    monkeypatch.chdir(tmp_path)
    assert standin.main(["status"]) == 1
    assert looked_at == [REPO_ROOT / ".cache" / "db-standin.json"]
    assert "nothing started" in capsys.readouterr().out


def test_docker_run_failure_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused `docker run` is a StandinError quoting Docker, not a bare exit status."""

    def refused(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 125, "", "Error: pull access denied for mysql\n")

    monkeypatch.setattr(standin.subprocess, "run", refused)
    with pytest.raises(StandinError, match=r"exited 125: Error: pull access denied for mysql"):
        standin.start_docker(timeout=1)


@pytest.mark.db  # starts a server of its own
def test_cli_start_status_stop(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DB_")}
    state_file = tmp_path / "state.json"
    state_args = ("--state-file", str(state_file))
    started = run_cli("start", *state_args, "--database", "cli_app", env=env)
    assert started.returncode == 0, started.stderr
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    state = json.loads(state_file.read_text())
    server, app = DBServer(**state["server"]), AppDB(**state["app"])
    try:
        assert server.started_by_us and app.database == "cli_app" and app.user == "app"
        with app.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM study_log")
            assert cur.fetchone() == (0,)
        status = run_cli("status", *state_args, env=env)
        assert status.returncode == 0, status.stdout
        again = run_cli("start", *state_args, env=env)
        assert again.returncode == 0 and "already running" in again.stdout
        for result in (started, status, again):
            assert server.password not in result.stdout + result.stderr
            assert app.password not in result.stdout + result.stderr
    finally:
        stopped = run_cli("stop", *state_args, env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert not state_file.exists()
    assert not port_open(server.host, server.port)
    if server.pid:
        assert not standin._process_alive(server.pid, None)
    assert run_cli("status", *state_args, env=env).returncode == 1
    assert run_cli("stop", *state_args, env=env).returncode == 0  # nothing left: still fine
