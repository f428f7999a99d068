"""benchmarks/gpu.py's report: lines for the terminal, benchmarks/RESULTS.md for the repo."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from gpu_cold import CAVEAT, PHASES, ColdResult, ColdRun, window
from gpu_measure import MP4, OTHER, STAGES, LeverResult, Measured

RATIO_TARGET = 1.03


@dataclass
class PresetResult:
    preset: str
    clip: str  # "768x512, 153 frames at 30 fps"
    placement: str  # "resident on cuda", "model CPU offload", "cpu"
    build_seconds: float
    measured: Measured
    levers: list[LeverResult] = field(default_factory=list)
    cold: ColdResult | None = None  # --cold-start


@dataclass
class Environment:
    date: str
    device: str  # the GPU's name, or the CPU's
    driver: str
    torch: str
    diffusers: str
    command: str
    cuda: bool
    weights: str  # "random (full-size architecture)", "random (small architecture)", "real"
    price_per_hour: float
    # The machine's load when the run began: other work on it makes every figure noise.
    load: str = ""


def environment(device: str, command: str, weights: str, price: float) -> Environment:
    import platform

    import diffusers
    import torch

    cuda = device.startswith("cuda")
    if cuda:
        name = torch.cuda.get_device_name(0)
        driver = _nvidia_driver()
    else:
        name = (
            f"CPU: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
        )
        driver = "n/a"
    return Environment(
        date=datetime.date.today().isoformat(),
        device=name,
        driver=driver,
        torch=torch.__version__,
        diffusers=diffusers.__version__,
        command=command,
        cuda=cuda,
        weights=weights,
        price_per_hour=price,
        load=_load(),
    )


def _load() -> str:
    import os

    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    busy = load > 0.5 * cores
    note = ": other work competes for the CPU, so the figures are noisy" if busy else ""
    return f"load average {load:.1f} on {cores} CPU cores at the start{note}"


def _nvidia_driver() -> str:
    import subprocess

    try:
        found = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown (nvidia-smi did not answer)"
    return found.stdout.strip().splitlines()[0] if found.stdout.strip() else "unknown"


def memory_label(env: Environment) -> str:
    return "peak GPU memory" if env.cuda else "peak RSS of the process so far"


def cost(seconds: float, env: Environment) -> float:
    return seconds * env.price_per_hour / 3600


def _gib(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**30:.2f} GiB"


def _ratio(measured: Measured) -> str:
    ratio = measured.ratio
    if ratio is None:
        return "not measured"
    verdict = "within" if ratio <= RATIO_TARGET else "OVER"
    return f"{ratio:.3f} ({verdict} the {RATIO_TARGET} target)"


def summary_lines(result: PresetResult, env: Environment) -> list[str]:
    """What the terminal gets for one preset: every stage, the ratio, memory, cost."""
    measured = result.measured
    lines = [
        f"{result.preset}: {result.clip}; {result.placement}; built in "
        f"{result.build_seconds:.1f} s",
        f"  {measured.total:.2f} s per clip (median of {measured.runs}, warm)",
    ]
    for stage in (*STAGES, MP4, OTHER):
        lines.append(f"    {stage:<14} {measured.stages[stage]:8.3f} s")
    lines += [
        f"  pippa render {measured.render:.3f} s vs bare diffusers "
        + (f"{measured.bare:.3f} s" if measured.bare else "-")
        + f": ratio {_ratio(measured)}",
        f"  {memory_label(env)} {_gib(measured.peak_bytes)}",
        f"  cost ${cost(measured.total, env):.4f} per clip at ${env.price_per_hour:.2f}/h",
    ]
    for lever in result.levers:
        lines.append("  lever " + _lever_text(lever, measured))
    if result.cold is not None:
        lines += cold_lines(result.cold, env)
    return lines


def cold_lines(cold: ColdResult, env: Environment) -> list[str]:
    """The cold start's phases per fresh process, its cost and the window it implies."""
    if cold.skipped:
        return [f"  cold start: {cold.skipped}"]
    lines = [
        f"  cold start (a fresh process; weights {cold.weights_bytes / 1e9:.2f} GB saved to "
        f"local disk in {cold.saved_seconds:.1f} s):"
    ]
    for run in cold.runs:
        if run.note:
            lines.append(f"    {run.label}: {run.note}")
            continue
        lines.append(f"    {run.label}:")
        for phase in PHASES:
            lines.append(f"      {phase:<18} {run.phases[phase]:8.2f} s")
        lines.append(
            f"      {'total':<18} {run.total:8.2f} s, ${cost(run.total, env):.4f} at "
            f"${env.price_per_hour:.2f}/h"
        )
        lines.append("      " + _window_text(run, env))
    if cold.cache_bytes is not None:
        lines.append(
            f"    compile cache after the first compile: {cold.cache_bytes / 2**20:.1f} MiB"
        )
    lines.append(f"    note: {CAVEAT}")
    return lines


