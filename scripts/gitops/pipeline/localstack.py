"""Start, find and stop the LocalStack emulator for the local pipeline and the tests.

Reuses an emulator that already answers at the endpoint (a service container in CI, one you
started yourself); else starts LocalStack 4.14.0 from the project's own virtualenv
(.venv-localstack, made by `make setup`) as a host process; else, when a Docker engine answers,
the localstack/localstack:4.14.0 image. Health is polled with a bounded timeout.

    gitops localstack start|stop|status [--endpoint URL] [--state-file F]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

from gitops.aws import endpoint_from_env
from gitops.paths import E2E_DIR, REPO_ROOT
from gitops.progress import fail, say

LS_PYTHON = REPO_ROOT / ".venv-localstack" / "bin" / "python"
IMAGE = "localstack/localstack:4.14.0"
SERVICES = "ec2,iam,s3,secretsmanager,ssm,sts"
DEFAULT_STATE = E2E_DIR / "localstack.json"
# LocalStack's own entry point, with S3's object storage moved into the emulator's work folder:
# LocalStack 4.14 keeps it in a fixed /tmp/localstack-s3-storage (not under TMPDIR), shared by
# every emulator on the machine, and leaves a folder there for each bucket still in the emulator
# when it stops. Its other files follow TMPDIR, set to the work folder as well.
LAUNCH = """import sys
from localstack.services.s3 import provider
provider.DEFAULT_S3_TMP_DIR = sys.argv[1]
from localstack.runtime.main import main
main()
"""


@dataclass
class Emulator:
    endpoint: str
    started_by_us: bool
    kind: str  # "reused", "host" or "docker"
    pid: int | None = None
    container: str | None = None
    log_file: str | None = None
    workdir: str | None = None


def health(endpoint: str, timeout: float = 2.0) -> dict[str, object] | None:
    """LocalStack's health document, or None when nothing answers there."""
    url = endpoint.rstrip("/") + "/_localstack/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (local URL)
            return json.loads(resp.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError):
        return None


def ready(endpoint: str) -> bool:
    """True when the services the stack needs are available (or starting lazily)."""
    doc = health(endpoint)
    if not doc:
        return False
    states = doc.get("services", {})
    if not isinstance(states, dict):
        return False
    needed = SERVICES.split(",")
    return all(states.get(s) in ("available", "running") for s in needed)


def wait_ready(endpoint: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready(endpoint):
            return
        if proc is not None and proc.poll() is not None:
            raise fail(
                f"LocalStack exited during start-up (exit {proc.returncode})",
                "read its log (path above); `make setup` reinstalls its virtualenv",
            )
        time.sleep(0.5)
    raise fail(
        f"LocalStack did not become ready at {endpoint} within {timeout:.0f}s",
        "check its log, free the port, or start it yourself and set AWS_ENDPOINT_URL",
    )


def _port(endpoint: str) -> int:
    return urlparse(endpoint).port or 4566


def start_host(endpoint: str, timeout: float) -> Emulator:
    workdir = Path(tempfile.mkdtemp(prefix="localstack-"))
    log_file = workdir / "localstack.log"
    env = dict(os.environ)
    env.update(
        {
            "GATEWAY_LISTEN": f"127.0.0.1:{_port(endpoint)}",
            "SERVICES": SERVICES,
            "LOCALSTACK_VOLUME_DIR": str(workdir / "volume"),
            "TMPDIR": str(workdir),
            "DNS_ADDRESS": "0",  # no DNS server: it needs port 53 and upstream DNS
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",
            "EAGER_SERVICE_LOADING": "1",
        }
    )
    with log_file.open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603
            [str(LS_PYTHON), "-c", LAUNCH, str(workdir / "s3-storage")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
            start_new_session=True,
        )
    say(f"LocalStack starting as a host process (pid {proc.pid}, log {log_file})")
    emu = Emulator(
        endpoint, True, "host", pid=proc.pid, log_file=str(log_file), workdir=str(workdir)
    )
    try:
        wait_ready(endpoint, timeout, proc)
    except SystemExit:
        stop(emu)
        raise
    return emu


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=20)
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


