"""gitops.terraform.unlock against locks that a real Terraform takes and leaves behind.

A tiny configuration (one terraform_data resource: no provider to download) is applied with the
approval prompt left open, so Terraform holds the state lock while it waits; SIGKILL then leaves
the lock behind as a crash would. Local backend: no emulator needed. S3 backend with
use_lockfile: against LocalStack (e2e).
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from gitops.terraform import unlock

from tests.tf_sandbox import tf_environ

TINY_CONFIG = """
terraform {
  backend "{backend}" {}
}

resource "terraform_data" "marker" {
  input = timestamp() # a change on every run, so apply always stops at its prompt
}
"""


def tiny_root(dest: Path, backend: str) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "main.tf").write_text(TINY_CONFIG.replace("{backend}", backend), encoding="utf-8")
    return dest


def tf(root: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["terraform", *args], cwd=root, env=env, text=True, capture_output=True, timeout=180
    )


def start_waiting_apply(root: Path, env: dict[str, str], lock_seen) -> subprocess.Popen[str]:
    """`terraform apply` that holds the state lock while it waits at its approval prompt."""
    proc = subprocess.Popen(
        ["terraform", "apply", "-no-color"],
        cwd=root,
        env={**env, "TF_INPUT": "1"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"apply ended early:\n{proc.stdout.read() if proc.stdout else ''}")
        if lock_seen():
            return proc
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("terraform apply never took the state lock")


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    for stream in (proc.stdin, proc.stdout):
        if stream:
            stream.close()


# --- Pure parts ------------------------------------------------------------------------------


def test_lock_info_parses_terraform_nanosecond_timestamps() -> None:
    lock = unlock.LockInfo.from_json(
        '{"ID":"6fc3bd05-cb3b-7f9f-7631-481dfa34553f","Operation":"OperationTypeApply",'
        '"Info":"","Who":"ci@runner","Version":"1.11.4",'
        '"Created":"2026-11-26T05:16:14.912912971Z","Path":"terraform.tfstate"}'
    )
    assert lock.created_at() == datetime(2026, 11, 26, 5, 16, 14, 912912, tzinfo=UTC)
    lines = unlock.describe(lock, now=datetime(2026, 11, 26, 5, 46, 15, tzinfo=UTC))
    assert "held by:   ci@runner" in lines
    assert "since:     2026-11-26 05:16:14 UTC (30 min ago)" in lines
    assert "operation: Apply" in lines
    assert "lock ID:   6fc3bd05-cb3b-7f9f-7631-481dfa34553f" in lines


def test_s3_backend_comes_from_the_init_record(tmp_path: Path) -> None:
    (tmp_path / ".terraform").mkdir()
    (tmp_path / ".terraform" / "terraform.tfstate").write_text(
        json.dumps(
            {
                "backend": {
                    "type": "s3",
                    "config": {
                        "bucket": "tfstate-x",
                        "key": "seoul/terraform.tfstate",
                        "region": "ap-northeast-2",
                        "use_lockfile": True,
                        "endpoints": {"s3": "http://localhost:4566"},
                        "use_path_style": True,
                    },
                }
            }
        ),
        encoding="utf-8",
    )
    backend = unlock.find_backend(tmp_path, environ={})
    assert backend.where() == "s3://tfstate-x/seoul/terraform.tfstate.tflock"
    assert backend.endpoint == "http://localhost:4566"


def test_no_lock_is_told_apart_from_a_forbidden_one_as_the_pipelines_roles_see_s3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_aws: None
) -> None:
    """The roles may list only the state key and its lock (s3:prefix), so S3 answers 403 for a
    lock object that is not there: the listing says "no lock", a lock there is read."""
    from gitops import aws

    from tests.s3_as_role import S3AsRole, answer_every_client

    key = "seoul/terraform.tfstate"
    backend = unlock.Backend("s3", tmp_path, bucket="tfstate-x", key=key, region="us-east-1")
    objects = {f"arn:aws:s3:::tfstate-x/{k}" for k in (key, f"{key}.tflock")}

    def allowed(action: str, resource: str, ctx: dict[str, object]) -> bool:
        if action == "s3:ListBucket":
            return ctx.get("s3:prefix") in (key, f"{key}.tflock")
        return action == "s3:GetObject" and resource in objects

    s3 = aws.client("s3", "us-east-1")
    s3.create_bucket(Bucket="tfstate-x")
    answer_every_client(monkeypatch, role := S3AsRole(s3, allowed))
    assert unlock.read_lock(backend) is None
    assert ("s3:ListBucket", "arn:aws:s3:::tfstate-x",
            {"s3:prefix": f"{key}.tflock", "s3:max-keys": "1"}) in role.calls  # fmt: skip
    s3.put_object(Bucket="tfstate-x", Key=f"{key}.tflock", Body=json.dumps({"ID": "l-1"}))
    found = unlock.read_lock(backend)
    assert found is not None and found[0].id == "l-1"


def test_without_an_init_record_the_committed_region_wins_over_aws_region() -> None:
    """A fresh checkout (no init record) in a shell set to another region: the lock is looked
    for where Terraform keeps it, in the bucket's region envs/seoul/backend.tf commits."""
    environ = {"TF_STATE_BUCKET": "tfstate-x", "AWS_REGION": "eu-central-1"}
    backend = unlock.find_backend(
        unlock.root_for("seoul"), environ=environ, default_key="seoul/terraform.tfstate"
    )
    assert backend.region == "ap-northeast-2"
    assert backend.where() == "s3://tfstate-x/seoul/terraform.tfstate.tflock"


