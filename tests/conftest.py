"""Shared fixtures. Each group below belongs to one area; append new groups, keep them apart."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gitops.pipeline.db_standin import (
    SCHEMA_FILE,
    AppDB,
    DBServer,
    deprovision,
    ensure_db,
    load_state,
    provision,
    save_state,
    stop,
)

# --- How a run starts: tiers, the temp folder, what no test inherits ----------------------------
# Tiers are markers (pyproject.toml registers them; --strict-markers refuses any other). A test
# gets its tier from what it uses, so a new test needs no marker of its own:
#   e2e  the localstack_endpoint fixture (or an explicit @pytest.mark.e2e): real LocalStack,
#        Terraform applies; a longer default timeout;
#   db   the mysql_admin / mysql_server fixtures: a real MySQL or MariaDB server;
#   slow an explicit @pytest.mark.slow: seconds of CPU a case with no service (full plans).
# `make test-unit` runs what has none of them; `make test` runs everything (docs/TESTING.md).

TIER_FIXTURES = {"localstack_endpoint": "e2e", "mysql_admin": "db", "mysql_server": "db"}
LONG_TIMEOUT = 900  # seconds, for e2e and slow tests; pyproject.toml's `timeout` is the others'
# Removed once for the whole run, so no test and no subprocess inherits them: the files GitHub's
# runner hands a step (a test would write into the real job's summary and outputs), and the
# settings of the `make test` that started the run (a test's own `make` starts like a person's).
NOT_INHERITED = (
    "GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH",
    "MAKEFLAGS", "MFLAGS", "MAKELEVEL",
)  # fmt: skip
# One folder a run for everything the tests and what they start write to the temp folder
# (tmp_path, LocalStack's and MariaDB's files, the shared services' records); removed at the end.
RUN_DIR_VARIABLE = "GITOPS_TEST_RUN_DIR"
RUN_DIR_KEY = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    for name in NOT_INHERITED:
        os.environ.pop(name, None)
    if hasattr(config, "workerinput"):  # an xdist worker: the controller set the run up
        return
    run_dir = tempfile.mkdtemp(prefix="gitops-tests-")
    config.stash[RUN_DIR_KEY] = run_dir
    os.environ[RUN_DIR_VARIABLE] = run_dir
    os.environ["TMPDIR"] = run_dir  # subprocesses and xdist workers
    tempfile.tempdir = run_dir  # this process (pytest's tmp_path included)


# What a person's own work keeps in the checkout: `make up`'s state and `make e2e`'s report,
# connection settings and logs, the plans of `make plan`. No test may change them (a test that
# runs the pipeline or Terraform works in a copy: tests/tf_sandbox.py); a run that did fails.
USERS_OWN = (".artifacts/**/*", "envs/*/terraform.tfstate*", "envs/*/.terraform/terraform.tfstate")
USERS_OWN_KEY = pytest.StashKey[dict[str, tuple[int, int]]]()


def users_own_files() -> dict[str, tuple[int, int]]:
    from gitops.paths import REPO_ROOT

    found = {}
    for pattern in USERS_OWN:
        for path in REPO_ROOT.glob(pattern):
            if path.is_file():
                info = path.stat()
                found[str(path.relative_to(REPO_ROOT))] = (info.st_mtime_ns, info.st_size)
    return found


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):
        session.config.stash[USERS_OWN_KEY] = users_own_files()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(USERS_OWN_KEY, None)
    if before is None:
        return
    after = users_own_files()
    changed = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    if changed:
        print(
            "\nERROR: the tests changed the checkout's own state or artifacts: "
            + ", ".join(changed)
            + "\n  what to do: run the pipeline or Terraform in a copy (tests/tf_sandbox.py), "
            "never in the checkout"
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    run_dir = config.stash.get(RUN_DIR_KEY, None)
    if run_dir is None:
        return
    stop_shared_services(Path(run_dir))
    shutil.rmtree(run_dir, ignore_errors=True)


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark each test's tier from the fixtures it uses (directly or through other fixtures)."""
    names = set(getattr(item, "fixturenames", ()))
    for fixture, marker in TIER_FIXTURES.items():
        if fixture in names:
            item.add_marker(marker)
    long = item.get_closest_marker("e2e") or item.get_closest_marker("slow")
    if long and not item.get_closest_marker("timeout"):
        item.add_marker(pytest.mark.timeout(LONG_TIMEOUT))


