"""What a model and a GPU can render: requests that cannot finish are refused before any
money is spent, naming the largest request that would work.

Two kinds of limit:

- the model's own, from its preset (max_side, max_tokens): Lightricks say LTX-Video works
  best below 720x1280 and 257 frames, so a request may hold at most as many latent tokens
  as 1280x704 at 257 frames, and no side above 1280 (the seed's range, 3-10 s at 30 fps at
  768x512, fits easily); LTX-2 renders up to 2048 px a side and, as pippa holds it, the
  tokens of 1536x1024 at 10 s (241 frames at its 24 fps);
- the deployment's: an estimate of GPU memory and render time from each preset's figures
  (presets.py) and the GPU's (below), against the deployed GPU and timeout. An LTX-2 model
  on a GPU under presets.OFFLOAD_BELOW_GB is rendered with model CPU offload: only the
  weights that denoise and decode together are on the GPU at the peak
  (Preset.offload_weights_gb), and moving the weights between CPU and GPU adds time.

The memory and speed figures are estimates from published numbers, conservative on
purpose; `--allow-large` accepts the risk. `benchmarks/gpu.py` measures the real ones.
A two-stage preset (ltx-hd) is held to the model's limits at the clip's size, and to the
GPU's at its refining pass's size (twice stage one's: larger than the clip), where its
memory peaks; its time adds the refining steps there to stage one's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from pippa_cli.errors import UsageError
from pippa_cli.presets import LTX_2, LTX_VIDEO, OFFLOAD_BELOW_GB, Preset

# LTX's VAE compresses 32x in space and 8x in time; the transformer sees one token per
# latent cell.
SPATIAL, TEMPORAL = 32, 8


def latent_tokens(width: int, height: int, frames: int) -> int:
    return (width // SPATIAL) * (height // SPATIAL) * ((frames - 1) // TEMPORAL + 1)


# Each family's token limit as a clip size, for messages (a test holds them to the
# presets' max_tokens).
TOKEN_LIMIT_SIZES = {LTX_VIDEO: (1280, 704, 257), LTX_2: (1536, 1024, 241)}
# Above this many pixel-frames (768x512 at 161 frames, Lightricks' default clip), decoding
# without tiling needs more GPU memory than denoising: tile instead.
TILING_ABOVE = 768 * 512 * 161
# Denoising cost per step grows faster than linearly with the token count (attention).
_REFERENCE_TOKENS = latent_tokens(768, 512, 153)
_QUADRATIC_AT = 20_000
# Memory the CUDA context, the VAE decode (tiled) and fragmentation take beyond the model.
_OVERHEAD_GB = 4.0
# Host-to-GPU copies with model CPU offload (pageable memory over PCIe), GB/s: each render
# moves the offloaded weights onto the GPU and off again.
_OFFLOAD_GB_PER_S = 12.0

# GPU memory (GiB) and time per step relative to an H100, by Modal GPU name.
GPUS: dict[str, tuple[float, float]] = {
    "B200": (180, 0.6),
    "H200": (141, 0.9),
    "H100": (80, 1.0),
    "A100-80GB": (80, 1.8),
    "A100": (40, 1.8),
    "A100-40GB": (40, 1.8),
    "L40S": (48, 2.0),
    "A10G": (24, 4.0),
    "A10": (24, 4.0),
    "L4": (24, 5.0),
    "T4": (16, 10.0),
}


def gpu_figures(gpu: str) -> tuple[float, float] | None:
    """(memory GiB, slowness vs an H100) for a Modal GPU spec such as "H100", "h100:2",
    "A100-80GB!"; None for a GPU pippa has no figures for."""
    name = gpu.strip().upper().split(":")[0].rstrip("!")
    return GPUS.get(name)


def needs_vae_tiling(width: int, height: int, frames: int) -> bool:
    return width * height * frames > TILING_ABOVE


def offloaded(preset: Preset, gpu_gb: float | None) -> bool:
    """Whether the container renders `preset` with model CPU offload on a GPU this size
    (None: not known, taken as resident)."""
    return (
        preset.offload_weights_gb is not None and gpu_gb is not None and gpu_gb < OFFLOAD_BELOW_GB
    )


def resident_weights_gb(preset: Preset, gpu_gb: float | None = None) -> float:
    """The weights on the GPU at a render's peak: all of them, or with offload the set
    that denoises and decodes together."""
    if offloaded(preset, gpu_gb):
        assert preset.offload_weights_gb is not None
        return preset.offload_weights_gb
    return preset.weights_gb


def memory_gb(
    preset: Preset, width: int, height: int, frames: int, gpu_gb: float | None = None
) -> float:
    """Estimated peak GPU memory of one render (decoding tiled when large) on a GPU of
    `gpu_gb` (which says whether an LTX-2 model is offloaded; None: resident)."""
    if preset.two_stage is not None:
        width, height = preset.two_stage.sizes(width, height)[1]
    tokens = latent_tokens(width, height, frames)
    activations = preset.activation_gb_per_k_tokens * tokens / 1000
    return resident_weights_gb(preset, gpu_gb) + activations + _OVERHEAD_GB


def render_seconds(
    preset: Preset,
    width: int,
    height: int,
    frames: int,
    steps: int,
    slowness: float,
    gpu_gb: float | None = None,
) -> float:
    """Estimated seconds of one render on a warm container: denoising, decoding, encoding,
    and with offload (a GPU of `gpu_gb`) the weights' trips between CPU and GPU."""
    stages = preset.two_stage
    if stages is None:
        denoise = _denoise_seconds(preset, width, height, frames, steps, slowness)
    else:
        first, refine = stages.sizes(width, height)
        denoise = _denoise_seconds(preset, *first, frames, steps, slowness)
        denoise += _denoise_seconds(preset, *refine, frames, stages.refine_steps, slowness)
    moving = 2 * preset.weights_gb / _OFFLOAD_GB_PER_S if offloaded(preset, gpu_gb) else 0.0
    return denoise * 1.1 + 10 + frames * 0.05 + moving  # decode ~10%, encoding ~20 fps


