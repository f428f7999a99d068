"""A job's history row kept in step with what happens, and who owns the job.

Progress is written at most once a second (other terminals read it); a progress note the
history cannot take (a disk that filled up) is kept and written with the outcome. The
process that runs a job owns it (its pid is in the row); it lets go when the job stays
active without it (left on Modal), so `pippa status` may fetch the job from then on.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pippa_cli.errors import BackendError, HistoryError
from pippa_cli.history import CANCELLED, FAILED, RUNNING, History
from pippa_cli.progress import ProgressSink, percent_for

# How often progress is written to the history, and the cancel mark looked for.
PERSIST_EVERY_S = 1.0


class CancelRequested(BaseException):
    """`pippa cancel` marked the job cancelled: stop, and never keep a Modal call running."""


class JobRecorder:
    def __init__(
        self,
        history: History,
        task_id: str,
        timings: dict[str, float] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.history = history
        self.task_id = task_id
        self.timings: dict[str, float] = timings or {}
        self.keep_running = False  # decided at Ctrl-C: leave the Modal call running
        self.call_id: str | None = None  # the Modal call, once the record holds it
        self.should_stop = should_stop
        self._pending: dict[str, Any] = {}
        self._last_write = 0.0
        self._last_cancel_check = 0.0

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Record how long the block took, as timings[name] (seconds)."""
        started = time.monotonic()
        yield
        self.timings[name] = round(time.monotonic() - started, 3)

    def check_stop(self) -> None:
        """Raise if the batch is stopping (like Ctrl-C) or `pippa cancel` marked the job."""
        if self.should_stop is not None and self.should_stop():
            raise KeyboardInterrupt
        now = time.monotonic()
        if now - self._last_cancel_check >= PERSIST_EVERY_S:
            self._last_cancel_check = now
            if self.history.get(self.task_id).status == CANCELLED:
                raise CancelRequested

    def update(self, **fields: Any) -> None:
        self.history.update(self.task_id, **fields)

    def progress(self, **fields: Any) -> None:
        """A progress note (stage, percentage): if the history cannot take it (a disk that
        filled up during the render), the render goes on; its outcome is written later."""
        try:
            self.history.update(self.task_id, **fields)
        except HistoryError:
            self._pending.update(fields)

    def record_call(self, call_id: str, cancel: Callable[[str], None]) -> None:
        """The call id reaches the record, or the call is cancelled: a paid render nobody
        could find again is the one thing that must not happen."""
        try:
            self.update(status=RUNNING, stage="queued", remote_call_id=call_id)
            self.call_id = call_id
        except HistoryError as exc:
            try:
                cancel(call_id)
                fate = "so it was cancelled (nothing more is billed)"
            except BackendError:
                fate = f"and cancelling it failed too: cancel it in Modal's dashboard ({call_id})"
            raise HistoryError(
                f"{exc.message}; the job's Modal call could not be recorded, {fate}", exc.hint
            ) from exc

    def let_go(self) -> None:
        """This process stops following a job that stays active (on Modal): save what it
        knows and drop its pid, so `pippa status` may fetch the job from now on."""
        self.history.update(self.task_id, **self._pending, timings=self.timings, pid=None)
        self._pending = {}

    def take_over(self) -> None:
        """This process follows the job now (`status --wait`): others leave it alone."""
        self.history.update(self.task_id, pid=os.getpid(), host=socket.gethostname())

    def finish(self, status: str, error: str) -> None:
        self.history.finish(self.task_id, status, error=error, timings=self.timings)

    def fail(self, message: str) -> None:
        self.finish(FAILED, message)

    def reporter(self, progress: ProgressSink) -> Callable[[str, int, int], None]:
        """The backend's progress callback: shown at once, written to the history at most
        once a second. (Backends call check_stop themselves, at each report or poll.)"""

        def report(stage: str, step: int, total: int) -> None:
            if stage == "denoising" and total:
                progress.step(stage, step, total)
            else:
                progress.stage(stage)
            self._pending.update(stage=stage, progress=percent_for(stage, step, total))
            now = time.monotonic()
            if now - self._last_write >= PERSIST_EVERY_S:
                pending, self._pending = self._pending, {}
                self._last_write = now
                self.progress(**pending)

        return report
