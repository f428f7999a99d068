"""--fast: diffusers' TaylorSeer cache on the transformer, for one render.

On a cached step no transformer block runs: each block returns zeros and the model's
output (`proj_out`, and LTX-2's `audio_proj_out`) is extrapolated from the last steps that
ran in full (a first-order Taylor series). Which steps run in full is a fixed schedule of
the step count alone, never of the weights (unlike FirstBlockCache or MagCache, which
skip when the output changes little): its saving is the same with real weights as with
random ones, and `computed_steps` counts it exactly. benchmarks/step_cache.py compares
the candidates on the tiny models; the README gives the figures.

What it costs in quality is not measured here (only real weights can tell): it is an
opt-in trade. Imported by the spec checks: nothing heavy at the top.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# A schedule shorter than this has no steps to spare: a distilled checkpoint's 8 steps
# each move far, and extrapolating across them is guessing.
MIN_STEPS = 20
# One step in CACHE_INTERVAL runs in full between the warm-up and the cool-down.
CACHE_INTERVAL = 3
# The fewest steps run in full at either end. More than a two-stage render's refining
# pass has (LTX-Video 4, LTX-2 3): that pass, with its own count, runs all in full.
WARM_UP = 5
# The model's outputs, extrapolated on cached steps (LTX-Video has the first; LTX-2 both).
_OUTPUTS = [r"proj_out", r"audio_proj_out"]
# The blocks, skipped on cached steps (each returns zeros of its recorded shape).
_BLOCKS = [r"transformer_blocks\.\d+"]


def problem(steps: int) -> str | None:
    """Why --fast cannot help a render of `steps` denoising steps (None when it can)."""
    if steps < MIN_STEPS:
        return f"{steps} steps are too few to cache (--fast needs {MIN_STEPS} or more)"
    return None


def schedule(steps: int) -> tuple[int, int]:
    """(warm-up, cool-down): the first step that may be cached, and the first of the last
    steps that all run in full. A tenth of the schedule each, and at least WARM_UP: the
    first steps lay out the picture and the last ones its detail, the steps least safe to
    guess."""
    edge = max(WARM_UP, steps // 10)
    return edge, steps - edge


def computed_steps(steps: int) -> list[int]:
    """The steps whose transformer blocks run in full under --fast: diffusers' own rule
    (TaylorSeerCacheHook._measure_should_compute) with `schedule(steps)`."""
    warm_up, cool_down = schedule(steps)
    return [
        step
        for step in range(steps)
        if step < warm_up or step >= cool_down or (step - warm_up - 1) % CACHE_INTERVAL == 0
    ]


def cache_config(steps: int) -> Any:
    """The TaylorSeerCacheConfig for a render of `steps` steps."""
    import torch
    from diffusers.hooks import TaylorSeerCacheConfig

    warm_up, cool_down = schedule(steps)
    return TaylorSeerCacheConfig(
        cache_interval=CACHE_INTERVAL,
        disable_cache_before_step=warm_up,
        disable_cache_after_step=cool_down,
        max_order=1,
        # The extrapolated outputs are small (latent channels per token): full precision.
        taylor_factors_dtype=torch.float32,
        skip_predict_identifiers=list(_BLOCKS),
        cache_identifiers=list(_OUTPUTS),
    )


@contextmanager
def cached_steps(transformer: Any, steps: int | None) -> Iterator[None]:
    """`transformer` with the cache for a render of `steps` steps (None: uncached) for the
    block; removed when it ends, however it ends, so a warm container's next render runs
    uncached. The pipeline resets the cache's step count after each call of its own, so
    each pass of a two-stage render starts afresh: stage one is cached, the refining
    pass's few steps all fall in the warm-up and run in full."""
    if steps is None:
        yield
        return
    reason = problem(steps)
    if reason is not None:
        raise ValueError(f"fast: {reason}")
    transformer.enable_cache(cache_config(steps))
    try:
        yield
    finally:
        transformer.disable_cache()
