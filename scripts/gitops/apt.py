"""Programs the local pipeline and the tests need besides Python: MariaDB (the MySQL stand-in)
and nginx (the app's reverse proxy). Found on PATH or in the sbin directories, where Debian
puts servers; installed with apt-get when run as root on Debian or Ubuntu."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from gitops.progress import say, stage

SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin")


def find_program(*names: str) -> str | None:
    """First of names on PATH or in the sbin directories."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS])
    for name in names:
        found = shutil.which(name, path=search)
        if found:
            return found
    return None


class InstallError(RuntimeError):
    """apt-get could not install a package; the message ends with apt-get's last lines."""


def can_install() -> bool:
    """Whether this process may install Debian packages: root on Debian or Ubuntu."""
    debian = Path("/etc/debian_version").exists()
    return os.geteuid() == 0 and debian and shutil.which("apt-get") is not None


def _run(cmd: list[str], log: Path, timeout: float) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with log.open("ab") as out:
        result = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            timeout=timeout, env=env, check=False,
        )  # fmt: skip
    if result.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise InstallError(f"{' '.join(cmd[:2])} exited {result.returncode}:\n{tail}")


def install(package: str, *, timeout: float = 900.0) -> None:
    """apt-get install package; apt-get update first only when the install fails."""
    log = Path(tempfile.mkdtemp(prefix="apt-")) / "apt.log"
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    try:
        with stage(f"apt-get install {package}"):
            try:
                _run(cmd, log, timeout)
            except InstallError:
                say("   install failed; running apt-get update and trying again")
                _run(["apt-get", "update", "-q"], log, timeout)
                _run(cmd, log, timeout)
    finally:
        shutil.rmtree(log.parent, ignore_errors=True)
