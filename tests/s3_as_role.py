"""S3 as an IAM role sees it, over a real client of moto or LocalStack, neither of which enforces
IAM: each call is first authorized (an `allowed(action, resource, context)` the test gives, such
as tests/test_bootstrap_iam.py's evaluator over the rendered policies), with the condition keys
S3 puts in the request context, then answered as AWS answers that role:

- GetObject/HeadObject of a missing key: 404 only to a caller allowed s3:ListBucket on the
  bucket, else 403 (Amazon S3 API Reference, GetObject and HeadObject, "Permissions"). No
  s3:prefix is in the context of that check: AWS documents none, and a condition on a key absent
  from the context is false (IAM User Guide, condition operators), so a ListBucket allowed
  only for some prefixes does not count.
- ListObjectsV2: s3:ListBucket with s3:prefix and s3:max-keys as the request gives them.
- PutObject with If-None-Match: s3:PutObject only (User Guide, conditional writes); the
  emulator answers 412 when the key exists.

Calls this class does not model fail the test rather than pass unchecked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

Allowed = Callable[[str, str, dict[str, Any]], bool]


def _error(status: int, code: str, operation: str) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)  # type: ignore[arg-type]


class S3AsRole:
    def __init__(self, client: Any, allowed: Allowed) -> None:
        self.client = client
        self.allowed = allowed
        self.calls: list[tuple[str, str, dict[str, Any]]] = []  # every authorization asked

    def _authorize(self, operation: str, action: str, resource: str, ctx: dict[str, Any]) -> None:
        self.calls.append((action, resource, ctx))
        if not self.allowed(action, resource, ctx):
            raise _error(403, "AccessDenied", operation)

    def _exists(self, bucket: str, key: str) -> bool:
        listed = self.client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
        return any(o["Key"] == key for o in listed.get("Contents") or [])

    def _read(self, operation: str, bucket: str, key: str) -> None:
        self._authorize(operation, "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}", {})
        if not self._exists(bucket, key):
            if self.allowed("s3:ListBucket", f"arn:aws:s3:::{bucket}", {}):
                # HEAD answers carry no body: the SDKs name the error by its status
                raise _error(404, "404" if operation == "HeadObject" else "NoSuchKey", operation)
            raise _error(403, "403" if operation == "HeadObject" else "AccessDenied", operation)

    def get_object(self, *, Bucket: str, Key: str, **kwargs: Any) -> Any:  # noqa: N803
        self._read("GetObject", Bucket, Key)
        return self.client.get_object(Bucket=Bucket, Key=Key, **kwargs)

    def head_object(self, *, Bucket: str, Key: str, **kwargs: Any) -> Any:  # noqa: N803
        self._read("HeadObject", Bucket, Key)
        return self.client.head_object(Bucket=Bucket, Key=Key, **kwargs)

    def list_objects_v2(self, *, Bucket: str, **kwargs: Any) -> Any:  # noqa: N803
        ctx = {
            "s3:prefix": kwargs.get("Prefix", ""),
            "s3:max-keys": str(kwargs.get("MaxKeys", 1000)),
        }
        if "Delimiter" in kwargs:
            ctx["s3:delimiter"] = kwargs["Delimiter"]
        self._authorize("ListObjectsV2", "s3:ListBucket", f"arn:aws:s3:::{Bucket}", ctx)
        return self.client.list_objects_v2(Bucket=Bucket, **kwargs)

    def put_object(self, *, Bucket: str, Key: str, **kwargs: Any) -> Any:  # noqa: N803
        ctx = {"s3:if-none-match": kwargs["IfNoneMatch"]} if "IfNoneMatch" in kwargs else {}
        self._authorize("PutObject", "s3:PutObject", f"arn:aws:s3:::{Bucket}/{Key}", ctx)
        return self.client.put_object(Bucket=Bucket, Key=Key, **kwargs)

    def delete_object(self, *, Bucket: str, Key: str, **kwargs: Any) -> Any:  # noqa: N803
        self._authorize("DeleteObject", "s3:DeleteObject", f"arn:aws:s3:::{Bucket}/{Key}", {})
        return self.client.delete_object(Bucket=Bucket, Key=Key, **kwargs)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"S3AsRole does not model {name}: add it with its authorization")


def answer_every_client(monkeypatch: Any, role: S3AsRole) -> None:
    """Every client the gitops package builds (gitops.aws.client) is this role's S3."""
    from gitops import aws

    def client(service: str, *_args: Any, **_kwargs: Any) -> S3AsRole:
        assert service == "s3", f"only S3 is modelled, not {service}"
        return role

    monkeypatch.setattr(aws, "client", client)
