"""A generation request as the user asked for it, validated before anything is spent.

The options themselves (their ranges, defaults, messages) are declared in
request_options.py; this module adds what concerns the request as a whole: the prompt,
the model's source, the size limits, the output path, the images (read and fitted to
the clip by image_input.py), the clip to extend (read and checked by extend_input.py)
and the LoRAs (files hashed, Hub repos asked: lora_input.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from pippa_cli.clip_names import check_output, default_name, default_output, sidecar_path
from pippa_cli.customization import Customization
from pippa_cli.errors import UsageError
from pippa_cli.extend_input import SourceVideo, added_for, check_source, read_source
from pippa_cli.image_input import InputImage, load_images
from pippa_cli.limits import Request, check_request, needs_vae_tiling
from pippa_cli.lora_input import LoraInput, load_loras
from pippa_cli.ltx_extend import OVERLAP
from pippa_cli.presets import LTX_2, ModelSource, Preset, resolve_model
from pippa_cli.prompt_input import validate_prompt
from pippa_cli.request_options import (
    ALLOW_LARGE,
    AUDIO,
    DURATION,
    ENHANCE,
    EXTEND,
    FAST,
    FPS,
    GUIDANCE,
    HEIGHT,
    IMAGE,
    LORA,
    LORA_SCALE,
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

# LTX's VAE compresses time 8x (LTX-Video's and LTX-2's alike): frame counts must be 8k+1.
FRAME_BLOCK = 8


def frames_for(duration: float, fps: int) -> int:
    """The smallest 8k+1 frame count not shorter than duration x fps (5 s at 30 fps: 153;
    at LTX-2's 24 fps: 121)."""
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
    # The --image files, read and fitted to the clip, in the order given.
    images: tuple[InputImage, ...] = ()
    # The --extend clip, read and checked: the render continues it (duration: the new part).
    extend: SourceVideo | None = None
    # The --lora files and repos, checked, in the order given.
    loras: tuple[LoraInput, ...] = ()

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
    # The sound track is wanted (--no-audio: False); only a model with sound has one.
    audio = OptionAttribute(AUDIO)
    # --fast: the transformer's step cache (step_cache.py), a quality trade.
    fast = OptionAttribute(FAST)

    @property
    def sound(self) -> bool:
        """The clip has a sound track: the model renders one and --no-audio was not given
        (the enhancer then describes sound too)."""
        return self.model.defaults.audio and self.audio

    @property
    def size(self) -> Request:
        return Request(self.width, self.height, self.num_frames, self.fps, self.steps)

    @property
    def vae_tiling(self) -> bool:
        """Long or large clips decode in tiles: untiled they need more memory than denoising.
        The two-stage recipe always tiles (it decodes at twice stage one's size)."""
        if self.model.defaults.two_stage is not None:
            return True
        return needs_vae_tiling(self.width, self.height, self.num_frames)

    @property
    def num_frames(self) -> int:
        """The frames rendered: with --extend, the source's last OVERLAP and the new ones."""
        if self.extend is not None:
            return OVERLAP + added_for(self.duration, self.fps)
        return frames_for(self.duration, self.fps)

    @property
    def real_duration(self) -> float:
        """The rendered length (with --extend, of the new part, added to the source's)."""
        frames = self.num_frames - (OVERLAP if self.extend is not None else 0)
        return round(frames / self.fps, 3)

    @property
    def sidecar(self) -> Path:
        return sidecar_path(self.output)

    @property
    def notes(self) -> list[str]:
        """What the user should know before the job starts (an image cropped to fit)."""
        notes = [image.note for image in self.images if image.note]
        return notes + [lora.note for lora in self.loras if lora.note]

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
            # Only with images: a text prompt's settings stay as they were.
            **({"images": [image.record() for image in self.images]} if self.images else {}),
            **({"loras": [lora.record() for lora in self.loras]} if self.loras else {}),
            **({"extend": self.extend.record(self.num_frames - OVERLAP)} if self.extend else {}),
            # Only for the two-stage recipe (ltx-hd): the upsampler and the passes' sizes.
            **({"two_stage": self._two_stage_record()} if self.model.upsampler else {}),
            # Only for a model with sound (LTX-2): the MP4's track, or false (--no-audio).
            **({"audio": self._audio_record()} if self.model.defaults.audio else {}),
        }

    def _audio_record(self) -> dict[str, Any] | bool:
        """The sound track as the MP4 carries it, or False when it was left out."""
        if not self.audio:
            return False
        from pippa_cli import mp4

        return {
            "codec": mp4.AUDIO_CODEC,
            "sample_rate": mp4.AUDIO_SAMPLE_RATE,
            "channels": mp4.AUDIO_CHANNELS,
            "bitrate": mp4.AUDIO_BITRATE,
        }

    def _two_stage_record(self) -> dict[str, Any]:
        stages = self.model.defaults.two_stage
        assert stages is not None  # a source with an upsampler has the ltx-hd settings
        (first_w, first_h), (refine_w, refine_h) = stages.sizes(self.width, self.height)
        # LTX-2 refines on sigmas; LTX-Video on timesteps at a denoise strength.
        refine: dict[str, Any] = (
            {"refine_sigmas": list(stages.refine_sigmas)}
            if stages.refine_sigmas is not None
            else {
                "refine_timesteps": list(stages.refine_timesteps),
                "refine_strength": stages.refine_strength,
            }
        )
        return {
            "upsampler": self.model.upsampler,
            "upsampler_revision": self.model.upsampler_revision,
            "first_size": f"{first_w}x{first_h}",
            "refine_size": f"{refine_w}x{refine_h}",
            **refine,
            "adain_factor": stages.adain_factor,
        }


