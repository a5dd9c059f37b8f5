"""The one way to build a boto3 client, and where the emulator listens by default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

# LocalStack's edge port; AWS_ENDPOINT_URL overrides it.
DEFAULT_ENDPOINT = "http://localhost:4566"
# LocalStack's dummy credential, as the environment variables a child process reads.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def error_code(error: Exception) -> str:
    """The error code of a botocore ClientError ("" for anything else)."""
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))


def endpoint_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The emulator endpoint: AWS_ENDPOINT_URL, else LocalStack's default."""
    env = os.environ if environ is None else environ
    return env.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT


def client(
    service: str,
    region: str,
    endpoint: str | None = None,
    *,
    config: Any = None,
    dummy_credentials: bool | None = None,
) -> Any:
    """A boto3 client for `service` in `region`.

    With an endpoint (an emulator) the client signs with LocalStack's dummy credential unless
    dummy_credentials=False says to keep the ones the environment provides. Without one it
    talks to AWS with the usual credential chain.
    """
    import boto3

    kwargs: dict[str, Any] = {"region_name": region}
    if endpoint:
        kwargs["endpoint_url"] = endpoint
        if dummy_credentials is not False:
            kwargs.update(
                aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            )
    if config is not None:
        kwargs["config"] = config
    return boto3.client(service, **kwargs)
