"""Cut the app image's lock (app/requirements.txt) from the app's universal lock.

The image and a Linux `.venv-app` install app/requirements.txt with --require-hashes; EC2 user
data (16 KB in all) carries it to the instance that builds the image, and the universal lock
(app/requirements-all.txt: the sha256 of every file of every platform, written by uv) does not
fit. So `make lock` runs this after uv: pip downloads, for each target below, the wheels it
would install from the universal lock, checking each file against that lock's hashes; the
image's lock is the universal one with, for every pin, only the hashes of those files. Nothing
is resolved here: versions and hashes all come from uv's lock.

    gitops image-lock
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

from gitops import locks
from gitops.paths import REPO_ROOT

# CPython of the image (python:3.12-slim) and of a laptop's or a runner's .venv-app; glibc Linux
# on x86_64 and arm64 (the image's base is Debian: manylinux_2_34 wheels run there).
PYTHONS = ("3.11", "3.12", "3.13")
ARCHES = ("x86_64", "aarch64")
MANYLINUX = ("manylinux_2_34", "manylinux_2_28", "manylinux_2_17", "manylinux2014")


def download(universal: Path, dest: Path, python: str, arch: str) -> None:
    """The wheels pip installs from the universal lock for one target, hash-checked."""
    platforms = [arg for tag in MANYLINUX for arg in ("--platform", f"{tag}_{arch}")]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--require-hashes", "--only-binary=:all:", "--implementation", "cp",
         "--python-version", python, *platforms, "-r", str(universal), "-d", str(dest)],
        check=True,
    )  # fmt: skip


def cut(universal: Path, kept: set[str]) -> str:
    """The universal lock's pins with only the hashes in `kept`; pins with none are left out
    (pip skipped them: their marker excludes the targets)."""
    lines = ["# Cut from requirements-all.txt by `make lock` (gitops image-lock): do not edit."]
    for entry in sorted(locks.entries(universal), key=lambda e: (e.name, e.version)):
        hashes = sorted(h for h in entry.hashes if h in kept)
        if not hashes:
            continue
        marker = f" ; {entry.marker}" if entry.marker else ""
        lines.append(f"{entry.name}=={entry.version}{marker} \\")
        lines += [
            f"    --hash={h}" + (" \\" if i < len(hashes) - 1 else "") for i, h in enumerate(hashes)
        ]
    return "\n".join(lines) + "\n"


def image_lock(universal: Path = locks.LOCKS["app"]) -> str:
    with tempfile.TemporaryDirectory(prefix="image-lock-") as tmp:
        for python in PYTHONS:
            for arch in ARCHES:
                download(universal, Path(tmp), python, arch)
        kept = {f"sha256:{hashlib.sha256(p.read_bytes()).hexdigest()}" for p in Path(tmp).iterdir()}
    return cut(universal, kept)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=locks.IMAGE_LOCK)
    args = parser.parse_args(argv)
    args.output.write_text(image_lock(), encoding="utf-8")
    print(f"lock: {args.output.relative_to(REPO_ROOT)} (cut from {locks.LOCKS['app'].name})")
    return 0
