"""The RenderRequest a checked spec becomes: the fields the option table routes there, what
the spec derives (frames, timesteps or LTX-2's sigmas and guidance terms, tiling, the fitted
images, the LoRAs' weights) and the MP4 tags that say where a clip came from."""

from __future__ import annotations

from pippa_cli.ltx import ImageCondition, RenderRequest, TwoStagePlan
from pippa_cli.spec import GenerateSpec
from pippa_cli.text import json_dumps, strip_controls
from pippa_cli.version import __version__


def render_request(spec: GenerateSpec, task_id: str, prompt: str) -> RenderRequest:
    """What the LTX core renders for `spec`, with `prompt` (the enhanced one) and the MP4
    tags that record where the clip came from."""
    # Tags are read by other programs: no controls (a NUL ends an MP4 comment early), no
    # escape sequences, no bidi tricks, no secrets.
    title, comment = strip_controls(spec.prompt), strip_controls(prompt)
    tags = {
        "title": title,
        "comment": comment,
        "pippa": json_dumps(
            {
                "task_id": task_id,
                "original_prompt": title,
                "enhanced_prompt": comment,
                "pippa_version": __version__,
                **spec.settings(),
            }
        ),
    }
    preset = spec.model.defaults
    return RenderRequest(
        prompt=prompt,
        num_frames=spec.num_frames,
        timesteps=spec.timesteps,
        sigmas=sigmas(spec),
        guidance_terms=guidance_terms(spec),
        max_sequence_length=preset.max_sequence_length,
        decode_timestep=spec.model.defaults.decode_timestep,
        decode_noise_scale=spec.model.defaults.decode_noise_scale,
        vae_tiling=spec.vae_tiling,
        metadata=tags,
        images=tuple(ImageCondition(i.png, i.frame, i.strength) for i in spec.images),
        extend=spec.extend.mp4 if spec.extend else None,
        two_stage=two_stage_plan(spec),
        loras=tuple(lora.weights() for lora in spec.loras),
        **spec.options.render_fields(),  # width, height, fps, steps, guidance, seed, ...
    )


def guidance_terms(spec: GenerateSpec) -> dict[str, float]:
    """LTX-2's guidance terms beyond --guidance: the preset's (a distilled checkpoint's, all
    off) with its own guidance; with another --guidance none, so the pipeline's own recipe
    applies (STG, modality guidance, the audio's own scale and rescale) and the sound is
    guided too, not only the picture."""
    preset = spec.model.defaults
    return dict(preset.guidance_terms) if spec.guidance == preset.guidance else {}


def sigmas(spec: GenerateSpec) -> list[float] | None:
    """LTX-2's sigma schedule: the preset's, which fits only its own step count; None
    otherwise (the core then spaces `steps` itself, as num_inference_steps)."""
    schedule = spec.model.defaults.sigmas
    return list(schedule) if schedule and spec.steps == spec.model.defaults.steps else None


def two_stage_plan(spec: GenerateSpec) -> TwoStagePlan | None:
    """The two-stage recipe's plan for a model that runs it (ltx-hd, ltx-2-hd), else None."""
    stages = spec.model.defaults.two_stage
    if stages is None or not spec.model.upsampler:
        return None
    return stages.plan(spec.width, spec.height)
