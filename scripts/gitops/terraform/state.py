"""What an environment's remote state holds, read the way Terraform reads it, never written.

    summary = read_summary(find_backend(root, default_key=...))   # resources, written

The nightly watchdog (gitops.github.watchdog) asks this in the morning: a state that still
holds managed resources after a nightly destroy that should have emptied it means the stack
still runs. Reading needs only s3:GetObject on the state object, which the read-only plan role
has (it plans from the same object); the object is encrypted with the account's AWS-managed S3
key, which any principal of the account may use through S3, so no kms: permission is needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from gitops.terraform.unlock import Backend, not_found, s3_client


class StateError(RuntimeError):
    """The state object exists but is not a Terraform state."""


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
    from botocore.exceptions import ClientError

    where = f"s3://{backend.bucket}/{backend.key}"
    try:
        obj = s3_client(backend).get_object(Bucket=backend.bucket, Key=backend.key)
    except ClientError as error:
        if not_found(error):
            return Summary(0, None, where)
        raise
    try:
        state = json.loads(obj["Body"].read().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise StateError(f"{where} is not JSON: {err}") from err
    return Summary(count_resources(state), obj.get("LastModified"), where)
