"""connection.env: the settings `make up` writes for a person (and the smoke checks) to source.

Both the pipeline's stages and the smoke checks read it, so it lives apart from either.
"""

from __future__ import annotations

import os
from pathlib import Path

from gitops.paths import E2E_DIR

CONNECTION_ENV = E2E_DIR / "connection.env"


def write_connection_env(values: dict[str, str], path: Path = CONNECTION_ENV) -> None:
    """Settings a person can `source` to poke at the stack; 0600, it holds a password."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by `make up`: source it to reach the local stack and its database."]
    lines += [f"export {key}={_quote(value)}" for key, value in values.items()]
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def read_connection_env(path: Path = CONNECTION_ENV) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, raw = line.removeprefix("export ").split("=", 1)
        values[key] = raw[1:-1].replace("'\"'\"'", "'") if raw.startswith("'") else raw
    return values
