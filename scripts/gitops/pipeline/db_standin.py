"""A MySQL-compatible server for tests and the local pipeline, found or started on demand.

Order of preference (`ensure_db`):
1. the server named by DB_HOST/DB_PORT/DB_USER/DB_PASS, if it answers (reused, never stopped);
2. a throwaway instance of a local `mariadbd`/`mysqld` (datadir, socket and logs in a temp dir,
   listening on 127.0.0.1 on a free port, with a generated admin password);
3. Docker `mysql:8.0`, when `docker info` answers;
4. as root on Debian/Ubuntu: `apt-get install mariadb-server`, then (2).

CLI (from the repository root): gitops db-standin start|stop|status [--state-file F]
The state file holds passwords, so it is written with mode 0600; passwords are never printed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pymysql

from gitops import apt
from gitops.paths import APP_DIR, CACHE_DIR
from gitops.progress import say, stage

SCHEMA_FILE = APP_DIR / "schema.sql"
# The CLI's record of what it started (it holds passwords): the checkout's git-ignored cache,
# wherever the command runs from.
DEFAULT_STATE_FILE = CACHE_DIR / "db-standin.json"
ADMIN_USER = "standin"
DOCKER_IMAGE = "mysql:8.0"
IDENTIFIER = re.compile(r"^[A-Za-z0-9_]{1,32}$")
HOW_TO_GET_ONE = """no MySQL-compatible server is available. Any one of these works:
  - point DB_HOST, DB_PORT, DB_USER, DB_PASS at a running server whose user may create
    databases and users (for example a MySQL service container in CI);
  - install MariaDB so that `mariadbd` is on PATH or in /usr/sbin
    (Debian/Ubuntu: apt-get install mariadb-server; macOS: brew install mariadb);
  - start a Docker daemon so that `docker info` answers (the image mysql:8.0 is used);
  - run as root on Debian/Ubuntu, and mariadb-server is installed with apt-get."""

_children: dict[int, subprocess.Popen[bytes]] = {}


class StandinError(RuntimeError):
    """No server could be found or started; the message says what to install."""


@dataclass
class DBServer:
    """A reachable server and an account that may create databases and users."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    kind: str = "env"  # env | local | docker
    started_by_us: bool = False
    pid: int | None = None
    tmpdir: str | None = None
    container: str | None = None
    version: str = ""

    def connect(self, database: str | None = None, **kwargs: Any) -> pymysql.Connection:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=kwargs.pop("connect_timeout", 5),
            **kwargs,
        )

    def answers(self) -> bool:
        try:
            self.ping()
        except (pymysql.MySQLError, OSError):
            return False
        return True

    def ping(self) -> str:
        """The server's version; raises when it does not answer."""
        with self.connect(connect_timeout=2) as conn, conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            return str(cur.fetchone()[0])

    def describe(self) -> str:
        where = f"{self.kind} server {self.version} on {self.host}:{self.port}".replace("  ", " ")
        if self.pid:
            where += f" (pid {self.pid})"
        if self.container:
            where += f" (container {self.container})"
        return where


