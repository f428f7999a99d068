"""A generation request as the user asked for it, validated before anything is spent."""

from __future__ import annotations

import hashlib
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
from pippa_cli.text import has_unsafe_chars, visible

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
    output: str | Path | None,
    overwrite: bool,
    allow_large: bool = False,
    now: datetime | None = None,
) -> GenerateSpec:
    """Validate every option; raises UsageError (exit 2) naming the first problem.

    `output` is the user's -o text (a directory there gets the default name inside it) or
    a Path pippa chose itself (a batch line's file, taken as a file name).
    """
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
    when = now or datetime.now()
    if output is None:
        path = check_output(default_output(prompt, when), overwrite)
    elif isinstance(output, str):
        path = check_output(output, overwrite, file_name=default_name(prompt, when))
    else:
        path = check_output(output, overwrite)
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
    """A safe file-name stem: ASCII letters, digits and dashes, never empty.

    Letters, digits or emoji with no ASCII form (Hebrew, CJK, Arabic, ...) would vanish and
    leave different texts with one name, so a short hash of the text stands in for them:
    `clip-1a2b3c4d` when nothing ASCII remains, `ascii-words-1a2b3c4d` for mixed text.
    Accents are not lost: they decompose to their base letters.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = decomposed.encode("ascii", "ignore").decode()
    words = "".join(c.lower() if c.isalnum() else " " for c in ascii_text).split()
    slug = "-".join(words[:max_words])[:max_chars].strip("-")
    if _loses_identity(decomposed):
        return f"{slug or 'clip'}-{text_hash(text)}"
    return slug or "clip"


def _loses_identity(decomposed: str) -> bool:
    """Whether a letter, digit or emoji has no ASCII form (combining accents do not count)."""
    return any(
        ord(c) > 127 and (unicodedata.category(c)[0] in "LN" or unicodedata.category(c) == "So")
        for c in decomposed
    )


def text_hash(text: str) -> str:
    """8 hex digits that name `text` the same way on every run and machine."""
    data = unicodedata.normalize("NFC", text).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:8]


def default_name(prompt: str, now: datetime) -> str:
    """The file name pippa picks when the user names no file: prompt slug and time."""
    return f"{slugify(prompt)}-{now:%Y%m%d-%H%M%S}.mp4"


def default_output(prompt: str, now: datetime) -> Path:
    return free_name(Path.cwd() / default_name(prompt, now))


def free_name(path: Path) -> Path:
    """`path`, or `stem-2`, `stem-3`, ... beside it: the first whose video and sidecar are free.

    A dangling symlink counts as taken: writing there would replace the link.
    """
    candidate, counter = path, 2
    while os.path.lexists(candidate) or os.path.lexists(sidecar_path(candidate)):
        candidate = path.with_name(f"{path.stem}-{counter}{path.suffix}")
        counter += 1
    return candidate


def check_output(output: str | Path, overwrite: bool, file_name: str | None = None) -> Path:
    """Absolute output path, after checking it can be written; raises UsageError if not.

    With `file_name`, `output` may name a directory (one that exists, or any spelled with
    a trailing slash): the clip goes inside it under that name, or the first free variant
    of it unless `overwrite`.
    """
    text = str(output)
    if not text:
        raise UsageError("-o is empty", "Name an MP4 file or a directory, e.g. -o clip.mp4.")
    # `-` means stdout to every Unix tool; a file named `-.mp4` would surprise everyone.
    if isinstance(output, str) and text == "-":
        raise UsageError(
            "-o - (stdout) is not supported: pippa writes the video to a file and prints its "
            "path on stdout",
            "Name an MP4 file or a directory, e.g. -o clip.mp4 (-o ./- for a file named '-').",
        )
    # The user's text only: a Path pippa built from the working directory is not an -o.
    if isinstance(output, str) and has_unsafe_chars(text):
        raise UsageError(
            f"-o {visible(text)} contains control characters",
            "Pick a name without newlines, tabs, escapes or bidi characters.",
        )
    expanded = os.path.expanduser(text)
    path = Path(os.path.abspath(expanded))
    names_directory = isinstance(output, str) and expanded.endswith(("/", os.sep))
    if file_name is not None and (names_directory or path.is_dir()):
        if os.path.lexists(path) and not path.is_dir():
            raise UsageError(f"{path} is not a directory", "Drop the trailing slash.")
        if not path.is_dir():
            raise UsageError(
                f"directory {path} does not exist", "Create it first, or pick another -o."
            )
        path /= file_name
        if not overwrite:
            path = free_name(path)
    if path.is_dir():
        raise UsageError(f"{path} is a directory", "Give a file name, e.g. -o clip.mp4.")
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
            if os.path.lexists(existing):
                # A dangling symlink too: os.replace would silently replace the link.
                what = "already exists" if existing.exists() else "is a broken symlink"
                raise UsageError(
                    f"{existing} {what}", "Pass --overwrite to replace it, or pick another -o."
                )
    return path
