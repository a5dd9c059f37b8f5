"""An environment's remote state object: what it holds, read the way Terraform reads it, and the
empty state `make bootstrap` puts there before the first deploy.

    summary = read_summary(find_backend(root, default_key=...))   # resources, written
    seed_empty_state(s3, bucket, key)                              # True: written, False: kept

The nightly watchdog (gitops.github.watchdog) asks read_summary in the morning: a state that
still holds managed resources after a nightly destroy that should have emptied it means the
stack still runs. Reading needs s3:GetObject on the state object, which the read-only plan role
has (it plans from the same object), and, to tell a missing object from a forbidden one, the
listing of that one key (gitops.terraform.unlock.get_if_present). The object is encrypted with
the account's AWS-managed S3 key, which any principal of the account may use through S3, so no
kms: permission is needed.

Why a seed: the pipeline's roles may list the state bucket only with s3:prefix equal to their
state key, and S3 answers a GetObject or HeadObject of a missing key with 404 only to a caller
allowed s3:ListBucket, else with 403. Terraform's S3 backend reads the state with HeadObject and
takes only a 404 as "no state yet" (internal/backend/remote-state/s3/client.go), so the first
plan and the first deploy of an environment would fail on a state never written. The bootstrap
(operator credentials) writes an empty state there once, with a conditional write that never
replaces an object, and refuses where a state was deleted (its versions kept): an empty one
there would make Terraform forget what the old one manages.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gitops.aws import error_code
from gitops.paths import TERRAFORM_VERSION_FILE
from gitops.terraform.unlock import Backend, get_if_present


class StateError(RuntimeError):
    """The state object exists but is not a Terraform state, or cannot be seeded."""


@dataclass(frozen=True)
class Summary:
    resources: int  # managed resource instances (data sources do not run anything)
    written: datetime | None  # when the object was last written; None: there is no state
    where: str


def count_resources(state: dict) -> int:
    """Managed resource instances in a Terraform state (format version 4)."""
    if not isinstance(state, dict) or "resources" not in state:
        raise StateError("no `resources` list: not a Terraform state")
    return sum(
        len(resource.get("instances") or [])
        for resource in state.get("resources") or []
        if resource.get("mode") == "managed"
    )


def read_summary(backend: Backend) -> Summary:
    """What the S3 state object holds and when it was written; no object: nothing runs."""
    where = f"s3://{backend.bucket}/{backend.key}"
    obj = get_if_present(backend, backend.key)
    if obj is None:
        return Summary(0, None, where)
    try:
        state = json.loads(obj["Body"].read().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise StateError(f"{where} is not JSON: {err}") from err
    return Summary(count_resources(state), obj.get("LastModified"), where)


def empty_state(lineage: str | None = None) -> dict[str, Any]:
    """A Terraform state (format version 4) that manages nothing, as Terraform writes one. Its
    serial is 1, so a run that changes nothing leaves the object as it is; the first apply
    keeps the lineage and writes serial 2."""
    return {
        "version": 4,
        "terraform_version": TERRAFORM_VERSION_FILE.read_text(encoding="utf-8").strip(),
        "serial": 1,
        "lineage": lineage or str(uuid.uuid4()),
        "outputs": {},
        "resources": [],
        "check_results": None,
    }


def _history(s3: Any, bucket: str, key: str) -> tuple[bool, list[str]]:
    """(whether key has a current object, IDs of the delete markers that hide older versions),
    from the bucket's versions of exactly this key."""
    current, markers = False, []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        for version in page.get("Versions") or []:
            if version["Key"] == key and version.get("IsLatest"):
                current = True
        for marker in page.get("DeleteMarkers") or []:
            if marker["Key"] == key and marker.get("IsLatest"):
                markers.append(str(marker["VersionId"]))
    return current, markers


def seed_empty_state(s3: Any, bucket: str, key: str) -> bool:
    """Put an empty state at key unless one is there: True when it was written, False when an
    object was kept. The write is conditional (If-None-Match: *), so a state another run writes
    meanwhile is never replaced; a key whose latest version is a delete marker is refused."""
    from botocore.exceptions import ClientError

    where = f"s3://{bucket}/{key}"
    for _ in range(3):
        current, markers = _history(s3, bucket, key)
        if current:
            return False
        if markers:
            raise StateError(
                f"{where} was deleted, and its earlier versions are kept: an empty state there "
                "would make Terraform forget what they manage. Bring the last one back by "
                f"removing the delete marker (aws s3api delete-object --bucket {bucket} --key "
                f"{key} --version-id {markers[0]}), then run this again"
            )
        body = json.dumps(empty_state(), indent=2).encode("utf-8") + b"\n"
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json",
                          IfNoneMatch="*")  # fmt: skip
            return True
        except ClientError as error:
            code = error_code(error)
            if code == "PreconditionFailed":  # 412: written meanwhile, by someone else
                return False
            if code != "ConditionalRequestConflict":  # 409: S3 asks to try again
                raise
    raise StateError(f"{where}: S3 kept answering ConditionalRequestConflict; run this again")
