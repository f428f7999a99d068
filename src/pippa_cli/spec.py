"""A generation request as the user asked for it, validated before anything is spent."""

from __future__ import annotations

import math
import os
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pippa_cli.customization import Customization
from pippa_cli.errors import UsageError
from pippa_cli.limits import Request, check_request, needs_vae_tiling
from pippa_cli.presets import DEFAULT_NEGATIVE_PROMPT, ModelSource, resolve_model
from pippa_cli.prompt_input import validate_prompt

MIN_DURATION, MAX_DURATION = 3.0, 10.0
MIN_FPS, MAX_FPS = 8, 60
DIM_MULTIPLE, MIN_DIM, MAX_DIM = 32, 64, 2048
MAX_STEPS = 200
MAX_SEED = 2**32 - 1
# LTX's VAE compresses time 8x: frame counts must be 8k+1.
FRAME_BLOCK = 8


def frames_for(duration: float, fps: int) -> int:
    """The smallest 8k+1 frame count not shorter than duration x fps."""
    wanted = math.ceil(round(duration * fps, 6))
    return FRAME_BLOCK * math.ceil((wanted - 1) / FRAME_BLOCK) + 1


@dataclass(frozen=True)
class GenerateSpec:
    prompt: str
    customization: Customization
    enhance: bool
    duration: float
    fps: int
    width: int
    height: int
    steps: int
    guidance: float
    negative_prompt: str
    seed: int
    model: ModelSource
    backend: str
    output: Path
    overwrite: bool
    timesteps: list[float] | None = field(default=None)
    # The user accepted the risk of a size beyond the model's or the GPU's figures.
    allow_large: bool = False

    @property
    def size(self) -> Request:
        return Request(self.width, self.height, self.num_frames, self.fps, self.steps)

    @property
    def vae_tiling(self) -> bool:
        """Long or large clips decode in tiles: untiled they need more memory than denoising."""
        return needs_vae_tiling(self.width, self.height, self.num_frames)

    @property
    def num_frames(self) -> int:
        return frames_for(self.duration, self.fps)

    @property
    def real_duration(self) -> float:
        return round(self.num_frames / self.fps, 3)

    @property
    def sidecar(self) -> Path:
        return sidecar_path(self.output)

    def settings(self) -> dict[str, Any]:
        """The settings used, as recorded in history, sidecar and MP4 tags."""
        return {
            "model": self.model.label,
            "model_location": self.model.location,
            "model_revision": self.model.revision,
            "backend": self.backend,
            "duration": self.real_duration,
            "requested_duration": self.duration,
            "fps": self.fps,
            "num_frames": self.num_frames,
            "width": self.width,
            "height": self.height,
            "steps": self.steps,
            "guidance": self.guidance,
            "negative_prompt": self.negative_prompt,
            "seed": self.seed,
            "vae_tiling": self.vae_tiling,
            "customization": self.customization.as_dict(),
        }


def sidecar_path(video: Path) -> Path:
    return video.with_suffix(".json")


