"""Shared fixtures. Each group below belongs to one area; append new groups, keep them apart."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

from gitops.pipeline.db_standin import (  # noqa: E402
    AppDB,
    DBServer,
    deprovision,
    ensure_db,
    provision,
    stop,
)

# --- MySQL/MariaDB stand-in: a real server for the app and db_standin tests -----------------
# ensure_db reuses DB_HOST/DB_PORT/DB_USER/DB_PASS when that server answers, else starts a
# throwaway local mariadbd (installing mariadb-server with apt-get as root on a clean Debian).

SCHEMA_SQL = (REPO_ROOT / "app" / "schema.sql").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def mysql_admin() -> Iterator[DBServer]:
    """The server and an account that may create databases and users; stopped at the end."""
    server = ensure_db()
    yield server
    stop(server)


@pytest.fixture(scope="session")
def mysql_server(mysql_admin: DBServer) -> Iterator[AppDB]:
    """A fresh database with the schema and its own app account.

    Yields an AppDB: host, port, user, password, database, .env() (the app's DB_* variables),
    .connect() (a PyMySQL connection as the app user) and .server (the admin DBServer).
    """
    name = f"t_{secrets.token_hex(4)}"
    app_db = provision(mysql_admin, name, name, secrets.token_urlsafe(16), SCHEMA_SQL)
    yield app_db
    deprovision(mysql_admin, name, name)


# --- LocalStack: the real emulator for e2e tests ---------------------------------------------
# Reuses one answering at AWS_ENDPOINT_URL (default http://localhost:4566); else starts
# LocalStack from .venv-localstack (made by `make setup`) and stops it after the session.


@pytest.fixture(scope="session")
def localstack_endpoint() -> Iterator[str]:
    """URL of a ready LocalStack gateway."""
    from gitops.pipeline import localstack

    emulator = localstack.ensure(localstack.endpoint_from_env())
    yield emulator.endpoint
    localstack.stop(emulator)


# --- Fake GitHub REST API: pull requests by commit and their comments -------------------------
# Served on 127.0.0.1 for one test (tests/fake_github.py); point GitHub(...) at `.base`.


@pytest.fixture
def fake_github() -> Iterator[object]:
    import threading
    from http.server import ThreadingHTTPServer

    from tests.fake_github import FakeGitHub, make_handler

    state = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
