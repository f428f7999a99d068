"""LTX-2 in the core: load the audio+video pipeline and render a request, frames and sound.

ltx.py dispatches here for a model of the LTX_2 family (loading) and for a pipeline this
module loaded (rendering); the two-stage recipe is in ltx2_two_stage.py. The model
denoises the video and its sound together in one transformer, so the sound costs no
extra pass: a request without audio (`--no-audio`) renders the same frames and drops it.

What LTX-2 cannot do that LTX-Video can is refused before anything runs (ValueError,
`check_request`): continuing a clip, and LTX-Video's timestep schedules.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pippa_cli.ltx import ImageCondition, ProgressCallback, Rendered, RenderRequest
    from pippa_cli.presets import ModelSource

# The pipeline's own guidance keywords a request may set beside guidance_scale (the
# presets' guidance_terms); any other keyword could change what the call does.
GUIDANCE_TERMS = frozenset(
    {
        "stg_scale",
        "modality_scale",
        "guidance_rescale",
        "audio_guidance_scale",
        "audio_stg_scale",
        "audio_modality_scale",
        "audio_guidance_rescale",
    }
)
# The real checkpoints' text connectors hold 128 learnable registers that replace the
# padding: the prompt's token length must be a multiple of them.
SEQUENCE_MULTIPLE = 128
# Optional components pippa never uses, not loaded (nor downloaded: container.py):
# LTX-2.5's ~10 GB Gemma 4 prompt enhancer (pippa has its own enhancer), the processor it
# needs, and the duration head (pippa always sets the clip's length).
SKIPPED_COMPONENTS = ("prompt_enhancer", "processor", "duration_head")
# The temporal grid of an image condition: LTX-2 places images at latent frames.
_FRAMES_PER_LATENT = 8


def load_ltx2(source: ModelSource, dtype: Any, local_files_only: bool) -> Any:
    """The LTX2Pipeline of `source` (on the CPU), with its latent upsampler for a
    two-stage source (an ltx2_two_stage.LTX2TwoStage then)."""
    from diffusers import LTX2Pipeline

    pipe = LTX2Pipeline.from_pretrained(
        source.location,
        revision=source.revision,
        dtype=dtype,
        local_files_only=local_files_only,
        **dict.fromkeys(SKIPPED_COMPONENTS),
    )
    pipe.set_progress_bar_config(disable=True)
    if source.upsampler:
        from pippa_cli.ltx2_two_stage import load_upsampler

        return load_upsampler(pipe, source, dtype, local_files_only)
    return pipe


def is_ltx2(pipe: Any) -> bool:
    """Whether `pipe` is an LTX-2 pipeline this module loaded (one or two stages)."""
    from diffusers import LTX2ConditionPipeline, LTX2Pipeline

    from pippa_cli.ltx2_two_stage import LTX2TwoStage

    return isinstance(pipe, LTX2Pipeline | LTX2ConditionPipeline | LTX2TwoStage)


def check_request(request: RenderRequest) -> None:
    """ValueError for what an LTX-2 render cannot do; before any work."""
    if request.extend is not None:
        raise ValueError("LTX-2 cannot continue a clip (extend): use an LTX-Video model")
    if request.timesteps:
        raise ValueError("LTX-2 takes sigmas, not timesteps")
    if request.max_sequence_length % SEQUENCE_MULTIPLE:
        raise ValueError(
            f"LTX-2's max_sequence_length is a multiple of {SEQUENCE_MULTIPLE}, "
            f"not {request.max_sequence_length}"
        )
    if request.two_stage is not None and request.two_stage.refine_sigmas is None:
        raise ValueError("an LTX-2 two-stage plan needs refine_sigmas")


def render_ltx2(pipe: Any, request: RenderRequest, report: ProgressCallback) -> Rendered:
    """Run the request; frames and the sound track (None when the request has no audio)."""
    from pippa_cli.ltx import call_arguments, cpu_generator, set_tiling, step_reporter
    from pippa_cli.ltx2_two_stage import render_two_stage
    from pippa_cli.ltx_two_stage import base_pipeline

    check_request(request)
    if request.two_stage is not None:
        return render_two_stage(pipe, request, report)
    pipe = base_pipeline(pipe)  # an HD model asked for one stage renders one
    set_tiling(pipe, request.vae_tiling)
    total = request.denoising_steps()
    report("denoising", 0, total)
    extra: dict[str, Any] = {}
    runner = pipe
    if request.images:
        # Only with images, as for LTX-Video: text-to-video renders with the plain pipeline.
        runner = condition_pipeline(pipe)
        extra["conditions"] = video_conditions(request.images, request.num_frames)
    output = runner(
        width=request.width,
        height=request.height,
        generator=cpu_generator(request.seed),
        output_type="np",
        callback_on_step_end=step_reporter("denoising", total, report, then="decoding"),
        **schedule(request),
        **call_arguments(request),
        **extra,
    )
    return rendered(pipe, request, output.frames, output.audio)


def schedule(request: RenderRequest) -> dict[str, Any]:
    """The denoising schedule: the request's sigmas when it has them, else N steps."""
    if request.sigmas:
        return {"sigmas": list(request.sigmas), "num_inference_steps": len(request.sigmas)}
    return {"num_inference_steps": request.steps}


def rendered(pipe: Any, request: RenderRequest, frames: Any, audio: Any) -> Rendered:
    """The pipeline's np frames (1, F, H, W, 3) in 0..1 and audio (1, channels, samples)
    as pippa's uint8 frames and float32 sound (channels, samples)."""
    import numpy as np

    from pippa_cli.ltx import Rendered

    video = (np.clip(np.asarray(frames[0]), 0.0, 1.0) * 255).round().astype(np.uint8)
    if not request.audio:
        return Rendered(video)
    sound = audio[0].float().cpu().numpy()
    return Rendered(video, sound, int(pipe.vocoder.config.output_sampling_rate))


def condition_pipeline(pipe: Any) -> Any:
    """An LTX2ConditionPipeline on `pipe`'s own modules (from_pipe copies no weights)."""
    from diffusers import LTX2ConditionPipeline

    if isinstance(pipe, LTX2ConditionPipeline):
        return pipe
    conditioned = LTX2ConditionPipeline.from_pipe(pipe)
    conditioned.set_progress_bar_config(disable=True)  # from_pipe does not carry it over
    return conditioned


def video_conditions(images: tuple[ImageCondition, ...], num_frames: int) -> list[Any]:
    """diffusers' LTX2VideoCondition for each image, at the latent frame nearest its frame.

    LTX-2 places an image at a latent frame: the first frame, or the first of one of the
    later 8-frame groups (frames 1, 9, 17, ...); an image for frame f goes to the nearest.
    """
    from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition

    from pippa_cli.ltx_conditioning import open_png

    conditions = []
    for image in images:
        index = latent_index(image.frame, num_frames)
        with open_png(image.png) as picture:
            rgb = picture.convert("RGB")
        conditions.append(LTX2VideoCondition(frames=rgb, index=index, strength=image.strength))
    return conditions


def latent_index(frame: int, num_frames: int) -> int:
    """The latent frame an image for `frame` (0 .. num_frames - 1) is placed at: the first,
    or the nearest of the later 8-frame groups (frames 1, 9, 17, ...)."""
    if frame <= 0:
        return 0
    last = (num_frames - 1) // _FRAMES_PER_LATENT
    nearest = math.floor((frame - 1) / _FRAMES_PER_LATENT + 0.5) + 1
    return min(last, max(1, nearest))  # a clip of one latent frame: the first
