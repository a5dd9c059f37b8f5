"""How long the virtualenvs take to set up: pip against uv, the same locks, cold and warm caches.

    gitops bench-setup [--installers pip uv] [--locks dev app localstack] [--runs 1]

For each lock and installer, a new virtualenv in a temporary folder (`python -m venv` for pip,
`uv venv` for uv), then the lock installed into it with --require-hashes (the app's wheels
only, as its image does): first with an empty cache of the installer's own (cold: every file
comes from PyPI), then into another new virtualenv with the cache that run left (warm: what a
CI job gets when it restores the cache, and a laptop's second `make setup` after a lock
changed). Neither reads this machine's configuration (pip's config files and PIP_* variables,
uv's UV_* variables): both ask PyPI, as GitHub's runners do. Prints one line per step, then a
table of medians in seconds with the load average beside it: other work on the machine moves
every figure, so compare figures taken in the same minutes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gitops import locks
from gitops.paths import REPO_ROOT
from gitops.progress import fail, say

# Each lock `make setup` installs with a resolver's work in it, and the virtualenv it goes into.
LOCKS = {
    "dev": (locks.LOCKS["dev"], REPO_ROOT / ".venv"),
    "app": (locks.IMAGE_LOCK, REPO_ROOT / ".venv-app"),
    "localstack": (locks.LOCKS["localstack"], REPO_ROOT / ".venv-localstack"),
}
INSTALLERS = ("pip", "uv")


def base_python(venv: Path) -> str:
    """The interpreter `make setup` made this virtualenv from."""
    python = venv / "bin" / "python"
    if not python.exists():
        raise fail(f"{python} is missing", "run `make setup` first: the benchmark uses its Pythons")
    out = subprocess.run(
        [str(python), "-c", "import sys; print(sys._base_executable)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip()


def clean_environ(cache: Path) -> dict[str, str]:
    """The caller's environment without pip's or uv's settings; both caches in `cache`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_CACHE_DIR=str(cache / "pip"),
        UV_CACHE_DIR=str(cache / "uv"),
        UV_PYTHON_DOWNLOADS="never",
        UV_NO_CONFIG="1",
    )
    return env


def commands(installer: str, uv: str, python: str, venv: Path, lock: Path, app: bool):
    """(make the virtualenv, install the lock into it) as `make setup` would with `installer`."""
    only_binary = ["--only-binary", ":all:"] if app else []
    if installer == "pip":
        return (
            [python, "-m", "venv", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--require-hashes",
             *only_binary, "-r", str(lock)],
        )  # fmt: skip
    return (
        [uv, "venv", "--quiet", "--python", python, str(venv)],
        [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
         "--require-hashes", *only_binary, "-r", str(lock)],
    )  # fmt: skip


def timed(cmd: list[str], env: dict[str, str]) -> float:
    began = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise fail(
            f"{' '.join(cmd[:4])} ... exited {proc.returncode}:\n{proc.stderr[-2000:]}",
            "check the network to PyPI, or run `make lock` if the lock no longer resolves",
        )
    return time.monotonic() - began


def measure(installer: str, lock_name: str, uv: str, runs: int) -> dict[str, float]:
    """Median seconds of: the virtualenv, a cold install, a warm install."""
    lock, made_by = LOCKS[lock_name]
    python = base_python(made_by)
    figures: dict[str, list[float]] = {"venv": [], "cold": [], "warm": []}
    for run in range(1, runs + 1):
        with tempfile.TemporaryDirectory(prefix="bench-setup-") as tmp:
            env = clean_environ(Path(tmp) / "cache")
            for state in ("cold", "warm"):
                venv = Path(tmp) / f"venv-{state}"
                make, install = commands(installer, uv, python, venv, lock, lock_name == "app")
                venv_s = timed(make, env)
                install_s = timed(install, env)
                figures["venv"].append(venv_s)
                figures[state].append(install_s)
                say(
                    f"{lock_name:<10} {installer:<3} run {run} {state}: virtualenv {venv_s:5.1f}s,"
                    f" install {install_s:6.1f}s (load {os.getloadavg()[0]:.1f})"
                )
    return {k: statistics.median(v) for k, v in figures.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--installers", nargs="+", choices=INSTALLERS, default=list(INSTALLERS))
    parser.add_argument("--locks", nargs="+", choices=list(LOCKS), default=list(LOCKS))
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    uv = shutil.which("uv", path=str(REPO_ROOT / ".venv" / "bin")) or shutil.which("uv")
    if uv is None:
        raise fail("uv is not installed", "run `make setup` (requirements/build.txt brings uv)")
    load_before = os.getloadavg()
    say(f"{os.cpu_count()} CPUs, load average {load_before[0]:.1f} before the runs")
    rows = [
        (lock, installer, measure(installer, lock, uv, args.runs))
        for lock in args.locks
        for installer in args.installers
    ]
    print("\n| lock | installer | virtualenv s | cold install s | warm install s |")
    print("|---|---|--:|--:|--:|")
    for lock, installer, f in rows:
        print(f"| {lock} | {installer} | {f['venv']:.1f} | {f['cold']:.1f} | {f['warm']:.1f} |")
    load = os.getloadavg()
    print(
        f"\nload average {load_before[0]:.1f} before, {load[0]:.1f} after ({os.cpu_count()} CPUs)"
    )
    sys.stdout.flush()
    return 0
