"""What a job reports while it runs, whoever shows it.

`percent_for` turns a stage into the one number the history stores (others read it).
`ProgressSink` is the interface a job reports to: stages (enhance, queued, denoising...),
steps within a stage, notes and warnings. The displays that draw it live in the output
layer: `output.stages.StageProgress` (one job) and `output.batch_display.LineProgress`
(one line of a batch).
"""

from __future__ import annotations

from typing import Protocol

STAGE_LABELS = {
    "checking": "Checking the model on Hugging Face",
    "connecting": "Connecting to Modal",
    "downloading": "Downloading weights into the Modal app's cache (once, on a CPU)",
    "enhance": "Enhancing prompt",
    "queued": "Queued on Modal",
    "starting": "Starting GPU container",
    "loading": "Loading model",
    "denoising": "Denoising",
    # The two-stage recipe (ltx-hd): the latent upsampler, then the refining pass.
    "upsampling": "Upsampling latents",
    "refining": "Refining at full size",
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
    # Two-stage: stage one fills the denoising span; the upsampling and refining pass after
    # it hold at the decoding mark (a job's progress never goes back).
    "upsampling": 92,
    "refining": 92,
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