@dataclass
class AppDB:
    """A provisioned database and the app's own account on it."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str
    server: DBServer | None = field(default=None, repr=False, compare=False)

    def env(self) -> dict[str, str]:
        """The app's DB_* settings, as environment variables."""
        return {
            "DB_HOST": self.host,
            "DB_PORT": str(self.port),
            "DB_USER": self.user,
            "DB_PASS": self.password,
            "DB_NAME": self.database,
        }

    def connect(self) -> pymysql.Connection:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.database,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=5,
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    """Whether anything accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def find_server_binary() -> str | None:
    return apt.find_program("mariadbd", "mysqld")


def _run(cmd: list[str], log: Path, timeout: float, env: Mapping[str, str] | None = None) -> None:
    with log.open("ab") as out:
        result = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            timeout=timeout, env=dict(env) if env is not None else None, check=False,
        )  # fmt: skip
    if result.returncode != 0:
        raise StandinError(f"{Path(cmd[0]).name} exited {result.returncode}:\n{_tail(log)}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path.name} not written)"


def _init_sql(password: str) -> str:
    """Runs once at server start (--init-file): the admin account, no anonymous users."""
    lines = ["DROP USER IF EXISTS ''@'localhost';"]
    for host in ("127.0.0.1", "localhost"):
        lines += [
            f"CREATE USER IF NOT EXISTS '{ADMIN_USER}'@'{host}' IDENTIFIED BY '{password}';",
            f"GRANT ALL PRIVILEGES ON *.* TO '{ADMIN_USER}'@'{host}' WITH GRANT OPTION;",
        ]
    return "\n".join(lines) + "\n"


def wait_until_answers(
    server: DBServer, proc: subprocess.Popen[bytes] | None, timeout: float, log: Path | None
) -> None:
    """Poll until the server accepts the admin login; fail early if the process exits."""
    began, next_note, last = time.monotonic(), 5.0, ""
    while True:
        if proc is not None and proc.poll() is not None:
            tail = _tail(log) if log else ""
            raise StandinError(f"server exited with code {proc.returncode} while starting:\n{tail}")
        try:
            server.version = server.ping()
            return
        except (pymysql.MySQLError, OSError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        waited = time.monotonic() - began
        if waited > timeout:
            tail = f"\n{_tail(log)}" if log else ""
            raise StandinError(f"server did not answer within {timeout:.0f}s ({last}){tail}")
        if waited >= next_note:
            say(f"   still waiting for {server.host}:{server.port} ({waited:.0f}s)")
            next_note += 5.0
        time.sleep(0.25)


def start_local(
    binary: str, *, timeout: float = 120.0, extra_args: tuple[str, ...] = ()
) -> DBServer:
    """A throwaway instance of mariadbd/mysqld, everything inside a fresh temp dir.

    extra_args go to the server (for example --ssl-ca/--ssl-cert/--ssl-key for a TLS test)."""
    version = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    mariadb = "mariadb" in version.lower()
    tmp = Path(tempfile.mkdtemp(prefix="db-standin-"))
    data, log, init = tmp / "data", tmp / "server.log", tmp / "init.sql"
    as_root = ["--user=root"] if os.geteuid() == 0 else []  # mariadbd refuses root otherwise
    proc: subprocess.Popen[bytes] | None = None
    try:
        with stage(f"initialize a data directory for {Path(binary).name}"):
            if mariadb:
                installer = apt.find_program("mariadb-install-db", "mysql_install_db")
                if installer is None:
                    raise StandinError("mariadb-install-db not found beside mariadbd")
                cmd = [installer, "--no-defaults", f"--datadir={data}", "--skip-test-db"]
            else:
                cmd = [binary, "--no-defaults", "--initialize-insecure", f"--datadir={data}"]
            _run(cmd + as_root, log, timeout)
        password = secrets.token_urlsafe(24)
        fd = os.open(init, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(_init_sql(password))
        port = free_port()
        args = [
            binary, "--no-defaults", f"--datadir={data}", f"--port={port}",
            "--bind-address=127.0.0.1", f"--socket={tmp / 'mysqld.sock'}",
            f"--pid-file={tmp / 'mysqld.pid'}", f"--tmpdir={tmp}", f"--init-file={init}",
            "--skip-name-resolve", *as_root, *extra_args,
        ]  # fmt: skip
        if not mariadb:
            args += ["--mysqlx=OFF", f"--secure-file-priv={tmp}"]
        with stage(f"start {Path(binary).name} on 127.0.0.1:{port}"):
            with log.open("ab") as out:
                proc = subprocess.Popen(
                    args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True,  # outlives `db_standin start`
                )  # fmt: skip
            _children[proc.pid] = proc
            server = DBServer(
                host="127.0.0.1", port=port, user=ADMIN_USER, password=password, kind="local",
                started_by_us=True, pid=proc.pid, tmpdir=str(tmp),
            )  # fmt: skip
            wait_until_answers(server, proc, timeout, log)
    except BaseException:
        if proc is not None:
            _terminate(proc.pid, str(tmp), 10.0)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        init.unlink(missing_ok=True)  # it holds the admin password
    say(f"   {server.describe()}")
    return server


def docker_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return info.returncode == 0


def start_docker(*, timeout: float = 180.0) -> DBServer:
    password, port = secrets.token_urlsafe(24), free_port()
    name = f"db-standin-{secrets.token_hex(4)}"
    env = {**os.environ, "MYSQL_ROOT_PASSWORD": password}  # passed by name: not in argv
    with stage(f"start {DOCKER_IMAGE} as {name} on 127.0.0.1:{port}"):
        run = subprocess.run(
            ["docker", "run", "-d", "--rm", "--name", name, "-e", "MYSQL_ROOT_PASSWORD",
             "-p", f"127.0.0.1:{port}:3306", DOCKER_IMAGE],
            env=env, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        if run.returncode != 0:  # say why (pull refused, port taken...), not just the exit code
            raise StandinError(
                f"`docker run {DOCKER_IMAGE}` exited {run.returncode}: "
                f"{(run.stderr or run.stdout).strip()[-1500:]}"
            )
        server = DBServer("127.0.0.1", port, "root", password, "docker", True, container=name)
        try:
            wait_until_answers(server, None, timeout, None)
        except BaseException:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
            raise
    return server


def ensure_db(
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = 120.0,
    allow_docker: bool = True,
    allow_install: bool = True,
) -> DBServer:
    """A server that answers, reused or started; see the module docstring for the order."""
    env = os.environ if env is None else env
    tried: list[str] = []
    if env.get("DB_HOST"):
        server = DBServer(
            env["DB_HOST"], int(env.get("DB_PORT") or 3306),
            env.get("DB_USER") or "root", env.get("DB_PASS", ""),
        )  # fmt: skip
        try:
            server.version = server.ping()
            say(f"reusing {server.describe()} (DB_HOST)")
            return server
        except (pymysql.MySQLError, OSError) as exc:
            tried.append(f"DB_HOST {server.host}:{server.port} did not answer: {exc}")
            say(f"   {tried[-1]}; looking for another server")
    binary = find_server_binary()
    if binary:
        return start_local(binary, timeout=timeout)
    tried.append("no mariadbd or mysqld on PATH or in " + ", ".join(apt.SBIN_DIRS))
    if allow_docker and docker_answers():
        return start_docker(timeout=max(timeout, 180.0))
    tried.append("docker: not installed or `docker info` does not answer")
    if allow_install and apt.can_install():
        try:
            apt.install("mariadb-server")
        except apt.InstallError as err:
            raise StandinError(str(err)) from None
        binary = find_server_binary()
        if binary:
            return start_local(binary, timeout=timeout)
        tried.append("apt-get installed mariadb-server but no mariadbd was found")
    else:
        tried.append("apt-get install: needs root on Debian/Ubuntu")
    raise StandinError(HOW_TO_GET_ONE + "\nTried:\n  - " + "\n  - ".join(tried))


def _process_alive(pid: int, marker: str | None) -> bool:
    """Whether pid is still running and is the process we started (its argv names marker)."""
    proc_dir = Path(f"/proc/{pid}")
    if proc_dir.exists():
        try:
            cmdline = (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            status = (proc_dir / "status").read_text()
        except OSError:
            return False
        zombie = re.search(r"^State:\s+Z", status, re.M) is not None
        return not zombie and (marker is None or marker in cmdline)
    if Path("/proc/self").exists():
        return False
    out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True)
    return out.returncode == 0 and (marker is None or marker in out.stdout)


def _reap(pid: int) -> None:
    child = _children.get(pid)
    if child is not None:
        if child.poll() is not None:
            _children.pop(pid, None)
        return
    with contextlib.suppress(ChildProcessError):  # not our child: init reaps it
        os.waitpid(pid, os.WNOHANG)


def _terminate(pid: int, marker: str | None, timeout: float) -> bool:
    """SIGTERM (then SIGKILL) pid if it is still ours; True once it is gone."""
    if not _process_alive(pid, marker):
        _reap(pid)
        return True
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not _process_alive(pid, marker):
            return True
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    _reap(pid)
    return not _process_alive(pid, marker)


def stop(server: DBServer, *, timeout: float = 30.0) -> None:
    """Stop exactly what ensure_db started and remove its temp dir; safe to call twice."""
    if not server.started_by_us:
        say(f"left running: {server.describe()} (not started by us)")
        return
    with stage(f"stop {server.describe()}"):
        if server.kind == "docker" and server.container:
            subprocess.run(["docker", "rm", "-f", server.container], capture_output=True)
        elif server.pid and not _terminate(server.pid, server.tmpdir, timeout):
            raise StandinError(f"pid {server.pid} did not exit")
        if server.tmpdir:
            shutil.rmtree(server.tmpdir, ignore_errors=True)


def provision(
    server: DBServer,
    db_name: str,
    user: str,
    password: str,
    schema_sql: str,
    *,
    user_host: str = "%",
) -> AppDB:
    """Create the database (utf8mb4), the app account with this password, and the schema."""
    for what, name in (("database", db_name), ("user", user)):
        if not IDENTIFIER.match(name):
            raise ValueError(f"{what} name must match {IDENTIFIER.pattern}")
    with server.connect() as conn:
        _app_module().ensure_app_user(conn, db_name, user, password, host=user_host)
    with server.connect(db_name) as conn:
        _apply_schema(conn, schema_sql)
    return AppDB(server.host, server.port, user, password, db_name, server)


def deprovision(server: DBServer, db_name: str, user: str, *, user_host: str = "%") -> None:
    """Drop what provision created (for tests that share a reused server)."""
    for name in (db_name, user):
        if not IDENTIFIER.match(name):
            raise ValueError(f"name must match {IDENTIFIER.pattern}")
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{db_name}`")
        cur.execute("DROP USER IF EXISTS %s@%s", (user, user_host))


def _app_module() -> Any:
    # The schema splitter and the app user's grants live with the app, which is shipped alone.
    from app import app

    return app


def _apply_schema(conn: pymysql.Connection, schema_sql: str) -> int:
    return int(_app_module().apply_schema(conn, schema_sql))


def save_state(path: Path, server: DBServer, app_db: AppDB | None = None) -> None:
    """Record what was started (pid, temp dir, credentials) in a 0600 JSON file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {"server": asdict(server), "app": None}
    if app_db is not None:
        state["app"] = {k: v for k, v in asdict(app_db).items() if k != "server"}
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(state, out, indent=2)
    tmp.replace(path)