def model_source(model: str) -> ModelSource:
    """A --model value resolved; UsageError (exit 2) for one that cannot be a model."""
    try:
        return resolve_model(model)
    except ValueError as exc:
        raise UsageError(str(exc), "Run `pippa generate --help` to see the presets.") from None


def has_sound(options: GivenOptions) -> bool:
    """Whether a clip of these options has a sound track: its model renders one (LTX-2)
    and --no-audio was not given. `options` must name the model (UsageError for a bad one)."""
    return model_source(options.get(MODEL) or "").defaults.audio and options.get(AUDIO) is not False


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
    image_dir: Path | None = None,
    extend_dir: Path | None = None,
    lora_dir: Path | None = None,
) -> GenerateSpec:
    """Validate every option; raises UsageError (exit 2) naming the first problem.

    `options` must name the model. `output` is the user's -o text (a directory there gets
    the default name inside it) or a Path pippa chose itself (a batch line's file, taken as
    a file name). Relative --image paths are read from `image_dir`, an --extend path from
    `extend_dir` and --lora paths from `lora_dir` [default: the working directory]; the
    images are read last, once everything else is known to be right, then the LoRAs are
    checked (a Hub repo is asked).
    """
    customization = options.customization()
    prompt = validate_prompt(prompt)

    @cache
    def source() -> ModelSource:
        return model_source(options.get(MODEL) or "")

    checked = check(options, lambda: source().defaults)
    preset = source().defaults
    steps = checked[STEPS]
    if checked[FAST]:
        _check_fast(source(), steps)
    if preset.family == LTX_2 and checked[EXTEND]:
        # Before the source is read: pippa extends a clip with LTX-Video's conditioning,
        # which LTX-2 (a different model, with a sound track to continue) does not take.
        raise UsageError(
            f"--extend does not go with --model {source().label} (LTX-2)",
            "Extend with an LTX-Video model: --model ltx-distilled or ltx-video.",
        )
    if preset.two_stage is not None and checked[EXTEND]:
        # Before the source is read: no hint about its size could make this work.
        raise UsageError(
            f"--extend does not go with --model {source().label} (two stages)",
            "Extend with --model ltx-distilled or ltx-video.",
        )
    extend = _extend_source(checked, extend_dir)
    frames = frames_for(checked[DURATION], checked[FPS])
    if extend is not None:
        added = added_for(checked[DURATION], checked[FPS])
        size = {"width": checked[WIDTH], "height": checked[HEIGHT], "fps": checked[FPS]}
        check_source(extend, **size, added=added)
        frames = OVERLAP + added
    if preset.two_stage is not None:
        problem = preset.two_stage.size_problem(checked[WIDTH], checked[HEIGHT])
        if problem:
            raise UsageError(
                f"--model {source().label}: {problem}", _two_stage_hint(preset, checked)
            )
    if not checked[ALLOW_LARGE] and backend != "modal":
        # On Modal the backend checks this with the deployed GPU's limits as well.
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
    images = load_images(
        checked.every(IMAGE),
        num_frames=frames_for(checked[DURATION], checked[FPS]),
        width=checked[WIDTH],
        height=checked[HEIGHT],
        directory=image_dir,
    )
    if preset.family == LTX_2:
        _check_latent_frames(images, frames_for(checked[DURATION], checked[FPS]))
    loras = load_loras(checked.every(LORA), scale=checked[LORA_SCALE], directory=lora_dir)
    return GenerateSpec(
        prompt=prompt,
        customization=customization,
        options=checked,
        model=source(),
        backend=backend,
        output=path,
        overwrite=overwrite,
        timesteps=timesteps,
        images=images,
        extend=extend,
        loras=loras,
    )


