"""Seconds per 5 s clip and peak GPU memory, per model preset, on a CUDA machine.

Uses the same core as Modal and the local backend (pippa_cli.ltx). Weights are
downloaded from Hugging Face on first use (~10-40 GB per preset).
Run: python benchmarks/gpu.py [--presets ltx-video ltx-distilled] [--runs 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presets", nargs="+", default=["ltx-video", "ltx-distilled"])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--width", type=int, default=768)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        sys.exit("No CUDA GPU: this benchmark needs one (the tests cover CPU correctness).")
    from pippa_cli.ltx import RenderRequest, generate_mp4, load_pipeline
    from pippa_cli.presets import DEFAULT_NEGATIVE_PROMPT, resolve_model
    from pippa_cli.spec import frames_for

    frames = frames_for(args.duration, args.fps)
    print(
        f"GPU: {torch.cuda.get_device_name(0)}; clip {args.width}x{args.height}, "
        f"{frames} frames at {args.fps} fps"
    )
    for name in args.presets:
        source = resolve_model(name)
        start = time.perf_counter()
        pipe = load_pipeline(source, device="cuda")
        load_s = time.perf_counter() - start
        preset = source.defaults
        request = RenderRequest(
            prompt="A red fox trots through fresh snow at dawn, its breath visible, the camera "
            "tracking low beside it as golden light spills across the drifts.",
            negative_prompt=DEFAULT_NEGATIVE_PROMPT,
            width=args.width,
            height=args.height,
            num_frames=frames,
            fps=args.fps,
            steps=preset.steps,
            guidance=preset.guidance,
            seed=7,
            timesteps=list(preset.timesteps) if preset.timesteps else None,
            decode_timestep=preset.decode_timestep,
            decode_noise_scale=preset.decode_noise_scale,
        )
        generate_mp4(pipe, request)  # warm-up (kernels, allocator)
        torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(args.runs):
            torch.cuda.synchronize()
            start = time.perf_counter()
            generate_mp4(pipe, request)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        peak = torch.cuda.max_memory_allocated() / 2**30
        print(
            f"{name:<14} load {load_s:6.1f} s | {statistics.median(times):6.1f} s per clip "
            f"(median of {args.runs}) | peak {peak:5.1f} GiB"
        )
        del pipe
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
