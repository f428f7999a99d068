"""Lightricks' two-stage HD recipe for the distilled 13B (the `ltx-hd` preset), in the core.

As the diffusers LTX docs write it (and configs/ltxv-13b-0.9.8-distilled.yaml, `multi-scale`):

1. stage one: LTXConditionPipeline at 2/3 of the clip's size, returning latents;
2. the latent upsampler (LTXLatentUpsamplePipeline) doubles them, adain_factor 1.0;
3. a short refining pass at the doubled size (denoise_strength 0.999, the latents as its
   start), decoded in tiles;
4. the frames resized (bilinear) to the clip's size.

Image conditions go to both passes (diffusers resizes them to each pass's size). ltx.py
calls this only for a request with a `two_stage` plan; the sizes come from the client
(render_request.py, presets.TwoStage.sizes) and are checked here, as diffusers checks
few of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pippa_cli.presets import UPSAMPLER_FOLDER

if TYPE_CHECKING:
    import numpy as np

    from pippa_cli.ltx import ProgressCallback, RenderRequest, TwoStagePlan
    from pippa_cli.presets import ModelSource

_FIELDS = frozenset(
    {
        "first_width",
        "first_height",
        "refine_timesteps",
        "refine_strength",
        "adain_factor",
        "refine_sigmas",
    }
)


@dataclass
class TwoStagePipelines:
    """A pipeline and its latent upsampler (sharing the VAE), moved as one: LTX-Video's
    (LTXConditionPipeline, LTXLatentUpsamplePipeline); LTX-2's is the subclass
    ltx2_two_stage.LTX2TwoStage."""

    pipe: Any
    upsampler: Any

    def to(self, device: str) -> TwoStagePipelines:
        self.pipe.to(device)
        self.upsampler.to(device)
        return self

    def enable_model_cpu_offload(self) -> None:
        """Each of the pipeline's models on the GPU only while it runs (container.py: a
        GPU too small for all at once). The upsampler (~1 GB) stays there: offloading its
        pipeline too would hook the VAE the two share a second time, breaking the first
        pipeline's chain; with latents in and out it runs no VAE, and its pipeline runs on
        the device the VAE's hook names."""
        self.pipe.enable_model_cpu_offload()
        self.upsampler.latent_upsampler.to("cuda")


def base_pipeline(pipe: Any) -> Any:
    """The pipeline holding the models: a two-stage pair's first (its upsampler shares
    that pipeline's VAE), else `pipe` itself."""
    return pipe.pipe if isinstance(pipe, TwoStagePipelines) else pipe


def load_upsampler(
    pipe: Any, source: ModelSource, dtype: Any, local_files_only: bool
) -> TwoStagePipelines:
    """`pipe` with the upsampler of `source` (its `latent_upsampler/` folder only: the
    upsampler repositories also hold a VAE, and the pipeline's own is used)."""
    from diffusers import LTXLatentUpsamplePipeline
    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel

    upsampler = upsample_pipeline(
        LTXLatentUpsamplerModel, LTXLatentUpsamplePipeline, pipe, source, dtype, local_files_only
    )
    return TwoStagePipelines(pipe, upsampler)


def upsample_pipeline(
    model_class: Any,
    pipeline_class: Any,
    pipe: Any,
    source: ModelSource,
    dtype: Any,
    local_files_only: bool,
) -> Any:
    """The latent upsampler in `source`'s `latent_upsampler/` folder, as a pipeline of
    `pipeline_class` sharing `pipe`'s VAE (LTX-Video's or LTX-2's classes)."""
    model = model_class.from_pretrained(
        source.upsampler,
        subfolder=UPSAMPLER_FOLDER,
        revision=source.upsampler_revision,
        dtype=dtype,
        local_files_only=local_files_only,
    )
    upsampler = pipeline_class(vae=pipe.vae, latent_upsampler=model)
    upsampler.set_progress_bar_config(disable=True)
    return upsampler


