"""The one generation core: load an LTX pipeline, render a request, encode the MP4.

The Modal app, the local backend and the tests all call this module; it needs torch,
diffusers and PyAV (the `local` extra, or the Modal image) and nothing else of pippa's
but the presets, the encoder, the image conditioning (ltx_conditioning.py), clip
extension (ltx_extend.py), the two-stage HD recipe (ltx_two_stage.py) and the LoRAs
(ltx_lora.py). LTX-2 (video with sound) renders in ltx2.py: loading dispatches on the
model's family, rendering on the pipeline loaded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pippa_cli.mp4 import encode_mp4
from pippa_cli.presets import LTX_2, MAX_SEQUENCE_LENGTH, ModelSource

if TYPE_CHECKING:
    import numpy as np

    from pippa_cli.ltx_lora import LoraWeights

# on_progress(stage, step, total): stages "denoising" (step i of N), "decoding", "encoding";
# a two-stage render adds "upsampling" and "refining" (step i of N) between the first two.
ProgressCallback = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Rendered:
    """What a render made: uint8 frames (frames, height, width, 3) and, for a model with
    sound whose request keeps it, float samples (channels, samples) at `sample_rate`."""

    frames: np.ndarray
    audio: np.ndarray | None = None
    sample_rate: int | None = None


@dataclass(frozen=True)
class ImageCondition:
    """One image the clip passes through."""

    # Already resized + center-cropped to the request's width x height, PNG. Not in the
    # repr: a request printed in a log or an error would carry kilobytes of bytes.
    png: bytes = field(repr=False)
    frame: int  # 0 .. num_frames - 1 (already resolved: @-1 is num_frames - 1)
    strength: float  # 0 .. 1


@dataclass(frozen=True)
class TwoStagePlan:
    """Lightricks' two-stage recipe (ltx_two_stage.py): stage one at first_width x
    first_height, the latent upsampler doubles it, a refining pass there, then the frames
    are resized to the request's width x height."""

    first_width: int
    first_height: int
    refine_timesteps: tuple[float, ...]
    refine_strength: float  # the refining pass's denoise_strength
    adain_factor: float
    # LTX-2's refining pass: its sigmas (re-noised to the first), at exactly the clip's
    # size; None for LTX-Video (refine_timesteps and refine_strength instead).
    refine_sigmas: tuple[float, ...] | None = None


