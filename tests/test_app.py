"""The web tier against a real MariaDB/MySQL: health, logs, validation, secrets, container files."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
import yaml
from flask.testing import FlaskClient
from moto import mock_aws
from moto.server import ThreadedMotoServer

import app.app as app_module
from app.app import apply_schema, create_app, split_sql
from scripts.db_standin import AppDB, deprovision, free_port, provision

REPO_ROOT = Path(__file__).resolve().parents[1]
APP_DIR = REPO_ROOT / "app"
KOREAN = "오늘은 테라폼을 공부했다"


def config_for(db: AppDB, **overrides: Any) -> dict[str, Any]:
    """Every DB_* key set explicitly, so a developer's own environment cannot leak in."""
    return {
        "DB_HOST": db.host,
        "DB_PORT": db.port,
        "DB_USER": db.user,
        "DB_PASS": db.password,
        "DB_NAME": db.database,
        "DB_SECRET_ARN": "",
        "DB_CONNECT_TIMEOUT": 3,
        **overrides,
    }


@pytest.fixture
def client(mysql_server: AppDB) -> FlaskClient:
    return create_app(config_for(mysql_server)).test_client()


@pytest.fixture
def fresh_secret_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "_secrets", {})


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, fresh_secret_cache: None) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "ap-northeast-2")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


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


def test_health_is_503_with_the_reason_when_the_database_is_unreachable(
    mysql_server: AppDB,
) -> None:
    closed = free_port()  # nothing listens there
    client = create_app(config_for(mysql_server, DB_PORT=closed)).test_client()
    response = client.get("/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "error"
    assert body["db"] == "down"
    assert "Can't connect" in body["reason"]
    assert str(closed) in body["reason"] or "Connection refused" in body["reason"]


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
        assert "Access denied" in response.get_json()["reason"]
        assert wrong not in response.get_data(as_text=True)
        assert mysql_server.password not in response.get_data(as_text=True)
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
        {},
        {"data": "not json", "content_type": "application/json"},
        {"json": ["content"]},
        {"json": {}},
        {"json": {"content": ""}},
        {"json": {"content": "   "}},
        {"json": {"content": 42}},
        {"json": {"content": None}},
        {"json": {"content": "가" * 256}},
    ],
    ids=["no-body", "not-json", "list", "missing", "empty", "blank", "number", "null", "256-chars"],
)
def test_invalid_content_is_rejected_with_400(
    client: FlaskClient, mysql_server: AppDB, kwargs: dict[str, Any]
) -> None:
    before = count_rows(mysql_server)
    response = client.post("/logs", **kwargs)
    assert response.status_code == 400
    assert "content" in response.get_json()["error"]
    assert count_rows(mysql_server) == before


# --- schema ---------------------------------------------------------------------------------


def test_schema_file_is_idempotent_and_creates_no_database() -> None:
    sql = (APP_DIR / "schema.sql").read_text(encoding="utf-8")
    assert not re.search(r"\bCREATE\s+DATABASE\b|^\s*USE\s", sql, re.I | re.M)
    statements = split_sql(sql)
    assert len(statements) == 1
    assert statements[0].upper().startswith("CREATE TABLE IF NOT EXISTS STUDY_LOG")
    assert split_sql("-- only a comment\n;\n") == []


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
        assert set(columns) == {"id", "content", "created_at"}
        assert columns["content"] == "utf8mb4"
        assert count_rows(empty) == 1
    finally:
        deprovision(mysql_server.server, name, name)


# --- password from Secrets Manager (DB_SECRET_ARN) ------------------------------------------


def put_secret(db: AppDB, password: str) -> str:
    client = boto3.client("secretsmanager", region_name=os.environ["AWS_REGION"])
    secret = {"username": db.user, "password": password, "engine": "mysql"}
    return client.create_secret(
        Name=f"app-db-{secrets.token_hex(4)}", SecretString=json.dumps(secret)
    )["ARN"]


@pytest.mark.usefixtures("aws_env")
def test_secret_arn_supplies_user_and_password(mysql_server: AppDB) -> None:
    with mock_aws():
        arn = put_secret(mysql_server, mysql_server.password)
        config = config_for(mysql_server, DB_USER="", DB_PASS="", DB_SECRET_ARN=arn)
        client = create_app(config).test_client()
        responses = [client.get("/health"), client.post("/logs", json={"content": KOREAN})]
        responses.append(client.get("/logs"))
    assert [r.status_code for r in responses] == [200, 201, 200]
    assert responses[2].get_json()[0]["content"] == KOREAN
    for response in responses:
        assert mysql_server.password not in response.get_data(as_text=True)