def test_seoul_without_a_bucket_is_refused_with_the_fix() -> None:
    with pytest.raises(unlock.LockError, match="TF_STATE_BUCKET"):
        unlock.find_backend(unlock.root_for("seoul"), environ={})


# --- Local backend (envs/localstack's kind) ---------------------------------------------------


@pytest.fixture
def local_root(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    root = tiny_root(tmp_path / "root", "local")
    env = tf_environ()
    init = tf(root, "init", "-input=false", "-no-color", env=env)
    assert init.returncode == 0, init.stderr
    yield root, env


def test_local_lock_shown_refused_while_live_then_removed_only_by_its_id(
    local_root: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    root, env = local_root
    # A first apply so the state file exists: Terraform's OS lock is taken on it.
    first = tf(root, "apply", "-auto-approve", "-no-color", env=env)
    assert first.returncode == 0, first.stderr
    lock_file = root / ".terraform.tfstate.lock.info"

    assert unlock.main(["localstack", "--dir", str(root)]) == 0
    assert "no lock" in capsys.readouterr().out

    holder = start_waiting_apply(root, env, lock_file.exists)
    try:
        lock_id = json.loads(lock_file.read_text())["ID"]
        assert unlock.main(["localstack", "--dir", str(root)]) == 0
        shown = capsys.readouterr().out
        assert f"lock ID:   {lock_id}" in shown
        assert "operation: Apply" in shown
        assert "a running process holds it" in shown
        # Even the right ID does not remove a lock a live Terraform holds.
        with pytest.raises(SystemExit) as refused:
            unlock.main(["localstack", "--dir", str(root), "--lock-id", lock_id])
        assert refused.value.code == 1
        assert "still holds the state file" in capsys.readouterr().err
        assert lock_file.exists()
    finally:
        kill(holder)

    # The crash left the lock record behind.
    assert lock_file.exists()
    assert unlock.main(["localstack", "--dir", str(root)]) == 0
    assert "stale: no process holds it" in capsys.readouterr().out

    with pytest.raises(SystemExit) as wrong:
        unlock.main(["localstack", "--dir", str(root), "--lock-id", "not-" + lock_id])
    assert wrong.value.code == 1
    assert f"has ID {lock_id}" in capsys.readouterr().err
    assert lock_file.exists()

    assert unlock.main(["localstack", "--dir", str(root), "--lock-id", lock_id]) == 0
    assert f"removed lock {lock_id}" in capsys.readouterr().out
    assert not lock_file.exists()
    after = tf(root, "apply", "-auto-approve", "-no-color", env=env)  # takes the lock again
    assert after.returncode == 0, after.stdout + after.stderr


def test_make_unlock_is_the_front_door() -> None:
    """The Makefile target runs this script for envs/<ENV> (seoul: it needs the bucket)."""
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        ["make", "-s", "unlock", "ENV=seoul"],
        cwd=repo,
        env={**tf_environ(), "TF_STATE_BUCKET": ""},
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "TF_STATE_BUCKET" in proc.stderr


# --- S3 backend with use_lockfile (envs/seoul's kind), on LocalStack -------------------------


@pytest.mark.e2e
def test_s3_stale_lock_blocks_until_removed_by_its_id(
    localstack_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    bucket = f"tfstate-unlock-{secrets.token_hex(4)}"
    key = "unlock/terraform.tfstate"
    env = tf_environ(
        localstack_endpoint,
        AWS_ENDPOINT_URL=localstack_endpoint,
        AWS_REGION="us-east-1",
    )
    s3 = boto3.client(
        "s3",
        endpoint_url=localstack_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    s3.create_bucket(Bucket=bucket)
    root = tiny_root(tmp_path / "root", "s3")
    (root / "backend.hcl").write_text(
        f'bucket = "{bucket}"\nkey = "{key}"\nregion = "us-east-1"\nuse_lockfile = true\n'
        f'endpoints = {{ s3 = "{localstack_endpoint}" }}\nuse_path_style = true\n'
        "skip_credentials_validation = true\nskip_requesting_account_id = true\n"
        "skip_metadata_api_check = true\n",
        encoding="utf-8",
    )
    init = tf(root, "init", "-input=false", "-no-color", "-backend-config=backend.hcl", env=env)
    assert init.returncode == 0, init.stderr
    lock_key = f"{key}.tflock"

    def lock_object() -> dict[str, str] | None:
        try:
            body = s3.get_object(Bucket=bucket, Key=lock_key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        return json.loads(body)

    try:
        holder = start_waiting_apply(root, env, lambda: lock_object() is not None)
        kill(holder)  # a crash: the lock object stays in the bucket
        lock = lock_object()
        assert lock is not None
        lock_id = lock["ID"]

        blocked = tf(root, "plan", "-no-color", env=env)
        assert blocked.returncode == 1
        assert "Error acquiring the state lock" in blocked.stderr
        assert lock_id in blocked.stderr

        env_for_script = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
        with pytest.MonkeyPatch.context() as mp:
            for name, value in env_for_script.items():
                mp.setenv(name, value)
            assert unlock.main(["seoul", "--dir", str(root)]) == 0
            shown = capsys.readouterr().out
            assert f"s3://{bucket}/{lock_key}" in shown
            assert f"lock ID:   {lock_id}" in shown
            assert f"held by:   {lock['Who']}" in shown
            assert f"make unlock ENV=seoul LOCK_ID={lock_id}" in shown

            with pytest.raises(SystemExit) as wrong:
                unlock.main(["seoul", "--dir", str(root), "--lock-id", "someone-else"])
            assert wrong.value.code == 1
            assert lock_object() is not None

            assert unlock.main(["seoul", "--dir", str(root), "--lock-id", lock_id]) == 0
            assert f"removed lock {lock_id}" in capsys.readouterr().out
        assert lock_object() is None

        unblocked = tf(root, "apply", "-auto-approve", "-no-color", env=env)
        assert unblocked.returncode == 0, unblocked.stderr
    finally:
        tf(root, "destroy", "-auto-approve", "-no-color", "-lock=false", env=env)
        for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
        s3.delete_bucket(Bucket=bucket)
