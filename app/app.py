"""Study-log web tier: Flask + PyMySQL, with a small pool of reused database connections."""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import sys
import threading
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pymysql
from flask import Flask, jsonify, request
from werkzeug.exceptions import (
    ClientDisconnected,
    HTTPException,
    RequestEntityTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
)

MAX_CONTENT = 255  # characters, as the column holds
MAX_BODY = 4096  # bytes: 255 characters of JSON, each escaped as \uXXXX, still fit
BODY_TIMEOUT = 5.0  # seconds a client may take between two parts of its body
KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# Letters that draw nothing: Hangul fillers (U+115F, U+1160, U+3164, U+FFA0) and the blank
# braille pattern. With spaces, format and control characters and lone combining marks they
# make content that looks empty: an entry needs a letter, digit, punctuation mark or symbol.
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# What the app's database user may do on its own schema; nothing on any other.
APP_PRIVILEGES = "SELECT, INSERT, DELETE, CREATE"
POOL_SIZE = 8  # connections a worker process keeps (docs/PERFORMANCE.md)
ER_DUP_ENTRY = 1062  # MySQL's "Duplicate entry": here, an Idempotency-Key already stored
log = logging.getLogger("app")


class DBUnavailable(Exception):
    """The database did not answer; the detail goes to the log, never to a client."""


class BadRequest(Exception):
    """The client sent something the app refuses; the message is short and generic."""


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


def schema_present(conn: Any, sql_text: str) -> bool:
    """Whether every table the schema file creates exists in the connection's database."""
    tables = set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", sql_text, re.I))
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE()"
            " AND table_name IN (" + ", ".join(["%s"] * len(tables)) + ")",
            sorted(tables),
        )
        row = cur.fetchone()
    found = row["n"] if isinstance(row, dict) else row[0]
    return bool(tables) and found == len(tables)


