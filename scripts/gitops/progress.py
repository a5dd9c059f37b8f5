"""Stage-by-stage progress lines with elapsed time, shared by the long-running scripts."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

_START = time.monotonic()


def elapsed() -> float:
    """Seconds since this process started its first stage."""
    return time.monotonic() - _START


def say(message: str) -> None:
    print(f"[{elapsed():6.1f}s] {message}", flush=True)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Print the start and the end of a stage with its duration; re-raise its failure."""
    say(f"-> {name}")
    began = time.monotonic()
    try:
        yield
    except BaseException:
        say(f"FAILED {name} after {time.monotonic() - began:.1f}s")
        raise
    say(f"ok {name} ({time.monotonic() - began:.1f}s)")


def fail(message: str, hint: str, code: int = 1) -> SystemExit:
    """An error that says what went wrong and what to do; raise the returned value."""
    print(f"ERROR: {message}\n  what to do: {hint}", file=sys.stderr, flush=True)
    return SystemExit(code)
