"""What benchmarks/gpu.py measures, and how: a preset's request, the pipeline placed as the
Modal container places it, per-stage clocks, the bare diffusers replay, the levers.

Timing: forward hooks on the text encoder (and LTX-2's connectors), the transformer and
the latent upsampler; a wrapper on the VAEs' decode and the vocoder; pippa's own
mp4.encode_mp4 on its own; "other" is the rest of pippa's render. On CUDA every clock
reading synchronizes first, so a stage's time is its kernels', not their launches'.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pippa_cli.ltx_two_stage import base_pipeline

PROMPT = (
    "A red fox trots through fresh snow at dawn, its breath visible, the camera tracking low "
    "beside it as golden light spills across the drifts."
)
STAGES = ("text encoding", "denoising", "upsampling", "VAE decode", "audio decode")
MP4 = "MP4 encode"
OTHER = "other"
# The levers benchmarks/gpu.py knows: speed.py's, as "name" or "attention:<backend>", and
# the request's step cache ("fast"). compile goes last: it cannot be undone on a pipeline.
LEVERS = (
    "text_encoder_offload",
    "channels_last",
    "attention:sdpa",
    "attention:cudnn",
    "attention:efficient",
    "fast",
    "compile",
)
CUDA_ONLY_LEVERS = frozenset({"attention:cudnn", "attention:efficient"})


def preset_request(preset: Any, width: int, height: int, duration: float) -> Any:
    """The RenderRequest pippa sends for `preset` at this size, `duration` seconds at the
    preset's fps, with every setting the preset's (render_request.render_request's rules)."""
    from pippa_cli.limits import needs_vae_tiling
    from pippa_cli.ltx import RenderRequest
    from pippa_cli.presets import DEFAULT_NEGATIVE_PROMPT
    from pippa_cli.spec import frames_for

    frames = frames_for(duration, preset.fps)
    plan = None
    stages = preset.two_stage
    if stages is not None:  # as render_request.two_stage_plan
        plan = stages.plan(width, height)
    return RenderRequest(
        prompt=PROMPT,
        negative_prompt=DEFAULT_NEGATIVE_PROMPT,
        width=width,
        height=height,
        num_frames=frames,
        fps=preset.fps,
        steps=preset.steps,
        guidance=preset.guidance,
        seed=7,
        timesteps=list(preset.timesteps) if preset.timesteps else None,
        sigmas=list(preset.sigmas) if preset.sigmas else None,
        guidance_terms=dict(preset.guidance_terms),
        max_sequence_length=preset.max_sequence_length,
        decode_timestep=preset.decode_timestep,
        decode_noise_scale=preset.decode_noise_scale,
        # spec.vae_tiling: a two-stage preset always tiles.
        vae_tiling=stages is not None or needs_vae_tiling(width, height, frames),
        two_stage=plan,
        audio=preset.audio,
    )


def build_device(preset: Any, device: str) -> tuple[str, bool]:
    """(where to build or load the pipeline, whether it then takes turns on the GPU): the
    container's rule (container.needs_offload) on this GPU's memory."""
    if not device.startswith("cuda"):
        return device, False
    import torch

    from pippa_cli.container import needs_offload

    gpu_bytes = torch.cuda.get_device_properties(0).total_memory
    if needs_offload(preset, gpu_bytes):
        return "cpu", True  # diffusers' model offload moves each model from the CPU
    return device, False


def place(pipe: Any, device: str, offload: bool) -> Any:
    """Put `pipe` where the container would: model CPU offload, or all on `device`."""
    if offload:
        pipe.enable_model_cpu_offload()
        return pipe
    return pipe.to(device)


class StageClock:
    """Seconds per stage of one render, from hooks on the pipeline's models."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self._started: dict[int, float] = {}
        self._undo: list[Callable[[], None]] = []

    def now(self) -> float:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
        return time.perf_counter()

    def reset(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)

    def hook(self, module: Any, stage: str) -> None:
        """Time every forward of `module` as `stage` (first of the pre-hooks, so an onload
        that another hook does counts in the stage that needs it)."""
        if module is None:
            return

        def start(mod: Any, _args: Any) -> None:
            self._started[id(mod)] = self.now()

        def stop(mod: Any, _args: Any, _output: Any) -> None:
            self.seconds[stage] += self.now() - self._started.pop(id(mod))

        handles = [
            module.register_forward_pre_hook(start, prepend=True),
            module.register_forward_hook(stop),
        ]
        self._undo.extend(handle.remove for handle in handles)

    def wrap(self, owner: Any, method: str, stage: str) -> None:
        """Time every call of `owner.method` (a VAE's decode, not its forward) as `stage`."""
        if owner is None:
            return
        original = getattr(owner, method)

        def timed(*args: Any, **kwargs: Any) -> Any:
            begin = self.now()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += self.now() - begin

        setattr(owner, method, timed)
        self._undo.append(lambda: delattr(owner, method))

    def attach(self, pipe: Any) -> StageClock:
        models = base_pipeline(pipe)
        self.hook(models.text_encoder, "text encoding")
        self.hook(getattr(models, "connectors", None), "text encoding")
        self.hook(models.transformer, "denoising")
        upsampler = getattr(pipe, "upsampler", None)
        self.hook(getattr(upsampler, "latent_upsampler", None), "upsampling")
        self.wrap(models.vae, "decode", "VAE decode")
        self.wrap(getattr(models, "audio_vae", None), "decode", "audio decode")
        self.hook(getattr(models, "vocoder", None), "audio decode")
        return self

    def detach(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


@dataclass
class Measured:
    """A preset's warm renders: per-stage medians, the pippa/bare ratio, peak memory."""

    stages: dict[str, float]
    total: float  # median seconds per clip, render + MP4 encode
    runs: int
    peak_bytes: int
    bare: float | None = None  # median seconds of the bare diffusers calls
    render: float = 0.0  # median seconds of pippa's render (no MP4 encode)
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        return self.render / self.bare if self.bare else None


@contextmanager
def recorded_calls(pipe: Any) -> Iterator[list[tuple[Callable[..., Any], Any, dict[str, Any]]]]:
    """Every diffusers pipeline call pippa's render makes: (the class's __call__, the
    pipeline, its keywords), to replay bare. The classes' __call__ is swapped while
    recording (a call on an instance looks it up on its class)."""
    owners = [base_pipeline(pipe)]
    if getattr(pipe, "upsampler", None) is not None:
        owners.append(pipe.upsampler)
    calls: list[tuple[Callable[..., Any], Any, dict[str, Any]]] = []
    originals = {type(owner): type(owner).__call__ for owner in owners}

    def recording(original: Callable[..., Any]) -> Callable[..., Any]:
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            assert not args, "pippa calls pipelines with keywords only"
            calls.append((original, self, dict(kwargs)))
            return original(self, **kwargs)

        return call

    for cls, original in originals.items():
        cls.__call__ = recording(original)
    try:
        yield calls
    finally:
        for cls, original in originals.items():
            cls.__call__ = original


def replay(calls: list[tuple[Callable[..., Any], Any, dict[str, Any]]]) -> None:
    """The recorded calls, bare: the same keywords without pippa's step callback, each
    recorded generator replaced by a fresh one of the same seed (one shared generator
    stays shared)."""
    import torch

    fresh: dict[int, Any] = {}
    for original, owner, kwargs in calls:
        bare = dict(kwargs)
        if "callback_on_step_end" in bare:
            bare["callback_on_step_end"] = None
        generator = bare.get("generator")
        if generator is not None:
            if id(generator) not in fresh:
                fresh[id(generator)] = torch.Generator("cpu").manual_seed(generator.initial_seed())
            bare["generator"] = fresh[id(generator)]
        original(owner, **bare)


def peak_memory(cuda: bool) -> int:
    """Peak GPU memory allocated since the last reset, or the process's peak RSS (bytes)."""
    if cuda:
        import torch

        return int(torch.cuda.max_memory_allocated())
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # kB on Linux


def measure(pipe: Any, request: Any, runs: int, cuda: bool, bare: bool = True) -> Measured:
    """One warm-up render (recording pippa's diffusers calls), then `runs` timed renders
    through pippa's path, each followed (with `bare`) by the same calls made bare:
    interleaved, so a machine that slows down or speeds up affects both alike."""
    from pippa_cli.ltx import render

    with recorded_calls(pipe) as calls:
        render(pipe, request)  # warm-up: kernels, allocator, compile
    if cuda:
        import torch

        torch.cuda.reset_peak_memory_stats()
    per_run: list[dict[str, float]] = []
    bare_times: list[float] = []
    for _ in range(runs):
        per_run.append(_timed_render(pipe, request, cuda))
        if bare:
            bare_times.append(_timed_replay(calls, cuda))
    peak = peak_memory(cuda)
    medians = {key: statistics.median(run[key] for run in per_run) for key in per_run[0]}
    render_s = medians.pop("render")
    totals = [run["render"] + run[MP4] for run in per_run]
    result = Measured(medians, statistics.median(totals), runs, peak, render=render_s)
    if bare_times:
        result.bare = statistics.median(bare_times)
    return result


def _timed_render(pipe: Any, request: Any, cuda: bool) -> dict[str, float]:
    """One render through pippa's path with the stage clock on, then its MP4 encode."""
    from pippa_cli.ltx import render
    from pippa_cli.mp4 import encode_mp4

    clock = StageClock(cuda).attach(pipe)
    try:
        begin = clock.now()
        clip = render(pipe, request)
        rendered = clock.now() - begin
    finally:
        clock.detach()  # the bare replay runs without hooks
    begin = time.perf_counter()
    encode_mp4(clip.frames, request.fps, request.metadata, clip.audio, clip.sample_rate)
    encoded = time.perf_counter() - begin
    staged = sum(clock.seconds.values())
    return {**clock.seconds, MP4: encoded, OTHER: rendered - staged, "render": rendered}


def _timed_replay(calls: list[Any], cuda: bool) -> float:
    clock = StageClock(cuda)
    begin = clock.now()
    replay(calls)
    return clock.now() - begin


@dataclass
class LeverResult:
    lever: str
    seconds: float | None = None  # median seconds per clip with the lever on
    denoising: float | None = None
    peak_bytes: int | None = None
    note: str = ""


def lever_settings(lever: str) -> Any:
    """speed.SpeedSettings with only `lever` on (None for the request's `fast`)."""
    from pippa_cli.speed import SpeedSettings

    if lever == "fast":
        return None
    if lever.startswith("attention:"):
        return SpeedSettings(attention=lever.partition(":")[2])
    return SpeedSettings(
        compile=lever == "compile",
        text_encoder_offload=lever == "text_encoder_offload",
        channels_last=lever == "channels_last",
    )


def lever_unavailable(
    lever: str, device: str, offload: bool, request: Any | None = None
) -> str | None:
    """Why `lever` cannot be measured here (for `request`, when given), or None."""
    if lever not in LEVERS:
        return f"unknown lever (one of {', '.join(LEVERS)})"
    if lever in CUDA_ONLY_LEVERS and not device.startswith("cuda"):
        return "CUDA only"
    if lever == "fast" and request is not None:
        from pippa_cli.step_cache import problem

        # pippa refuses --fast there by design (exit 2): not a failed measurement.
        reason = problem(request.denoising_steps())
        if reason is not None:
            return f"n/a: {reason}"
    if lever == "text_encoder_offload" and offload:
        return "n/a: the pipeline already runs with model CPU offload"
    return None


def measure_lever(
    lever: str, pipe: Any, request: Any, device: str, runs: int, cuda: bool
) -> LeverResult:
    """`lever` on a freshly placed pipeline: the median seconds per clip, or why not."""
    from pippa_cli.speed import apply_speed, takes_turns

    why_not = lever_unavailable(lever, device, takes_turns(base_pipeline(pipe)), request)
    if why_not:
        return LeverResult(lever, note=why_not)
    settings = lever_settings(lever)
    try:
        if settings is not None:
            apply_speed(pipe, settings, device)
        else:
            request = dataclasses.replace(request, fast=True)
        result = measure(pipe, request, runs, cuda, bare=False)
    except Exception as exc:  # a lever that fails is a finding, not the end of the run
        return LeverResult(lever, note=f"failed: {type(exc).__name__}: {exc}"[:200])
    return LeverResult(lever, result.total, result.stages["denoising"], result.peak_bytes)