def build_spec(
    *,
    prompt: str,
    customization: Customization,
    enhance: bool,
    duration: float,
    fps: int,
    width: int,
    height: int,
    steps: int | None,
    guidance: float | None,
    negative_prompt: str | None,
    seed: int | None,
    model: str,
    backend: str,
    output: Path | None,
    overwrite: bool,
    allow_large: bool = False,
    now: datetime | None = None,
) -> GenerateSpec:
    """Validate every option; raises UsageError (exit 2) naming the first problem."""
    prompt = validate_prompt(prompt)
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise UsageError(
            f"--duration {duration:g} is out of range",
            f"Choose {MIN_DURATION:g} to {MAX_DURATION:g} seconds.",
        )
    if not MIN_FPS <= fps <= MAX_FPS:
        raise UsageError(f"--fps {fps} is out of range", f"Choose {MIN_FPS} to {MAX_FPS}.")
    check_dimension("--width", width)
    check_dimension("--height", height)
    try:
        source = resolve_model(model)
    except ValueError as exc:
        raise UsageError(str(exc), "Run `pippa generate --help` to see the presets.") from None
    preset = source.defaults
    steps = preset.steps if steps is None else steps
    if not 1 <= steps <= MAX_STEPS:
        raise UsageError(f"--steps {steps} is out of range", f"Choose 1 to {MAX_STEPS}.")
    guidance = preset.guidance if guidance is None else guidance
    if not 0.0 <= guidance <= 30.0:
        raise UsageError(f"--guidance {guidance:g} is out of range", "Choose 0 to 30 (LTX: 1-5).")
    if negative_prompt is None:
        negative_prompt = DEFAULT_NEGATIVE_PROMPT
    elif negative_prompt.strip():
        negative_prompt = validate_prompt(negative_prompt, where="--negative-prompt")
    else:
        negative_prompt = ""
    if seed is None:
        seed = secrets.randbelow(MAX_SEED + 1)
    elif not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed {seed} is out of range", f"Choose 0 to {MAX_SEED}.")
    if not allow_large and backend != "modal":
        # On Modal the backend checks this with the deployed GPU's limits as well.
        check_request(preset, Request(width, height, frames_for(duration, fps), fps, steps))
    # Custom timesteps fit only the preset's own step count.
    timesteps = list(preset.timesteps) if preset.timesteps and steps == preset.steps else None
    path = output if output is not None else default_output(prompt, now or datetime.now())
    path = check_output(path, overwrite)
    return GenerateSpec(
        prompt=prompt,
        customization=customization,
        enhance=enhance,
        duration=duration,
        fps=fps,
        width=width,
        height=height,
        steps=steps,
        guidance=guidance,
        negative_prompt=negative_prompt,
        seed=seed,
        model=source,
        backend=backend,
        output=path,
        overwrite=overwrite,
        timesteps=timesteps,
        allow_large=allow_large,
    )


def check_dimension(flag: str, value: int) -> None:
    if value % DIM_MULTIPLE:
        lower = value // DIM_MULTIPLE * DIM_MULTIPLE
        options = [v for v in (lower, lower + DIM_MULTIPLE) if MIN_DIM <= v <= MAX_DIM]
        nearest = " or ".join(str(v) for v in options) or str(
            MIN_DIM if value < MIN_DIM else MAX_DIM
        )
        raise UsageError(
            f"{flag} {value} is not a multiple of {DIM_MULTIPLE}",
            f"LTX-Video needs multiples of {DIM_MULTIPLE}; nearest valid: {nearest}.",
        )
    if not MIN_DIM <= value <= MAX_DIM:
        raise UsageError(
            f"{flag} {value} is out of range", f"Choose {MIN_DIM} to {MAX_DIM} (LTX: up to 1280)."
        )


def slugify(text: str, max_words: int = 6, max_chars: int = 48) -> str:
    """A safe file-name stem: ASCII letters, digits and dashes, never empty."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = "".join(c.lower() if c.isalnum() else " " for c in ascii_text).split()
    slug = "-".join(words[:max_words])[:max_chars].strip("-")
    return slug or "clip"


def default_output(prompt: str, now: datetime) -> Path:
    return free_name(Path.cwd() / f"{slugify(prompt)}-{now:%Y%m%d-%H%M%S}.mp4")


def free_name(path: Path) -> Path:
    """`path`, or `stem-2`, `stem-3`, ... beside it: the first whose video and sidecar are free."""
    candidate, counter = path, 2
    while candidate.exists() or sidecar_path(candidate).exists():
        candidate = path.with_name(f"{path.stem}-{counter}{path.suffix}")
        counter += 1
    return candidate


def check_output(path: Path, overwrite: bool) -> Path:
    """Absolute output path, after checking it can be written; raises UsageError if not."""
    path = Path(os.path.abspath(path.expanduser()))
    if path.suffix.lower() != ".mp4":
        if path.suffix:
            raise UsageError(f"{path.name}: pippa writes MP4 files", "Name the output *.mp4.")
        path = path.with_suffix(".mp4")
    if path.is_dir():
        raise UsageError(f"{path} is a directory", "Give a file name, e.g. -o clip.mp4.")
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(
            f"directory {parent} does not exist", "Create it first, or pick another -o."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"directory {parent} is not writable", "Pick another -o.")
    if not overwrite:
        for existing in (path, sidecar_path(path)):
            if existing.exists():
                raise UsageError(
                    f"{existing} already exists",
                    "Pass --overwrite to replace it, or pick another -o.",
                )
    return path