# --- How `make test` spreads the tests over xdist workers (--dist loadscope) --------------------
# A file's tests run on one worker, in order: its module fixtures (a Terraform root, a plan) are
# made once, and its LocalStack tests never run beside each other. Files that make the same
# names in the emulator share a scope; tests in APART share nothing with their file's others and
# may run anywhere. Each worker lists the slow tiers first, so the longest scopes start first.
SAME_NAMES = {
    "tests/test_bootstrap_rehearsal.py": "bootstrap",
    "tests/test_bootstrap_iam.py": "bootstrap",
}
APART = {
    # a project name of its own each, in the run's emulator
    "tests/test_faults.py::test_sigkill_mid_apply_then_recovery_converges_without_duplicates",
    "tests/test_faults.py::test_two_applies_at_once_one_proceeds_one_is_refused_state_intact",
    # an emulator of its own each
    "tests/test_pipeline.py::test_make_e2e_runs_up_smoke_down_and_leaves_nothing_running",
    "tests/test_pipeline.py::test_emulator_dying_mid_apply_fails_clearly_and_down_cleans_up",
}
FIRST = ("e2e", "slow", "db")  # the tiers whose scopes take longest, in that order


def scope_of(nodeid: str) -> str:
    if nodeid.split("[", 1)[0] in APART:
        return nodeid
    file = nodeid.split("::", 1)[0]
    return SAME_NAMES.get(file, file)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: unknown when xdist is not loaded
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """--dist loadscope with scope_of's scopes, in the order the workers list them."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Scopes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid)

    config.option.loadscopereorder = False  # keep the workers' order: slow tiers first
    return Scopes(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):
        rank = {name: i for i, name in enumerate(FIRST)}

        def first_tier(item: pytest.Item) -> int:
            return min((rank[m.name] for m in item.iter_markers() if m.name in rank), default=9)

        items.sort(key=first_tier)  # stable: a file's tests keep their order within a tier


# --- Services shared by the whole run -----------------------------------------------------------
# One LocalStack and one database server a run, whatever the number of xdist workers: the first
# worker that needs one starts it and records it in the run folder, the others reuse the record,
# and the run's controller stops what was started when the run ends.


def run_dir() -> Path:
    return Path(os.environ[RUN_DIR_VARIABLE])


@contextlib.contextmanager
def shared_record(name: str) -> Iterator[Path]:
    """The record of a shared service, held under a lock while the caller reads or writes it."""
    folder = run_dir()
    with (folder / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield folder / f"{name}.json"


def stop_shared_services(folder: Path) -> None:
    from gitops.pipeline import localstack

    if (record := folder / "localstack.json").exists() and (emulator := localstack.load(record)):
        localstack.stop(emulator)
    if (record := folder / "mysql.json").exists() and (loaded := load_state(record)):
        stop(loaded[0])


# --- MySQL/MariaDB stand-in: a real server for the app and db_standin tests -----------------
# ensure_db reuses DB_HOST/DB_PORT/DB_USER/DB_PASS when that server answers, else starts a
# throwaway local mariadbd (installing mariadb-server with apt-get as root on a clean Debian).

SCHEMA_SQL = SCHEMA_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def mysql_admin() -> DBServer:
    """The server and an account that may create databases and users; stopped at the end."""
    with shared_record("mysql") as record:
        loaded = load_state(record)
        if loaded is not None and loaded[0].answers():
            return loaded[0]
        server = ensure_db()
        save_state(record, server)
        return server


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
# LocalStack from .venv-localstack (made by `make setup`) and stops it after the run.


@pytest.fixture(scope="session")
def localstack_endpoint() -> str:
    """URL of a ready LocalStack gateway."""
    from gitops.pipeline import localstack

    with shared_record("localstack") as record:
        emulator = localstack.load(record)
        if emulator is None or not localstack.ready(emulator.endpoint):
            emulator = localstack.ensure(localstack.endpoint_from_env())
            localstack.save(emulator, record)
        return emulator.endpoint


@pytest.fixture(scope="session")
def localstack_is_the_runs_own(localstack_endpoint: str) -> bool:
    """Whether the run started the emulator itself: then it stops it, with everything in it, at
    the end, and a test may leave what it made there. A reused one (CI's service container,
    one of your own) is cleaned up after each test."""
    from gitops.pipeline import localstack

    with shared_record("localstack") as record:
        emulator = localstack.load(record)
    return emulator is not None and emulator.started_by_us


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