def plan_from_dict(data: Any, width: int, height: int) -> TwoStagePlan:
    """The request's two-stage plan from its dict (RenderRequest.to_dict); ValueError if
    it is one this code cannot render. An LTX-2 plan has refine_sigmas (its refining
    pass) in place of refine_timesteps and refine_strength."""
    from pippa_cli.ltx import TwoStagePlan, request_dict
    from pippa_cli.render_checks import checked_sigmas

    data = request_dict(data, "two_stage", _FIELDS)
    for name in ("first_width", "first_height"):
        size = data[name]
        if isinstance(size, bool) or not isinstance(size, int) or size < 32 or size % 32:
            raise ValueError(f"two_stage {name} {size!r} is not a positive multiple of 32")
    sigmas = data["refine_sigmas"]
    if sigmas is not None:
        sigmas = tuple(checked_sigmas(sigmas, "two_stage refine_sigmas"))
    timesteps = data["refine_timesteps"]
    if not isinstance(timesteps, list | tuple) or not (timesteps or sigmas):
        raise ValueError("two_stage refine_timesteps is a non-empty list of numbers")
    if not all(_number(t) and 0 <= t <= 1000 for t in timesteps):
        raise ValueError(f"two_stage refine_timesteps {list(timesteps)} are not all in 0..1000")
    for name in ("refine_strength", "adain_factor"):
        value = data[name]
        if not (_number(value) and 0 <= value <= 1) or (name == "refine_strength" and not value):
            raise ValueError(f"two_stage {name} {value!r} is outside 0..1")
    plan = TwoStagePlan(
        first_width=data["first_width"],
        first_height=data["first_height"],
        refine_timesteps=tuple(float(t) for t in timesteps),
        refine_strength=float(data["refine_strength"]),
        adain_factor=float(data["adain_factor"]),
        refine_sigmas=sigmas,
    )
    if sigmas is None and refine_steps(plan) < 1:
        raise ValueError("two_stage refine_strength leaves no refining step")
    if plan.first_width > width or plan.first_height > height:
        raise ValueError(
            f"two_stage stage one {plan.first_width}x{plan.first_height} is larger than "
            f"the clip's {width}x{height}"
        )
    return plan


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def refine_steps(plan: TwoStagePlan) -> int:
    """The steps the refining pass runs: diffusers keeps int(N x strength) of N timesteps."""
    return min(len(plan.refine_timesteps), int(len(plan.refine_timesteps) * plan.refine_strength))


def render_two_stage(pipes: Any, request: RenderRequest, report: ProgressCallback) -> np.ndarray:
    """Run the recipe; returns uint8 frames (frames, height, width, 3) of the request's size."""
    import numpy as np
    import torch

    from pippa_cli.ltx import call_arguments, cpu_generator, set_tiling, step_reporter

    plan = request.two_stage
    assert plan is not None  # render_frames calls this only with a plan
    if plan.refine_sigmas is not None:
        raise ValueError("an LTX-2 two-stage plan (refine_sigmas): this is an LTX-Video model")
    if not isinstance(pipes, TwoStagePipelines):
        raise ValueError("this model was loaded without a latent upsampler: no two-stage render")
    pipe = pipes.pipe
    set_tiling(pipe, request.vae_tiling)  # the recipe decodes the doubled size in tiles
    shared = call_arguments(request)
    if request.images:
        from pippa_cli.ltx_conditioning import video_conditions

        shared["conditions"] = video_conditions(request.images)

    # 1. Stage one at the small size: latents out.
    first_total = request.denoising_steps()
    first: dict[str, Any] = {"timesteps": list(request.timesteps)} if request.timesteps else {}
    report("denoising", 0, first_total)
    latents = pipe(
        width=plan.first_width,
        height=plan.first_height,
        num_inference_steps=request.steps,
        generator=cpu_generator(request.seed),
        output_type="latent",
        callback_on_step_end=step_reporter("denoising", first_total, report),
        **first,
        **shared,
    ).frames
    # 2. The latent upsampler doubles them.
    report("upsampling", 0, 1)
    latents = pipes.upsampler(
        latents=latents, adain_factor=plan.adain_factor, output_type="latent"
    ).frames
    report("upsampling", 1, 1)
    # 3. The refining pass at the doubled size, then the decode.
    refine_total = refine_steps(plan)
    report("refining", 0, refine_total)
    video = pipe(
        width=2 * plan.first_width,
        height=2 * plan.first_height,
        timesteps=list(plan.refine_timesteps),
        denoise_strength=plan.refine_strength,
        latents=latents,
        generator=cpu_generator(request.seed),
        output_type="pt",
        callback_on_step_end=step_reporter("refining", refine_total, report, then="decoding"),
        **shared,
    ).frames
    # 4. Resize to the clip's size: (frames, channels, height, width) in 0..1.
    video = torch.nn.functional.interpolate(
        video[0].float(), size=(request.height, request.width), mode="bilinear", align_corners=False
    )
    frames = video.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    return (frames * 255).round().astype(np.uint8)