def ensure_app_user(
    admin: Any, database: str, user: str, password: str, *, tls: bool = False, host: str = "%"
) -> None:
    """As an admin: the app's database and its user, with APP_PRIVILEGES on it alone."""
    for name in (database, user):
        if not re.fullmatch(r"[A-Za-z0-9_]{1,32}", name):
            raise ValueError("database and user names must be 1-32 letters, digits or _")
    account = (user, host)
    require = " REQUIRE SSL" if tls else ""
    with admin.cursor() as cur:
        cur.execute(
            f"CREATE DATABASE IF NOT EXISTS `{database}` "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
        cur.execute(
            "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s" + require, (*account, password)
        )
        cur.execute("ALTER USER %s@%s IDENTIFIED BY %s" + require, (*account, password))
        cur.execute("REVOKE ALL PRIVILEGES, GRANT OPTION FROM %s@%s", account)
        cur.execute(f"GRANT {APP_PRIVILEGES} ON `{database}`.* TO %s@%s", account)


def create_user_from_env(attempts: int = 20, delay: float = 15.0) -> None:
    """Boot-time, one-shot: create the app's user as DB_ADMIN_USER (see docs/SECURITY.md)."""
    cfg = env_config()
    admin_cfg = {**cfg, "DB_USER": os.environ["DB_ADMIN_USER"], "DB_NAME": None}
    admin_cfg["DB_PASS"] = os.environ["DB_ADMIN_PASS"]
    for attempt in range(1, attempts + 1):
        try:
            with connect(admin_cfg) as admin:
                ensure_app_user(
                    admin,
                    cfg["DB_NAME"],
                    cfg["DB_USER"],
                    cfg["DB_PASS"],
                    tls=bool(cfg["DB_SSL_CA"]),
                )
            print(f"ok database user {cfg['DB_USER']} has {APP_PRIVILEGES} on {cfg['DB_NAME']}")
            return
        except (pymysql.MySQLError, OSError) as exc:
            print(f"attempt {attempt}/{attempts}: {type(exc).__name__}: {exc.args[:1]}")
            if attempt == attempts:
                raise SystemExit("could not create the app's database user") from None
            time.sleep(delay)


def env_config() -> dict[str, Any]:
    e = os.environ
    return {
        "DB_HOST": e.get("DB_HOST", "127.0.0.1"),
        "DB_PORT": int(e.get("DB_PORT") or 3306),
        "DB_USER": e.get("DB_USER", ""),
        "DB_NAME": e.get("DB_NAME", "app"),
        "DB_PASS": e.get("DB_PASS", ""),
        "DB_SSL_CA": e.get("DB_SSL_CA", ""),  # set: TLS, server certificate and name verified
        "DB_CONNECT_TIMEOUT": int(e.get("DB_CONNECT_TIMEOUT") or 5),
        "DB_POOL_SIZE": int(e.get("DB_POOL_SIZE") or POOL_SIZE),
        "SCHEMA_PATH": str(Path(__file__).with_name("schema.sql")),
    }


def connect(cfg: dict[str, Any]) -> pymysql.Connection:
    """A utf8mb4 connection; over verified TLS when DB_SSL_CA names a CA bundle."""
    tls: dict[str, Any] = {}
    if cfg.get("DB_SSL_CA"):
        tls = {"ssl_ca": cfg["DB_SSL_CA"], "ssl_verify_cert": True, "ssl_verify_identity": True}
    return pymysql.connect(
        host=cfg["DB_HOST"], port=int(cfg["DB_PORT"]), user=cfg["DB_USER"],
        password=cfg["DB_PASS"], database=cfg["DB_NAME"], charset="utf8mb4",
        connect_timeout=cfg["DB_CONNECT_TIMEOUT"], read_timeout=10, write_timeout=10,
        autocommit=True, cursorclass=pymysql.cursors.DictCursor, **tls,
    )  # fmt: skip


class Database:
    """A small pool of connections a process (DB_POOL_SIZE), each pinged before use and
    replaced when lost. Few connections: opening one costs far more than a query."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg, self.lock, self.ready = cfg, threading.Lock(), False
        self.idle: queue.LifoQueue[pymysql.Connection] = queue.LifoQueue()
        self.slots = threading.BoundedSemaphore(int(cfg.get("DB_POOL_SIZE") or POOL_SIZE))

    def _checkout(self) -> pymysql.Connection:
        try:
            conn = self.idle.get_nowait()
            conn.ping(reconnect=False)
            return conn
        except queue.Empty:
            pass
        except (pymysql.MySQLError, OSError):
            self._discard(conn)
        conn = connect(self.cfg)
        if not self.ready:
            with self.lock:
                if not self.ready:
                    sql = Path(self.cfg["SCHEMA_PATH"]).read_text("utf-8")
                    # DDL on a table in use waits for its metadata lock behind open
                    # transactions: run it only when a table is missing.
                    if not schema_present(conn, sql):
                        apply_schema(conn, sql)
                    self.ready = True
        return conn

    @staticmethod
    def _discard(conn: pymysql.Connection | None) -> None:
        if conn is not None:
            with suppress(Exception):  # already broken
                conn.close()

    @contextmanager
    def connection(self) -> Iterator[pymysql.Connection]:
        if not self.slots.acquire(timeout=10):
            raise DBUnavailable("no pooled connection came free within 10 s")
        conn = None
        try:
            conn = self._checkout()
            yield conn
        except (pymysql.MySQLError, OSError) as exc:
            self._discard(conn)
            where = f"{self.cfg['DB_HOST']}:{self.cfg['DB_PORT']}"
            detail = f"{where} as {self.cfg['DB_USER']}: {type(exc).__name__}: {exc}"
            if self.cfg.get("DB_PASS"):
                detail = detail.replace(self.cfg["DB_PASS"], "***")
            raise DBUnavailable(detail) from None
        except BaseException:
            self._discard(conn)  # perhaps mid-transaction: never hand it out again
            raise
        else:
            self.idle.put(conn)
        finally:
            self.slots.release()


def visible(text: str) -> bool:
    """Whether text holds a character that draws something (see BLANK_LETTERS)."""
    return any(unicodedata.category(c)[0] in "LNPS" and c not in BLANK_LETTERS for c in text)


def read_body() -> bytes:
    """The request body, at most MAX_BODY bytes; 413 past it, also for a chunked body.

    werkzeug refuses a Content-Length over MAX_CONTENT_LENGTH, but cuts a chunked body (no
    Content-Length) at the limit without a word: the rest would be parsed as if it were all."""
    environ = request.environ
    if request.content_length is not None or "wsgi.input_terminated" not in environ:
        return request.get_data(cache=False)  # Content-Length: checked; none: no body
    raw = environ["wsgi.input"].read(MAX_BODY + 1)  # the server de-chunks and ends the stream
    if len(raw) > MAX_BODY:
        raise RequestEntityTooLarge()
    return raw


def read_content() -> tuple[str, str | None]:
    """The validated content and Idempotency-Key of a POST /logs; BadRequest otherwise."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not KEY.fullmatch(key):
        raise BadRequest("Idempotency-Key must be 1-64 letters, digits or . _ : -")
    if request.mimetype != "application/json":
        raise UnsupportedMediaType()
    sock = request.environ.get("gunicorn.socket")
    if sock is not None:  # a client that stalls mid-body loses its connection, not a thread
        sock.settimeout(BODY_TIMEOUT)
    try:
        raw = read_body()
    except (ClientDisconnected, OSError):  # stalled past BODY_TIMEOUT, or gone
        raise RequestTimeout() from None
    try:
        body = json.loads(raw or b"null")
    except (ValueError, RecursionError):
        raise BadRequest('body must be JSON: {"content": "..."}') from None
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, str) or not visible(content):
        raise BadRequest("content must be a non-empty string")
    if len(content) > MAX_CONTENT:
        raise BadRequest(f"content must be at most {MAX_CONTENT} characters")
    try:
        content.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("content must be valid Unicode text") from None
    return content, key