def _check_fast(source: ModelSource, steps: int) -> None:
    """UsageError for --fast on a schedule too short to cache (the 8-step presets)."""
    from pippa_cli.step_cache import MIN_STEPS, problem

    reason = problem(steps)
    if reason is None:
        return
    if steps == source.defaults.steps:
        raise UsageError(
            f"--fast does not go with --model {source.label}: its {reason}",
            "Its short schedule is the fast way already: drop --fast. --fast is for "
            "--model ltx-video (50 steps).",
        )
    raise UsageError(
        f"--fast with --steps {steps}: {reason}",
        f"Ask for --steps {MIN_STEPS} or more, or drop --fast.",
    )


def _two_stage_hint(preset: Preset, checked: CheckedOptions) -> str:
    """What to ask instead of a size the two-stage recipe cannot render."""
    width, height = checked[WIDTH], checked[HEIGHT]
    if preset.family != LTX_2 or (width % 64 == 0 and height % 64 == 0):
        return f"Or use --model {'ltx-2' if preset.family == LTX_2 else 'ltx-distilled'}."
    # LTX-2's sides must be multiples of 64: round them down, and up.
    # At least 128 a side: stage one renders half of it, and 64 is its smallest.
    below = f"{max(128, width // 64 * 64)}x{max(128, height // 64 * 64)}"
    above = f"{max(128, -(-width // 64) * 64)}x{max(128, -(-height // 64) * 64)}"
    sizes = below if below == above else f"{below} or {above}"
    return f"Nearest sizes that work: {sizes}. Or use --model ltx-2 (one stage)."


def _extend_source(checked: CheckedOptions, directory: Path | None) -> SourceVideo | None:
    """The --extend clip, read (UsageError if it is none, or comes with --image)."""
    text = checked[EXTEND]
    if text is None:
        return None
    if checked.every(IMAGE):
        raise UsageError(
            f"{EXTEND.cli_flag} and {IMAGE.cli_flag} cannot be combined",
            "An extended clip starts from its source's last frames: drop --image.",
        )
    return read_source(text, directory)


def _check_latent_frames(images: tuple[InputImage, ...], num_frames: int) -> None:
    """LTX-2 places an image at a latent frame (ltx2.latent_index): two images that land
    on the same one would be two keyframes at one moment. UsageError if they do."""
    from pippa_cli.ltx2 import latent_index

    taken: dict[int, int] = {}
    for image in images:
        index = latent_index(image.frame, num_frames)
        if index in taken:
            shown = 0 if index == 0 else (index - 1) * 8 + 1
            raise UsageError(
                f"--image: the images at frames {taken[index]} and {image.frame} both land on "
                f"LTX-2's frame {shown}",
                "LTX-2 places images on an 8-frame grid (frames 0, 1, 9, 17, ...): space them "
                "at least 8 frames apart.",
            )
        taken[index] = image.frame
