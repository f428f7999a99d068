"""The stage-by-stage progress display of a generation, on stderr.

On a terminal: a live rich display, one line per stage (enhance, queued/starting,
denoising step i/N, encoding, saving). Elsewhere: one plain line as each stage starts.
Nothing at all with -q or --json.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from pippa_cli.output import Output
from pippa_cli.text import visible

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

STAGE_LABELS = {
    "checking": "Checking the model on Hugging Face",
    "connecting": "Connecting to Modal",
    "downloading": "Downloading weights into the Modal app's cache (once, on a CPU)",
    "enhance": "Enhancing prompt",
    "queued": "Queued on Modal",
    "starting": "Starting GPU container",
    "loading": "Loading model",
    "denoising": "Denoising",
    "decoding": "Decoding frames",
    "encoding": "Encoding MP4",
    "saving": "Saving",
}


# A job's overall progress (0-100) at the start of each stage; denoising fills the space
# between. The history stores this one number; `steps_done` reads a step back out of it.
_PERCENT = {
    "enhance": 2,
    "queued": 5,
    "loading": 5,
    "denoising": 5,
    "decoding": 92,
    "encoding": 95,
    "saving": 98,
}
_DENOISE_SPAN = 87


def percent_for(stage: str, step: int, total: int) -> int:
    """Overall progress of a job (0-100) from the stage it is in."""
    if stage == "denoising" and total:
        return _PERCENT["denoising"] + int(_DENOISE_SPAN * step / total)
    return _PERCENT.get(stage, 0)


def steps_done(percent: int, total: int) -> int:
    """The denoising step a recorded overall progress stands for (inverse of percent_for)."""
    start = _PERCENT["denoising"]
    return max(0, min(total, (percent - start) * total // _DENOISE_SPAN))


class ProgressSink(Protocol):
    """What a job reports as it goes; shown by a live display, plain lines, or nothing."""

    def stage(self, name: str, detail: str = "") -> None: ...
    def step(self, name: str, completed: int, total: int) -> None: ...
    def note(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def pause(self) -> None: ...


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