def _denoise_seconds(
    preset: Preset, width: int, height: int, frames: int, steps: int, slowness: float
) -> float:
    tokens = latent_tokens(width, height, frames)
    scale = (tokens / _REFERENCE_TOKENS) * (1 + tokens / _QUADRATIC_AT)
    scale /= 1 + _REFERENCE_TOKENS / _QUADRATIC_AT
    return steps * preset.step_seconds * scale * slowness


@dataclass(frozen=True)
class Request:
    """The size of a request: what the limits look at."""

    width: int
    height: int
    frames: int
    fps: int
    steps: int

    def describe(self) -> str:
        return (
            f"{self.width}x{self.height} at {self.frames} frames ({self.frames / self.fps:.1f} s)"
        )


Fits = Callable[[int, int, int], bool]
# pippa's shortest clip (request_options.DURATION): a shorter "largest" is no option.
_SHORTEST_S = 3.0


def within_model_limits(preset: Preset, width: int, height: int, frames: int) -> bool:
    """Whether the preset's model renders this size well (its max_side and max_tokens)."""
    tokens = latent_tokens(width, height, frames)
    return max(width, height) <= preset.max_side and tokens <= preset.max_tokens


def size_step(preset: Preset) -> int:
    """What a suggested size's sides must be multiples of: 64 for LTX-2's two stages (stage
    one renders at exactly half the size), else the VAE's 32."""
    stages = preset.two_stage
    return 2 * SPATIAL if stages is not None and stages.refine_sigmas is not None else SPATIAL


def check_model_limits(preset: Preset, request: Request, also: Fits | None = None) -> None:
    """Refuse a size the preset's model does not render well (exit 2); `--allow-large`
    skips this.

    `also`: what else a suggested size must pass (the deployed GPU's limits)."""
    if within_model_limits(preset, request.width, request.height, request.frames):
        return

    def fits(width: int, height: int, frames: int) -> bool:
        ok = within_model_limits(preset, width, height, frames)
        return ok and (also is None or also(width, height, frames))

    example = TOKEN_LIMIT_SIZES.get(preset.family)
    about = f" and about {example[0]}x{example[1]} at {example[2]} frames" if example else ""
    raise UsageError(
        f"{request.describe()} is larger than {preset.family_name} renders well "
        f"(at most {preset.max_side} px a side{about})",
        _largest(request, fits, size_step(preset)) + " --allow-large renders it anyway.",
    )


def check_request(
    preset: Preset, request: Request, gpu: str | None = None, timeout_s: int | None = None
) -> str | None:
    """Every size check that applies (the GPU's when it is known); a warning, if any."""
    if gpu is None or timeout_s is None:
        check_model_limits(preset, request)
        return None
    figures = gpu_figures(gpu)
    on_gpu = None if figures is None else _on_gpu(preset, request.steps, *figures, timeout_s)
    check_model_limits(preset, request, also=on_gpu)
    return check_gpu(preset, request, gpu, timeout_s)


def _on_gpu(preset: Preset, steps: int, gpu_gb: float, slowness: float, timeout_s: int) -> Fits:
    """Whether a size fits the GPU's memory and finishes within the timeout."""

    def fits(width: int, height: int, frames: int) -> bool:
        seconds = render_seconds(preset, width, height, frames, steps, slowness, gpu_gb)
        return memory_gb(preset, width, height, frames, gpu_gb) <= gpu_gb and seconds <= timeout_s

    return fits