def row_json(row: dict[str, Any]) -> dict[str, Any]:
    created = row["created_at"]
    return {**row, "created_at": created.isoformat() if created else None}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """App factory; connects only when a request needs the database."""
    app = Flask(__name__)
    app.config.update(env_config())
    app.config.update(config or {})
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    db = Database(app.config)
    row_sql = "SELECT id, content, created_at FROM study_log"

    @app.errorhandler(DBUnavailable)
    def unavailable(exc: DBUnavailable) -> Any:
        log.error("database unavailable: %s", exc)
        if request.path == "/health":
            return jsonify(status="error", db="down"), 503
        return jsonify(error="database unavailable, try again later"), 503

    @app.errorhandler(BadRequest)
    def bad_request(exc: BadRequest) -> Any:
        return jsonify(error=str(exc)), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        # The body was not read (or not all of it): the connection cannot carry another request.
        close = {"Connection": "close"} if exc.code in (408, 413, 415) else {}
        return jsonify(error=(exc.name or "error").lower()), exc.code or 500, close

    @app.errorhandler(Exception)
    def internal(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify(error="internal error"), 500

    @app.get("/health")
    def health() -> Any:
        with db.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) AS n FROM study_log")
            count = cur.fetchone()["n"]
        return jsonify(status="ok", db="up", logs=count)

    @app.get("/logs")
    def list_logs() -> Any:
        limit = min(max(request.args.get("limit", 100, type=int) or 100, 1), 1000)
        with db.connection() as conn, conn.cursor() as cur:
            cur.execute(f"{row_sql} ORDER BY id DESC LIMIT %s", (limit,))
            rows = cur.fetchall()
        return jsonify([row_json(r) for r in rows])

    @app.post("/logs")
    def add_log() -> Any:
        content, key = read_content()
        with db.connection() as conn, conn.cursor() as cur:
            try:  # one statement: the row and its key are stored together or not at all
                sql = "INSERT INTO study_log (content, idem_key) VALUES (%s, %s)"
                cur.execute(sql, (content, key))
            except pymysql.IntegrityError as exc:  # a retry: answer with what the first stored
                if exc.args[0] != ER_DUP_ENTRY or key is None:
                    raise
                cur.execute(f"{row_sql} WHERE idem_key = %s", (key,))
                row = cur.fetchone()
                if row is None or row["content"] != content:
                    return jsonify(error="Idempotency-Key was used with other content"), 422
                return jsonify(row_json(row)), 201, {"Idempotent-Replayed": "true"}
            cur.execute(f"{row_sql} WHERE id = %s", (cur.lastrowid,))
            row = cur.fetchone()
        return jsonify(row_json(row)), 201

    return app


app = create_app()

if __name__ == "__main__" and sys.argv[1:] == ["create-user"]:
    create_user_from_env()
elif __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8000")))
