"""The suite passes however it was started, and leaves nothing behind (docs/TESTING.md).

A run is started here the way the quick tier is started elsewhere: in the background of a
script (SIGINT ignored, as `&` and nohup leave it), inside a GitHub job (GITHUB_STEP_SUMMARY and
GITHUB_OUTPUT point at the job's own files) and with a temp folder of its own. The tests it runs
assert on signal dispositions and run `gitops` commands that write to those files: they must
pass, the job's files must stay untouched, and the temp folder must be left as it was found.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from gitops.paths import REPO_ROOT

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
