"""Shared fixtures. Each group below belongs to one area; append new groups, keep them apart."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gitops.pipeline.db_standin import (
    SCHEMA_FILE,
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

SCHEMA_SQL = SCHEMA_FILE.read_text(encoding="utf-8")


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


# --- moto: AWS for unit tests ------------------------------------------------------------------
# moto's dummy credentials, none of the environment's endpoint or profile: boto3 clients made in
# the test (gitops.aws.client) talk to moto. moto enforces no IAM: tests/s3_as_role.py adds the
# answers a role gets from S3.


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield


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


# --- Fake GitHub REST API ---------------------------------------------------------------------
# tests/fake_github.py; point GitHub(...) or GITHUB_API_URL at the fake's `.base`.


@pytest.fixture
def serve_fake() -> Iterator[Callable[[Any], Any]]:
    """Serve a fake GitHub API (anything with `handle` and `base`) on 127.0.0.1 for one test."""
    from tests.fake_github import FakeServer

    servers: list[FakeServer] = []

    def serve(app: Any) -> Any:
        servers.append(FakeServer(app))
        return app

    yield serve
    for server in servers:
        server.close()


@pytest.fixture
def fake_github(serve_fake: Callable[[Any], Any]) -> object:
    """Pull requests by commit, issues and issue comments (tests.fake_github.FakeGitHub)."""
    from tests.fake_github import FakeGitHub

    return serve_fake(FakeGitHub())