def _window_text(run: ColdRun, env: Environment) -> str:
    seconds = window(run)
    if seconds is None or run.warm_seconds is None:
        return "no warm clip to compare: no window"
    return (
        f"warm clip {run.warm_seconds:.2f} s: the cold start adds {run.extra:.2f} s; "
        f"scale-down window ~{seconds:.0f} s (ski rental), idle cost "
        f"${cost(seconds, env):.4f} each time the container idles out"
    )


def _lever_text(lever: LeverResult, baseline: Measured) -> str:
    if lever.seconds is None:
        return f"{lever.lever}: {lever.note}"
    return (
        f"{lever.lever}: {baseline.total:.3f} -> {lever.seconds:.3f} s per clip "
        f"(x{baseline.total / lever.seconds:.2f})"
    )


def results_markdown(results: list[PresetResult], env: Environment) -> str:
    lines = [
        "# GPU benchmark results",
        "",
        f"- Date: {env.date}",
        f"- Device: {env.device}",
        f"- Driver: {env.driver}",
        f"- Machine: {env.load}",
        f"- torch {env.torch}, diffusers {env.diffusers}",
        f"- Weights: {env.weights}",
        f"- Command: `{env.command}`",
        "",
    ]
    if not env.cuda:
        lines += [
            "**These are CPU figures of a scaled-down architecture (`--scale small`: the same",
            "structure, narrow and shallow, random weights). They prove that the instrument",
            "works end to end; they are not GPU figures and say nothing about GPU speed,",
            "memory or cost. Run `python benchmarks/gpu.py --random-weights --device cuda",
            "--write` on an H100 or H200 for those.**",
            "",
        ]
    lines += [
        "Seconds are medians of warm renders (one warm-up first) through pippa's render path",
        "(`pippa_cli.ltx.render`) plus `pippa_cli.mp4.encode_mp4`; stages are timed with",
        "hooks on the models (synchronized on CUDA), `other` is the rest of the render.",
        "Ratio: pippa's render over the same diffusers calls made bare (target <= "
        f"{RATIO_TARGET}). Cost at ${env.price_per_hour:.2f}/h.",
        "",
    ]
    for result in results:
        lines += _preset_table(result, env)
    levers = [(r.preset, lever, r.measured) for r in results for lever in r.levers]
    if levers:
        lines += [
            "## Speed levers",
            "",
            "Each lever alone, on a freshly built pipeline, against the preset's baseline above.",
            "",
            "| preset | lever | off s/clip | on s/clip | speed-up | denoising on | "
            f"{memory_label(env)} on | note |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for preset, lever, baseline in levers:
            lines.append(_lever_row(preset, lever, baseline))
        lines.append("")
    colds = [r.cold for r in results if r.cold is not None]
    if colds:
        lines += cold_markdown(colds, env)
    return "\n".join(lines)


def cold_markdown(colds: list[ColdResult], env: Environment) -> list[str]:
    """RESULTS.md's cold-start table: a row per fresh process."""
    head = " | ".join(PHASES)
    lines = [
        "## Cold start",
        "",
        "Each preset's pipeline saved to local disk, then loaded by a fresh Python process",
        "as a new Modal container loads it (`pippa_cli.container.Worker`: load on the CPU,",
        "placement, first clip with its MP4 encode), every phase timed. *extra*: the total",
        "less a warm clip with the same levers; *window*: the scale-down window the ski-rental",
        "rule gives (about one cold start's extra seconds: never more than twice the best",
        "choice), and its idle cost each time a container idles out. "
        f"Cost at ${env.price_per_hour:.2f}/h.",
        "",
        f"**A lower bound for the load:** {CAVEAT}",
        "",
        f"| preset | process | {head} | total s | cost | warm clip s | extra s | window s | "
        "idle cost |",
        "| --- | --- | " + "--- | " * len(PHASES) + "--- | --- | --- | --- | --- | --- |",
    ]
    blank = " | ".join("-" for _ in range(len(PHASES) + 6))
    for cold in colds:
        if cold.skipped:
            lines.append(f"| {cold.preset} | {cold.skipped} | {blank} |")
            continue
        for run in cold.runs:
            if run.note:
                lines.append(f"| {cold.preset} | {run.label}: {run.note} | {blank} |")
                continue
            phases = " | ".join(f"{run.phases[phase]:.2f}" for phase in PHASES)
            seconds = window(run)
            warm = "-" if run.warm_seconds is None else f"{run.warm_seconds:.2f}"
            extra = "-" if run.extra is None else f"{run.extra:.2f}"
            idle = "-" if seconds is None else f"${cost(seconds, env):.4f}"
            lines.append(
                f"| {cold.preset} | {run.label} | {phases} | {run.total:.2f} | "
                f"${cost(run.total, env):.4f} | {warm} | {extra} | "
                f"{'-' if seconds is None else f'{seconds:.0f}'} | {idle} |"
            )
    lines.append("")
    return lines


def _preset_table(result: PresetResult, env: Environment) -> list[str]:
    measured = result.measured
    rows = [
        f"## {result.preset}",
        "",
        f"{result.clip}; {result.placement}; pipeline built in {result.build_seconds:.1f} s.",
        "",
        "| stage | seconds | share |",
        "| --- | --- | --- |",
    ]
    for stage in (*STAGES, MP4, OTHER):
        seconds = measured.stages[stage]
        rows.append(f"| {stage} | {seconds:.3f} | {_share(seconds, measured.total)} |")
    rows += [
        f"| **per clip** | **{measured.total:.3f}** | 100% |",
        "",
        "| measure | value |",
        "| --- | --- |",
        f"| {memory_label(env)} | {_gib(measured.peak_bytes)} |",
        f"| pippa render / bare diffusers | {_ratio(measured)} |",
        f"| cost per clip | ${cost(measured.total, env):.4f} |",
        "",
    ]
    return rows


def _share(seconds: float, total: float) -> str:
    return f"{100 * seconds / total:.1f}%" if total > 0 else "-"


def _lever_row(preset: str, lever: LeverResult, baseline: Measured) -> str:
    if lever.seconds is None:
        return f"| {preset} | {lever.lever} | {baseline.total:.3f} | - | - | - | - | {lever.note} |"
    speedup = baseline.total / lever.seconds if lever.seconds else 0.0
    denoise = "-" if lever.denoising is None else f"{lever.denoising:.3f}"
    return (
        f"| {preset} | {lever.lever} | {baseline.total:.3f} | {lever.seconds:.3f} | "
        f"x{speedup:.2f} | {denoise} | {_gib(lever.peak_bytes)} | {lever.note} |"
    )


def describe_clip(request: Any) -> str:
    two = request.two_stage
    stage = f", two-stage from {two.first_width}x{two.first_height}" if two else ""
    sound = ", with sound" if request.audio else ""
    return (
        f"{request.width}x{request.height}, {request.num_frames} frames at {request.fps} fps"
        f"{stage}{sound}"
    )
