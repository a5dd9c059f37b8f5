"""The local pipeline: rehearse the whole stack on one machine against LocalStack.

    gitops pipeline up|down|e2e      (make up / make down / make e2e)

up    start (or reuse) LocalStack and a MySQL stand-in, apply envs/localstack, configure the
      stand-in the way the database instance's setup script would (database, app user with
      the password from the emulated secret, schema), write .artifacts/e2e/connection.env.
down  destroy envs/localstack and stop exactly what `up` started (by the pids it recorded);
      safe after a crash or a half-finished `up`. A Terraform still running in envs/localstack
      (orphaned by a `kill -9` of `make e2e`: it runs in a session of its own and holds the
      state lock) first gets one SIGINT and is waited for; if it does not stop, down stops
      before touching the emulator under it, and says what to do.
e2e   up -> smoke -> down, always tearing down (on failure and Ctrl-C too), with a summary
      table and .artifacts/e2e/report.json.

Environment: AWS_ENDPOINT_URL (default gitops.aws.DEFAULT_ENDPOINT); LOCALSTACK_START=never to
refuse to start an emulator; DB_HOST/DB_PORT/DB_USER/DB_PASS to reuse a MySQL server.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gitops import aws
from gitops.paths import E2E_DIR, shown
from gitops.pipeline import db_standin, localstack, smoke
from gitops.pipeline.connection import CONNECTION_ENV, write_connection_env
from gitops.progress import fail, say, stage
from gitops.signals import sigterm_as_interrupt
from gitops.terraform import runner as tf

ARTIFACTS = E2E_DIR
DB_STATE = ARTIFACTS / "db-standin.json"
LS_STATE = localstack.DEFAULT_STATE  # what `gitops localstack status` reads too
REPORT = ARTIFACTS / "report.json"
# Terraform's whole output of `make up` and `make down` (the plan with its rendered boot scripts
# runs to a thousand lines); the terminal shows the stages and each resource as it is done.
TF_LOG = ARTIFACTS / "terraform.log"
ENV = "localstack"
# How long `make down` waits for an orphaned Terraform to save its state after one SIGINT.
ORPHAN_WAIT_SECONDS = 300.0


def endpoint() -> str:
    return aws.endpoint_from_env()


def aws_client(service: str, region: str) -> Any:
    return aws.client(service, region, endpoint())


def start_emulator() -> localstack.Emulator:
    previous = localstack.load(LS_STATE)
    if previous and previous.started_by_us and localstack.ready(previous.endpoint):
        say(f"LocalStack started by an earlier `make up` answers at {previous.endpoint}")
        return previous  # keep the record, so `make down` still stops it
    allow_start = os.environ.get("LOCALSTACK_START", "auto") != "never"
    emu = localstack.ensure(endpoint(), start=allow_start)
    localstack.save(emu, LS_STATE)
    return emu


def start_database() -> tuple[db_standin.DBServer, bool]:
    """The stand-in, and whether this call started it."""
    loaded = db_standin.load_state(DB_STATE)
    if loaded is not None and loaded[0].answers():
        say(f"database stand-in from an earlier `make up` answers: {loaded[0].describe()}")
        return loaded[0], False
    try:
        server = db_standin.ensure_db()
    except db_standin.StandinError as exc:
        raise fail(str(exc), "pick one of the options above, then run `make up` again") from None
    db_standin.save_state(DB_STATE, server)
    return server, server.started_by_us


def state_has_resources() -> bool:
    state = tf.env_dir(ENV) / "terraform.tfstate"
    if not state.exists():
        return False
    try:
        return bool(json.loads(state.read_text(encoding="utf-8")).get("resources"))
    except ValueError:
        return True


def apply_stack() -> dict[str, Any]:
    tf.init(ENV)
    # A first apply has nothing to refresh; a later one refreshes to see what changed.
    tf.apply(ENV, refresh=state_has_resources(), log=TF_LOG)
    return tf.outputs(ENV)


def configure_database(server: db_standin.DBServer, outputs: dict[str, Any]) -> dict[str, str]:
    """Do to the stand-in what the db instance's setup script does to its own server."""
    secret_arn = str(outputs["db_password_secret_arn"])
    region = str(outputs["aws_region"])
    secret = json.loads(
        aws_client("secretsmanager", region).get_secret_value(SecretId=secret_arn)["SecretString"]
    )
    schema = db_standin.SCHEMA_FILE.read_text(encoding="utf-8")
    app_db = db_standin.provision(
        server, str(outputs["db_name"]), secret["username"], secret["password"], schema
    )
    db_standin.save_state(DB_STATE, server, app_db)
    return {
        "AWS_ENDPOINT_URL": endpoint(),
        "AWS_REGION": region,
        **aws.DUMMY_CREDENTIALS,
        **app_db.env(),
        "DB_SECRET_ARN": secret_arn,
        "WEB_INSTANCE_ID": str(outputs["web_instance_id"]),
    }