def check_gpu(preset: Preset, request: Request, gpu: str, timeout_s: int) -> str | None:
    """Refuse a request the deployed GPU cannot hold or finish within the timeout (exit 2).

    Returns a warning instead when pippa has no figures for the GPU."""
    figures = gpu_figures(gpu)
    if figures is None:
        return f"no memory or speed figures for GPU {gpu!r}: size limits not checked"
    gpu_gb, slowness = figures

    on_gpu = _on_gpu(preset, request.steps, gpu_gb, slowness, timeout_s)

    # What is suggested instead must pass every check, the model's own included.
    step = size_step(preset)

    def fits_memory(width: int, height: int, frames: int) -> bool:
        return memory_gb(preset, width, height, frames, gpu_gb) <= gpu_gb and within_model_limits(
            preset, width, height, frames
        )

    def fits_everything(width: int, height: int, frames: int) -> bool:
        return on_gpu(width, height, frames) and within_model_limits(preset, width, height, frames)

    # A GPU that cannot hold even the resident weights needs the next size up.
    larger = "H200" if preset.offload_weights_gb is not None and gpu_gb >= 80 else "H100"
    need = memory_gb(preset, request.width, request.height, request.frames, gpu_gb)
    if need > gpu_gb:
        if resident_weights_gb(preset, gpu_gb) + _OVERHEAD_GB > gpu_gb:
            hint = f"This model needs a larger GPU: pippa deploy --gpu {larger} (now {gpu})."
        else:
            hint = (
                _largest(request, fits_memory, step) + f" Or deploy a larger GPU: --gpu {larger}."
            )
        raise UsageError(
            f"{request.describe()} needs about {need:.0f} GB of GPU memory; "
            f"the Modal app's {gpu} has {gpu_gb:.0f} GB",
            hint + " --allow-large tries anyway.",
        )
    seconds = render_seconds(
        preset, request.width, request.height, request.frames, request.steps, slowness, gpu_gb
    )
    if seconds > timeout_s:
        steps = _largest_steps(preset, request, slowness, timeout_s, gpu_gb)
        fewer = f"At most {steps} steps fit. " if steps else ""
        raise UsageError(
            f"{request.describe()} at {request.steps} steps would take about "
            f"{seconds / 60:.0f} min on {gpu}, past the Modal app's {timeout_s} s timeout",
            f"{fewer}{_largest(request, fits_everything, step)} Or redeploy with a longer one: "
            f"pippa deploy --timeout {_round_up(seconds * 1.5)}. --allow-large tries anyway.",
        )
    return None


def _largest(request: Request, fits: Fits, step: int = SPATIAL) -> str:
    """'Largest that works: N s at this size, or WxH at this length.' (what exists)."""
    options = []
    frames = request.frames
    while frames > 1 and not fits(request.width, request.height, frames):
        frames -= TEMPORAL
    seconds = math.floor(frames / request.fps * 10) / 10
    if frames > 1 and seconds >= _SHORTEST_S:
        # Rounded down: a duration rounded up could need the next 8 frames.
        options.append(f"{seconds:.1f} s at {request.width}x{request.height}")
    size = _largest_size(request, fits, step)
    if size is not None:
        options.append(f"{size[0]}x{size[1]} at this length")
    if not options:
        return "No smaller request of this kind fits either."
    return "Largest that works: " + ", or ".join(options) + "."


def _largest_size(request: Request, fits: Fits, step: int = SPATIAL) -> tuple[int, int] | None:
    """The largest size with the same aspect ratio (multiples of `step`) that fits."""
    aspect = request.height / request.width
    width = (request.width - 1) // step * step
    while width >= 64:
        height = max(64, round(width * aspect / step) * step)
        if fits(width, height, request.frames):
            return width, height
        width -= step
    return None


def _largest_steps(
    preset: Preset, request: Request, slowness: float, timeout_s: int, gpu_gb: float
) -> int:
    size = (request.width, request.height, request.frames)
    fixed = render_seconds(preset, *size, 0, slowness, gpu_gb)
    per_step = render_seconds(preset, *size, 1, slowness, gpu_gb) - fixed
    return max(0, int((timeout_s - fixed) / per_step))


def _round_up(seconds: float) -> int:
    return min(86400, int(math.ceil(seconds / 600) * 600))


def accepted_risks(
    preset: Preset, request: Request, gpu: str | None = None, timeout_s: int | None = None
) -> list[str]:
    """With --allow-large: what the checks would have refused, as warnings."""
    risks = []
    checks: list[Callable[[], object]] = [lambda: check_model_limits(preset, request)]
    if gpu is not None and timeout_s is not None:
        checks.append(lambda: check_gpu(preset, request, gpu, timeout_s))
    for check in checks:
        try:
            check()
        except UsageError as exc:
            risks.append(f"rendering anyway (--allow-large): {exc.message}")
    return risks
