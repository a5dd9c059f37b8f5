"""Run the app as its image runs it: the Dockerfile's gunicorn command, from the app's own
virtualenv (.venv-app, built from app/requirements.txt alone), on 127.0.0.1 only.

Used by the app's tests and by `gitops bench-app`, so both measure what ships.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from gitops.paths import APP_DIR, REPO_ROOT

APP_VENV = REPO_ROOT / ".venv-app"
IMAGE_BIND = "0.0.0.0:8000"


def dockerfile_instructions() -> list[str]:
    """The app's Dockerfile, one instruction a line: continuation lines joined, no comments."""
    text = (APP_DIR / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    return [x.strip() for x in text.splitlines() if x.strip() and not x.startswith("#")]


def shipped_files() -> list[str]:
    """The files the Dockerfile copies into the image besides requirements.txt."""
    for instruction in dockerfile_instructions():
        parts = instruction.split()
        if parts[:1] == ["COPY"] and "requirements.txt" not in parts:
            return parts[1:-1]
    raise ValueError("the Dockerfile copies no app files")


def image_command() -> list[str]:
    """The Dockerfile's CMD (exec form)."""
    cmd = next(x for x in dockerfile_instructions() if x.startswith("CMD "))
    return list(json.loads(cmd[4:]))


def ensure_app_venv() -> Path:
    """.venv-app/bin/python, made by `make .venv-app/.installed` when missing or stale."""
    subprocess.run(
        ["make", "-s", "--no-print-directory", ".venv-app/.installed"], cwd=REPO_ROOT, check=True
    )
    return APP_VENV / "bin" / "python"


@dataclass
class Served:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextmanager
def serve(env: Mapping[str, str], port: int, *, timeout: float = 30.0) -> Iterator[Served]:
    """gunicorn with the image's command, bound to 127.0.0.1:port; stopped at the end."""
    python = ensure_app_venv()
    cmd = image_command()
    if cmd[0] != "gunicorn" or IMAGE_BIND not in cmd:
        raise ValueError(f"unexpected image command {cmd}")
    cmd = [str(python), "-m", "gunicorn", *cmd[1:]]
    cmd[cmd.index(IMAGE_BIND)] = f"127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="app-served-") as tmp:
        for name in shipped_files():  # exactly what the image holds, nothing of the repository
            shutil.copy(APP_DIR / name, Path(tmp) / name)
        log = Path(tmp) / "gunicorn.log"
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "PYTHON"))}
        with log.open("wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=tmp, env={**clean, **env}, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        served = Served(f"http://127.0.0.1:{port}", port, proc, log)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"gunicorn exited {proc.returncode}:\n{served.log_text()}")
                try:
                    requests.get(f"{served.url}/health", timeout=2)
                    break
                except requests.RequestException:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"gunicorn did not answer:\n{served.log_text()}"
                        ) from None
                    time.sleep(0.2)
            yield served
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