def start_docker(endpoint: str, timeout: float) -> Emulator:
    name = f"localstack-e2e-{os.getpid()}"
    run = subprocess.run(
        ["docker", "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{_port(endpoint)}:4566",
         "-e", f"SERVICES={SERVICES}", IMAGE],
        check=False, capture_output=True, text=True,
    )  # fmt: skip
    if run.returncode != 0:
        raise fail(
            f"docker could not start {IMAGE}: {run.stderr.strip() or run.stdout.strip()}",
            "free the port or pull the image, or run `make setup` to use the host-process "
            "LocalStack instead",
        )
    say(f"LocalStack starting in Docker ({IMAGE}, container {name})")
    emu = Emulator(endpoint, True, "docker", container=name)
    try:
        wait_ready(endpoint, timeout)
    except SystemExit:
        stop(emu)
        raise
    return emu


def ensure(endpoint: str | None = None, *, timeout: float = 90.0, start: bool = True) -> Emulator:
    """An emulator answering at endpoint: reused when one answers, else started."""
    endpoint = endpoint or endpoint_from_env()
    if ready(endpoint):
        say(f"LocalStack already answers at {endpoint}: reusing it")
        return Emulator(endpoint, False, "reused")
    if health(endpoint) is not None:
        say(f"LocalStack at {endpoint} is starting up: waiting for it")
        wait_ready(endpoint, timeout)
        return Emulator(endpoint, False, "reused")
    host = urlparse(endpoint).hostname
    if not start or host not in ("localhost", "127.0.0.1"):
        raise fail(
            f"no LocalStack answers at {endpoint}",
            "start it (`make up` starts one on localhost, or `docker run -p 4566:4566 "
            f"{IMAGE}`), or point AWS_ENDPOINT_URL at a running one",
        )
    if LS_PYTHON.exists():
        return start_host(endpoint, timeout)
    if docker_answers():
        return start_docker(endpoint, timeout)
    raise fail(
        f"no LocalStack answers at {endpoint}, and there is none to start",
        "run `make setup` (installs LocalStack into .venv-localstack), or start a Docker "
        f"engine for {IMAGE}, or set AWS_ENDPOINT_URL to a running emulator",
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited already
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _is_localstack(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return b"localstack" in cmdline


def stop(emu: Emulator, timeout: float = 20.0) -> None:
    """Stop what we started (never a reused emulator); safe when it is already gone."""
    if not emu.started_by_us:
        return
    if emu.kind == "docker" and emu.container:
        subprocess.run(["docker", "rm", "-f", emu.container], capture_output=True, check=False)
    elif emu.pid and _alive(emu.pid) and _is_localstack(emu.pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(emu.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(emu.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(emu.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(emu.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(emu.pid, os.WNOHANG)
    if emu.workdir:
        shutil.rmtree(emu.workdir, ignore_errors=True)


def save(emu: Emulator, path: Path = DEFAULT_STATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(emu), indent=2), encoding="utf-8")


def load(path: Path = DEFAULT_STATE) -> Emulator | None:
    if not path.exists():
        return None
    return Emulator(**json.loads(path.read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start, find and stop LocalStack.")
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--endpoint", default=None)
    parser.add_argument("--state-file", type=Path, default=DEFAULT_STATE)
    parser.add_argument("--timeout", type=float, default=90.0)
    args = parser.parse_args(argv)
    endpoint = args.endpoint or endpoint_from_env()
    if args.command == "start":
        save(ensure(endpoint, timeout=args.timeout), args.state_file)
    elif args.command == "stop":
        emu = load(args.state_file)
        if emu:
            stop(emu)
            args.state_file.unlink(missing_ok=True)
            say(
                f"stopped what was started ({emu.kind})" if emu.started_by_us else "nothing to stop"
            )
    else:
        print(json.dumps({"endpoint": endpoint, "ready": ready(endpoint)}))
    return 0
