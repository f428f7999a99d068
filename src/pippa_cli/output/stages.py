"""The stage-by-stage progress display of one job, on stderr (a `progress.ProgressSink`).

On a terminal: a live rich display, one line per stage (enhance, queued/starting,
denoising step i/N, encoding, saving). Elsewhere: one plain line as each stage starts.
Nothing at all with -q; with --json, only notes and warnings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pippa_cli.progress import STAGE_LABELS
from pippa_cli.text import visible

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from pippa_cli.output.console import Output


def progress_label(text: str) -> str:
    """Foreign text (a stage name from Modal's progress or another tool's history row) as
    a rich Progress column shows it: neither terminal codes nor markup."""
    from rich.markup import escape

    return escape(visible(text))


class StageProgress:
    def __init__(self, out: Output) -> None:
        self.out = out
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self.current: str | None = None

    def __enter__(self) -> StageProgress:
        if self.out.live:
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                SpinnerColumn(finished_text="[green]✓[/]"),
                TextColumn("{task.description}"),
                BarColumn(bar_width=30),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
                console=self.out.err,
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            if exc[0] is None and self.current:
                self._complete(self.current)
            self._progress.stop()

    def abandon(self) -> None:
        """The job did not complete: the stage it stopped in stays unfinished on screen."""
        self.current = None

    def stage(self, name: str, detail: str = "") -> None:
        """Enter stage `name` (ends the one before); no-op if already in it."""
        if name == self.current:
            return
        if self.current:
            self._complete(self.current)
        self.current = name
        text = STAGE_LABELS.get(name, name)
        if self._progress is not None:
            self._tasks[name] = self._progress.add_task(
                progress_label(text), total=None, detail=progress_label(detail)
            )
        elif not self.out.quiet and not self.out.json_mode:
            self.out.info(f"{text}{' ' + detail if detail else ''}...")

    def step(self, name: str, completed: int, total: int) -> None:
        """Progress within a stage, e.g. denoising step 12/50."""
        self.stage(name)
        if self._progress is not None:
            self._progress.update(
                self._tasks[name],
                completed=completed,
                total=total,
                detail=f"step {completed}/{total}",
            )

    def note(self, message: str) -> None:
        """A line above the live display (or a plain line)."""
        if self._progress is not None:
            self._progress.console.print(
                visible(message, multiline=True), markup=False, highlight=False
            )
        else:
            self.out.info(message)

    def pause(self) -> None:
        """Stop drawing (before asking the user something on the terminal)."""
        if self._progress is not None:
            self._progress.stop()

    def warn(self, message: str) -> None:
        if self.out.quiet:
            return
        if self._progress is not None:
            self.note(f"Warning: {message}")
        else:
            self.out.warn(message)

    def _complete(self, name: str) -> None:
        if self._progress is not None and name in self._tasks:
            task = self._tasks[name]
            total = self._progress.tasks[task].total or 1
            self._progress.update(task, completed=total, total=total)
