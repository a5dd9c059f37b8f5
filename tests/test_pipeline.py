"""The local pipeline for real: LocalStack, a MariaDB stand-in and Terraform, through the same
entry points `make up/smoke/down/e2e` call. Each test gives the pipeline an emulator port of
its own, so the pipeline starts (and must stop) its own LocalStack and stand-in."""

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
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from gitops.paths import REPO_ROOT
from gitops.pipeline import stages as pipeline
from gitops.pipeline.connection import CONNECTION_ENV, read_connection_env
from gitops.pipeline.db_standin import free_port, port_open
from gitops.terraform import replace
from gitops.terraform import runner as tf

from tests.test_boot_order import WAYS_OUT

PY = sys.executable
GITOPS = [PY, "-m", "gitops"]  # what `make up/smoke/down/e2e` run

pytestmark = pytest.mark.e2e


def listening(port: int) -> bool:
    return port_open("127.0.0.1", port)


def pid_alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@pytest.fixture
def pipeline_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Environment for a pipeline run with its own emulator port and its own stand-in.

    These tests drive the real envs/localstack root and .artifacts/e2e, as `make e2e` does, so
    they refuse to run over a stack someone brought up with `make up` (they would destroy it).
    """
    if pipeline.state_has_resources() or pipeline.LS_STATE.exists() or pipeline.DB_STATE.exists():
        pytest.fail(
            "a local stack is up (envs/localstack has state, or .artifacts/e2e records what "
            "`make up` started): run `make down` before `make test`"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DB_")}
    env["AWS_ENDPOINT_URL"] = f"http://localhost:{free_port()}"
    env.pop("LOCALSTACK_START", None)
    yield env
    # Whatever happened, leave nothing running.
    subprocess.run([*GITOPS, "pipeline", "down"], cwd=REPO_ROOT, env=env, check=False)


def run(
    cmd: list[str], env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=REPO_ROOT, env=env, text=True, capture_output=True, timeout=timeout, check=False
    )


def recorded_processes() -> tuple[int | None, int | None, int | None]:
    """(emulator pid, stand-in pid, stand-in port) as `make up` recorded them."""
    ls = json.loads(pipeline.LS_STATE.read_text()) if pipeline.LS_STATE.exists() else {}
    db = json.loads(pipeline.DB_STATE.read_text())["server"] if pipeline.DB_STATE.exists() else {}
    return ls.get("pid"), db.get("pid"), db.get("port")


def ec2_client(env: dict[str, str]) -> object:
    return boto3.client(
        "ec2",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",  # noqa: S106
    )


def test_make_e2e_runs_up_smoke_down_and_leaves_nothing_running(
    pipeline_env: dict[str, str],
) -> None:
    proc = run([*GITOPS, "pipeline", "e2e"], pipeline_env, timeout=900)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]

    report = json.loads(pipeline.REPORT.read_text())
    assert report["ok"] is True
    assert [s["stage"] for s in report["stages"]] == ["up", "smoke", "down"]
    assert all(s["ok"] and s["seconds"] > 0 for s in report["stages"])
    for line in ("-> terraform apply (envs/localstack)", "stage   result   seconds", "total"):
        assert line in output

    smoke = json.loads((REPO_ROOT / ".artifacts/e2e/smoke.json").read_text())
    assert smoke["ok"] and {c["status"] for c in smoke["checks"]} == {"PASS"}
    assert len(smoke["checks"]) == 6

    conn = CONNECTION_ENV
    assert stat.S_IMODE(conn.stat().st_mode) == 0o600
    values = read_connection_env()
    for key in ("AWS_ENDPOINT_URL", "AWS_REGION", "DB_HOST", "DB_PORT", "DB_USER", "DB_PASS"):
        assert values.get(key), key
    assert values["AWS_ENDPOINT_URL"] == pipeline_env["AWS_ENDPOINT_URL"]

    # Torn down: the emulator's port and the stand-in's port are closed, records removed.
    assert not listening(int(pipeline_env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]))
    assert not listening(int(values["DB_PORT"]))
    assert not pipeline.LS_STATE.exists() and not pipeline.DB_STATE.exists()
    assert not pipeline.state_has_resources()


def test_up_is_idempotent_and_failures_are_reported(pipeline_env: dict[str, str]) -> None:
    first = run([*GITOPS, "pipeline", "up"], pipeline_env)
    assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
    ls_pid, db_pid, db_port = recorded_processes()
    assert ls_pid and db_pid and pid_alive(ls_pid) and pid_alive(db_pid)

    # A second `make up` changes nothing and starts nothing new.
    second = run([*GITOPS, "pipeline", "up"], pipeline_env)
    assert second.returncode == 0, (second.stdout + second.stderr)[-4000:]
    assert "Resources: 0 added, 0 changed, 0 destroyed" in second.stdout
    assert recorded_processes() == (ls_pid, db_pid, db_port)
    ec2 = ec2_client(pipeline_env)
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Project", "Values": ["study-local"]}])["Vpcs"]
    assert len(vpcs) == 1
    running = [
        i
        for r in ec2.describe_instances(
            Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}]
        )["Reservations"]
        for i in r["Instances"]
    ]
    assert len(running) == 2

    # A plan after the apply shows no changes (exit 0 with -detailed-exitcode).
    env = tf.terraform_environ("localstack", pipeline_env)
    plan = subprocess.run(
        ["terraform", "plan", "-input=false", "-no-color", "-detailed-exitcode"],
        cwd=tf.env_dir("localstack"), env=env, text=True, capture_output=True, check=False,
    )  # fmt: skip
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr
    assert "No changes." in plan.stdout

    # The state records what each instance waited for (its way out, tests/test_boot_order.py),
    # and a destroy goes in the reverse order: the routes outlive the instances that use them.
    shown = subprocess.run(
        ["terraform", "show", "-json"], cwd=tf.env_dir("localstack"), env=env, text=True,
        capture_output=True, check=True,
    )  # fmt: skip
    modules = [json.loads(shown.stdout)["values"]["root_module"]]
    waited = {}
    while modules:
        module = modules.pop()
        modules += module.get("child_modules", [])
        for resource in module.get("resources", []):
            waited[resource["address"].split("[")[0]] = set(resource.get("depends_on", []))
    for instance, ways_out in WAYS_OUT.items():
        assert ways_out <= waited[instance], f"{instance}: {sorted(ways_out - waited[instance])}"

    # The replace path (`make plan REPLACE=...`): a plan that re-creates the web instance by
    # request and changes nothing else; a misspelt address fails instead of planning nothing.
    web = replace.WEB_INSTANCE
    replaced = run(
        [*GITOPS, "tf", "plan", "localstack", "--no-init", "--replace", web], pipeline_env
    )
    assert replaced.returncode == 0, (replaced.stdout + replaced.stderr)[-3000:]
    plan_json = json.loads((tf.PLANS_DIR / "localstack.json").read_text())
    passed, verdict = replace.check("localstack", plan_json, [web])
    assert passed, verdict
    typo = run(
        [*GITOPS, "tf", "plan", "localstack", "--no-init", "--replace", web + "x"], pipeline_env
    )
    assert typo.returncode == 1
    assert "replaced nothing" in typo.stdout and not (tf.PLANS_DIR / "localstack.tfplan").exists()

    smoke = run([*GITOPS, "smoke", "--env", "localstack"], pipeline_env)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr

    # Tampered user data: the stored user data no longer matches what Terraform rendered.
    web_id = read_connection_env()["WEB_INSTANCE_ID"]
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
    tampered = run([*GITOPS, "smoke", "--env", "localstack"], pipeline_env)
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
    down_db = run([*GITOPS, "smoke", "--env", "localstack"], pipeline_env)
    assert down_db.returncode == 1
    assert "FAIL database" in down_db.stdout
    assert "cannot connect to the database" in down_db.stdout
    assert "`make up` starts it" in down_db.stdout
    assert "PASS user data (web)" in down_db.stdout

    # `make down` destroys the stack and stops the emulator, with the stand-in already gone.
    down = run([*GITOPS, "pipeline", "down"], pipeline_env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "Destroy complete!" in down.stdout
    assert not pid_alive(ls_pid)
    assert not listening(int(pipeline_env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]))
    assert not pipeline.state_has_resources()


def test_up_fails_fast_when_no_emulator_can_be_had(pipeline_env: dict[str, str]) -> None:
    pipeline_env["LOCALSTACK_START"] = "never"
    began = time.monotonic()
    proc = run([*GITOPS, "pipeline", "up"], pipeline_env, timeout=120)
    assert proc.returncode != 0
    assert time.monotonic() - began < 60
    assert f"no LocalStack answers at {pipeline_env['AWS_ENDPOINT_URL']}" in proc.stderr
    assert "what to do: start it" in proc.stderr
    assert not pipeline.DB_STATE.exists()  # the stand-in it had started was stopped again
    assert not pipeline.state_has_resources()


def test_emulator_dying_mid_apply_fails_clearly_and_down_cleans_up(
    pipeline_env: dict[str, str],
) -> None:
    proc = subprocess.Popen(
        [*GITOPS, "pipeline", "up"], cwd=REPO_ROOT, env=pipeline_env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if "Creating..." in line:
            break
    ls_pid, db_pid, db_port = recorded_processes()
    assert ls_pid, "".join(lines)
    os.killpg(ls_pid, signal.SIGKILL)
    rest, _ = proc.communicate(timeout=600)
    output = "".join(lines) + rest
    assert proc.returncode != 0
    assert "stopped answering during the apply" in output
    assert "run `make down`" in output

    down = run([*GITOPS, "pipeline", "down"], pipeline_env)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "does not answer: its resources went with it" in down.stdout
    assert db_pid and not pid_alive(db_pid) and db_port and not listening(db_port)
    assert not pipeline.LS_STATE.exists() and not pipeline.DB_STATE.exists()
    # The emulator's in-memory resources died with it: the state was set aside, not kept.
    assert not pipeline.state_has_resources()
    assert (tf.env_dir("localstack") / "terraform.tfstate.stale").exists()


def test_ctrl_c_during_e2e_still_tears_down(pipeline_env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [*GITOPS, "pipeline", "e2e"], cwd=REPO_ROOT, env=pipeline_env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if "Creation complete" in line:  # the state now has something to lose
            break
    ls_pid, db_pid, db_port = recorded_processes()
    assert ls_pid and db_pid, "".join(lines)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    rest, _ = proc.communicate(timeout=600)
    output = "".join(lines) + rest
    assert proc.returncode == 1, output[-3000:]
    assert "interrupted: tearing down" in output
    # Terraform stopped gracefully and recorded what it had made, so down destroyed it.
    assert "letting terraform stop cleanly" in output
    assert "Destroy complete!" in output

    report = json.loads(pipeline.REPORT.read_text())
    stages = {s["stage"]: s for s in report["stages"]}
    assert report["ok"] is False
    assert stages["up"]["ok"] is False and stages["down"]["ok"] is True
    assert "smoke" not in stages
    assert not pipeline.state_has_resources()  # what the interrupted apply made is destroyed
    assert not pid_alive(ls_pid) and not pid_alive(db_pid) and not listening(db_port)
    assert not pipeline.LS_STATE.exists() and not pipeline.DB_STATE.exists()