@pytest.mark.usefixtures("aws_env")
def test_secret_is_cached_and_reread_after_rotation(mysql_server: AppDB) -> None:
    with mock_aws():
        arn = put_secret(mysql_server, "stale-password")
        assert app_module.read_secret(arn)["password"] == "stale-password"  # now cached
        sm = boto3.client("secretsmanager", region_name=os.environ["AWS_REGION"])
        rotated = {"username": mysql_server.user, "password": mysql_server.password}
        sm.put_secret_value(SecretId=arn, SecretString=json.dumps(rotated))
        config = config_for(mysql_server, DB_USER="", DB_PASS="", DB_SECRET_ARN=arn)
        response = create_app(config).test_client().get("/health")
        assert response.status_code == 200
        assert app_module.read_secret(arn)["password"] == mysql_server.password


@pytest.mark.usefixtures("aws_env")
def test_missing_secret_gives_503_with_the_reason(mysql_server: AppDB) -> None:
    with mock_aws():
        arn = "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:nope-AbCdEf"
        config = config_for(mysql_server, DB_PASS="", DB_SECRET_ARN=arn)
        response = create_app(config).test_client().get("/health")
    assert response.status_code == 503
    assert "ResourceNotFound" in response.get_json()["reason"]


@pytest.fixture
def moto_endpoint(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    yield endpoint
    server.stop()


def test_secret_is_read_from_aws_endpoint_url(mysql_server: AppDB, moto_endpoint: str) -> None:
    sm = boto3.client("secretsmanager", region_name="ap-northeast-2", endpoint_url=moto_endpoint)
    secret = {"username": mysql_server.user, "password": mysql_server.password}
    arn = sm.create_secret(Name="via-endpoint", SecretString=json.dumps(secret))["ARN"]
    config = config_for(mysql_server, DB_USER="", DB_PASS="", DB_SECRET_ARN=arn)
    assert create_app(config).test_client().get("/health").status_code == 200


# --- shipping: self-contained, no connection at import, container files ---------------------


def test_import_connects_to_nothing(tmp_path: Path) -> None:
    probe = (
        "import boto3, pymysql\n"
        "def refuse(*a, **k): raise SystemExit('connected at import')\n"
        "pymysql.connect = boto3.client = refuse\n"
        "import app.app\n"
        "assert app.app.app.config['DB_SECRET_ARN'] == 'arn:x'\n"
    )
    env = {**os.environ, "DB_HOST": "127.0.0.1", "DB_PORT": str(free_port())}
    env |= {"DB_SECRET_ARN": "arn:x", "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_shipped_files_alone_serve_the_app(mysql_server: AppDB, tmp_path: Path) -> None:
    for name in ("app.py", "schema.sql"):  # exactly what the Dockerfile copies
        shutil.copy(APP_DIR / name, tmp_path / name)
    port = free_port()
    env = {**os.environ, **mysql_server.env(), "PORT": str(port), "DB_SECRET_ARN": ""}
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen(
        [sys.executable, "app.py"], cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline, health = time.monotonic() + 20, None
        while time.monotonic() < deadline and health is None:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                time.sleep(0.2)
        assert health is not None and health.status_code == 200
        url = f"http://127.0.0.1:{port}/logs"
        created = requests.post(url, json={"content": KOREAN}, timeout=5)
        assert created.status_code == 201
        assert requests.get(url, timeout=5).json()[0]["content"] == KOREAN
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_requirements_are_exact_pins() -> None:
    lines = (APP_DIR / "requirements.txt").read_text().split()
    pins = dict(line.split("==") for line in lines)
    assert set(pins) == {"flask", "pymysql", "boto3", "gunicorn"}
    assert all(re.fullmatch(r"\d+(\.\d+)+", version) for version in pins.values())


def test_dockerfile_caches_dependencies_and_runs_unprivileged() -> None:
    lines = [x.strip() for x in (APP_DIR / "Dockerfile").read_text().splitlines()]
    instructions = [x for x in lines if x and not x.startswith("#")]
    assert instructions[0] == "FROM python:3.12-slim"
    copy_reqs = instructions.index("COPY requirements.txt .")
    pip = next(i for i, x in enumerate(instructions) if "pip install" in x)
    copy_code = next(i for i, x in enumerate(instructions) if x.startswith("COPY app.py"))
    assert copy_reqs < pip < copy_code
    user = [x.split()[1] for x in instructions if x.startswith("USER ")]
    assert user and user[-1] not in {"root", "0"}
    cmd = json.loads(next(x for x in instructions if x.startswith("CMD "))[4:])
    assert cmd[0] == "gunicorn" and cmd[-1] == "app:app" and "0.0.0.0:8000" in cmd


def test_compose_runs_one_app_service_on_port_80() -> None:
    compose = yaml.safe_load((APP_DIR / "compose.yaml").read_text())
    assert list(compose["services"]) == ["app"]
    service = compose["services"]["app"]
    assert service["build"] == "."
    assert service["ports"] == ["80:8000"]
    assert service["env_file"] == ["app.env"]
    assert service["restart"] == "unless-stopped"


def test_app_files_fit_in_ec2_user_data() -> None:
    shipped = [p for p in APP_DIR.iterdir() if p.is_file() and p.suffix != ".pyc"]
    total = sum(p.stat().st_size for p in shipped)
    assert total < 9 * 1024, f"app/ is {total} bytes; user data allows 16 KB in all"
