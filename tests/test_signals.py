"""gitops.signals: a stop request reaches a command once, and an ignored Ctrl-C stays ignored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from gitops.signals import forward_stop_signals

CHILD = """
import signal, time
got = []
signal.signal(signal.SIGINT, lambda *_: got.append("INT"))
print("ready", flush=True)
deadline = time.monotonic() + 10
while not got and time.monotonic() < deadline:
    time.sleep(0.02)
time.sleep(0.1)  # a second SIGINT, had one been sent, would arrive meanwhile
print(",".join(got) or "nothing", flush=True)
"""


@pytest.fixture
def child() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield proc
    if proc.poll() is None:
        proc.kill()


@pytest.fixture
def ctrl_c(request: pytest.FixtureRequest) -> Iterator[None]:
    """SIGINT as the test says (default: Python's Ctrl-C handler), whatever this process was
    started with: `&` and nohup start the suite with SIGINT ignored. Restored afterwards."""
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, getattr(request, "param", signal.default_int_handler))
    yield
    signal.signal(signal.SIGINT, previous)


def stop(child: subprocess.Popen[str], *signals: int) -> tuple[list[int], list[str], str]:
    said: list[str] = []
    with forward_stop_signals(child.pid, first="first {signum}", later="later {signum}",
                              say=said.append) as received:  # fmt: skip
        for signum in signals:
            os.kill(os.getpid(), signum)
        out, _ = child.communicate(timeout=15)
    return received, said, out.strip()


def test_the_first_signal_reaches_the_command_once_and_later_ones_are_noted(
    child: subprocess.Popen[str], ctrl_c: None
) -> None:
    received, said, out = stop(child, signal.SIGINT, signal.SIGTERM)
    assert received == [signal.SIGINT, signal.SIGTERM]
    assert said == [f"first {signal.SIGINT}", f"later {signal.SIGTERM}"]
    assert out == "INT"  # exactly one SIGINT


@pytest.mark.parametrize("ctrl_c", [signal.SIG_IGN], indirect=True, ids=["ignored"])
def test_an_ignored_ctrl_c_stays_ignored_and_sigterm_still_stops(
    child: subprocess.Popen[str], ctrl_c: None
) -> None:
    received, said, out = stop(child, signal.SIGINT, signal.SIGTERM)
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    assert received == [signal.SIGTERM]
    assert said == [f"first {signal.SIGTERM}"]
    assert out == "INT"
