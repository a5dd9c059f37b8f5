"""The empty state `make bootstrap` writes at each environment's state key (gitops.terraform.state):
written once, with a conditional write that never replaces a state, refused where a state was
deleted, and taken by Terraform 1.11's S3 backend as its own.

Why it must be there: tests/test_bootstrap_iam.py (the pipeline's roles get 403, not 404, for
a missing state, and Terraform stops on it). Unit tests on moto's S3; the conditional write and
Terraform itself against LocalStack (e2e)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from gitops import aws, environments
from gitops.paths import TERRAFORM_VERSION_FILE
from gitops.terraform import bootstrap
from gitops.terraform.state import StateError, empty_state, seed_empty_state

from tests.tf_sandbox import terraform, tf_environ

REGION = "ap-northeast-2"
BUCKET = "tfstate-seed-test"
KEY = "seoul/terraform.tfstate"


def versioned_bucket(s3: Any, bucket: str, region: str = REGION) -> None:
    config = {} if region == "us-east-1" else {"LocationConstraint": region}
    s3.create_bucket(Bucket=bucket, **({"CreateBucketConfiguration": config} if config else {}))
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


@pytest.fixture
def s3(moto_aws: None) -> Any:
    client = aws.client("s3", REGION)
    versioned_bucket(client, BUCKET)
    return client


def versions(s3: Any, bucket: str = BUCKET) -> list[tuple[str, bool]]:
    """(version ID, is latest) of the state object itself, delete markers included (the lock
    object <KEY>.tflock shares the prefix)."""
    found = s3.list_object_versions(Bucket=bucket, Prefix=KEY)
    every = found.get("Versions", []) + found.get("DeleteMarkers", [])
    return [(v["VersionId"], v["IsLatest"]) for v in every if v["Key"] == KEY]


def read(s3: Any, bucket: str = BUCKET) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=bucket, Key=KEY)["Body"].read())


def test_the_empty_state_is_terraforms_format_and_manages_nothing() -> None:
    state = empty_state()
    assert state["version"] == 4 and state["resources"] == [] and state["outputs"] == {}
    assert state["terraform_version"] == TERRAFORM_VERSION_FILE.read_text().strip()
    assert state["serial"] == 1
    assert len(state["lineage"]) == 36 and state["lineage"] != empty_state()["lineage"]


def test_seeded_once_then_kept(s3: Any) -> None:
    assert seed_empty_state(s3, BUCKET, KEY) is True
    first = read(s3)
    assert first["resources"] == [] and first["serial"] == 1
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ContentType"] == "application/json"
    assert seed_empty_state(s3, BUCKET, KEY) is False  # run twice: the same object, no new version
    assert read(s3) == first
    assert len(versions(s3)) == 1


def test_a_state_is_never_replaced(s3: Any) -> None:
    deployed = {"version": 4, "serial": 9, "lineage": "l-9", "resources": [{"mode": "managed"}]}
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=json.dumps(deployed).encode())
    assert seed_empty_state(s3, BUCKET, KEY) is False
    assert read(s3) == deployed


class NoHistory:
    """The S3 client as seen by a bootstrap that checked the key just before another run wrote
    it: the versions look empty, the write meets the other run's object."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3

    def get_paginator(self, name: str) -> Any:
        class Empty:
            def paginate(self, **_: Any) -> list[dict[str, Any]]:
                return [{}]

        return Empty()

    def put_object(self, **kwargs: Any) -> Any:
        return self.s3.put_object(**kwargs)


def test_a_state_written_meanwhile_is_kept_by_the_conditional_write(s3: Any) -> None:
    theirs = {"version": 4, "serial": 3, "lineage": "l-3", "resources": []}
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=json.dumps(theirs).encode())
    assert seed_empty_state(NoHistory(s3), BUCKET, KEY) is False  # S3 answered 412
    assert read(s3) == theirs


