"""diffusers' step caches on the tiny LTX-Video and LTX-2 models: which work, how much of
the transformer's work each skips at 50 steps, and how far its frames are from uncached.

Determinism and plumbing only: the tiny models have random weights, so the frame
differences say nothing of real quality, and an adaptive cache (FirstBlockCache, which
skips when the first block's output changes little) skips as random weights make it,
not as real ones would. A fixed-schedule cache (TaylorSeer, pippa's --fast) skips the
same steps whatever the weights: its count here is the count on the real model. Nothing
is timed (the CPU's seconds say nothing of a GPU's): time `fast` on a GPU (benchmarks/gpu.py).

Each transformer block's feed-forward and each attention's query projection are counted
as they run: a cached block or attention runs neither. Figures: blocks and attentions run
(cached / uncached), PSNR and max abs difference of the frames in [0, 1] from the
uncached render, whether the same seed renders the same frames, and whether the next
render without the cache is bit-identical to the uncached one. LTX-2's sound figure says
little: the tiny vocoder barely depends on its latents (two seeds' sounds differ by ~2e-3).

Run: python benchmarks/step_cache.py [--steps 50] [--only ltx-video]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from tests.tiny_ltx import build_tiny_ltx
from tests.tiny_ltx2 import build_tiny_ltx2

# LTX-Video's tiny transformer has one block: FirstBlockCache needs two or more (its first
# block decides, the rest are skipped), so it runs on a four-block variant too.
DEEP_LAYERS = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--only", choices=("ltx-video", "ltx-2"))
    args = parser.parse_args()

    import torch
    from diffusers import LTX2Pipeline, LTXPipeline
    from diffusers.utils import logging

    from pippa_cli.step_cache import cache_config, computed_steps

    logging.set_verbosity_error()  # the figures only: no loading bars or notices
    logging.disable_progress_bar()

    fixed = computed_steps(args.steps)
    print(
        f"pippa --fast at {args.steps} steps: {len(fixed)} of {args.steps} steps run the "
        f"transformer's blocks ({1 - len(fixed) / args.steps:.0%} skipped), whatever the "
        "weights"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models: list[tuple[str, Any]] = []
        if args.only in (None, "ltx-video"):
            pipe = LTXPipeline.from_pretrained(build_tiny_ltx(root / "ltx"), dtype=torch.float32)
            models.append(("ltx-video (1 block)", pipe))
            deep = LTXPipeline.from_pretrained(root / "ltx", dtype=torch.float32)
            torch.manual_seed(0)
            config = {**deep.transformer.config, "num_layers": DEEP_LAYERS}
            deep.transformer = type(deep.transformer).from_config(config)
            models.append((f"ltx-video ({DEEP_LAYERS} blocks)", deep))
        if args.only in (None, "ltx-2"):
            pipe = LTX2Pipeline.from_pretrained(build_tiny_ltx2(root / "ltx2"), dtype=torch.float32)
            models.append(("ltx-2 (2 blocks)", pipe))
        for label, pipe in models:
            pipe.set_progress_bar_config(disable=True)
            evaluate(label, pipe, args.steps, candidates(pipe, args.steps, cache_config))


def candidates(pipe: Any, steps: int, pippa: Callable[[int], Any]) -> dict[str, Callable[[], Any]]:
    """The caches tried, by name: each makes its config (some need the pipeline's clock)."""
    import torch
    from diffusers.hooks import (
        FasterCacheConfig,
        FirstBlockCacheConfig,
        PyramidAttentionBroadcastConfig,
        TaylorSeerCacheConfig,
    )

    def clock() -> Any:
        return pipe.current_timestep

    return {
        "pippa --fast (TaylorSeer: blocks skipped, outputs extrapolated)": lambda: pippa(steps),
        "TaylorSeer defaults (attention named *attn)": lambda: TaylorSeerCacheConfig(),
        "TaylorSeer lite (proj_out only)": lambda: TaylorSeerCacheConfig(
            use_lite_mode=True, taylor_factors_dtype=torch.float32
        ),
        "FirstBlockCache threshold 0.05": lambda: FirstBlockCacheConfig(threshold=0.05),
        "FirstBlockCache threshold 0.2": lambda: FirstBlockCacheConfig(threshold=0.2),
        "PyramidAttentionBroadcast (diffusers' example)": lambda: PyramidAttentionBroadcastConfig(
            spatial_attention_block_skip_range=2,
            spatial_attention_timestep_skip_range=(100, 800),
            current_timestep_callback=clock,
        ),
        "FasterCache (diffusers' example)": lambda: FasterCacheConfig(
            spatial_attention_block_skip_range=2,
            spatial_attention_timestep_skip_range=(-1, 681),
            current_timestep_callback=clock,
            attention_weight_callback=lambda _: 0.3,
            unconditional_batch_skip_range=5,
            unconditional_batch_timestep_skip_range=(-1, 781),
            tensor_format="BFCHW",
        ),
    }


def evaluate(label: str, pipe: Any, steps: int, configs: dict[str, Callable[[], Any]]) -> None:
    counts = {"blocks": 0, "attentions": 0}
    _count_passes(pipe.transformer, counts)

    def render() -> tuple[Any, Any, dict[str, int]]:
        counts.update(blocks=0, attentions=0)
        return (*_render(pipe, steps), dict(counts))

    base, base_audio, plain = render()
    again, _, _ = render()
    print(
        f"\n{label}, {steps} steps, uncached: {plain['blocks']} block passes, "
        f"{plain['attentions']} attention passes; same seed, same frames: "
        f"{bool((again == base).all())}"
    )
    for name, make in configs.items():
        try:
            pipe.transformer.enable_cache(make())
            try:
                frames, audio, cached = render()
                repeat, _, _ = render()
            finally:
                pipe.transformer.disable_cache()
        except Exception as exc:  # a cache that does not fit this transformer: say how
            print(f"  {name}: FAILS, {type(exc).__name__}: {str(exc)[:120]}")
            continue
        after, _, _ = render()
        sound = ""
        if audio is not None and base_audio is not None:
            sound = f", sound max abs {abs(audio - base_audio).max():.1e}"
        print(
            f"  {name}: blocks {cached['blocks']}/{plain['blocks']} "
            f"({1 - cached['blocks'] / plain['blocks']:.0%} skipped), attentions "
            f"{cached['attentions']}/{plain['attentions']} "
            f"({1 - cached['attentions'] / plain['attentions']:.0%} skipped); PSNR "
            f"{_psnr(frames, base):.1f} dB, max abs {abs(frames - base).max():.4f}{sound}; "
            f"deterministic {bool((repeat == frames).all())}; uncached after "
            f"{bool((after == base).all())}"
        )


def _count_passes(transformer: Any, counts: dict[str, int]) -> None:
    """Count every block's feed-forward (LTX-2's sound one too) and every attention's query
    projection in `counts` as they run."""

    def counter(key: str) -> Callable[..., None]:
        def hook(*_: Any) -> None:
            counts[key] += 1

        return hook

    for name, module in transformer.named_modules():
        if name.endswith("ff"):
            module.register_forward_hook(counter("blocks"))
        elif name.endswith("to_q"):
            module.register_forward_hook(counter("attentions"))


def _render(pipe: Any, steps: int) -> tuple[Any, Any]:
    """The tiny clip's frames (and sound, LTX-2's) at `steps` steps, seed 3."""
    import numpy as np
    import torch

    from pippa_cli.ltx2 import is_ltx2

    kwargs: dict[str, Any] = {
        "prompt": "a red fox trotting through fresh snow",
        "negative_prompt": "blurry",
        "width": 64,
        "height": 64,
        "num_frames": 9,
        "num_inference_steps": steps,
        "generator": torch.Generator().manual_seed(3),
        "output_type": "np",
        "max_sequence_length": 16,
    }
    if is_ltx2(pipe):  # the full model's guidance: STG and modality passes as well
        kwargs.update(guidance_scale=4.0, frame_rate=24)
    else:  # the ltx-video preset's
        kwargs.update(guidance_scale=4.5, decode_timestep=0.05, decode_noise_scale=0.025)
    output = pipe(**kwargs)
    audio = getattr(output, "audio", None)
    sound = None if audio is None else np.asarray(audio[0].float())
    return np.asarray(output.frames[0]), sound


def _psnr(a: Any, b: Any) -> float:
    import numpy as np

    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(1 / mse))


if __name__ == "__main__":
    main()
