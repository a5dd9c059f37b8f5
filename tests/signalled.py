"""Cancel a command the way GitHub's runner cancels a step, for the tests of graceful stops.

The runner signals only the step's own process: SIGINT, then SIGTERM a few seconds later.
`signal_when` starts a command, waits for the line that says it is at work, sends it those
signals, and returns its exit code and everything it printed. With `sent`, it creates that file
once the last signal is sent: a stand-in for Terraform waits for it, instead of sleeping "long
enough", to finish saving its state only after every signal has reached the command.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def signal_when(
    command: Sequence[str],
    ready: str,
    signals: Sequence[signal.Signals],
    *,
    env: Mapping[str, str] | None = None,
    pause: float = 0.3,
    timeout: float = 30,
    sent: Path | None = None,
) -> tuple[int, str]:
    """Run `command`; once a line contains `ready`, send `signals` to it, `pause` seconds apart,
    (then create `sent`) and wait for it to end. Returns (exit code, the whole output, stderr
    folded in)."""
    proc = subprocess.Popen(
        list(command), env=None if env is None else dict(env),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if ready in line:
                break
        for index, signum in enumerate(signals):
            if index:
                time.sleep(pause)
            proc.send_signal(signum)  # to this process only, as GitHub's runner does
        if sent is not None:
            sent.touch()
        rest, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, "".join(seen) + rest