def test_a_deleted_state_is_refused_with_the_way_back(s3: Any) -> None:
    deployed = {"version": 4, "serial": 4, "lineage": "l-4", "resources": [{"mode": "managed"}]}
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=json.dumps(deployed).encode())
    s3.delete_object(Bucket=BUCKET, Key=KEY)
    marker = next(v for v, latest in versions(s3) if latest)
    with pytest.raises(StateError, match="was deleted") as refused:
        seed_empty_state(s3, BUCKET, KEY)
    assert f"--version-id {marker}" in str(refused.value)
    assert len(versions(s3)) == 2  # nothing written
    s3.delete_object(Bucket=BUCKET, Key=KEY, VersionId=marker)  # what the message says to do
    assert seed_empty_state(s3, BUCKET, KEY) is False
    assert read(s3) == deployed


def test_bootstrap_names_the_environment_it_refuses(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"{}")
    s3.delete_object(Bucket=BUCKET, Key=KEY)
    seoul = environments.load()["seoul"]
    assert seoul.state_key == KEY
    with pytest.raises(bootstrap.BootstrapError, match=r"^envs/seoul: s3://\S+ was deleted"):
        bootstrap.seed_states(s3, BUCKET, [seoul], print)


# --- On LocalStack, with Terraform ----------------------------------------------------------

ROOT = """
terraform {
  backend "s3" {}
}
"""
RESOURCE = """
resource "terraform_data" "marker" {
  input = "deployed"
}
"""


@pytest.mark.e2e
def test_terraform_takes_the_seeded_state_as_its_own(
    localstack_endpoint: str, tmp_path: Path
) -> None:
    """LocalStack's S3 honours If-None-Match as AWS does; Terraform 1.11 reads the seed as a
    state of its own (no error about its format or version), a run that changes nothing leaves
    it as it is, and the first apply keeps its lineage."""
    region = "us-east-1"
    bucket = f"tfstate-seed-{secrets.token_hex(4)}"
    s3 = aws.client("s3", region, localstack_endpoint)
    versioned_bucket(s3, bucket, region)
    env = tf_environ(localstack_endpoint, AWS_REGION=region)
    root = tmp_path / "root"
    root.mkdir()
    (root / "main.tf").write_text(ROOT, encoding="utf-8")
    (root / "backend.hcl").write_text(
        f'bucket = "{bucket}"\nkey = "{KEY}"\nregion = "{region}"\nuse_lockfile = true\n'
        f'endpoints = {{ s3 = "{localstack_endpoint}" }}\nuse_path_style = true\n'
        "skip_credentials_validation = true\nskip_requesting_account_id = true\n"
        "skip_metadata_api_check = true\n",
        encoding="utf-8",
    )
    try:
        assert seed_empty_state(s3, bucket, KEY) is True
        assert seed_empty_state(s3, bucket, KEY) is False  # LocalStack: 412 or the version
        seeded = read(s3, bucket)
        assert len(versions(s3, bucket)) == 1

        init = terraform(
            root, "init", "-input=false", "-no-color", "-backend-config=backend.hcl", env=env
        )
        assert init.returncode == 0, init.stderr
        nothing = terraform(root, "apply", "-auto-approve", "-no-color", env=env)
        assert nothing.returncode == 0, nothing.stderr
        assert len(versions(s3, bucket)) == 1  # serial 1: a run that changes nothing writes none

        (root / "main.tf").write_text(ROOT + RESOURCE, encoding="utf-8")
        plan = terraform(root, "plan", "-lock=false", "-detailed-exitcode", "-no-color", env=env)
        assert plan.returncode == 2, plan.stdout + plan.stderr  # 1 to add, from the empty state
        applied = terraform(root, "apply", "-auto-approve", "-no-color", env=env)
        assert applied.returncode == 0, applied.stderr
        state = read(s3, bucket)
        assert state["lineage"] == seeded["lineage"] and state["serial"] > seeded["serial"]
        assert [r["type"] for r in state["resources"]] == ["terraform_data"]
        assert seed_empty_state(s3, bucket, KEY) is False  # a re-run of the bootstrap keeps it
        assert read(s3, bucket) == state
    finally:
        found = s3.list_object_versions(Bucket=bucket)
        for v in found.get("Versions", []) + found.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
        s3.delete_bucket(Bucket=bucket)
