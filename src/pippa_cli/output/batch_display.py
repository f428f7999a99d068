"""The live display of a batch, on stderr: an overall bar plus one line per job in flight.

Each job reports to its own `LineProgress` (a `progress.ProgressSink`); only a terminal
gets the live display. Errors and warnings are lines of their own everywhere (but -q).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

from pippa_cli.output.stages import progress_label
from pippa_cli.progress import STAGE_LABELS
from pippa_cli.text import visible

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from pippa_cli.batch_input import BatchLine
    from pippa_cli.output.console import Output


class BatchItem(Protocol):
    """A line of the batch, as the display shows it (`batch.Planned` is one)."""

    @property
    def line(self) -> BatchLine: ...


class BatchProgress:
    """An overall bar plus one line per active job (terminal only)."""

    def __init__(self, out: Output, total: int) -> None:
        self.out = out
        self.total = total
        self._progress: Progress | None = None
        self._overall: TaskID | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> BatchProgress:
        if self.out.live and self.total:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=self.out.err,
                # Paths are printed on stdout as clips finish: data, never the display's.
                redirect_stdout=False,
            )
            self._progress.start()
            self._overall = self._progress.add_task("All clips", total=self.total, detail="")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.pause()

    def pause(self) -> None:
        if self._progress is not None:
            self._progress.stop()

    def line(self, item: BatchItem) -> LineProgress:
        return LineProgress(self, item)

    def done(self, line: LineProgress) -> None:
        with self._lock:
            if self._progress is not None:
                if line.task is not None:
                    self._progress.remove_task(line.task)
                assert self._overall is not None
                self._progress.advance(self._overall)

    def error(self, item: BatchItem, message: str) -> None:
        self.say(f"Error: line {item.line.number}: {message}")

    def say(self, message: str) -> None:
        if self.out.quiet:
            return
        message = visible(message, multiline=True)
        with self._lock:
            if self._progress is not None:
                self._progress.console.print(message, markup=False, highlight=False)
            else:
                self.out.err.print(message, markup=False, highlight=False)


class LineProgress:
    """What one job reports, shown as its own line (a `progress.ProgressSink`)."""

    def __init__(self, batch: BatchProgress, item: BatchItem) -> None:
        self.batch = batch
        self.number = item.line.number
        self.current: str | None = None
        self.task: TaskID | None = None
        # Prompts are neither markup nor terminal codes.
        label = progress_label(f"{self.number:>4} {item.line.prompt[:28]}")
        if batch._progress is not None:
            with batch._lock:
                self.task = batch._progress.add_task(label, total=None, detail="waiting")

    def stage(self, name: str, detail: str = "") -> None:
        self.current = name
        self._show(STAGE_LABELS.get(name, name).lower())

    def step(self, name: str, completed: int, total: int) -> None:
        self.current = name
        self._show(f"{name} {completed}/{total}", completed, total)

    def note(self, message: str) -> None:
        return None  # per-job notes would drown a batch; errors and warnings still show

    def warn(self, message: str) -> None:
        with self.batch._lock:
            self.batch.out.warn_once(message, f"line {self.number}")

    def pause(self) -> None:
        """Stop drawing the whole batch: the terminal is wanted for something else."""
        self.batch.pause()

    def _show(self, detail: str, completed: int | None = None, total: int | None = None) -> None:
        progress = self.batch._progress
        if progress is None or self.task is None:
            return
        with self.batch._lock:
            progress.update(
                self.task, detail=progress_label(detail), completed=completed or 0, total=total
            )
