"""Study-log web tier: Flask + PyMySQL; DB password from DB_PASS or a Secrets Manager secret."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pymysql
from flask import Flask, jsonify, request

MAX_CONTENT = 255
_secrets: dict[str, dict[str, str]] = {}


class DBUnavailable(Exception):
    """The database did not answer; the message is safe to show (never holds the password)."""


def split_sql(sql_text: str) -> list[str]:
    """Statements of a schema file: `--` comment lines dropped, split on `;`."""
    body = "\n".join(x for x in sql_text.splitlines() if not x.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def apply_schema(conn: Any, sql_text: str) -> int:
    """Run each statement of sql_text (idempotent DDL) on a PyMySQL connection."""
    statements = split_sql(sql_text)
    with conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)
    conn.commit()
    return len(statements)


def read_secret(arn: str, refresh: bool = False) -> dict[str, str]:
    """SecretString JSON of arn ({"username", "password"}), cached per process."""
    if refresh or arn not in _secrets:
        client = boto3.client(
            "secretsmanager",
            region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
            endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
        )
        _secrets[arn] = json.loads(client.get_secret_value(SecretId=arn)["SecretString"])
    return _secrets[arn]


def env_config() -> dict[str, Any]:
    e = os.environ
    return {
        "DB_HOST": e.get("DB_HOST", "127.0.0.1"),
        "DB_PORT": int(e.get("DB_PORT") or 3306),
        "DB_USER": e.get("DB_USER", ""),
        "DB_NAME": e.get("DB_NAME", "app"),
        "DB_PASS": e.get("DB_PASS", ""),
        "DB_SECRET_ARN": e.get("DB_SECRET_ARN", ""),
        "DB_CONNECT_TIMEOUT": int(e.get("DB_CONNECT_TIMEOUT") or 5),
        "SCHEMA_PATH": str(Path(__file__).with_name("schema.sql")),
    }


def connect(cfg: dict[str, Any]) -> pymysql.Connection:
    """Open a utf8mb4 connection; retries once with a fresh secret after access denied."""
    password = ""
    for attempt in (0, 1):
        try:
            user, password = cfg["DB_USER"], cfg["DB_PASS"]
            if cfg["DB_SECRET_ARN"]:
                secret = read_secret(cfg["DB_SECRET_ARN"], refresh=attempt == 1)
                user, password = user or secret["username"], secret["password"]
            return pymysql.connect(
                host=cfg["DB_HOST"],
                port=int(cfg["DB_PORT"]),
                user=user,
                password=password,
                database=cfg["DB_NAME"],
                charset="utf8mb4",
                connect_timeout=cfg["DB_CONNECT_TIMEOUT"],
                read_timeout=10,
                write_timeout=10,
                autocommit=True,
                cursorclass=pymysql.cursors.DictCursor,
            )
        except Exception as exc:
            denied = isinstance(exc, pymysql.MySQLError) and exc.args[:1] == (1045,)
            if attempt == 0 and denied and cfg["DB_SECRET_ARN"]:
                continue
            reason = f"{type(exc).__name__}: {exc}"
            raise DBUnavailable(reason.replace(password, "***") if password else reason) from None
    raise DBUnavailable("unreachable")


def row_json(row: dict[str, Any]) -> dict[str, Any]:
    created = row["created_at"]
    return {**row, "created_at": created.isoformat() if created else None}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """App factory; connects only when a request needs the database."""
    app = Flask(__name__)
    app.config.update(env_config())
    app.config.update(config or {})
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    lock, ready = threading.Lock(), threading.Event()

    @contextmanager
    def cursor() -> Iterator[Any]:
        conn = connect(app.config)
        try:
            if not ready.is_set():
                with lock:
                    if not ready.is_set():
                        apply_schema(conn, Path(app.config["SCHEMA_PATH"]).read_text("utf-8"))
                        ready.set()
            with conn.cursor() as cur:
                yield cur
        except pymysql.MySQLError as exc:
            raise DBUnavailable(f"{type(exc).__name__}: {exc}") from None
        finally:
            conn.close()

    @app.errorhandler(DBUnavailable)
    def unavailable(exc: DBUnavailable) -> Any:
        return jsonify(status="error", db="down", reason=str(exc)), 503

    @app.get("/health")
    def health() -> Any:
        with cursor() as cur:
            cur.execute("SELECT COUNT(*) AS n FROM study_log")
            count = cur.fetchone()["n"]
        return jsonify(status="ok", db="up", logs=count)

    @app.get("/logs")
    def list_logs() -> Any:
        limit = min(max(request.args.get("limit", 100, type=int) or 100, 1), 1000)
        with cursor() as cur:
            sql = "SELECT id, content, created_at FROM study_log ORDER BY id DESC LIMIT %s"
            cur.execute(sql, (limit,))
            rows = cur.fetchall()
        return jsonify([row_json(r) for r in rows])

    @app.post("/logs")
    def add_log() -> Any:
        body = request.get_json(silent=True)
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, str) or not content.strip():
            return jsonify(error="content must be a non-empty string"), 400
        if len(content) > MAX_CONTENT:
            return jsonify(error=f"content must be at most {MAX_CONTENT} characters"), 400
        with cursor() as cur:
            cur.execute("INSERT INTO study_log (content) VALUES (%s)", (content,))
            cur.execute(
                "SELECT id, content, created_at FROM study_log WHERE id = %s", (cur.lastrowid,)
            )
            row = cur.fetchone()
        return jsonify(row_json(row)), 201

    return app


app = create_app()

if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000")))
