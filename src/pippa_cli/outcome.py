"""How a job ended, as a value: what the CLI turns into an exit code and a batch into a line.

    COMPLETED      the clip and its sidecar are saved
    DETACHED       submitted to Modal; this process stopped there on purpose (--detach)
    LEFT_RUNNING   the render goes on (or waits) on Modal; `pippa status ID --wait` saves it
    UNSAVED        rendered, but the file system refused the clip; kept aside for pippa status
    CANCELLED      stopped, nothing left running: Ctrl-C, a signal, or `pippa cancel`
    FAILED         the render, the enhancement or the history failed

The record in the history says the same thing; the outcome saves everyone reading it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pippa_cli.errors import Explained
from pippa_cli.history import Job


class Ending(str, Enum):
    COMPLETED = "completed"
    DETACHED = "detached"
    LEFT_RUNNING = "running"
    UNSAVED = "unsaved"
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    ending: Ending
    task_id: str
    # The record as the job ended; None where the history could not be read back.
    job: Job | None = None
    # Why it did not complete, as the user reads it (message, hint and exit code): a
    # PippaError, errors.Interrupted (Ctrl-C or a signal), or the unexpected exception
    # itself (the CLI reports that as a crash).
    error: BaseException | None = None
    # Ctrl-C or a signal here (a batch stops its other lines too), not a `pippa cancel`
    # of this one job from elsewhere.
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return self.ending in (Ending.COMPLETED, Ending.DETACHED)

    @property
    def expected(self) -> bool:
        """Whether the error is one pippa explains (not a crash)."""
        return isinstance(self.error, Explained)

    @property
    def message(self) -> str | None:
        if isinstance(self.error, Explained):
            return self.error.message
        return None if self.error is None else f"unexpected {type(self.error).__name__}"

    @property
    def hint(self) -> str | None:
        return self.error.hint if isinstance(self.error, Explained) else None

    @property
    def exit_code(self) -> int:
        if self.ok:
            return 0
        return self.error.exit_code if isinstance(self.error, Explained) else 1

    def raise_for_outcome(self) -> None:
        """Raise the error of a job that did not complete (httpx's raise_for_status):
        the CLI's one error handler then reports it like any other."""
        if self.error is not None and not self.ok:
            if isinstance(self.error, Explained):
                self.error.task_id = self.task_id
            raise self.error