@contextmanager
def emulator_watch(doing: str) -> Iterator[None]:
    """Turn any failure while the emulator is gone into a message that says so."""
    try:
        yield
    except (Exception, SystemExit) as exc:
        if localstack.ready(endpoint()):
            raise
        raise fail(
            f"the emulator at {endpoint()} stopped answering during {doing} ({type(exc).__name__})",
            "run `make down` to clean up, then `make up` again (its log says why it died)",
        ) from None


def up() -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    TF_LOG.write_text("", encoding="utf-8")  # this run's story starts here; `down` adds to it
    with stage("start emulator and database stand-in"), ThreadPoolExecutor(2) as pool:
        emulator = pool.submit(start_emulator)
        database = pool.submit(start_database)
        try:
            emulator.result()
        except BaseException:
            # Fail fast and leave nothing half-started: stop the stand-in this run started.
            if database.exception() is None and database.result()[1]:
                db_standin.stop(database.result()[0])
                DB_STATE.unlink(missing_ok=True)
            raise
        server = database.result()[0]
    with stage("terraform apply (envs/localstack)"), emulator_watch("the apply"):
        outputs = apply_stack()
    with (
        stage("configure database stand-in (database, app user, schema)"),
        emulator_watch("configuring the database"),
    ):
        values = configure_database(server, outputs)
    write_connection_env(values)
    say(f"stack is up; `source {shown(CONNECTION_ENV)}` to reach it")


