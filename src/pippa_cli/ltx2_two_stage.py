"""LTX-2's two-stage recipe (the `ltx-2-hd` preset), as the diffusers LTX-2 docs write it
("Two-stage generation for LTX-2.5", distilled checkpoint, both stages):

1. stage one at exactly half the clip's size on the request's sigmas, video and audio
   latents out;
2. the LTX-2 latent upsampler doubles the video latents (`latents_normalized=False`:
   stage one's latent output is already denormalized, which the upsampler expects);
3. stage two at exactly the clip's size on the plan's refine_sigmas, both latents
   re-noised to the first of them, decoded in tiles (whatever vae_tiling says).

One CPU generator runs through all of it, so stage two draws fresh noise rather than
repeating stage one's. Image conditions go to both passes (the condition pipeline then).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pippa_cli.ltx_two_stage import TwoStagePipelines, upsample_pipeline

if TYPE_CHECKING:
    from pippa_cli.ltx import ProgressCallback, Rendered, RenderRequest
    from pippa_cli.presets import ModelSource


class LTX2TwoStage(TwoStagePipelines):
    """LTX-2's pipeline and latent upsampler: the pair ltx_two_stage loads, told apart
    from LTX-Video's by its type (rendering dispatches on it)."""


def load_upsampler(
    pipe: Any, source: ModelSource, dtype: Any, local_files_only: bool
) -> LTX2TwoStage:
    """`pipe` with the latent upsampler of `source` (its `latent_upsampler/` folder)."""
    from diffusers import LTX2LatentUpsamplePipeline
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    upsampler = upsample_pipeline(
        LTX2LatentUpsamplerModel,
        LTX2LatentUpsamplePipeline,
        pipe,
        source,
        dtype,
        local_files_only,
    )
    return LTX2TwoStage(pipe, upsampler)


def render_two_stage(pipes: Any, request: RenderRequest, report: ProgressCallback) -> Rendered:
    """Run the recipe; frames of the request's size and its sound track."""
    from pippa_cli import ltx2
    from pippa_cli.ltx import call_arguments, cpu_generator, set_tiling, step_reporter

    plan = request.two_stage
    assert plan is not None and plan.refine_sigmas  # ltx2.check_request saw to it
    if not isinstance(pipes, LTX2TwoStage):
        raise ValueError("this model was loaded without a latent upsampler: no two-stage render")
    if (2 * plan.first_width, 2 * plan.first_height) != (request.width, request.height):
        raise ValueError(
            f"LTX-2's stage one renders at exactly half the clip's {request.width}x"
            f"{request.height}, not {plan.first_width}x{plan.first_height}"
        )
    pipe = pipes.pipe
    shared = call_arguments(request)
    runner = pipe
    if request.images:
        runner = ltx2.condition_pipeline(pipe)
        shared["conditions"] = ltx2.video_conditions(request.images, request.num_frames)
    generator = cpu_generator(request.seed)

    # 1. Stage one at half size: latents out (video denormalized, audio too).
    total = request.denoising_steps()
    report("denoising", 0, total)
    video, audio = runner(
        width=plan.first_width,
        height=plan.first_height,
        generator=generator,
        output_type="latent",
        return_dict=False,
        callback_on_step_end=step_reporter("denoising", total, report),
        **ltx2.schedule(request),
        **shared,
    )
    # 2. The latent upsampler doubles the video latents.
    report("upsampling", 0, 1)
    video = pipes.upsampler(latents=video, latents_normalized=False, output_type="latent").frames
    report("upsampling", 1, 1)
    # 3. Stage two at the clip's size, re-noised to its first sigma, then the decode, in
    # tiles (the recipe's: the full size decoded whole would be its memory peak).
    set_tiling(pipe, True)
    sigmas = list(plan.refine_sigmas)
    report("refining", 0, len(sigmas))
    output = runner(
        width=request.width,
        height=request.height,
        latents=video,
        audio_latents=audio,
        sigmas=sigmas,
        num_inference_steps=len(sigmas),
        noise_scale=sigmas[0],
        generator=generator,
        output_type="np",
        callback_on_step_end=step_reporter("refining", len(sigmas), report, then="decoding"),
        **shared,
    )
    return ltx2.rendered(pipe, request, output.frames, output.audio)
