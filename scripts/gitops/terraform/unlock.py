"""Show who holds an environment's Terraform state lock; remove it only when given its ID.

    gitops unlock ENV [--lock-id ID] [--dir ROOT]
    make unlock ENV=NAME [LOCK_ID=...]

The careful version of `terraform force-unlock`: without --lock-id it only shows the lock (who,
since when, which operation, its ID) and exits 0; with --lock-id it removes the lock only when
that is the ID of the lock it finds, and refuses otherwise (exit 1), so a lock taken by another
run meanwhile is never removed by mistake.

Where the lock lives comes from the root's backend, as `terraform init` recorded it in
ROOT/.terraform/terraform.tfstate (else from its backend block, region included):

- local backend (envs/localstack): the file .terraform.tfstate.lock.info beside the state. While
  a Terraform process runs, it also holds an OS lock on the state file; such a live lock is
  reported and never removed.
- S3 backend with use_lockfile (envs/seoul): the object <key>.tflock in the state bucket. Bucket
  and key come from the init record, else TF_STATE_BUCKET and TF_STATE_KEY, else the key the
  environment's description gives, as scripts/gitops/terraform/runner.py uses them. boto3 talks to
  AWS_ENDPOINT_URL when it is set (LocalStack), else to AWS.
"""

from __future__ import annotations

import argparse
import fcntl
import itertools
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gitops import aws
from gitops.aws import error_code
from gitops.paths import REPO_ROOT
from gitops.progress import fail, say
from gitops.terraform.runner import describe as describe_env
from gitops.terraform.runner import env_dir

# A root's backend block and the string settings it commits (region = "...").
_BACKEND_BLOCK = re.compile(r'backend\s+"(?P<type>[\w-]+)"\s*\{(?P<body>[^}]*)\}')
_STRING_SETTING = re.compile(r'^\s*(\w+)\s*=\s*"([^"]*)"', re.MULTILINE)


class LockError(Exception):
    """The lock cannot be removed; the message says why and what to do."""


@dataclass(frozen=True)
class LockInfo:
    """Terraform's lock record (the same JSON for every backend)."""

    id: str
    who: str
    created: str
    operation: str
    version: str = ""
    path: str = ""

    @classmethod
    def from_json(cls, text: str) -> LockInfo:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            id=str(raw.get("ID", "")),
            who=str(raw.get("Who", "")),
            created=str(raw.get("Created", "")),
            operation=str(raw.get("Operation", "")),
            version=str(raw.get("Version", "")),
            path=str(raw.get("Path", "")),
        )

    def created_at(self) -> datetime | None:
        """Created as a datetime (Terraform writes RFC 3339 with nanoseconds)."""
        text = self.created.strip()
        if not text:
            return None
        text = text.replace("Z", "+00:00")
        if "." in text:  # trim nanoseconds to the microseconds Python parses
            head, _, tail = text.partition(".")
            digits = "".join(itertools.takewhile(str.isdigit, tail))
            zone = tail[len(digits) :]
            text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return None


@dataclass(frozen=True)
class Backend:
    """Where a root keeps its state, and so its lock."""

    kind: str  # "local" or "s3"
    root: Path
    state_path: Path | None = None  # local
    bucket: str = ""  # s3
    key: str = ""
    region: str = ""
    endpoint: str | None = None
    path_style: bool = False

    @property
    def lock_path(self) -> Path:
        assert self.state_path is not None
        return self.state_path.with_name(f".{self.state_path.name}.lock.info")

    @property
    def lock_key(self) -> str:
        return f"{self.key}.tflock"

    def where(self) -> str:
        if self.kind == "local":
            return _display(self.lock_path)
        return f"s3://{self.bucket}/{self.lock_key}"


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _init_record(root: Path) -> dict[str, Any] | None:
    record = root / ".terraform" / "terraform.tfstate"
    if not record.exists():
        return None
    backend = json.loads(record.read_text(encoding="utf-8")).get("backend") or {}
    return backend if backend.get("type") else None


def backend_from_source(root: Path) -> dict[str, Any]:
    """The backend block in the root's .tf files, shaped like an init record: its type and the
    settings it commits (envs/seoul commits the bucket's region). Terraform's default: local."""
    for tf in sorted(root.glob("*.tf")):
        match = _BACKEND_BLOCK.search(tf.read_text(encoding="utf-8"))
        if match:
            return {"type": match["type"], "config": dict(_STRING_SETTING.findall(match["body"]))}
    return {"type": "local", "config": {}}


