"""What the virtualenvs install is locked: every distribution pinned with its hashes, resolved by
uv from the `.in` beside it, installed with --require-hashes, the build backend included."""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest
from gitops.locks import IMAGE_LOCK, INSTALLED, LOCKS, entries, header_command, versions, wanted
from gitops.paths import REPO_ROOT as ROOT
from packaging.markers import Marker

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# The lowest Python the project runs on: every universal lock is resolved for it and newer.
LOWEST_PYTHON = re.fullmatch(r">=\s*(3\.\d+)", PYPROJECT["project"]["requires-python"])[1]  # type: ignore[index]


def option(command: list[str], name: str) -> str | None:
    """The value of `--name value` (or `--name=value`) in a command line."""
    for i, token in enumerate(command):
        if token == name and i + 1 < len(command):
            return command[i + 1]
        if token.startswith(f"{name}="):
            return token.split("=", 1)[1]
    return None


@pytest.mark.parametrize("lock", LOCKS, ids=list(LOCKS))
def test_every_distribution_is_pinned_with_its_hashes(lock: str) -> None:
    found = entries(LOCKS[lock])
    assert found, f"{lock}: an empty lock"
    for entry in found:
        assert entry.hashes, f"{lock}: {entry.name} has no hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in entry.hashes), entry.name


@pytest.mark.parametrize("lock", LOCKS, ids=list(LOCKS))
def test_every_lock_is_resolved_by_uv_from_its_in_file_with_the_options_in_its_header(
    lock: str,
) -> None:
    """Dependabot (uv ecosystem) re-runs `uv pip compile` with the options it reads from the
    lock itself (--universal, --python-version, --generate-hashes): the header must name them,
    or a bump would resolve for one platform only, or drop the hashes."""
    path = LOCKS[lock]
    command = header_command(path)
    assert command[:3] == ["uv", "pip", "compile"], command
    assert "--generate-hashes" in command
    assert option(command, "--output-file") == path.name, "run in the lock's own folder"
    in_file = path.parent / command[-1]
    assert in_file.suffix == ".in" and in_file.exists(), command
    if lock == "localstack":
        # LocalStack 4.14 installs on CPython 3.13 only: resolved there, for Linux.
        assert option(command, "--python-version") == "3.13"
        assert option(command, "--python-platform") == "linux"
    else:
        assert "--universal" in command, "every platform: runners, laptops, the image"
        assert option(command, "--python-version") == LOWEST_PYTHON
    pinned = versions(path)
    for name, version in wanted(in_file).items():
        assert pinned.get(name) == {version}, f"{lock}: {name}=={version} of {in_file.name}"


def test_the_image_lock_is_the_app_lock_cut_to_the_images_wheels() -> None:
    """app/requirements.txt (what the image and .venv-app install, what EC2 user data carries)
    holds the app lock's pins, with a subset of its hashes: one wheel per target for a binary
    distribution, at least two (x86_64 and arm64). A pin that moved in requirements-all.txt
    (a Dependabot bump) without the image's lock fails here: run `make lock`."""
    universal = {(e.name, e.version): e for e in entries(LOCKS["app"])}
    image = {(e.name, e.version): e for e in entries(IMAGE_LOCK)}
    linux = {
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "linux",
        "python_full_version": "3.12.0",
        "python_version": "3.12",
    }
    needed = {
        key
        for key, e in universal.items()
        if e.marker is None or Marker(e.marker).evaluate(linux)  # type: ignore[arg-type]
    }
    assert image.keys() == needed, "app/requirements.txt is stale: run `make lock`"
    for key, entry in image.items():
        assert entry.hashes and set(entry.hashes) <= set(universal[key].hashes), key
        if len(universal[key].hashes) > 2:  # wheels per platform: one each for x86_64 and arm64
            assert len(entry.hashes) >= 2, key
    assert IMAGE_LOCK.read_text().startswith("# Cut from requirements-all.txt by `make lock`")


def test_the_build_backend_is_pinned_and_comes_from_the_hash_checked_lock() -> None:
    """pyproject.toml's [build-system] names one setuptools, the one requirements/build.txt
    installs (hash-checked) before the package is built without build isolation."""
    requires = PYPROJECT["build-system"]["requires"]
    assert len(requires) == 1 and re.fullmatch(r"setuptools==[\d.]+", requires[0]), requires
    build = versions(LOCKS["build"])
    assert build.keys() == {"setuptools", "uv"}
    assert {requires[0].split("==")[1]} == build["setuptools"]
    dev = versions(LOCKS["dev"])
    assert dev["setuptools"] == build["setuptools"] and dev["uv"] == build["uv"]


def test_make_setup_installs_every_lock_with_require_hashes() -> None:
    """Read from `make -n -B setup` (every command setup would run, run by nothing): each lock
    is installed, each install of a requirements file checks hashes, and the one install that
    has no hashes is the project itself, built by the locked setuptools."""
    # as on a machine with a Python 3.13 for LocalStack (GitHub's runners have none)
    make = ["make", "-n", "-B", "setup", "LS_PYTHON_BOOTSTRAP=python3.13", "LOCALSTACK_VENV="]
    proc = subprocess.run(make, cwd=ROOT, capture_output=True, text=True, check=True)
    commands = proc.stdout.replace("\\\n", " ").splitlines()
    installs = [c for c in commands if re.search(r"\bpip install\b", c)]
    installed = set()
    for command in installs:
        files = re.findall(r"-r\s+(\S+)", command)
        if files:
            assert "--require-hashes" in command, command
            installed.update(files)
        else:
            assert "--editable ." in command and "--no-build-isolation" in command, command
            assert "--no-deps" in command, command
    want = {str(p.relative_to(ROOT)) for p in INSTALLED}
    assert want <= installed, f"not installed by make setup: {want - installed}"
