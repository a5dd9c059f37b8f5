"""Faults injected into real applies of envs/localstack against LocalStack (docs/RELIABILITY.md).

- Terraform SIGKILLed in the middle of an apply, then the recovery procedure: show and remove
  the stale lock by its ID, import what was created but never recorded, apply again. It must
  converge, leave no duplicate, and a second plan must show no changes.
- Two applies at once on one state in S3 with use_lockfile: one proceeds; one fails on the
  lock, naming it; a third run with -lock-timeout waits and then finds nothing to do; the state
  is intact afterwards.

Each test has a project name of its own, works in a throwaway copy of the roots and destroys
what it created, orphans included, however it ends.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from gitops.terraform import unlock

from tests.tf_sandbox import init, make_sandbox, terraform, tf_environ

pytestmark = pytest.mark.e2e

REGION = "us-east-1"


def aws(service: str, endpoint: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@dataclass
class Stack:
    """A copy of envs/localstack with its own project name, against one endpoint."""

    root: Path
    name: str
    endpoint: str
    env: dict[str, str] = field(default_factory=dict)

    def tf(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return terraform(self.root, *args, env=self.env, timeout=timeout)

    def var(self) -> str:
        return f"-var=project_name={self.name}"

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["terraform", *args, "-no-color", "-input=false", self.var()],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def state(self) -> dict[str, Any]:
        pulled = self.tf("state", "pull")
        assert pulled.returncode == 0, pulled.stderr
        return json.loads(pulled.stdout or "{}")

    def addresses(self) -> set[str]:
        listed = self.tf("state", "list")
        assert listed.returncode == 0, listed.stderr
        return set(listed.stdout.split())

    def vpcs(self) -> list[str]:
        found = aws("ec2", self.endpoint).describe_vpcs(
            Filters=[{"Name": "tag:Name", "Values": [f"{self.name}-vpc"]}]
        )
        return [v["VpcId"] for v in found["Vpcs"]]

    def instances(self, role: str) -> list[str]:
        found = aws("ec2", self.endpoint).describe_instances(
            Filters=[
                {"Name": "tag:Name", "Values": [f"{self.name}-{role}"]},
                {"Name": "instance-state-name", "Values": ["pending", "running"]},
            ]
        )
        return [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]]


def recorded_ids(state: dict[str, Any]) -> set[str]:
    """Every string the state records for its resources (ids, arns, names, nested volume ids)."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for resource in state.get("resources", []):
        for instance in resource.get("instances", []):
            walk(instance.get("attributes") or {})
    return found


def orphans(stack: Stack, state: dict[str, Any]) -> dict[str, list[str]]:
    """What the emulator holds for this project that the state does not record."""
    known = recorded_ids(state)
    prefix = f"{stack.name}-"
    ec2, iam = aws("ec2", stack.endpoint), aws("iam", stack.endpoint)
    sm = aws("secretsmanager", stack.endpoint)
    project = [{"Name": "tag:Project", "Values": [stack.name]}]
    live = [{"Name": "instance-state-name", "Values": ["pending", "running"]}]
    ec2_ids = {
        *(v["VpcId"] for v in ec2.describe_vpcs(Filters=project)["Vpcs"]),
        *(s["SubnetId"] for s in ec2.describe_subnets(Filters=project)["Subnets"]),
        *(g["GroupId"] for g in ec2.describe_security_groups(Filters=project)["SecurityGroups"]),
        *(r["RouteTableId"] for r in ec2.describe_route_tables(Filters=project)["RouteTables"]),
        *(
            g["InternetGatewayId"]
            for g in ec2.describe_internet_gateways(Filters=project)["InternetGateways"]
        ),
        *(
            i["InstanceId"]
            for r in ec2.describe_instances(Filters=project + live)["Reservations"]
            for i in r["Instances"]
        ),
    }
    found = {
        "ec2": sorted(ec2_ids - known),
        "iam_instance_profiles": sorted(
            p["InstanceProfileName"]
            for p in iam.list_instance_profiles()["InstanceProfiles"]
            if p["InstanceProfileName"].startswith(prefix) and p["InstanceProfileName"] not in known
        ),
        "iam_roles": sorted(
            r["RoleName"]
            for r in iam.list_roles()["Roles"]
            if r["RoleName"].startswith(prefix) and r["RoleName"] not in known
        ),
        "secrets": sorted(
            s["ARN"]
            for s in sm.list_secrets()["SecretList"]
            if s["Name"].startswith((prefix, f"gitops/{stack.name}/")) and s["ARN"] not in known
        ),
    }
    return {kind: items for kind, items in found.items() if items}


