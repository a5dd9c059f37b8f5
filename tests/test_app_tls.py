"""TLS to the database, as in rds mode (DB_SSL_CA): a real MariaDB started with a certificate
from a throwaway CA. The app must verify the certificate and the host name, and fail closed."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest
from gitops.pipeline.db_standin import (
    AppDB,
    DBServer,
    StandinError,
    find_server_binary,
    provision,
    start_local,
    stop,
)

from app.app import connect, create_app, ensure_app_user

SCHEMA_SQL = (Path(__file__).resolve().parents[1] / "app" / "schema.sql").read_text("utf-8")

pytestmark = pytest.mark.db  # a MariaDB of its own, started with a certificate


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
            f"/CN={name}", "-keyout", str(key), "-out", str(cert))  # fmt: skip
    return key, cert


def make_server_cert(directory: Path, ca: tuple[Path, Path], san: str) -> tuple[Path, Path]:
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    ext = directory / "san.ext"
    ext.write_text(f"subjectAltName={san}\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=db", "-keyout", str(key),
            "-out", str(csr))  # fmt: skip
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[1]), "-CAkey", str(ca[0]),
            "-CAcreateserial", "-days", "1", "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    return key, cert


@pytest.fixture(scope="module")
def tls_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AppDB, Path, Path]]:
    """A TLS MariaDB whose certificate names 127.0.0.1; yields the app DB, its CA, another CA."""
    binary = find_server_binary()
    if binary is None:
        pytest.skip("needs mariadbd or mysqld on this machine to start a TLS server")
    directory = tmp_path_factory.mktemp("tls")
    ca = make_ca(directory, "test-ca")
    other = make_ca(directory, "other-ca")
    key, cert = make_server_cert(directory, ca, "IP:127.0.0.1")
    args = (f"--ssl-ca={ca[1]}", f"--ssl-cert={cert}", f"--ssl-key={key}")
    try:
        server: DBServer = start_local(binary, extra_args=args)
    except StandinError as exc:
        pytest.fail(f"TLS server did not start: {exc}")
    try:
        name = f"s_{secrets.token_hex(4)}"
        app_db = provision(server, name, name, secrets.token_urlsafe(16), SCHEMA_SQL)
        with server.connect() as conn:  # as the rds-mode boot makes it: REQUIRE SSL
            ensure_app_user(conn, name, name, app_db.password, tls=True)
        yield app_db, ca[1], other[1]
    finally:
        stop(server)


def config(db: AppDB, ca: Path, host: str = "127.0.0.1") -> dict[str, object]:
    return {
        "DB_HOST": host, "DB_PORT": db.port, "DB_USER": db.user, "DB_PASS": db.password,
        "DB_NAME": db.database, "DB_SSL_CA": str(ca), "DB_CONNECT_TIMEOUT": 3,
    }  # fmt: skip


def test_the_app_connects_over_verified_tls(tls_db: tuple[AppDB, Path, Path]) -> None:
    db, ca, _ = tls_db
    with connect(config(db, ca)) as conn, conn.cursor() as cur:
        cur.execute("SHOW SESSION STATUS LIKE 'Ssl_version'")
        assert cur.fetchone()["Value"].startswith("TLS")
    client = create_app(config(db, ca)).test_client()
    assert client.get("/health").status_code == 200
    assert client.post("/logs", json={"content": "over TLS"}).status_code == 201


def test_a_certificate_from_another_ca_is_refused(tls_db: tuple[AppDB, Path, Path]) -> None:
    db, _, other = tls_db
    assert create_app(config(db, other)).test_client().get("/health").status_code == 503


def test_a_certificate_for_another_host_is_refused(tls_db: tuple[AppDB, Path, Path]) -> None:
    db, ca, _ = tls_db  # the certificate names 127.0.0.1; localhost is not in it
    assert (
        create_app(config(db, ca, host="localhost")).test_client().get("/health").status_code == 503
    )


def test_the_app_user_cannot_log_in_without_tls(tls_db: tuple[AppDB, Path, Path]) -> None:
    db, _, _ = tls_db
    plain = {"host": db.host, "port": db.port, "user": db.user, "password": db.password}
    with pytest.raises(pymysql.err.OperationalError) as denied:
        pymysql.connect(**plain, ssl_disabled=True, connect_timeout=3)
    assert denied.value.args[0] == 1045
