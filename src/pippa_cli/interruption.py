"""What a job does when it is interrupted: one policy object per command.

A job on Modal that is interrupted (Ctrl-C, a batch stopping) is cancelled, so nothing more
is billed, unless the policy says to leave it running (`--keep-running`, or the user's
answer to the question). Jobs rendered here simply stop. SIGTERM/SIGHUP never ask: a job
on Modal keeps running (see generation and signals).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

QUESTION = "Cancel {jobs} on Modal? (no: keep running, fetch later with pippa status)"


@dataclass
class InterruptPolicy:
    """`keep_running`: the answer given up front (`--keep-running`); `ask`: puts a yes/no
    question to the user at Ctrl-C and returns the answer (None: nobody to ask); `stop`:
    set when a batch stops, so each of its jobs ends as if Ctrl-C had reached it."""

    keep_running: bool = False
    ask: Callable[[str], bool] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    # The user's decision, once asked: one answer for every job in flight.
    _keep: bool | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def stopping(self) -> bool:
        return self.stop.is_set()

    def keeps_running(self, jobs: str = "the job") -> bool:
        """After Ctrl-C: keep the Modal call(s) running, or cancel them (the default)."""
        with self._lock:
            if self.keep_running:
                return True
            if self._keep is None and self.ask is not None:
                self._keep = not self.ask(QUESTION.format(jobs=jobs))
            return bool(self._keep)

    def terminated(self) -> None:
        """SIGTERM/SIGHUP: nobody to ask; jobs on Modal keep running, as for one clip."""
        with self._lock:
            self.keep_running = True
