"""The web tier against a real MariaDB/MySQL: health, logs, validation, secrets, container files."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pymysql
import pytest
import yaml
from flask.testing import FlaskClient
from gitops import locks
from gitops.pipeline.db_standin import AppDB, deprovision, free_port, provision
from gitops.web.server import dockerfile_instructions, image_command

import app.app as app_module
from app.app import apply_schema, create_app, split_sql

REPO_ROOT = Path(__file__).resolve().parents[1]
APP_DIR = REPO_ROOT / "app"
KOREAN = "오늘은 테라폼을 공부했다"


def config_for(db: AppDB, **overrides: Any) -> dict[str, Any]:
    """Every DB_* key set explicitly, so a developer's own environment cannot leak in."""
    config = {
        "DB_HOST": db.host,
        "DB_PORT": db.port,
        "DB_USER": db.user,
        "DB_PASS": db.password,
        "DB_NAME": db.database,
        "DB_SSL_CA": "",  # plain TCP: the stand-in speaks no TLS
        "DB_CONNECT_TIMEOUT": 3,
        "DB_POOL_SIZE": 4,
        **overrides,
    }
    assert {k for k in app_module.env_config() if k.startswith("DB_")} <= set(config)
    return config


@pytest.fixture
def client(mysql_server: AppDB) -> FlaskClient:
    return create_app(config_for(mysql_server)).test_client()


def count_rows(db: AppDB) -> int:
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM study_log")
        return int(cur.fetchone()[0])


# --- /health --------------------------------------------------------------------------------


def test_health_is_ok_when_the_database_answers(client: FlaskClient, mysql_server: AppDB) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["db"] == "up"
    assert body["logs"] == count_rows(mysql_server)


def test_503_says_database_down_and_nothing_internal(
    mysql_server: AppDB, caplog: pytest.LogCaptureFixture
) -> None:
    closed = free_port()  # nothing listens there
    client = create_app(config_for(mysql_server, DB_PORT=closed)).test_client()
    health, logs = client.get("/health"), client.post("/logs", json={"content": "x"})
    assert (health.status_code, health.get_json()) == (503, {"status": "error", "db": "down"})
    assert logs.status_code == 503
    for response in (health, logs):
        text = response.get_data(as_text=True)
        for internal in (str(closed), mysql_server.host, "Can't connect", "Error", "pymysql"):
            assert internal not in text
    assert f"{closed}" in caplog.text and "Can't connect" in caplog.text  # the log keeps it