@dataclass(frozen=True)
class RenderRequest:
    """Everything one render needs; crosses to Modal as a plain dict."""

    prompt: str
    negative_prompt: str
    width: int
    height: int
    num_frames: int
    fps: int
    steps: int
    guidance: float
    seed: int
    timesteps: list[float] | None = None
    decode_timestep: float = 0.05
    decode_noise_scale: float | None = 0.025
    max_sequence_length: int = MAX_SEQUENCE_LENGTH
    # Decode in tiles: long or large clips need less GPU memory that way.
    vae_tiling: bool = False
    metadata: dict[str, str] = field(default_factory=dict)
    # Images the clip starts from or passes through; as bytes, so they travel to Modal.
    images: tuple[ImageCondition, ...] = ()
    # A clip to continue (its MP4's bytes; ltx_extend.py): num_frames is then its overlap
    # plus the new frames, and the MP4 returned holds the source's frames and the new ones.
    extend: bytes | None = field(default=None, repr=False)
    # Render in two stages (the ltx-hd preset); the pipeline must have its upsampler.
    two_stage: TwoStagePlan | None = None
    # LoRAs applied for this render only; a local file's bytes travel inside the request.
    loras: tuple[LoraWeights, ...] = ()
    # LTX-2: keep the model's sound track in the MP4 (False: --no-audio). A model without
    # sound (LTX-Video) writes video only either way.
    audio: bool = True
    # LTX-2's sigma schedule (the preset's, when --steps is its own), in place of steps.
    sigmas: list[float] | None = None
    # LTX-2's guidance terms beyond `guidance` (diffusers' keyword: value), the preset's.
    guidance_terms: dict[str, float] = field(default_factory=dict)
    # --fast: the transformer skips cached steps (step_cache.py) for this render only.
    fast: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def denoising_steps(self) -> int:
        """The steps stage one denoises: its timesteps' count when it has them (LTX-2's
        sigmas are always `steps` long: from_dict checks it)."""
        return len(self.timesteps) if self.timesteps else self.steps

    @classmethod
    def field_names(cls) -> list[str]:
        return sorted(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RenderRequest:
        """The request a client sent; ValueError if it asks for what this code cannot do.

        Unknown fields are refused, never dropped: a newer client's option that an older
        deployment ignored would render something other than what was asked.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a render request is a dict, not {type(data).__name__}")
        unknown = sorted(set(data) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"unknown request field(s) {', '.join(map(str, unknown))}")
        try:
            request = cls(**data)
        except TypeError as exc:  # a required field missing
            raise ValueError(str(exc)) from None
        # The images arrive as to_dict made them: plain dicts, checked one by one.
        from pippa_cli.ltx_conditioning import images_from_dicts

        images = images_from_dicts(
            request.images, request.width, request.height, request.num_frames
        )
        if request.extend is not None:
            from pippa_cli.ltx_extend import check_source

            if images:
                raise ValueError("a request extends a clip or has images, not both")
            if request.two_stage is not None:
                raise ValueError("a request extends a clip or renders in two stages, not both")
            check_source(
                request.extend,
                width=request.width,
                height=request.height,
                fps=request.fps,
                num_frames=request.num_frames,
            )
        from pippa_cli.ltx_lora import loras_from_dicts

        loras = loras_from_dicts(request.loras)
        request = dataclasses.replace(request, images=images, loras=loras)
        if request.two_stage is not None:
            from pippa_cli.ltx_two_stage import plan_from_dict

            plan = plan_from_dict(request.two_stage, request.width, request.height)
            request = dataclasses.replace(request, two_stage=plan)
        from pippa_cli.render_checks import checked_sampling

        return checked_sampling(request)


def request_items(
    items: Any, field: str, label: str, keys: frozenset[str]
) -> list[tuple[str, dict[str, Any]]]:
    """A request's list field (images, loras) as (label N, dict) pairs; ValueError for
    anything but a list of dicts with exactly `keys` (a newer client's key is refused)."""
    if not isinstance(items, list | tuple):
        raise ValueError(f"{field} is a list, not {type(items).__name__}")
    checked = []
    for number, item in enumerate(items, 1):
        where = f"{label} {number}"
        checked.append((where, request_dict(item, where, keys)))
    return checked


def request_dict(item: Any, where: str, keys: frozenset[str]) -> dict[str, Any]:
    """A request's dict field (or a list's item) with exactly `keys`; ValueError if not."""
    if not isinstance(item, dict):
        raise ValueError(f"{where} is a dict, not {type(item).__name__}")
    if set(item) != keys:
        raise ValueError(
            f"{where} has the fields {', '.join(sorted(map(str, item)))}, "
            f"not {', '.join(sorted(keys))}"
        )
    return item


def load_pipeline(
    source: ModelSource,
    device: str | None = None,
    dtype: str | None = None,
    *,
    local_files_only: bool = False,
) -> Any:
    """Load an LTX text-to-video pipeline: bf16 on CUDA, float32 on CPU unless `dtype` says.

    Modal loads on the CPU in bf16 before its memory snapshot, then moves to the GPU; it
    passes `local_files_only` so a render never downloads (weights come at deploy time).
    A two-stage source (`source.upsampler`) loads its latent upsampler alongside: the
    result is then an ltx_two_stage.TwoStagePipelines, moved with `.to()` as one.
    """
    import diffusers
    import torch

    _quiet_libraries()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dtype is None:
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    if source.defaults.family == LTX_2:
        from pippa_cli.ltx2 import load_ltx2

        return load_ltx2(source, getattr(torch, dtype), local_files_only).to(device)
    pipeline_class = getattr(diffusers, source.defaults.pipeline_class)
    pipe = pipeline_class.from_pretrained(
        source.location,
        revision=source.revision,
        dtype=getattr(torch, dtype),
        local_files_only=local_files_only,
    )
    pipe.set_progress_bar_config(disable=True)
    if source.upsampler:
        from pippa_cli.ltx_two_stage import load_upsampler

        return load_upsampler(pipe, source, getattr(torch, dtype), local_files_only).to(device)
    return pipe.to(device)


def _quiet_libraries() -> None:
    """pippa draws its own progress; the libraries' bars and notices would garble it."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    for lib in (diffusers_logging, transformers_logging):
        lib.set_verbosity_error()
        lib.disable_progress_bar()


def render_frames(
    pipe: Any, request: RenderRequest, on_progress: ProgressCallback | None = None
) -> np.ndarray:
    """Run the diffusion and decode; returns uint8 frames (frames, height, width, 3)."""
    return render(pipe, request, on_progress).frames


def render(
    pipe: Any, request: RenderRequest, on_progress: ProgressCallback | None = None
) -> Rendered:
    """Run the diffusion and decode: the frames, and the sound of a model that has it."""
    from pippa_cli.ltx2 import is_ltx2
    from pippa_cli.ltx_lora import applied_loras
    from pippa_cli.ltx_two_stage import base_pipeline
    from pippa_cli.step_cache import cached_steps

    report = on_progress or (lambda stage, step, total: None)
    ltx2 = is_ltx2(pipe)
    if ltx2:
        from pippa_cli.ltx2 import check_request

        check_request(request)  # before a LoRA loads
    elif request.sigmas or request.guidance_terms:
        raise ValueError("sigmas and guidance terms are LTX-2's: this is an LTX-Video model")
    # Loaded for this render, unloaded after it however it ends (a misfit: before denoising);
    # on the transformer both passes of a two-stage render share. So is --fast's cache.
    base = base_pipeline(pipe)
    cached = request.denoising_steps() if request.fast else None
    with applied_loras(base, request.loras), cached_steps(base.transformer, cached):
        if ltx2:
            from pippa_cli.ltx2 import render_ltx2

            return render_ltx2(pipe, request, report)
        return Rendered(_render_frames(pipe, request, report))


def _render_frames(
    pipe: Any, request: RenderRequest, on_progress: ProgressCallback | None = None
) -> np.ndarray:
    import numpy as np

    report = on_progress or (lambda stage, step, total: None)
    if request.two_stage is not None:
        from pippa_cli.ltx_two_stage import render_two_stage

        return render_two_stage(pipe, request, report)
    from pippa_cli.ltx_two_stage import base_pipeline

    pipe = base_pipeline(pipe)  # an HD model asked for one stage renders one
    total = request.denoising_steps()
    report("denoising", 0, total)
    set_tiling(pipe, request.vae_tiling)
    generator = cpu_generator(request.seed)
    extra: dict[str, Any] = {}
    if request.timesteps:
        extra["timesteps"] = list(request.timesteps)
    runner = pipe
    if request.images:
        # Only with images: without a condition LTXConditionPipeline does not reproduce
        # LTXPipeline's frames, and text-to-video must render as it always has.
        from pippa_cli.ltx_conditioning import condition_pipeline, video_conditions

        runner = condition_pipeline(pipe)
        extra["conditions"] = video_conditions(request.images)
    source = None
    if request.extend is not None:
        from pippa_cli.ltx_conditioning import condition_pipeline
        from pippa_cli.ltx_extend import SourceClip

        size = (request.width, request.height)
        source = SourceClip.decode(request.extend, *size, request.num_frames)
        runner = condition_pipeline(pipe)
        extra["conditions"] = [source.condition()]
    output = runner(
        width=request.width,
        height=request.height,
        num_inference_steps=request.steps,
        generator=generator,
        output_type="np",
        callback_on_step_end=step_reporter("denoising", total, report, then="decoding"),
        **call_arguments(request),
        **extra,
    )
    frames = np.asarray(output.frames[0])
    rendered = (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)
    return rendered if source is None else source.joined(rendered)


def call_arguments(request: RenderRequest) -> dict[str, Any]:
    """What every diffusers pass of a request is called with, either family and either
    stage (the size, schedule, generator and output type are each pass's own)."""
    return {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        # Always explicit: LTX-2 would let a duration head (or its default 121) choose.
        "num_frames": request.num_frames,
        "frame_rate": request.fps,
        "guidance_scale": request.guidance,
        "decode_timestep": request.decode_timestep,
        "decode_noise_scale": request.decode_noise_scale,
        "max_sequence_length": request.max_sequence_length,
        # LTX-2's other guidance terms (render refuses them for LTX-Video).
        **request.guidance_terms,
    }


def generate_mp4(
    pipe: Any, request: RenderRequest, on_progress: ProgressCallback | None = None
) -> bytes:
    """Render `request` and return a web-ready MP4 carrying its metadata (and its sound,
    for a model that has it and a request that keeps it)."""
    clip = render(pipe, request, on_progress)
    if on_progress:
        on_progress("encoding", 0, 1)
    return encode_mp4(clip.frames, request.fps, request.metadata, clip.audio, clip.sample_rate)


def cpu_generator(seed: int) -> Any:
    """A CPU generator: the same seed draws the same noise on any machine (each pass of a
    two-stage render gets the seed afresh, as the diffusers docs' examples do)."""
    import torch

    return torch.Generator(device="cpu").manual_seed(seed)


def set_tiling(pipe: Any, tiling: bool) -> None:
    """Decode in tiles or not, per request: one warm container serves small and large
    clips alike."""
    if tiling:
        pipe.vae.enable_tiling()
    else:
        pipe.vae.disable_tiling()


def step_reporter(
    stage: str, total: int, report: ProgressCallback, then: str = ""
) -> Callable[[Any, int, Any, dict[str, Any]], dict[str, Any]]:
    """diffusers' callback_on_step_end, reporting step i of `total` of `stage` (and the
    stage `then` once the last step is done)."""

    def step_end(_pipe: Any, index: int, _timestep: Any, kwargs: dict[str, Any]) -> dict:
        report(stage, index + 1, total)
        if then and index + 1 == total:
            report(then, 0, 1)
        return kwargs

    return step_end