def find_backend(
    root: Path, environ: dict[str, str] | None = None, default_key: str | None = None
) -> Backend:
    """The backend of a root: from its init record, else from backend.tf and the environment.

    default_key: the state key when neither the init record nor TF_STATE_KEY names one (the
    environment's description gives it).
    """
    env = dict(os.environ if environ is None else environ)
    record = _init_record(root) or backend_from_source(root)
    kind = record["type"]
    config: dict[str, Any] = record.get("config") or {}
    if kind == "local":
        path = config.get("path") or "terraform.tfstate"
        return Backend("local", root, state_path=(root / path))
    if kind != "s3":
        raise LockError(f"backend {kind!r} is not supported here; use `terraform force-unlock`")
    bucket = config.get("bucket") or env.get("TF_STATE_BUCKET", "").strip()
    key = config.get("key") or env.get("TF_STATE_KEY") or default_key
    if not bucket:
        raise LockError(
            "the state bucket is unknown: export TF_STATE_BUCKET (as for `make plan ENV=...`)"
        )
    if not key:
        raise LockError("the state key is unknown: export TF_STATE_KEY")
    if not config.get("use_lockfile", True):
        raise LockError("this backend does not lock with use_lockfile; see its lock table")
    workspace = env.get("TF_WORKSPACE", "default")
    if workspace != "default":
        prefix = config.get("workspace_key_prefix") or "env:"
        key = f"{prefix}/{workspace}/{key}"
    endpoints = config.get("endpoints") or {}
    endpoint = (endpoints.get("s3") if isinstance(endpoints, dict) else None) or env.get(
        "AWS_ENDPOINT_URL"
    )
    # As Terraform: the committed setting first, the environment only where there is none.
    region = config.get("region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        raise LockError("the state bucket's region is unknown: export AWS_REGION")
    return Backend(
        "s3",
        root,
        bucket=bucket,
        key=key,
        region=region,
        endpoint=endpoint or None,
        path_style=bool(config.get("use_path_style")),
    )


def s3_client(backend: Backend) -> Any:
    """An S3 client for the backend, with the credentials Terraform would use."""
    from botocore.config import Config

    style = {"addressing_style": "path"} if backend.path_style or backend.endpoint else {}
    return aws.client(
        "s3",
        backend.region,
        backend.endpoint,
        config=Config(s3=style, retries={"max_attempts": 3, "mode": "standard"}),
        dummy_credentials=False,  # the backend's own credentials, as Terraform uses them
    )


def not_found(error: Exception) -> bool:
    return error_code(error) in ("NoSuchKey", "404", "NotFound")


def key_listed(client: Any, bucket: str, key: str) -> bool:
    """Whether the bucket holds an object of exactly this key, asked by listing that key as the
    prefix: the one listing the pipeline's roles may make (s3:prefix = their state key or its
    lock, bootstrap/github-oidc/policies.tf). The key sorts before every longer key it is a
    prefix of, so the first entry answers."""
    listed = client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents") or []
    return bool(listed) and listed[0].get("Key") == key


def get_if_present(backend: Backend, key: str) -> dict[str, Any] | None:
    """GetObject of key in the state bucket; None when there is no such object.

    S3 answers a missing key with 404 only to a caller allowed s3:ListBucket on the bucket,
    else with 403 AccessDenied (GetObject, Permissions). The pipeline's roles may list only
    their own key (s3:prefix), which that check, made without a prefix, does not satisfy: a
    403 is followed by the listing they may make, and stands if the key is there.
    """
    from botocore.exceptions import ClientError

    client = s3_client(backend)
    try:
        return dict(client.get_object(Bucket=backend.bucket, Key=key))
    except ClientError as error:
        if not_found(error):
            return None
        if error_code(error) not in ("AccessDenied", "403", "Forbidden"):
            raise
        try:
            listed = key_listed(client, backend.bucket, key)
        except ClientError:
            raise error from None  # may not list either: the read's own refusal says more
        if listed:
            raise
        return None


def read_lock(backend: Backend) -> tuple[LockInfo, str | None] | None:
    """The current lock and, for S3, its ETag; None when nobody holds the lock."""
    if backend.kind == "local":
        if not backend.lock_path.exists():
            return None
        return LockInfo.from_json(backend.lock_path.read_text(encoding="utf-8")), None
    obj = get_if_present(backend, backend.lock_key)
    if obj is None:
        return None
    return LockInfo.from_json(obj["Body"].read().decode("utf-8")), obj.get("ETag")


def local_lock_is_live(state_path: Path) -> bool:
    """True when a running process holds the OS lock Terraform takes on the state file."""
    if not state_path.exists():
        return False
    fd = os.open(state_path, os.O_RDONLY)
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops our own probe lock at once
    return False


def describe(lock: LockInfo, now: datetime | None = None) -> list[str]:
    """Lines that say who holds the lock, since when, for what."""
    since = lock.created or "unknown"
    created = lock.created_at()
    if created is not None:
        age = (now or datetime.now(UTC)) - created
        minutes = int(age.total_seconds() // 60)
        since = f"{created.strftime('%Y-%m-%d %H:%M:%S UTC')} ({minutes} min ago)"
    operation = lock.operation.removeprefix("OperationType") or "unknown"
    lines = [
        f"held by:   {lock.who or 'unknown'}",
        f"since:     {since}",
        f"operation: {operation}",
        f"lock ID:   {lock.id}",
    ]
    if lock.version:
        lines.append(f"terraform: {lock.version}")
    return lines


def remove_lock(backend: Backend, lock_id: str) -> LockInfo:
    """Remove the lock if and only if its ID is lock_id; return what was removed."""
    found = read_lock(backend)
    if found is None:
        raise LockError(f"there is no lock at {backend.where()}: nothing to remove")
    lock, etag = found
    if lock.id != lock_id:
        raise LockError(
            f"refusing: the lock at {backend.where()} has ID {lock.id}, not {lock_id}. "
            "It may be another run's; check who holds it (run without LOCK_ID) and pass that ID"
        )
    if backend.kind == "local":
        if backend.state_path is not None and local_lock_is_live(backend.state_path):
            raise LockError(
                f"refusing: a running process still holds the state file "
                f"{_display(backend.state_path)}; wait for it or stop it first"
            )
        backend.lock_path.unlink()
        return lock
    _delete_s3_lock(backend, etag)
    return lock


def _delete_s3_lock(backend: Backend, etag: str | None) -> None:
    """Delete the lock object; where S3 honours If-Match, only the version that was read."""
    from botocore.exceptions import ClientError

    client = s3_client(backend)
    if etag:
        try:
            client.delete_object(Bucket=backend.bucket, Key=backend.lock_key, IfMatch=etag)
            return
        except ClientError as error:
            code = error_code(error)
            if code == "PreconditionFailed":
                raise LockError(
                    "refusing: the lock changed while it was being removed; run again to see it"
                ) from error
            if code not in ("NotImplemented", "InvalidArgument", "InvalidRequest"):
                raise
    client.delete_object(Bucket=backend.bucket, Key=backend.lock_key)


def root_for(env: str) -> Path:
    return env_dir(env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Show or carefully remove a Terraform state lock.")
    parser.add_argument("env", help="an environment envs/ENV/environment.toml describes")
    parser.add_argument("--lock-id", help="remove the lock only if it has exactly this ID")
    parser.add_argument("--dir", type=Path, help="the Terraform root (default envs/ENV)")
    args = parser.parse_args(argv)
    root = args.dir.resolve() if args.dir else root_for(args.env)
    try:
        backend = find_backend(root, default_key=describe_env(args.env).state_key)
        found = read_lock(backend)
        if args.lock_id is None:
            if found is None:
                say(f"no lock: nobody holds the state lock of {args.env} ({backend.where()})")
                return 0
            lock, _ = found
            say(f"the state of {args.env} is locked ({backend.where()}):")
            for line in describe(lock):
                print(f"  {line}")
            if backend.kind == "local" and backend.state_path is not None:
                live = local_lock_is_live(backend.state_path)
                print(
                    "  status:    "
                    + ("a running process holds it" if live else "stale: no process holds it")
                )
            print(
                "  If that run is dead (crashed, killed, cancelled), remove exactly this lock:\n"
                f"    make unlock ENV={args.env} LOCK_ID={lock.id}"
            )
            return 0
        removed = remove_lock(backend, args.lock_id)
    except LockError as error:
        hint = "`make unlock ENV=...` without LOCK_ID shows the current lock"
        raise fail(str(error), hint) from None
    say(f"removed lock {removed.id} of {args.env} (held by {removed.who} since {removed.created})")
    return 0