def load_state(path: Path) -> tuple[DBServer, AppDB | None] | None:
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    server = DBServer(**state["server"])
    app_db = AppDB(**state["app"], server=server) if state.get("app") else None
    return server, app_db


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--state-file", type=Path, default=DEFAULT_STATE_FILE)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait (start)")
    parser.add_argument("--database", help="start: also create this database and schema")
    parser.add_argument("--app-user", default="app", help="start: the app's account")
    parser.add_argument("--schema", type=Path, default=SCHEMA_FILE, help="start: schema file")
    args = parser.parse_args(argv)
    loaded = load_state(args.state_file)

    if args.command == "status":
        if loaded is None:
            print(f"FAIL no state file {args.state_file}: nothing started")
            return 1
        server, app_db = loaded
        ok = True
        if server.started_by_us and server.pid:
            alive = _process_alive(server.pid, server.tmpdir)
            print(f"{'ok' if alive else 'FAIL'} process {server.pid} running: {alive}")
            ok &= alive
        try:
            print(f"ok server answers on {server.host}:{server.port}: {server.ping()}")
        except (pymysql.MySQLError, OSError) as exc:
            print(f"FAIL server on {server.host}:{server.port} does not answer: {exc}")
            ok = False
        if app_db is not None:
            print(f"ok database {app_db.database}, app user {app_db.user} (password in state file)")
        return 0 if ok else 1

    if args.command == "stop":
        if loaded is None:
            print(f"ok nothing to stop: no state file {args.state_file}")
            return 0
        stop(loaded[0])
        args.state_file.unlink(missing_ok=True)
        print("ok stopped, state file removed")
        return 0

    if loaded is not None and loaded[0].answers():
        print(f"ok already running: {loaded[0].describe()} (state file {args.state_file})")
        return 0
    try:
        server = ensure_db(timeout=args.timeout)
    except StandinError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    app_db = None
    try:
        if args.database:
            schema = args.schema.read_text(encoding="utf-8")
            password = secrets.token_urlsafe(18)
            app_db = provision(server, args.database, args.app_user, password, schema)
        save_state(args.state_file, server, app_db)
    except BaseException:
        stop(server)
        raise
    print(f"ok {server.describe()}; state in {args.state_file}")
    if app_db is not None:
        print(f"ok database {app_db.database}, app user {app_db.user} (password in state file)")
    return 0
