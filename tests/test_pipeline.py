"""The local pipeline for real: LocalStack, a MariaDB stand-in and Terraform, through the same
entry points `make up/smoke/down/e2e` call.

Each test runs the pipeline in a copy of the checkout (tests/tf_sandbox.py), so its state and
.artifacts/e2e are the copy's: a stack someone brought up with `make up` is never touched. The
run's shared LocalStack and database server serve the tests that do not start, stop or kill
them; the others give the pipeline an emulator port or a database of its own, so the pipeline
starts (and must stop) its own.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from gitops import aws
from gitops.paths import E2E_DIR, PLANS_DIR, REPO_ROOT
from gitops.pipeline import stages
from gitops.pipeline.connection import CONNECTION_ENV, read_connection_env
from gitops.pipeline.db_standin import DBServer, free_port, port_open
from gitops.pipeline.localstack import ready
from gitops.preview.planjson import module_resources
from gitops.terraform import replace
from gitops.terraform import runner as tf

from tests.test_boot_order import WAYS_OUT
from tests.tf_sandbox import checkout_environ, copy_checkout

PY = sys.executable
GITOPS = [PY, "-m", "gitops"]  # what `make up/smoke/down/e2e` run
STACK_TAG = [{"Name": "tag:Project", "Values": ["study-local"]}]  # envs/localstack's project_name

pytestmark = pytest.mark.e2e  # every test applies envs/localstack, on LocalStack


def listening(port: int) -> bool:
    return port_open("127.0.0.1", port)


def pid_alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@dataclass
class Pipeline:
    """A checkout copy, the environment its `gitops` runs with, and the files it writes."""

    root: Path
    env: dict[str, str]

    def in_copy(self, path: Path) -> Path:
        """Where a file the package names in this checkout is in the copy."""
        return self.root / path.relative_to(REPO_ROOT)

    @property
    def artifacts(self) -> Path:
        return self.in_copy(E2E_DIR)

    @property
    def ls_state(self) -> Path:
        return self.in_copy(stages.LS_STATE)

    @property
    def db_state(self) -> Path:
        return self.in_copy(stages.DB_STATE)

    @property
    def state(self) -> Path:
        return self.in_copy(tf.env_dir(stages.ENV) / "terraform.tfstate")

    @property
    def plans(self) -> Path:
        return self.in_copy(PLANS_DIR)

    @property
    def endpoint(self) -> str:
        return self.env["AWS_ENDPOINT_URL"]

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*GITOPS, *args], cwd=self.root, env=self.env,
            text=True, capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip

    def start(self, *args: str, **popen: object) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*GITOPS, *args], cwd=self.root, env=self.env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen,
        )  # fmt: skip

    def has_resources(self) -> bool:
        if not self.state.exists():
            return False
        return bool(json.loads(self.state.read_text(encoding="utf-8")).get("resources"))

    def connection(self) -> dict[str, str]:
        return read_connection_env(self.in_copy(CONNECTION_ENV))

    def recorded(self) -> tuple[int | None, int | None, int | None]:
        """(emulator pid, stand-in pid, stand-in port) as `make up` recorded them."""
        ls = json.loads(self.ls_state.read_text()) if self.ls_state.exists() else {}
        db = json.loads(self.db_state.read_text())["server"] if self.db_state.exists() else {}
        return ls.get("pid"), db.get("pid"), db.get("port")

    def ec2(self) -> object:
        return aws.client("ec2", "us-east-1", self.endpoint)


def make_pipeline(
    tmp_path: Path, endpoint: str | None = None, database: DBServer | None = None
) -> Pipeline:
    """A pipeline in a fresh copy: the shared emulator at `endpoint` or one of its own on a
    free port; the shared `database` or a stand-in of its own."""
    root = copy_checkout(tmp_path / "checkout")
    env = {k: v for k, v in checkout_environ(root).items() if not k.startswith("DB_")}
    env.pop("LOCALSTACK_START", None)
    env["AWS_ENDPOINT_URL"] = endpoint or f"http://localhost:{free_port()}"
    if database is not None:
        env.update(
            DB_HOST=database.host, DB_PORT=str(database.port),
            DB_USER=database.user, DB_PASS=database.password,
        )  # fmt: skip
    return Pipeline(root, env)


@pytest.fixture
def cleanup() -> Iterator[Callable[[Pipeline], None]]:
    """Whatever happened, `make down` in every pipeline a test made: nothing stays running."""
    made: list[Pipeline] = []
    yield made.append
    for pipeline in made:
        pipeline.run("pipeline", "down")


def test_make_e2e_runs_up_smoke_down_and_leaves_nothing_running(tmp_path: Path, cleanup) -> None:
    """With an emulator port and a database of its own: make e2e starts both and stops both."""
    pipeline = make_pipeline(tmp_path)
    cleanup(pipeline)
    proc = pipeline.run("pipeline", "e2e", timeout=900)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]

    report = json.loads((pipeline.artifacts / "report.json").read_text())
    assert report["ok"] is True
    assert [s["stage"] for s in report["stages"]] == ["up", "smoke", "down"]
    assert all(s["ok"] and s["seconds"] > 0 for s in report["stages"])
    for line in ("-> terraform apply (envs/localstack)", "stage   result   seconds", "total"):
        assert line in output
    # Progress on the terminal, Terraform's whole output (the plan, boot scripts) in the log.
    log = (pipeline.artifacts / "terraform.log").read_text()
    assert "Terraform will perform the following actions" in log and "Destroy complete!" in log
    assert "Terraform will perform the following actions" not in output
    assert "Creation complete" in output and "Apply complete!" in output
    assert len(output.splitlines()) < 200, f"{len(output.splitlines())} lines"

    smoke = json.loads((pipeline.artifacts / "smoke.json").read_text())
    assert smoke["ok"] and {c["status"] for c in smoke["checks"]} == {"PASS"}
    assert len(smoke["checks"]) == 6

    conn = pipeline.artifacts / "connection.env"
    assert stat.S_IMODE(conn.stat().st_mode) == 0o600
    values = pipeline.connection()
    for key in ("AWS_ENDPOINT_URL", "AWS_REGION", "DB_HOST", "DB_PORT", "DB_USER", "DB_PASS"):
        assert values.get(key), key
    assert values["AWS_ENDPOINT_URL"] == pipeline.endpoint

    # Torn down: the emulator's port and the stand-in's port are closed, records removed.
    assert not listening(int(pipeline.endpoint.rsplit(":", 1)[1]))
    assert not listening(int(values["DB_PORT"]))
    assert not pipeline.ls_state.exists() and not pipeline.db_state.exists()
    assert not pipeline.has_resources()


def test_up_is_idempotent_and_failures_are_reported(
    tmp_path: Path, localstack_endpoint: str, cleanup
) -> None:
    """The run's emulator; a stand-in of its own, which the test stops under the smoke check."""
    pipeline = make_pipeline(tmp_path, localstack_endpoint)
    cleanup(pipeline)
    first = pipeline.run("pipeline", "up")
    assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
    _, db_pid, db_port = pipeline.recorded()
    assert db_pid and db_port and pid_alive(db_pid)

    # A second `make up` changes nothing and starts nothing new.
    second = pipeline.run("pipeline", "up")
    assert second.returncode == 0, (second.stdout + second.stderr)[-4000:]
    assert "Resources: 0 added, 0 changed, 0 destroyed" in second.stdout
    assert pipeline.recorded()[1:] == (db_pid, db_port)
    ec2 = pipeline.ec2()
    assert len(ec2.describe_vpcs(Filters=STACK_TAG)["Vpcs"]) == 1
    live = [{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    reservations = ec2.describe_instances(Filters=STACK_TAG + live)["Reservations"]
    assert len([i for r in reservations for i in r["Instances"]]) == 2

    # A plan after the apply shows no changes (exit 0 with -detailed-exitcode).
    plan = pipeline.run("tf", "plan", "localstack")
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr
    assert "No changes." in plan.stdout

    # The state records what each instance waited for (its way out, tests/test_boot_order.py),
    # and a destroy goes in the reverse order: the routes outlive the instances that use them.
    shown = subprocess.run(
        ["terraform", "show", "-json"], cwd=pipeline.state.parent, env=pipeline.env,
        text=True, capture_output=True, check=True,
    )  # fmt: skip
    waited = {
        resource["address"].split("[")[0]: set(resource.get("depends_on", []))
        for resource in module_resources(json.loads(shown.stdout)["values"]["root_module"])
    }
    for instance, ways_out in WAYS_OUT.items():
        assert ways_out <= waited[instance], f"{instance}: {sorted(ways_out - waited[instance])}"

    # The replace path (`make plan REPLACE=...`): a plan that re-creates the web instance by
    # request and changes nothing else; a misspelt address fails instead of planning nothing.
    web = replace.WEB_INSTANCE
    replaced = pipeline.run("tf", "plan", "localstack", "--no-init", "--replace", web)
    assert replaced.returncode == 0, (replaced.stdout + replaced.stderr)[-3000:]
    plan_json = json.loads((pipeline.plans / "localstack.json").read_text())
    passed, verdict = replace.check("localstack", plan_json, [web])
    assert passed, verdict
    typo = pipeline.run("tf", "plan", "localstack", "--no-init", "--replace", web + "x")
    assert typo.returncode == 1
    assert "replaced nothing" in typo.stdout and not (pipeline.plans / "localstack.tfplan").exists()

    smoke = pipeline.run("smoke", "--env", "localstack")
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr

    # Tampered user data: the stored user data no longer matches what Terraform rendered.
    web_id = pipeline.connection()["WEB_INSTANCE_ID"]
    original = base64.b64decode(
        ec2.describe_instance_attribute(InstanceId=web_id, Attribute="userData")["UserData"][
            "Value"
        ]
    )
    ec2.stop_instances(InstanceIds=[web_id])
    # EC2 wants the new user data base64-encoded inside the (already encoded) blob. The web
    # instance's user data is gzipped (cloud-init unpacks it): changed inside, packed again.
    tampered_data = gzip.compress(
        gzip.decompress(original).replace(b"DB_PORT=3306", b"DB_PORT=3307")
    )
    ec2.modify_instance_attribute(
        InstanceId=web_id, UserData={"Value": base64.b64encode(tampered_data)}
    )
    tampered = pipeline.run("smoke", "--env", "localstack")
    assert tampered.returncode == 1
    assert "FAIL user data (web)" in tampered.stdout
    assert "differs from what Terraform rendered" in tampered.stdout
    assert "PASS database" in tampered.stdout  # only the broken check fails
    ec2.modify_instance_attribute(InstanceId=web_id, UserData={"Value": base64.b64encode(original)})
    ec2.start_instances(InstanceIds=[web_id])

    # The stand-in stopped: the database check fails and says how to get it back.
    os.kill(db_pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while listening(db_port) and time.monotonic() < deadline:
        time.sleep(0.2)
    down_db = pipeline.run("smoke", "--env", "localstack")
    assert down_db.returncode == 1
    assert "FAIL database" in down_db.stdout
    assert "cannot connect to the database" in down_db.stdout
    assert "`make up` starts it" in down_db.stdout
    assert "PASS user data (web)" in down_db.stdout

    # `make down` destroys the stack, with the stand-in already gone, and leaves the emulator
    # it did not start running.
    down = pipeline.run("pipeline", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "Destroy complete!" in down.stdout
    assert "left running: it was not ours" in down.stdout
    assert ready(localstack_endpoint)
    assert not pipeline.has_resources()
    assert not ec2.describe_vpcs(Filters=STACK_TAG)["Vpcs"]


def test_up_fails_fast_when_no_emulator_can_be_had(tmp_path: Path, cleanup) -> None:
    pipeline = make_pipeline(tmp_path)
    cleanup(pipeline)
    pipeline.env["LOCALSTACK_START"] = "never"
    began = time.monotonic()
    proc = pipeline.run("pipeline", "up", timeout=120)
    assert proc.returncode != 0
    assert time.monotonic() - began < 60
    assert f"no LocalStack answers at {pipeline.endpoint}" in proc.stderr
    assert "what to do: start it" in proc.stderr
    assert not pipeline.db_state.exists()  # the stand-in it had started was stopped again
    assert not pipeline.has_resources()


def test_emulator_dying_mid_apply_fails_clearly_and_down_cleans_up(
    tmp_path: Path, mysql_admin: DBServer, cleanup
) -> None:
    """An emulator of its own, which the test kills; the run's database server."""
    pipeline = make_pipeline(tmp_path, database=mysql_admin)
    cleanup(pipeline)
    proc = pipeline.start("pipeline", "up")
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if "Creation complete" in line:  # the apply is under way, and has more to make
            break
    ls_pid, _, _ = pipeline.recorded()
    assert ls_pid, "".join(lines)
    os.killpg(ls_pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=600)
    output = "".join(lines) + rest
    assert proc.returncode != 0
    assert "stopped answering during the apply" in output
    assert "run `make down`" in output
    assert "lines of .artifacts/e2e/terraform.log" in output  # what Terraform said last

    down = pipeline.run("pipeline", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "does not answer: its resources went with it" in down.stdout
    assert mysql_admin.answers(), "down stopped a database server it did not start"
    assert not pipeline.ls_state.exists() and not pipeline.db_state.exists()
    # The emulator's in-memory resources died with it: the state was set aside, not kept.
    assert not pipeline.has_resources()
    assert pipeline.state.with_name("terraform.tfstate.stale").exists()


def test_ctrl_c_during_e2e_still_tears_down(
    tmp_path: Path, localstack_endpoint: str, mysql_admin: DBServer, cleanup
) -> None:
    """The run's emulator and database server: the interrupted run destroys what it made."""
    pipeline = make_pipeline(tmp_path, localstack_endpoint, mysql_admin)
    cleanup(pipeline)
    proc = pipeline.start("pipeline", "e2e", start_new_session=True)
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if "Creation complete" in line:  # the state now has something to lose
            break
    assert pipeline.db_state.exists(), "".join(lines)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    rest, _ = proc.communicate(timeout=600)
    output = "".join(lines) + rest
    assert proc.returncode == 1, output[-3000:]
    assert "interrupted: tearing down" in output
    # Terraform stopped gracefully and recorded what it had made, so down destroyed it.
    assert "letting terraform stop cleanly" in output
    assert "Destroy complete!" in output

    report = json.loads((pipeline.artifacts / "report.json").read_text())
    stages = {s["stage"]: s for s in report["stages"]}
    assert report["ok"] is False
    assert stages["up"]["ok"] is False and stages["down"]["ok"] is True
    assert "smoke" not in stages
    assert not pipeline.has_resources()  # what the interrupted apply made is destroyed
    assert not pipeline.ec2().describe_vpcs(Filters=STACK_TAG)["Vpcs"]
    assert ready(localstack_endpoint) and mysql_admin.answers()  # not theirs to stop
    assert not pipeline.ls_state.exists() and not pipeline.db_state.exists()
