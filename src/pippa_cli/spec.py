"""A generation request as the user asked for it, validated before anything is spent.

The options themselves (their ranges, defaults, messages) are declared in
request_options.py; this module adds what concerns the request as a whole: the prompt,
the model's source, the size limits and the output path.
"""

from __future__ import annotations

import hashlib
import math
import os
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from pippa_cli.customization import Customization
from pippa_cli.errors import UsageError
from pippa_cli.limits import Request, check_request, needs_vae_tiling
from pippa_cli.presets import ModelSource, resolve_model
from pippa_cli.prompt_input import validate_prompt
from pippa_cli.request_options import (
    ALLOW_LARGE,
    DURATION,
    ENHANCE,
    FPS,
    GUIDANCE,
    HEIGHT,
    MODEL,
    NEGATIVE_PROMPT,
    SEED,
    STEPS,
    WIDTH,
    CheckedOptions,
    GivenOptions,
    OptionAttribute,
    check,
)
from pippa_cli.text import has_unsafe_chars, visible

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
    # The table's options, checked (read one with `spec.options[SEED]`).
    options: CheckedOptions
    model: ModelSource
    backend: str
    output: Path
    overwrite: bool
    timesteps: list[float] | None = field(default=None)

    # The options the core reads by name (`spec.seed`). A new option needs no line here:
    # the table routes it into the render request and the recorded settings.
    enhance = OptionAttribute(ENHANCE)
    duration = OptionAttribute(DURATION)
    fps = OptionAttribute(FPS)
    width = OptionAttribute(WIDTH)
    height = OptionAttribute(HEIGHT)
    steps = OptionAttribute(STEPS)
    guidance = OptionAttribute(GUIDANCE)
    negative_prompt = OptionAttribute(NEGATIVE_PROMPT)
    seed = OptionAttribute(SEED)
    # The user accepted the risk of a size beyond the model's or the GPU's figures.
    allow_large = OptionAttribute(ALLOW_LARGE)

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
            **self.options.recorded(),  # width, height, steps, guidance, ...
            "vae_tiling": self.vae_tiling,
            "customization": self.customization.as_dict(),
        }


def sidecar_path(video: Path) -> Path:
    return video.with_suffix(".json")


def build_spec(
    *,
    prompt: str,
    backend: str,
    output: str | Path | None,
    overwrite: bool,
    customization: Customization | None = None,
    now: datetime | None = None,
    **options: Any,
) -> GenerateSpec:
    """`spec_from` for Python callers: the table's options as keywords (duration=4, ...);
    those not given take their defaults. TypeError for a name the table does not have."""
    given = {**(customization.as_dict() if customization else {}), **options}
    return spec_from(
        prompt, GivenOptions(given), backend=backend, output=output, overwrite=overwrite, now=now
    )


def spec_from(
    prompt: str,
    options: GivenOptions,
    *,
    backend: str,
    output: str | Path | None,
    overwrite: bool,
    now: datetime | None = None,
) -> GenerateSpec:
    """Validate every option; raises UsageError (exit 2) naming the first problem.

    `options` must name the model. `output` is the user's -o text (a directory there gets
    the default name inside it) or a Path pippa chose itself (a batch line's file, taken as
    a file name).
    """
    customization = options.customization()
    prompt = validate_prompt(prompt)

    @cache
    def source() -> ModelSource:
        try:
            return resolve_model(options.get(MODEL) or "")
        except ValueError as exc:
            raise UsageError(str(exc), "Run `pippa generate --help` to see the presets.") from None

    checked = check(options, lambda: source().defaults)
    preset = source().defaults
    steps = checked[STEPS]
    if not checked[ALLOW_LARGE] and backend != "modal":
        # On Modal the backend checks this with the deployed GPU's limits as well.
        frames = frames_for(checked[DURATION], checked[FPS])
        check_request(preset, Request(checked[WIDTH], checked[HEIGHT], frames, checked[FPS], steps))
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
        options=checked,
        model=source(),
        backend=backend,
        output=path,
        overwrite=overwrite,
        timesteps=timesteps,
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
