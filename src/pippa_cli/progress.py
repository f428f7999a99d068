"""What a job reports while it runs, whoever shows it.

`ProgressSink` is the interface a job reports to: stages (enhance, queued, denoising...),
steps within a stage, notes and warnings. The displays that draw it live in the output
layer: `output.stages.StageProgress` (one job) and `output.batch_display.LineProgress`
(one line of a batch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # transitional, see __getattr__ below
    from pippa_cli.output.stages import StageProgress as StageProgress

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


class ProgressSink(Protocol):
    """Where a job reports its progress (a live display, plain lines, a batch line)."""

    def stage(self, name: str, detail: str = "") -> None:
        """Enter stage `name` (a key of STAGE_LABELS, or any name a backend reports)."""

    def step(self, name: str, completed: int, total: int) -> None:
        """Progress within a stage, e.g. denoising step 12 of 50."""

    def note(self, message: str) -> None:
        """Something worth a line of its own (a job's id, a renamed output)."""

    def warn(self, message: str) -> None:
        """A warning that does not stop the job."""

    def pause(self) -> None:
        """Stop drawing, before the terminal is used for something else (a question)."""


def __getattr__(name: str) -> Any:
    # Transitional: generation.py and cli/status.py still import StageProgress from here;
    # it lives in the output layer now. Lazy, so this module imports nothing of it.
    if name == "StageProgress":
        from pippa_cli.output.stages import StageProgress

        return StageProgress
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