def sweep(stack: Stack, found: dict[str, list[str]]) -> None:
    """Delete orphans (the recovery's last step, and every test's cleanup)."""
    ec2, iam = aws("ec2", stack.endpoint), aws("iam", stack.endpoint)
    sm = aws("secretsmanager", stack.endpoint)
    ec2_ids = found.get("ec2", [])
    instance_ids = [i for i in ec2_ids if i.startswith("i-")]
    if instance_ids:
        ec2.terminate_instances(InstanceIds=instance_ids)
    for vpc_id in (i for i in ec2_ids if i.startswith("vpc-")):
        try:
            ec2.delete_vpc(VpcId=vpc_id)
        except Exception as error:  # noqa: BLE001 - best effort, reported
            print(f"could not delete orphan {vpc_id}: {error}")
    for profile in found.get("iam_instance_profiles", []):
        roles = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]
        for role in roles:
            iam.remove_role_from_instance_profile(
                InstanceProfileName=profile, RoleName=role["RoleName"]
            )
        iam.delete_instance_profile(InstanceProfileName=profile)
    for role in found.get("iam_roles", []):
        for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            iam.delete_role_policy(RoleName=role, PolicyName=policy)
        iam.delete_role(RoleName=role)
    for arn in found.get("secrets", []):
        sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


def destroy(stack: Stack) -> None:
    done = stack.tf("destroy", "-auto-approve", "-no-color", "-input=false", stack.var())
    if done.returncode != 0:
        print(f"destroy failed:\n{done.stderr[-3000:]}")
    sweep(stack, orphans(stack, stack.state() if done.returncode == 0 else {}))


def make_stack(tmp_path: Path, endpoint: str, kind: str, **extra_env: str) -> Stack:
    root = make_sandbox(tmp_path)
    name = f"fault-{kind}-{secrets.token_hex(3)}"
    return Stack(root, name, endpoint, tf_environ(endpoint, **extra_env))


