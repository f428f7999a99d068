"""Seconds per 5 s clip, per stage, peak memory and cost, per model preset.

Two modes, the same measurement (gpu_measure.py) through pippa's own render path:

- real weights (default, CUDA only): each preset loads from Hugging Face as pippa loads
  it (~10-70 GB per preset, downloaded on first use);
- `--random-weights`: each preset's real architecture built from its config with random
  weights (architectures.py), nothing downloaded: speed and memory do not depend on the
  weights' values. `--scale full` (the default on CUDA) is the real size; on a CPU
  (`--device cpu`) the default is `--scale small` at a small clip size, which proves the
  instrument works and measures nothing about a GPU.

The pipeline is placed as the Modal container places it (container.needs_offload: LTX-2
with model CPU offload on a GPU under 100 GB). Per preset at its default size (or
--width/--height), `--duration` seconds at its own fps: median of `--runs` warm renders
split into stages, pippa's render against the same diffusers calls made bare, peak memory,
cost per clip; then each of `--levers` on a fresh pipeline. `--write` writes RESULTS.md.

`--cold-start` (random weights): each preset's pipeline saved to disk (`--cold-dir`) and
loaded by a fresh process as a new Modal container loads it, every phase timed, and the
scale-down window that cold start implies (gpu_cold.py); with `--levers compile`, twice more
sharing one compile cache.

Run: python benchmarks/gpu.py --random-weights [--presets ltx-video ltx-2] [--runs 3]
     [--levers fast compile] [--cold-start [--cold-dir DIR]] [--write]
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its helper modules

from gpu_measure import (
    CUDA_ONLY_LEVERS,
    LEVERS,
    build_device,
    lever_unavailable,
    measure,
    measure_lever,
    place,
    preset_request,
)
from gpu_results import (
    PresetResult,
    describe_clip,
    environment,
    results_markdown,
    summary_lines,
)

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
ALL_PRESETS = ("ltx-video", "ltx-distilled", "ltx-hd", "ltx-2", "ltx-2-hd")
# The small architecture's clip on a CPU: the smallest size every preset renders (a
# two-stage preset's first stage is at least 64 px a side).
CPU_SIZE = (128, 128)
H100_PRICE = 3.95  # $/h (REFERENCES.md's price list)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presets", nargs="+", default=list(ALL_PRESETS), choices=ALL_PRESETS)
    parser.add_argument("--runs", type=int, default=3, help="timed warm renders (median)")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--scale", choices=("full", "small"), default=None)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--width", type=int, default=None, help="default: the preset's")
    parser.add_argument("--height", type=int, default=None, help="default: the preset's")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of clip")
    parser.add_argument(
        "--levers",
        nargs="*",
        default=[],
        metavar="LEVER",
        help=f"measure each on vs off: {', '.join(LEVERS)} (or 'all')",
    )
    parser.add_argument("--price-per-hour", type=float, default=H100_PRICE)
    parser.add_argument(
        "--cold-start",
        action="store_true",
        help="time a fresh process's load and first clip per preset (random weights)",
    )
    parser.add_argument(
        "--cold-dir",
        type=Path,
        default=None,
        help="where --cold-start saves each preset's weights (default: the temp dir)",
    )
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.name}")
    args = parser.parse_args(argv)
    if args.cold_start and not args.random_weights:
        parser.error("--cold-start saves the random-weight pipeline: add --random-weights")
    if args.cold_dir is not None and not args.cold_dir.is_dir():
        parser.error(f"--cold-dir {args.cold_dir} is not a directory")
    if args.scale is None:
        args.scale = "full" if args.device == "cuda" else "small"
    if args.runs < 1:
        parser.error("--runs is at least 1")
    if args.device == "cpu" and not args.random_weights:
        parser.error("real weights need a CUDA GPU: add --random-weights for a CPU run")
    if args.device == "cpu" and args.scale == "full":
        parser.error(
            "a full-size architecture needs a GPU (22B in float32 is 88 GB): --scale small"
        )
    if args.levers == ["all"]:
        args.levers = [
            lever for lever in LEVERS if args.device == "cuda" or lever not in CUDA_ONLY_LEVERS
        ]
    # compile last: it cannot be undone, and each lever gets a fresh pipeline anyway.
    args.levers = sorted(args.levers, key=lambda lever: lever == "compile")
    return args


def clip_size(args: argparse.Namespace, preset: Any) -> tuple[int, int]:
    if args.width and args.height:
        return args.width, args.height
    if args.scale == "small":
        return CPU_SIZE
    return preset.width, preset.height


def torch_dtype(args: argparse.Namespace) -> Any:
    """bf16 on the GPU as the container loads; float32 on a CPU."""
    import torch

    return torch.bfloat16 if args.device == "cuda" else torch.float32


def load(args: argparse.Namespace, name: str, where: str) -> Any:
    """The preset's pipeline on `where` (not yet placed): random or real weights."""
    dtype = torch_dtype(args)
    if args.random_weights:
        from architectures import build_pipeline

        return build_pipeline(name, args.scale, where, dtype)
    from pippa_cli.ltx import load_pipeline
    from pippa_cli.presets import resolve_model

    return load_pipeline(resolve_model(name), device=where, dtype=str(dtype).split(".")[-1])


