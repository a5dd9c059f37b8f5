"""The suite passes however it was started, and leaves nothing behind (docs/TESTING.md).

A run is started here the way the quick tier is started elsewhere: in the background of a
script (SIGINT ignored, as `&` and nohup leave it), inside a GitHub job (GITHUB_STEP_SUMMARY and
GITHUB_OUTPUT point at the job's own files) and with a temp folder of its own. The tests it runs
assert on signal dispositions and run `gitops` commands that write to those files: they must
pass, the job's files must stay untouched, and the temp folder must be left as it was found.
And a run whose tests change the checkout's own state or artifacts fails (tests/conftest.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from gitops.paths import REPO_ROOT

from tests.tf_sandbox import checkout_environ, copy_checkout

# Tests that set signal dispositions, or run `gitops run-logged` (which writes a summary).
SAMPLE = ["tests/test_signals.py", "tests/test_run_logged.py"]


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_a_run_started_in_the_background_of_a_github_job_passes_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    job = tmp_path / "job"
    job.mkdir()
    summary, output = job / "summary.md", job / "output"
    summary.write_text("", encoding="utf-8")
    output.write_text("", encoding="utf-8")
    temp = tmp_path / "temp"
    temp.mkdir()
    env = dict(os.environ)
    env.update(GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(output), TMPDIR=str(temp))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *SAMPLE],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=110, check=False,
        preexec_fn=ignore_sigint,  # noqa: PLW1509 (nothing else runs in this child yet)
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert summary.read_text(encoding="utf-8") == "", "a test wrote into the job's summary"
    assert output.read_text(encoding="utf-8") == "", "a test wrote into the job's outputs"
    assert list(temp.iterdir()) == [], "the run left files in the temp folder"


def test_a_test_that_writes_into_the_checkouts_own_artifacts_fails_the_run(tmp_path: Path) -> None:
    """In a copy of the checkout, a passing test that writes where `make e2e` keeps its report:
    the run fails and names the file, so the suite cannot overwrite a person's work."""
    copy = copy_checkout(tmp_path / "checkout")
    (copy / "tests" / "test_careless.py").write_text(
        "from gitops.paths import E2E_DIR\n\n\n"
        "def test_careless() -> None:\n"
        "    E2E_DIR.mkdir(parents=True, exist_ok=True)\n"
        "    (E2E_DIR / 'report.json').write_text('{}')\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_careless.py"],
        cwd=copy, env=checkout_environ(copy), capture_output=True, text=True, timeout=110,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout
    said = "the tests changed the checkout's own state or artifacts: .artifacts/e2e/report.json"
    assert said in proc.stdout
