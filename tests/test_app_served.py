"""The app as its image runs it: the Dockerfile's gunicorn command from .venv-app (built from
app/requirements.txt alone, hash-checked), on loopback, against the real MariaDB stand-in."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from gitops.pipeline.db_standin import AppDB, DBServer, deprovision, free_port
from gitops.web.server import Served, ensure_app_venv, serve


@pytest.fixture
def served(mysql_server: AppDB) -> Iterator[Served]:
    with serve(mysql_server.env(), free_port()) as running:
        yield running


def count_rows(db: AppDB, content: str) -> int:
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM study_log WHERE content = %s", (content,))
        return int(cur.fetchone()[0])


def open_slow_post(port: int) -> socket.socket:
    """A client that promises 1000 bytes of body and sends 10, then stalls."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        "POST /logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
    )
    sock.sendall(head.encode() + b'{"content"')
    return sock


def test_health_answers_while_ten_slow_clients_hold_connections(
    served: Served, mysql_server: AppDB
) -> None:
    slow = [open_slow_post(served.port) for _ in range(10)]
    try:
        time.sleep(0.5)  # every slow client has been picked up by a worker thread
        for _ in range(5):
            response = requests.get(f"{served.url}/health", timeout=3)
            assert response.status_code == 200
        created = requests.post(f"{served.url}/logs", json={"content": "beside slow"}, timeout=3)
        assert created.status_code == 201
        slow[0].settimeout(15)
        answer = slow[0].recv(4096).decode(errors="replace")  # cut off after BODY_TIMEOUT
        assert answer.startswith("HTTP/1.1 408")
    finally:
        for sock in slow:
            sock.close()


def test_a_retry_after_a_connection_cut_after_commit_is_stored_once(
    served: Served, mysql_server: AppDB
) -> None:
    content, key = f"cut {secrets.token_hex(4)}", secrets.token_hex(16)
    body = json.dumps({"content": content}).encode()
    request = (
        f"POST /logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Idempotency-Key: {key}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        sock.sendall(request)  # and hang up without reading the answer
    deadline = time.monotonic() + 10
    while count_rows(mysql_server, content) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert count_rows(mysql_server, content) == 1  # committed, never acknowledged
    headers = {"Idempotency-Key": key}
    retry = requests.post(f"{served.url}/logs", json={"content": content}, headers=headers)
    assert retry.status_code == 201
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert count_rows(mysql_server, content) == 1


def test_hostile_bodies_get_4xx_from_gunicorn_too(served: Served) -> None:
    url = f"{served.url}/logs"
    headers = {"Content-Type": "application/json"}
    big = requests.post(url, data=b"x" * (20 * 1024 * 1024), headers=headers, timeout=30)
    assert big.status_code == 413
    nested = requests.post(url, data="[" * 2000 + "]" * 2000, headers=headers, timeout=5)
    assert nested.status_code == 400
    surrogate = requests.post(url, data='{"content": "\\ud800"}', headers=headers, timeout=5)
    assert surrogate.status_code == 400
    assert requests.get(f"{served.url}/health", timeout=5).status_code == 200
    assert "Traceback" not in served.log_text()


def chunks(*parts: bytes) -> Iterator[bytes]:
    """A body requests sends chunked (Transfer-Encoding: chunked, no Content-Length)."""
    yield from parts


@pytest.mark.parametrize(
    "parts",
    [
        (b'{"content": "inside", "pad": "', b"y" * 8000, b'"}'),  # cut: unparsable, was 400
        (b'{"content": "trailing"}', b" " * 8000),  # cut: still valid JSON, was 201
    ],
    ids=["padded-string", "trailing-blanks"],
)
def test_a_chunked_body_over_the_limit_is_413_and_stores_nothing(
    served: Served, mysql_server: AppDB, parts: tuple[bytes, ...]
) -> None:
    headers = {"Content-Type": "application/json"}
    response = requests.post(f"{served.url}/logs", data=chunks(*parts), headers=headers, timeout=10)
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 413
    assert count_rows(mysql_server, "inside") + count_rows(mysql_server, "trailing") == 0


def test_a_chunked_body_under_the_limit_is_stored(served: Served, mysql_server: AppDB) -> None:
    content = f"chunked {secrets.token_hex(4)}"
    body = json.dumps({"content": content}).encode()
    headers = {"Content-Type": "application/json"}
    parts = chunks(body[:5], body[5:])
    response = requests.post(f"{served.url}/logs", data=parts, headers=headers, timeout=10)
    assert response.status_code == 201
    assert count_rows(mysql_server, content) == 1


def test_a_body_that_is_not_json_is_415_under_gunicorn(served: Served) -> None:
    response = requests.post(f"{served.url}/logs", data="content=x", timeout=10)
    assert response.status_code == 415


def test_the_app_virtualenv_holds_what_caching_sha2_password_needs(tmp_path: Path) -> None:
    """MySQL 8.4's default login without TLS sends the password RSA-encrypted (PyMySQL needs
    cryptography for that). MariaDB has no caching_sha2_password, so this runs PyMySQL's own
    RSA step in the virtualenv built from app/requirements.txt alone."""
    key = tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-out", str(key)],
        check=True,
        capture_output=True,
    )
    public = subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-pubout"], check=True, capture_output=True
    ).stdout
    probe = (
        "import sys; from pymysql import _auth\n"
        "out = _auth.sha2_rsa_encrypt(b'pw', b'0123456789abcdefghij', sys.stdin.buffer.read())\n"
        "assert len(out) == 256\n"
    )
    result = subprocess.run(
        [str(ensure_app_venv()), "-I", "-c", probe], input=public, capture_output=True
    )
    assert result.returncode == 0, result.stderr.decode()


