"""gitops.pipeline.localstack: an emulator it starts keeps its files in its own work folder,
which goes when it stops, so `make e2e` and the tests leave nothing in the system's temp folder."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from gitops import aws
from gitops.pipeline import localstack
from gitops.pipeline.db_standin import free_port

LEGACY_S3_STORAGE = Path("/tmp/localstack-s3-storage")  # LocalStack 4.14's own, fixed place

pytestmark = pytest.mark.e2e  # starts an emulator of its own


def test_a_bucket_is_kept_in_the_emulators_work_folder() -> None:
    endpoint = f"http://localhost:{free_port()}"
    emulator = localstack.ensure(endpoint)
    try:
        if emulator.kind != "host":
            pytest.skip(f"a {emulator.kind} emulator keeps its files in its container")
        assert emulator.started_by_us and emulator.workdir
        workdir = Path(emulator.workdir)
        bucket = f"kept-here-{secrets.token_hex(4)}"
        s3 = aws.client("s3", "us-east-1", endpoint)
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="state", Body=b"{}")
        assert (workdir / "s3-storage" / bucket).is_dir()
        assert not (LEGACY_S3_STORAGE / bucket).exists()
    finally:
        localstack.stop(emulator)
    assert not workdir.exists()