class LineReader:
    """Collect a process's output on a thread; wait for a line that says something."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._proc = proc
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self._proc.poll() is not None:
                self._thread.join(5)
                raise AssertionError(f"ended before {text!r}:\n{''.join(self.lines)[-3000:]}")
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} within {timeout}s:\n{''.join(self.lines)[-3000:]}")

    def text(self) -> str:
        self._thread.join(30)
        return "".join(self.lines)


# --- SIGKILL in the middle of an apply --------------------------------------------------------


@pytest.fixture
def kill_stack(localstack_endpoint: str, tmp_path: Path) -> Iterator[Stack]:
    stack = make_stack(tmp_path, localstack_endpoint, "kill")
    init(stack.root, stack.env)
    yield stack
    destroy(stack)


def test_sigkill_mid_apply_then_recovery_converges_without_duplicates(
    kill_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = kill_stack
    apply = stack.start("apply", "-auto-approve")
    output = LineReader(apply)
    # The VPC's create call is in flight for seconds on the emulator (Terraform waits for the
    # VPC to be available): a kill then leaves a VPC that exists but is in no state.
    output.wait_for("module.vpc.aws_vpc.this: Creating...")
    time.sleep(2)
    assert apply.poll() is None, "the apply ended before the kill"
    apply.send_signal(signal.SIGKILL)
    apply.wait(timeout=30)
    assert apply.returncode == -signal.SIGKILL
    killed_output = output.text()
    assert "Apply complete" not in killed_output

    # Step 1: the crash left its lock record; `make unlock` shows it as stale and removes it by
    # its ID. (The local backend's OS lock died with the process, so it would not block.)
    backend = unlock.find_backend(stack.root)
    found = unlock.read_lock(backend)
    assert found is not None, "a killed apply leaves its lock record"
    lock, _ = found
    assert lock.operation == "OperationTypeApply"
    assert not unlock.local_lock_is_live(stack.root / "terraform.tfstate")
    assert unlock.main(["localstack", "--dir", str(stack.root)]) == 0
    assert "stale: no process holds it" in capsys.readouterr().out
    unlock.remove_lock(backend, lock.id)
    assert unlock.read_lock(backend) is None

    # Step 2: what was created but not recorded. The VPC is the one such resource that a plain
    # re-apply would duplicate (same Name tag, new ID): adopt it with an import block, which
    # the next apply carries out (`terraform import` cannot: counts in the VPC module depend on
    # values only an apply knows).
    state_after_kill = stack.state()
    in_state = stack.addresses()
    assert "module.vpc.aws_vpc.this" not in in_state, "kill came after the VPC was recorded"
    vpcs = stack.vpcs()
    assert len(vpcs) == 1, f"expected the in-flight VPC to exist: {vpcs}"
    recovery = stack.root / "recovery_imports.tf"
    recovery.write_text(
        f'import {{\n  to = module.vpc.aws_vpc.this\n  id = "{vpcs[0]}"\n}}\n', encoding="utf-8"
    )

    # Step 3: apply again. It must converge, adopting the VPC rather than making another.
    again = stack.tf("apply", "-auto-approve", "-no-color", "-input=false", stack.var())
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr
    assert "1 imported" in again.stdout
    recovery.unlink()  # done: the import block has no further effect
    assert stack.vpcs() == vpcs, "the VPC was duplicated or replaced"
    assert len(stack.instances("web")) == 1
    assert len(stack.instances("db")) == 1

    # Step 4: name-prefixed IAM objects whose create call was in flight are orphans (a new,
    # uniquely named one was made): they hold no network and no data, so the sweep deletes them.
    state = stack.state()
    leftover = orphans(stack, state)
    assert "ec2" not in leftover, f"EC2 duplicates after recovery: {leftover['ec2']}"
    print(f"orphans after the kill (swept): {leftover or 'none'}")
    print(f"recorded before the kill: {len(recorded_ids(state_after_kill))} ids")
    sweep(stack, leftover)
    assert orphans(stack, state) == {}

    plan = stack.tf(
        "plan", "-detailed-exitcode", "-no-color", "-input=false", stack.var(), timeout=300
    )
    assert plan.returncode == 0, f"second plan is not clean:\n{plan.stdout[-3000:]}{plan.stderr}"


# --- Two applies at once on one S3 state with use_lockfile -------------------------------------


@pytest.fixture
def s3_stack(localstack_endpoint: str, tmp_path: Path) -> Iterator[tuple[Stack, str, str]]:
    stack = make_stack(tmp_path, localstack_endpoint, "lock")
    bucket = f"tfstate-{stack.name}"
    key = f"{stack.name}/terraform.tfstate"
    s3 = aws("s3", localstack_endpoint)
    s3.create_bucket(Bucket=bucket)
    (stack.root / "backend_override.tf").write_text(
        f"""terraform {{
  backend "s3" {{
    bucket                      = "{bucket}"
    key                         = "{key}"
    region                      = "{REGION}"
    use_lockfile                = true
    endpoints                   = {{ s3 = "{localstack_endpoint}" }}
    use_path_style              = true
    skip_credentials_validation = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    access_key                  = "test"
    secret_key                  = "test"
  }}
}}
""",
        encoding="utf-8",
    )
    init(stack.root, stack.env)
    try:
        yield stack, bucket, key
    finally:
        destroy(stack)
        for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
        s3.delete_bucket(Bucket=bucket)


def test_two_applies_at_once_one_proceeds_one_is_refused_state_intact(
    s3_stack: tuple[Stack, str, str],
) -> None:
    stack, bucket, key = s3_stack
    s3 = aws("s3", stack.endpoint)

    def lock_object() -> dict[str, Any] | None:
        try:
            return json.loads(s3.get_object(Bucket=bucket, Key=f"{key}.tflock")["Body"].read())
        except s3.exceptions.NoSuchKey:
            return None

    first = stack.start("apply", "-auto-approve")
    first_output = LineReader(first)
    deadline = time.monotonic() + 120
    while (held := lock_object()) is None:
        assert first.poll() is None, first_output.text()
        assert time.monotonic() < deadline, "the first apply never took the lock"
        time.sleep(0.2)

    # A run that waits for the lock: it starts now, and can only plan once the first is done.
    waiter = stack.start("plan", "-detailed-exitcode", "-lock-timeout=10m")
    waiter_output = LineReader(waiter)

    # A second apply with the default lock timeout: refused at once, naming who holds the lock.
    second = stack.tf("apply", "-auto-approve", "-no-color", "-input=false", stack.var())
    assert second.returncode == 1
    assert "Error acquiring the state lock" in second.stderr
    assert held["ID"] in second.stderr
    assert first.poll() is None, "the refused apply must not have waited for the first"

    assert first.wait(timeout=600) == 0, first_output.text()[-3000:]
    first_done = time.monotonic()
    assert "Apply complete!" in first_output.text()
    assert waiter.wait(timeout=300) == 0, waiter_output.text()[-3000:]
    assert time.monotonic() >= first_done
    assert "No changes." in waiter_output.text()

    # The state: unlocked, readable, complete, and matching the emulator.
    assert lock_object() is None
    state = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert state["lineage"] and state["serial"] > 0
    addresses = stack.addresses()
    assert {"module.vpc.aws_vpc.this", "module.web.aws_instance.this"} <= addresses
    assert len(stack.vpcs()) == 1
    assert len(stack.instances("web")) == 1
    assert orphans(stack, state) == {}
    plan = stack.tf(
        "plan", "-detailed-exitcode", "-no-color", "-input=false", stack.var(), timeout=300
    )
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr
