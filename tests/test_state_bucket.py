"""bootstrap/state-bucket applied for real (on LocalStack's S3): the bucket the Seoul state lives
in is versioned, encrypted, closed to the public and to plain HTTP, and a backend with
use_lockfile can keep a state and its lock there."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.tf_sandbox import REPO_ROOT, init, terraform, tf_environ

pytestmark = pytest.mark.e2e

PROVIDER_OVERRIDE = """provider "aws" {{
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true

  endpoints {{
    s3  = "{endpoint}"
    sts = "{endpoint}"
    iam = "{endpoint}"
  }}
}}
"""


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture
def bucket(localstack_endpoint: str, tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, str]]]:
    root = tmp_path / "state-bucket"
    shutil.copytree(REPO_ROOT / "bootstrap" / "state-bucket", root)
    (root / "endpoint_override.tf").write_text(
        PROVIDER_OVERRIDE.format(endpoint=localstack_endpoint), encoding="utf-8"
    )
    name = f"tfstate-test-{secrets.token_hex(4)}"
    env = tf_environ(localstack_endpoint)
    init(root, env)
    try:
        yield name, root, env
    finally:
        s3 = s3_client(localstack_endpoint)
        try:
            versions = s3.list_object_versions(Bucket=name)
            for item in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
                s3.delete_object(Bucket=name, Key=item["Key"], VersionId=item["VersionId"])
            s3.delete_bucket(Bucket=name)  # prevent_destroy: Terraform itself refuses
        except s3.exceptions.NoSuchBucket:
            pass


def test_state_bucket_is_versioned_encrypted_private_and_tls_only(
    bucket: tuple[str, Path, dict[str, str]], localstack_endpoint: str
) -> None:
    name, root, env = bucket
    applied = terraform(
        root, "apply", "-auto-approve", "-no-color", "-input=false",
        f"-var=bucket_name={name}", "-var=aws_region=us-east-1", env=env,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr

    s3 = s3_client(localstack_endpoint)
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    assert all(block[k] for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                  "RestrictPublicBuckets"))  # fmt: skip
    policy = json.loads(s3.get_bucket_policy(Bucket=name)["Policy"])
    deny = policy["Statement"][0]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"]["Bool"]["aws:SecureTransport"] == "false"
    controls = s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"][0]
    assert controls["ObjectOwnership"] == "BucketOwnerEnforced"

    refused = terraform(
        root, "destroy", "-auto-approve", "-no-color", "-input=false",
        f"-var=bucket_name={name}", "-var=aws_region=us-east-1", env=env,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "prevent_destroy" in refused.stderr
