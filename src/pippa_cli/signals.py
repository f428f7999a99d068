"""How a job's process reacts to being stopped: Ctrl-C, SIGTERM and a closed terminal.

    KeyboardInterrupt   Ctrl-C: the job asks (or is told by a policy) what to do
    Terminated          SIGTERM/SIGHUP: handled like Ctrl-C, but never asks anyone

Both are BaseExceptions, so no `except Exception` in between swallows them.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Terminated(BaseException):
    """SIGTERM/SIGHUP while a job runs: handled like Ctrl-C, but never asks."""


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Ctrl-C inside the block takes effect when it ends (main thread only); a second
    Ctrl-C acts at once. For work that must not be cut in two (a paid call and its record)."""
    caught: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        caught.append(signum)
        signal.signal(signal.SIGINT, previous or signal.default_int_handler)  # 2nd one acts

    try:
        previous = signal.signal(signal.SIGINT, hold)
        held = True
    except ValueError:  # not the main thread: a batch worker; Ctrl-C goes to the main one
        held = False
    try:
        yield
    finally:
        if held:
            signal.signal(signal.SIGINT, previous or signal.default_int_handler)
    if caught:
        raise KeyboardInterrupt


@contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """SIGTERM and SIGHUP (closed terminal) raise Terminated in the main thread."""

    def handler(signum: int, frame: Any) -> None:
        raise Terminated(signum)

    wanted = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {}
    try:
        for sig in wanted:
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave signals alone
        previous = {}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
