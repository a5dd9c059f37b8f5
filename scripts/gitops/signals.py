"""Stop a long-running command gracefully when this process is asked to stop.

    with forward_stop_signals(proc.pid, first="...", later="...", say=say) as received:
        ...read the command's output, then proc.wait()...
    if received: ...the run was interrupted...

The command must run in a session of its own (`start_new_session=True`), so that a Ctrl-C in a
terminal or a cancelled CI job reaches it only through here. While the block runs, the first
SIGINT or SIGTERM this process receives becomes exactly one SIGINT to the command's process
group (Terraform's signal to finish the calls in flight, save its state and release the lock);
later signals are noted, not obeyed, so the caller keeps reading the output and waits for the
command to end instead of leaving it orphaned half-way. GitHub's runner sends SIGINT and, a few
seconds later, SIGTERM; a terminal user may press Ctrl-C twice. A SIGINT the caller ignores
stays ignored (`make e2e` ignores a second Ctrl-C while it tears down, and the teardown's
destroy must not be the one step it stops); SIGTERM still stops the command.

Used by `gitops tf` (the Terraform runner) and `gitops run-logged` (which runs make in CI).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def sigterm_as_interrupt(signum: int, _frame: object) -> None:
    """A SIGTERM handler that stops the way Ctrl-C does: the caller's `except KeyboardInterrupt`
    (tear down, stop what it started) runs for both."""
    raise KeyboardInterrupt(f"signal {signum}")


def _print(line: str) -> None:
    print(line, flush=True)


@contextlib.contextmanager
def forward_stop_signals(
    group: int,
    *,
    first: str,
    later: str,
    say: Callable[[str], None] = _print,
) -> Iterator[list[int]]:
    """Turn SIGINT/SIGTERM into one SIGINT to process group `group` while the block runs
    (an ignored SIGINT excepted: it stays ignored).

    `first` and `later` are what to say on the first signal and on each later one; `{signum}`
    in them is replaced by the signal's number. Yields the list of signals received (empty when
    none came). Outside the main thread, where Python cannot install handlers, it does nothing.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def forward(signum: int, _frame: object) -> None:
        received.append(signum)
        if len(received) == 1:
            say(first.replace("{signum}", str(signum)))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGINT)
        else:
            say(later.replace("{signum}", str(signum)))

    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig, handler in previous.items():
        if not (sig == signal.SIGINT and handler == signal.SIG_IGN):
            signal.signal(sig, forward)
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