def test_wrong_password_gives_503_and_never_shows_the_password(
    mysql_server: AppDB, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = f"wrong-{secrets.token_hex(8)}"
    client = create_app(config_for(mysql_server, DB_PASS=wrong)).test_client()
    responses = [
        client.get("/health"),
        client.get("/logs"),
        client.post("/logs", json={"content": "x"}),
    ]
    for response in responses:
        assert response.status_code == 503
        assert "Access denied" not in response.get_data(as_text=True)
        assert wrong not in response.get_data(as_text=True)
        assert mysql_server.password not in response.get_data(as_text=True)
    assert "Access denied" in caplog.text
    assert wrong not in caplog.text


# --- /logs ----------------------------------------------------------------------------------


def test_korean_text_round_trips_exactly(client: FlaskClient, mysql_server: AppDB) -> None:
    created = client.post("/logs", json={"content": KOREAN})
    assert created.status_code == 201
    row = created.get_json()
    assert row["content"] == KOREAN
    assert isinstance(row["id"], int)
    datetime.fromisoformat(row["created_at"])
    assert KOREAN in created.get_data(as_text=True)  # readable UTF-8, not \\u escapes

    listed = client.get("/logs")
    assert listed.status_code == 200
    assert listed.get_json()[0] == row

    with mysql_server.connect() as conn, conn.cursor() as cur:  # what is stored, byte for byte
        cur.execute("SELECT content, HEX(content) FROM study_log WHERE id = %s", (row["id"],))
        stored, stored_hex = cur.fetchone()
    assert stored == KOREAN
    assert bytes.fromhex(stored_hex).decode("utf-8") == KOREAN


def test_logs_are_listed_newest_first(client: FlaskClient) -> None:
    first = client.post("/logs", json={"content": "first"}).get_json()
    second = client.post("/logs", json={"content": "second"}).get_json()
    ids = [row["id"] for row in client.get("/logs").get_json()]
    assert ids.index(second["id"]) < ids.index(first["id"])
    assert ids == sorted(ids, reverse=True)
    assert set(client.get("/logs").get_json()[0]) == {"id", "content", "created_at"}


def test_content_of_exactly_255_characters_is_accepted(client: FlaskClient) -> None:
    content = ("공부" * 128)[:255]
    response = client.post("/logs", json={"content": content})
    assert response.status_code == 201
    assert response.get_json()["content"] == content


@pytest.mark.parametrize(
    "kwargs",
    [
        {"content_type": "application/json"},
        {"data": "not json", "content_type": "application/json"},
        {"json": ["content"]},
        {"json": {}},
        {"json": {"content": ""}},
        {"json": {"content": "   "}},
        {"json": {"content": 42}},
        {"json": {"content": None}},
        {"json": {"content": "가" * 256}},
        {"data": "[" * 2000 + "]" * 2000, "content_type": "application/json"},  # < MAX_BODY
        {"data": '{"content": "\\ud800"}', "content_type": "application/json"},
        {"data": b"\xff\xfe", "content_type": "application/json"},
        {"json": {"content": "\u200b\u200d\u2060\ufeff\u00ad"}},  # format characters
        {"json": {"content": "\u3164\u115f\u1160\uffa0"}},  # Hangul fillers
        {"json": {"content": "\u2800\u3000\u00a0\t\n"}},  # braille blank, spaces
        {"json": {"content": "\u0301\u20dd"}},  # combining marks with nothing to mark
    ],
    ids=[
        "no-body",
        "not-json",
        "list",
        "missing",
        "empty",
        "blank",
        "number",
        "null",
        "256-chars",
        "deeply-nested",
        "lone-surrogate",
        "not-utf8",
        "format-chars-only",
        "hangul-fillers-only",
        "blanks-only",
        "lone-combining-marks",
    ],
)
def test_invalid_content_is_rejected_with_400(
    client: FlaskClient, mysql_server: AppDB, kwargs: dict[str, Any]
) -> None:
    before = count_rows(mysql_server)
    response = client.post("/logs", **kwargs)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert "content" in error and len(error) < 80  # short and generic
    assert count_rows(mysql_server) == before


@pytest.mark.parametrize("content", ["\u200b가", "\u3164ㅋ", "\u00a0.", "\U0001f4da", "e\u0301"])
def test_content_with_something_visible_beside_blanks_is_accepted(
    client: FlaskClient, content: str
) -> None:
    response = client.post("/logs", json={"content": content})
    assert response.status_code == 201
    assert response.get_json()["content"] == content


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/xml",
     "application/merge-patch+json", "multipart/form-data; boundary=x"],
)  # fmt: skip
def test_a_body_that_is_not_application_json_is_415_and_stores_nothing(
    client: FlaskClient, mysql_server: AppDB, content_type: str | None
) -> None:
    before = count_rows(mysql_server)
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/logs", data='{"content": "x"}', headers=headers)
    assert response.status_code == 415
    assert response.get_json() == {"error": "unsupported media type"}
    assert count_rows(mysql_server) == before


def test_application_json_with_a_charset_is_accepted(client: FlaskClient) -> None:
    headers = {"Content-Type": "Application/JSON; charset=utf-8"}
    response = client.post("/logs", data='{"content": "charset"}', headers=headers)
    assert response.status_code == 201