def test_create_user_makes_the_app_user_from_admin_credentials(mysql_admin: DBServer) -> None:
    """What the rds-mode boot runs in a one-shot container: `python app.py create-user`."""
    name, password = f"c_{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    env = {
        "PATH": os.environ.get("PATH", ""), "DB_HOST": mysql_admin.host,
        "DB_PORT": str(mysql_admin.port), "DB_NAME": name, "DB_USER": name, "DB_PASS": password,
        "DB_ADMIN_USER": mysql_admin.user, "DB_ADMIN_PASS": mysql_admin.password,
    }  # fmt: skip
    app_py = Path(__file__).resolve().parents[1] / "app" / "app.py"
    try:
        result = subprocess.run(
            [str(ensure_app_venv()), "-I", str(app_py), "create-user"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert mysql_admin.password not in result.stdout + result.stderr
        app_db = AppDB(mysql_admin.host, mysql_admin.port, name, password, name)
        with app_db.connect() as conn, conn.cursor() as cur:
            cur.execute("SHOW GRANTS")
            grants = " ".join(row[0] for row in cur.fetchall())
        assert f"GRANT SELECT, INSERT, DELETE, CREATE ON `{name}`.*" in grants
    finally:
        deprovision(mysql_admin, name, name)


def test_gunicorn_opens_no_control_socket_for_a_user_without_a_home(tmp_path: Path) -> None:
    """The image runs as a user with no home on a read-only filesystem: gunicorn (>= 25) would
    try to make $HOME/.gunicorn/gunicorn.ctl and log an error. HOME here is a plain file, so
    making that directory fails even for root, as it does for the image's user."""
    not_a_dir = tmp_path / "home-is-a-file"
    not_a_dir.write_text("")
    env = {
        "HOME": str(not_a_dir),
        "XDG_RUNTIME_DIR": str(not_a_dir),
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(free_port()),  # nothing listens: /health answers 503, enough here
        "DB_NAME": "app",
        "DB_USER": "app",
        "DB_PASS": "unused",
    }
    with serve(env, free_port()) as running:
        assert requests.get(f"{running.url}/health", timeout=5).status_code == 503
        time.sleep(1)  # the control server starts in the arbiter beside the workers
        log = running.log_text()
    assert "Booting worker" in log
    assert "control" not in log.lower(), log