def fresh(args: argparse.Namespace, name: str, preset: Any) -> tuple[Any, str, float]:
    """A newly built (or loaded) and placed pipeline: (pipe, where it runs, seconds)."""
    where, offload = build_device(preset, args.device)
    start = time.perf_counter()
    pipe = place(load(args, name, where), args.device, offload)
    placement = "model CPU offload" if offload else f"resident on {args.device}"
    return pipe, placement, time.perf_counter() - start


def release(pipe: Any, cuda: bool) -> None:
    import gc

    del pipe
    gc.collect()
    if cuda:
        import torch

        torch.cuda.empty_cache()


def bench_preset(args: argparse.Namespace, name: str) -> PresetResult:
    from pippa_cli.presets import PRESETS

    preset = PRESETS[name]
    cuda = args.device == "cuda"
    request = preset_request(preset, *clip_size(args, preset), args.duration)
    pipe, placement, built = fresh(args, name, preset)
    measured = measure(pipe, request, args.runs, cuda)
    release(pipe, cuda)
    result = PresetResult(name, describe_clip(request), placement, built, measured)
    offload = placement == "model CPU offload"
    for lever in args.levers:
        result.levers.append(_one_lever(args, name, preset, request, lever, offload))
    if args.cold_start:
        result.cold = _cold_start(args, name, preset, request, result)
    return result


def _cold_start(
    args: argparse.Namespace, name: str, preset: Any, request: Any, result: PresetResult
) -> Any:
    import tempfile

    from gpu_cold import measure_cold

    where, _ = build_device(preset, args.device)
    compiled = next((lever for lever in result.levers if lever.lever == "compile"), None)
    return measure_cold(
        lambda: load(args, name, where),
        name,
        args.scale,
        args.device,
        torch_dtype(args),
        request.to_dict(),
        args.cold_dir or Path(tempfile.gettempdir()),
        warm=result.measured.total,
        compile_warm=compiled.seconds if compiled is not None else None,
        with_compile="compile" in args.levers,
    )


def _one_lever(
    args: argparse.Namespace, name: str, preset: Any, request: Any, lever: str, offload: bool
) -> Any:
    from gpu_measure import LeverResult

    why_not = lever_unavailable(lever, args.device, offload, request)
    if why_not:
        return LeverResult(lever, note=why_not)
    pipe, _, _ = fresh(args, name, preset)
    try:
        return measure_lever(lever, pipe, request, args.device, args.runs, args.device == "cuda")
    finally:
        release(pipe, args.device == "cuda")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            "Error: no CUDA GPU here. Run with --random-weights --device cpu to check the "
            "instrument (the tests cover CPU correctness).",
            file=sys.stderr,
        )
        return 1
    command = "python benchmarks/gpu.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    if args.random_weights:
        weights = f"random, {args.scale}-size architecture (benchmarks/architectures.py)"
    else:
        weights = "real (Hugging Face)"
    env = environment(args.device, command, weights, args.price_per_hour)
    print(f"{env.device}; torch {env.torch}, diffusers {env.diffusers}; weights {weights}")
    print(env.load)
    results = []
    for name in args.presets:
        result = bench_preset(args, name)
        results.append(result)
        print("\n".join(summary_lines(result, env)), flush=True)
    if args.write:
        RESULTS.write_text(results_markdown(results, env) + "\n", encoding="utf-8")
        print(f"wrote {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