def test_oversized_body_is_413_and_stores_nothing(client: FlaskClient, mysql_server: AppDB) -> None:
    before = count_rows(mysql_server)
    big = json.dumps({"content": "x", "pad": "y" * (5 * 1024 * 1024)})
    response = client.post("/logs", data=big, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json() == {"error": "request entity too large"}
    assert count_rows(mysql_server) == before


def test_largest_valid_entry_fits_under_the_body_limit(client: FlaskClient) -> None:
    content = "\U0001f4da" * 255  # escaped as two \\uXXXX each: the biggest honest body
    body = json.dumps({"content": content})
    assert len(body) <= app_module.MAX_BODY
    assert client.post("/logs", data=body, content_type="application/json").status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nope", 404), ("DELETE", "/logs", 405), ("PUT", "/health", 405)],
)
def test_unknown_routes_get_short_json_errors(
    client: FlaskClient, method: str, path: str, status: int
) -> None:
    response = client.open(path, method=method)
    assert response.status_code == status
    assert response.is_json and set(response.get_json()) == {"error"}
    assert "<" not in response.get_data(as_text=True)  # no HTML error page


def test_unexpected_error_is_500_with_nothing_internal(
    mysql_server: AppDB, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(row: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(app_module, "row_json", explode)
    client = create_app(config_for(mysql_server)).test_client()
    response = client.post("/logs", json={"content": "x"})
    assert (response.status_code, response.get_json()) == (500, {"error": "internal error"})
    assert "secret internal detail" in caplog.text


# --- Idempotency-Key ------------------------------------------------------------------------


def test_a_retried_post_with_the_same_key_is_stored_once(
    client: FlaskClient, mysql_server: AppDB
) -> None:
    before = count_rows(mysql_server)
    headers = {"Idempotency-Key": f"k-{secrets.token_hex(8)}"}
    first = client.post("/logs", json={"content": KOREAN}, headers=headers)
    again = client.post("/logs", json={"content": KOREAN}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count_rows(mysql_server) == before + 1
    other = client.post("/logs", json={"content": KOREAN}, headers={"Idempotency-Key": "k-2"})
    assert other.get_json()["id"] != first.get_json()["id"]  # another key, another row


def test_a_key_reused_with_other_content_is_422(client: FlaskClient, mysql_server: AppDB) -> None:
    headers = {"Idempotency-Key": f"k-{secrets.token_hex(8)}"}
    assert client.post("/logs", json={"content": "a"}, headers=headers).status_code == 201
    before = count_rows(mysql_server)
    response = client.post("/logs", json={"content": "b"}, headers=headers)
    assert response.status_code == 422
    assert count_rows(mysql_server) == before


def test_racing_posts_with_one_key_store_one_row(mysql_server: AppDB) -> None:
    """Eight clients send the same keyed request at once: the unique key lets one INSERT in,
    the others get the stored row back, and nobody gets an error."""
    app = create_app(config_for(mysql_server))
    headers = {"Idempotency-Key": f"race-{secrets.token_hex(8)}"}
    before = count_rows(mysql_server)
    start = threading.Barrier(8)

    def post(_: int) -> tuple[int, int, bool]:
        client = app.test_client()
        start.wait()
        r = client.post("/logs", json={"content": "race"}, headers=headers)
        return r.status_code, r.get_json()["id"], "Idempotent-Replayed" in r.headers

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(8)))
    assert {status for status, _, _ in answers} == {201}
    assert len({row_id for _, row_id, _ in answers}) == 1
    assert sum(not replayed for _, _, replayed in answers) == 1
    assert count_rows(mysql_server) == before + 1


@pytest.mark.parametrize("key", ["", "x" * 65, "has space", "키"])
def test_a_malformed_idempotency_key_is_400(client: FlaskClient, key: str) -> None:
    response = client.post("/logs", json={"content": "x"}, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.get_json()["error"]


# --- connections ----------------------------------------------------------------------------


def server_connections(db: AppDB) -> int:
    assert db.server is not None
    with db.server.connect() as conn, conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE 'Connections'")
        return int(cur.fetchone()[1])


def test_one_connection_is_reused_across_requests(mysql_server: AppDB) -> None:
    client = create_app(config_for(mysql_server)).test_client()
    assert client.get("/health").status_code == 200  # opens the connection
    before = server_connections(mysql_server)
    for i in range(20):
        assert client.post("/logs", json={"content": f"reuse {i}"}).status_code == 201
        assert client.get("/logs?limit=1").status_code == 200
    assert server_connections(mysql_server) - before <= 1  # the admin's own check


def test_concurrent_requests_share_a_pool_of_db_pool_size(mysql_server: AppDB) -> None:
    app = create_app(config_for(mysql_server, DB_POOL_SIZE=2))
    assert app.test_client().get("/health").status_code == 200
    before = server_connections(mysql_server)

    def hammer(n: int) -> list[int]:
        client = app.test_client()
        return [client.post("/logs", json={"content": f"pool {n}"}).status_code for _ in range(5)]

    with ThreadPoolExecutor(8) as pool:
        statuses = [s for batch in pool.map(hammer, range(8)) for s in batch]
    assert statuses == [201] * 40
    assert server_connections(mysql_server) - before <= 2 + 1  # the pool, and this check


def test_a_connection_killed_by_the_server_is_replaced(mysql_server: AppDB) -> None:
    assert mysql_server.server is not None
    client = create_app(config_for(mysql_server)).test_client()
    assert client.get("/health").status_code == 200
    with mysql_server.server.connect() as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT id FROM information_schema.processlist WHERE user = %s", (mysql_server.user,)
        )
        for (thread_id,) in cur.fetchall():
            cur.execute(f"KILL {int(thread_id)}")
    assert client.get("/health").status_code == 200  # no 503, no restart
    assert client.post("/logs", json={"content": "after kill"}).status_code == 201


def test_with_a_ca_bundle_the_app_insists_on_tls(
    mysql_server: AppDB, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The stand-in speaks no TLS: a DB_SSL_CA connection must fail, never fall back."""
    ca = tmp_path / "ca.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=test-ca",
         "-keyout", str(tmp_path / "ca.key"), "-out", str(ca), "-days", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    client = create_app(config_for(mysql_server, DB_SSL_CA=str(ca))).test_client()
    assert client.get("/health").status_code == 503
    assert "SSL" in caplog.text or "ssl" in caplog.text


# --- the app's own database user ------------------------------------------------------------


def test_the_app_user_has_rights_on_its_own_schema_only(mysql_server: AppDB) -> None:
    assert mysql_server.server is not None
    other = f"o_{secrets.token_hex(4)}"
    with mysql_server.server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{other}`")
    try:
        with mysql_server.connect() as conn, conn.cursor() as cur:
            cur.execute("SHOW GRANTS")
            grants = " ".join(row[0] for row in cur.fetchall())
            for forbidden in (f"`{other}`", "DROP", "GRANT OPTION", "ALL PRIVILEGES", "*.*` TO"):
                assert forbidden not in grants.replace("USAGE ON *.*", "")
            for sql in (f"CREATE TABLE `{other}`.t (i INT)", "DROP TABLE study_log",
                        "CREATE USER 'x'@'%'", "SELECT * FROM mysql.user"):  # fmt: skip
                with pytest.raises(pymysql.err.OperationalError) as denied:
                    cur.execute(sql)
                assert denied.value.args[0] in {1044, 1142, 1227, 1045}
    finally:
        with mysql_server.server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE `{other}`")


def test_the_ec2_mode_setup_script_grants_what_the_app_grants() -> None:
    script = (REPO_ROOT / "modules" / "db" / "templates" / "db_setup.sh.tftpl").read_text()
    grants = re.findall(r"^GRANT (.+?) ON ", script, re.M)
    assert grants == [app_module.APP_PRIVILEGES]
    assert "ALL PRIVILEGES ON" not in script.replace("REVOKE ALL PRIVILEGES", "")


# --- schema ---------------------------------------------------------------------------------


def test_schema_file_is_idempotent_and_creates_no_database() -> None:
    sql = (APP_DIR / "schema.sql").read_text(encoding="utf-8")
    assert not re.search(r"\bCREATE\s+DATABASE\b|^\s*USE\s", sql, re.I | re.M)
    statements = split_sql(sql)
    assert [x.split("(")[0].strip().upper() for x in statements] == [
        "CREATE TABLE IF NOT EXISTS STUDY_LOG",
    ]
    assert split_sql("-- only a comment\n;\n") == []


# study_log as the first versions made it: no key at all, then keys in a table of their own.
FIRST_SCHEMA = """
CREATE TABLE study_log (id INT AUTO_INCREMENT PRIMARY KEY, content VARCHAR(255) NOT NULL,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP) DEFAULT CHARSET=utf8mb4;
CREATE TABLE idempotency_key (idem_key VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin
  PRIMARY KEY, log_id INT NOT NULL, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
INSERT INTO study_log (content) VALUES ('stored before'), ('unkeyed');
INSERT INTO idempotency_key (idem_key, log_id) VALUES ('k-before', 1)
"""


def test_the_migrations_bring_an_old_database_to_the_schema_and_keep_its_keys(
    mysql_server: AppDB,
) -> None:
    """An old study_log makes every POST fail (503, the column is missing); the migrations in
    app/migrations, run as the admin, fix it, keep the rows, and a retry sent before the
    migration is still answered with its row."""
    assert mysql_server.server is not None
    name = f"m_{secrets.token_hex(4)}"
    old = provision(mysql_server.server, name, name, secrets.token_urlsafe(16), FIRST_SCHEMA)
    try:
        client = create_app(config_for(old)).test_client()
        assert client.post("/logs", json={"content": "x"}).status_code == 503
        with mysql_server.server.connect(name) as admin:
            for migration in sorted((APP_DIR / "migrations").glob("*.sql")):
                apply_schema(admin, migration.read_text("utf-8"))
            assert apply_schema(admin, (APP_DIR / "schema.sql").read_text("utf-8")) == 1
        retry = client.post(
            "/logs", json={"content": "stored before"}, headers={"Idempotency-Key": "k-before"}
        )
        assert retry.status_code == 201 and retry.get_json()["id"] == 1
        assert retry.headers["Idempotent-Replayed"] == "true"
        assert client.post("/logs", json={"content": "new"}).status_code == 201
        assert count_rows(old) == 3
        with old.connect() as conn, conn.cursor() as cur:
            cur.execute("SHOW TABLES")
            assert {row[0] for row in cur.fetchall()} == {"study_log"}
    finally:
        deprovision(mysql_server.server, name, name)


def test_app_creates_the_schema_on_an_empty_database(mysql_server: AppDB) -> None:
    assert mysql_server.server is not None
    name = f"e_{secrets.token_hex(4)}"
    empty = provision(mysql_server.server, name, name, secrets.token_urlsafe(16), "")
    try:
        client = create_app(config_for(empty)).test_client()
        assert client.get("/health").status_code == 200
        assert client.post("/logs", json={"content": KOREAN}).status_code == 201
        with empty.connect() as conn:
            assert apply_schema(conn, (APP_DIR / "schema.sql").read_text("utf-8")) == 1  # again
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT column_name, character_set_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = 'study_log' ORDER BY column_name",
                    (name,),
                )
                columns = dict(cur.fetchall())
        assert set(columns) == {"id", "content", "created_at", "idem_key"}
        assert columns["content"] == "utf8mb4" and columns["idem_key"] == "ascii"
        assert count_rows(empty) == 1
    finally:
        deprovision(mysql_server.server, name, name)


# --- shipping: self-contained, no connection at import, supply chain, container files -------


def test_import_connects_to_nothing(tmp_path: Path) -> None:
    probe = (
        "import pymysql\n"
        "def refuse(*a, **k): raise SystemExit('connected at import')\n"
        "pymysql.connect = refuse\n"
        "import app.app\n"
        "assert app.app.app.config['DB_HOST'] == '127.0.0.1'\n"
    )
    env = {**os.environ, "DB_HOST": "127.0.0.1", "DB_PORT": str(free_port())}
    env |= {"PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_the_app_lock_holds_what_the_app_needs_and_no_aws_sdk() -> None:
    """Pins and hashes of every lock: tests/test_requirements.py. Here what only the app needs."""
    pinned = locks.versions(APP_DIR / "requirements.txt")
    assert "cryptography" in pinned  # MySQL 8.4's caching_sha2_password without TLS
    assert "boto3" not in pinned  # the app reads no secret: the host hands it its password


def test_dockerfile_pins_its_base_and_installs_only_hashed_wheels() -> None:
    instructions = dockerfile_instructions()
    bases = [x.split()[1] for x in instructions if x.upper().startswith("FROM ")]
    assert bases and all(re.fullmatch(r"[\w./:-]+@sha256:[0-9a-f]{64}", b) for b in bases), bases
    installs = [x for x in instructions if "pip install" in x]
    assert installs and all("--require-hashes" in x and "requirements.txt" in x for x in installs)
    fetches = [x for x in instructions if "urlopen" in x or re.search(r"\b(curl|wget|ADD)\b", x)]
    assert all("sha256" in x.lower() for x in fetches), "every download is checked against a pin"
    args = dict(x[4:].split("=", 1) for x in instructions if x.startswith("ARG "))
    assert re.fullmatch(r"[0-9a-f]{64}", args["RDS_CA_SHA256"])
    assert args["RDS_CA_URL"].startswith("https://truststore.pki.rds.amazonaws.com/")


def test_dockerfile_caches_dependencies_and_runs_unprivileged() -> None:
    instructions = dockerfile_instructions()
    copy_reqs = instructions.index("COPY requirements.txt .")
    pip = next(i for i, x in enumerate(instructions) if "pip install" in x)
    copy_code = next(i for i, x in enumerate(instructions) if x.startswith("COPY app.py"))
    assert copy_reqs < pip < copy_code
    user = [x.split()[1] for x in instructions if x.startswith("USER ")]
    assert user and user[-1] not in {"root", "0"}
    cmd = image_command()
    assert cmd[0] == "gunicorn" and cmd[-1] == "app:app" and "0.0.0.0:8000" in cmd
    option = {cmd[i]: cmd[i + 1] for i in range(1, len(cmd) - 1) if cmd[i].startswith("--")}
    assert option["--worker-class"] == "gthread"  # slow clients hold a thread, not a process
    # gunicorn >= 25 opens a control socket under $HOME: none here (read-only, no home), so off
    assert "--no-control-socket" in cmd
    assert int(option["--workers"]) * int(option["--threads"]) > 10


def test_compose_limits_memory_and_checks_health() -> None:
    compose = yaml.safe_load((APP_DIR / "compose.yaml").read_text())
    assert sorted(compose["services"]) == ["app", "proxy"]  # the proxy: tests/test_proxy.py
    service = compose["services"]["app"]
    assert service["image"] == "app:local"  # built by user data (tests/test_user_data.py)
    assert service["env_file"] == ["app.env"]
    assert service["restart"] == "unless-stopped"
    limit = service["mem_limit"]
    assert limit.endswith("m") and 128 <= int(limit[:-1]) <= 512  # of a t3.micro's 1 GiB
    assert service["memswap_limit"] == limit
    assert "/health" in " ".join(service["healthcheck"]["test"])


def test_the_app_container_gets_neither_instance_credentials_nor_the_master_secret() -> None:
    main_tf = (REPO_ROOT / "modules" / "ec2" / "main.tf").read_text()
    assert re.search(r"^\s*http_tokens\s*=\s*\"required\"", main_tf, re.M)
    assert re.search(r"^\s*http_put_response_hop_limit\s*=\s*1\b", main_tf, re.M)
    template = (REPO_ROOT / "modules" / "ec2" / "templates" / "web_user_data.sh.tftpl").read_text()
    env_block = re.search(r"<<'APP_ENV_END'\n(.*?)\nAPP_ENV_END", template, re.S).group(1)
    assert "ADMIN" not in env_block and "SECRET" not in env_block
    admin_lines = [line for line in template.splitlines() if "DB_ADMIN" in line]
    assert admin_lines and all("docker compose up" not in line for line in admin_lines)
    run = next(line for line in template.splitlines() if "docker compose run" in line)
    assert "--rm" in run and run.rstrip().endswith("python app.py create-user")
    assert "DB_ADMIN" not in (APP_DIR / "compose.yaml").read_text()