def running_terraform(directory: Path) -> list[int]:
    """PIDs of Terraform processes whose working directory is `directory` (Linux /proc)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    target = directory.resolve()
    pids = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text(encoding="utf-8").strip() != "terraform":
                continue
            if Path(os.readlink(entry / "cwd")).resolve() != target:
                continue  # another root, or a zombie (its cwd is gone)
        except OSError:
            continue
        pids.append(int(entry.name))
    return sorted(pids)


def stop_running_terraform(directory: Path, wait: float) -> None:
    """Give an orphaned Terraform in `directory` one SIGINT and wait for it to exit."""
    pids = running_terraform(directory)
    if not pids:
        return
    where = shown(directory)
    listed = ", ".join(map(str, pids))
    say(
        f"terraform (pid {listed}) still runs in {where} and holds its state lock (an earlier "
        "run was killed without stopping it): sending it one SIGINT and waiting for it to save "
        "its state"
    )
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + wait
    while (left := running_terraform(directory)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if left:
        still = ", ".join(map(str, left))
        raise fail(
            f"terraform (pid {still}) is still running in {where} after {wait:.0f}s; nothing "
            "was destroyed or stopped, so it keeps its emulator",
            f"wait for it to finish (`ps -p {still}`), or stop it with `kill -INT {still}`, "
            "then run `make down` again",
        )
    say("it stopped and released the state lock")


def down() -> None:
    """Destroy and stop what up started; every step runs even when an earlier one fails."""
    with stage("look for a terraform still running in envs/localstack"):
        stop_running_terraform(tf.env_dir(ENV), ORPHAN_WAIT_SECONDS)
    errors: list[str] = []
    with stage("terraform destroy (envs/localstack)"):
        if not state_has_resources():
            say("nothing in the state to destroy")
        elif not localstack.ready(endpoint()):
            forget_stale_state()
        else:
            try:
                tf.init(ENV)
                # The local stack changes only through this pipeline: skip the refresh.
                tf.destroy(ENV, refresh=False, log=TF_LOG)
            except SystemExit as exc:
                errors.append(f"terraform destroy failed (exit {exc.code})")
    with stage("stop database stand-in"):
        loaded = db_standin.load_state(DB_STATE)
        if loaded is None:
            say("no database stand-in recorded")
        else:
            try:
                db_standin.stop(loaded[0])
                DB_STATE.unlink(missing_ok=True)
            except (db_standin.StandinError, OSError) as exc:
                errors.append(f"stopping the database stand-in failed: {exc}")
    with stage("stop emulator"):
        emu = localstack.load(LS_STATE)
        if emu is None:
            say("no emulator recorded")
        else:
            localstack.stop(emu)
            LS_STATE.unlink(missing_ok=True)
            say("stopped it" if emu.started_by_us else "left running: it was not ours")
    if errors:
        raise fail("; ".join(errors), "fix the cause above and run `make down` again")


def forget_stale_state() -> None:
    """The emulator is gone. If it was ours (in-memory, no persistence), so is everything the
    state lists: set the state aside so the next `make up` starts clean."""
    emu = localstack.load(LS_STATE)
    if emu is None or not emu.started_by_us:
        say(
            f"the emulator at {endpoint()} does not answer and was not started here: the local "
            "state is kept; start it again and run `make down` to destroy"
        )
        return
    state = tf.env_dir(ENV) / "terraform.tfstate"
    state.replace(state.with_name("terraform.tfstate.stale"))
    say(
        f"the emulator at {endpoint()} does not answer: its resources went with it; the state "
        "was set aside as envs/localstack/terraform.tfstate.stale"
    )


def run_smoke() -> None:
    """The smoke stage, in this process: the same checks `make smoke` runs."""
    if smoke.run(smoke.build_context(ENV), smoke.report_path(ENV)) != 0:
        raise fail(
            "smoke checks failed", "read the FAIL lines above (and .artifacts/e2e/smoke.json)"
        )


def e2e() -> int:
    """up -> smoke -> down; down runs whatever happened before it."""
    # Ctrl-C and SIGTERM both mean "stop and tear down", even where this process was started
    # with SIGINT ignored (a background job of a non-interactive shell, some CI runners).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, sigterm_as_interrupt)
    results: list[dict[str, Any]] = []

    def run(name: str, step: Any) -> bool:
        began = time.monotonic()
        ok, error = False, ""
        try:
            step()
            ok = True
        except SystemExit as exc:
            error = f"exit {exc.code}"
        except KeyboardInterrupt:
            seconds = round(time.monotonic() - began, 1)
            results.append({"stage": name, "ok": False, "seconds": seconds, "error": "interrupted"})
            raise
        except Exception as exc:  # a crash in a stage must still reach down
            error = f"{type(exc).__name__}: {exc}"
            say(f"{name} crashed: {error}")
        results.append(
            {"stage": name, "ok": ok, "seconds": round(time.monotonic() - began, 1), "error": error}
        )
        return ok

    began = time.monotonic()
    try:
        if run("up", up):
            run("smoke", run_smoke)
    except KeyboardInterrupt:
        say("interrupted: tearing down")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop cleanup
        run("down", down)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    ok = len(results) == 3 and all(r["ok"] for r in results)
    write_report(results, ok, time.monotonic() - began)
    return 0 if ok else 1


def write_report(results: list[dict[str, Any]], ok: bool, total: float) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = {"ok": ok, "total_seconds": round(total, 1), "stages": results}
    REPORT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print("\n  stage   result   seconds")
    for r in results:
        print(f"  {r['stage']:<7} {'PASS' if r['ok'] else 'FAIL':<8} {r['seconds']:>7.1f}")
    print(f"  {'total':<7} {'PASS' if ok else 'FAIL':<8} {total:>7.1f}")
    print(f"\nreport: {shown(REPORT)}")
    print(f"Terraform's whole output: {shown(TF_LOG)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "e2e"])
    args = parser.parse_args(argv)
    if args.command == "e2e":
        return e2e()
    # Ctrl-C stops a run gracefully even where this process was started with SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        up() if args.command == "up" else down()
    except KeyboardInterrupt:
        say("interrupted; run `make down` to clean up")
        return 130
    return 0
