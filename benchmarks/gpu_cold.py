"""A Modal container's cold start, per preset, and the scale-down window it implies
(benchmarks/gpu.py --random-weights --cold-start).

The preset's random-weight pipeline (architectures.build_pipeline) is saved with
`save_pretrained` into a folder as a checkpoint directory (a two-stage one with its
upsampler in `latent_upsampler/`, where pippa's loader looks for it); then a FRESH Python
process (a new container: nothing imported, nothing cached) does what the container does,
through pippa's own `container.Worker`, each phase timed:

- process start: the interpreter, up to the first line of this script;
- imports: torch, diffusers and pippa's core (container.py, ltx.py);
- load: `Worker.load`, i.e. `ltx.load_pipeline(source, "cpu", dtype, local_files_only=True)`
  (on Modal this runs before the memory snapshot);
- placement: `Worker.to_device`, on the GPU whole or with model CPU offload, levers applied;
- first clip: `Worker.render`, the render and its MP4 encode (a compile, with compile on).

With the compile lever the process runs twice more, sharing one inductor cache folder
(speed.use_compile_cache, as the container keeps it on its Volume): the first compiles, the
second finds the kernels cached, which is what the Volume-kept cache buys.

The scale-down window (README, "The scale-down window"): a window about as long as one
cold start's extra seconds (its total less a warm clip's) never costs more than twice the
best choice. What this does not see: Modal's own start (scheduling, the image), its load
from a network Volume (slower than this local disk: the load here is a lower bound for
it), and its memory snapshot restore, which replaces the imports and the CPU load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROCESS = "process start"
IMPORTS = "imports"
LOAD = "load (CPU)"
PLACE = "placement"
FIRST = "first clip + MP4"
PHASES = (PROCESS, IMPORTS, LOAD, PLACE, FIRST)
# Room beyond the weights' own bytes: configs, tokenizers, safetensors headers, and the
# rest of what else writes to the same disk meanwhile.
SPACE_FACTOR = 1.1
SPACE_MARGIN = 2 * 2**30
CHILD_TIMEOUT_S = 3600
CAVEAT = (
    "Modal loads from a network Volume (slower than this local disk) and restores a memory "
    "snapshot in place of the imports and the CPU load, after its own container start: "
    "the load here is a lower bound for a load from the Volume."
)


@dataclass
class ColdRun:
    """One fresh process: seconds per phase."""

    label: str  # "no compile", "compile, empty cache", "compile, cache kept"
    phases: dict[str, float] = field(default_factory=dict)
    warm_seconds: float | None = None  # a warm clip with the same levers, for comparison
    note: str = ""  # why it failed, when it did

    @property
    def total(self) -> float:
        return sum(self.phases.values())

    @property
    def extra(self) -> float | None:
        """Seconds a cold start adds to a clip: its total less a warm clip's."""
        if not self.phases or self.warm_seconds is None:
            return None
        return max(0.0, self.total - self.warm_seconds)


@dataclass
class ColdResult:
    preset: str
    weights_bytes: int  # the saved weights' size, from parameter counts
    saved_seconds: float = 0.0
    runs: list[ColdRun] = field(default_factory=list)
    skipped: str = ""  # why the preset was not measured (no room for its weights)
    cache_bytes: int | None = None  # the compile cache the first compile left


def weights_bytes(preset: str, scale: str, dtype: Any) -> int:
    """The preset's weights on disk in `dtype`, from its parameter counts (no memory)."""
    from architectures import parameter_counts

    return sum(parameter_counts(preset, scale).values()) * dtype.itemsize


def space_problem(needed: int, folder: Path, dtype_name: str) -> str | None:
    """Why `needed` bytes of weights do not fit in `folder`'s free space with a margin,
    or None when they do."""
    free = shutil.disk_usage(folder).free
    wanted = int(needed * SPACE_FACTOR) + SPACE_MARGIN
    if free >= wanted:
        return None
    return (
        f"skipped: its {dtype_name} weights ({needed / 1e9:.1f} GB) need {wanted / 1e9:.1f} GB "
        f"with a margin, and {folder} has {free / 1e9:.1f} GB free (--cold-dir elsewhere)"
    )


def save_pipeline(pipe: Any, folder: Path) -> Path:
    """`pipe` as a checkpoint directory pippa loads (presets.resolve_model): the pipeline
    with save_pretrained, a two-stage pair's latent upsampler in `latent_upsampler/`."""
    from pippa_cli.presets import UPSAMPLER_FOLDER

    getattr(pipe, "pipe", pipe).save_pretrained(folder)
    upsampler = getattr(pipe, "upsampler", None)
    if upsampler is not None:
        upsampler.latent_upsampler.save_pretrained(folder / UPSAMPLER_FOLDER)
    return folder


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def run_child(
    model: Path,
    preset: str,
    device: str,
    dtype: str,
    request: dict[str, Any],
    compile_cache: Path | None,
    label: str,
) -> ColdRun:
    """The cold start of a fresh process loading `model`: seconds per phase, or why not."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(request, handle)
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        str(model),
        "--device",
        device,
        "--dtype",
        dtype,
        "--request",
        handle.name,
        "--preset",
        preset,
    ]
    if compile_cache is not None:
        command += ["--compile-cache", str(compile_cache)]
    env = dict(os.environ)
    # The cache folder is the measurement's own: a cache set outside would be warm.
    for name in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"):
        env.pop(name, None)
    spawned = time.time()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=CHILD_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        return ColdRun(label, note=f"failed: no answer in {CHILD_TIMEOUT_S} s")
    finally:
        os.unlink(handle.name)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return ColdRun(label, note=f"failed (exit {done.returncode}): {why}"[:300])
    answer = json.loads(lines[-1])
    if answer["preset"] != preset:
        return ColdRun(label, note=f"failed: the saved folder loads as {answer['preset']}")
    phases = {PROCESS: answer["started"] - spawned, **answer["phases"]}
    return ColdRun(label, phases)


def measure_cold(
    pipe_builder: Any,
    preset: str,
    scale: str,
    device: str,
    dtype: Any,
    request: dict[str, Any],
    cold_dir: Path,
    warm: float,
    compile_warm: float | None,
    with_compile: bool,
) -> ColdResult:
    """The preset's cold starts: saved by `pipe_builder()` (its random-weight pipeline)
    into a folder of `cold_dir`, then loaded by fresh processes: without compile, and with
    `with_compile` twice more sharing one compile cache. Skipped when the weights would not
    fit; every folder made here is removed after."""
    dtype_name = str(dtype).rpartition(".")[2]
    result = ColdResult(preset, weights_bytes(preset, scale, dtype))
    result.skipped = space_problem(result.weights_bytes, cold_dir, dtype_name) or ""
    if result.skipped:
        return result
    work = Path(tempfile.mkdtemp(prefix=f"pippa-cold-{preset}-", dir=cold_dir))
    try:
        begin = time.perf_counter()
        try:
            pipe = pipe_builder()
            model = save_pipeline(pipe, work / "model")
        except Exception as exc:  # disk full, out of memory: a finding, not the run's end
            result.skipped = f"failed to build or save: {type(exc).__name__}: {exc}"[:200]
            return result
        del pipe  # the fresh processes need the memory (and the GPU's)
        _release(device)
        result.saved_seconds = time.perf_counter() - begin

        def one(label: str, cache: Path | None, warm_s: float | None) -> ColdRun:
            run = run_child(model, preset, device, dtype_name, request, cache, label)
            run.warm_seconds = warm_s
            return run

        result.runs.append(one("no compile", None, warm))
        if with_compile:
            cache = work / "compile-cache"
            cache.mkdir()
            result.runs.append(one("compile, empty cache", cache, compile_warm))
            result.cache_bytes = _folder_bytes(cache)
            result.runs.append(one("compile, cache kept", cache, compile_warm))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _release(device: str) -> None:
    import gc

    gc.collect()
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


def window(run: ColdRun) -> float | None:
    """The ski-rental scale-down window for this cold start: its extra seconds, rounded
    up to whole seconds (Modal's scaledown_window takes an integer), within what
    `pippa deploy --scaledown` takes."""
    from pippa_cli.deployment import SCALEDOWN_RANGE

    extra = run.extra
    if extra is None:
        return None
    low, high = SCALEDOWN_RANGE  # what `pippa deploy --scaledown` takes
    return float(min(high, max(low, int(-(-extra // 1)))))


# --- The fresh process: only the standard library before its clock starts ---------------


def child_main(argv: list[str]) -> int:
    started = time.time()
    parser = argparse.ArgumentParser(description="one cold start (benchmarks/gpu_cold.py)")
    parser.add_argument("model", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--request", type=Path, required=True)
    parser.add_argument("--compile-cache", type=Path, default=None)
    parser.add_argument("--preset", default="ltx-video", help="the preset the model is")
    args = parser.parse_args(argv)
    request = json.loads(args.request.read_text("utf-8"))
    cuda = args.device.startswith("cuda")
    phases: dict[str, float] = {}

    begin = time.perf_counter()
    import diffusers
    import torch

    from pippa_cli import container, ltx  # noqa: F401
    from pippa_cli.presets import PRESETS
    from pippa_cli.speed import SpeedSettings

    # diffusers and transformers import lazily: the pipeline's module (and with it its
    # models' and its text encoder's) would otherwise be imported, and timed, in the load.
    getattr(diffusers, PRESETS[args.preset].pipeline_class)
    phases[IMPORTS] = time.perf_counter() - begin

    def clock() -> float:
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    speed = SpeedSettings(compile=args.compile_cache is not None)
    worker = container.Worker(str(args.model), speed, args.compile_cache)
    begin = time.perf_counter()
    worker.load(args.dtype)
    phases[LOAD] = time.perf_counter() - begin
    begin = clock()
    worker.to_device(need_cuda=cuda)
    phases[PLACE] = clock() - begin
    if worker.failure is not None:
        print(f"Error: {worker.failure}", file=sys.stderr)
        return 1
    begin = clock()
    video = worker.render(request, lambda _stage, _step, _total: None)
    phases[FIRST] = clock() - begin
    preset = worker.preset.name if worker.preset is not None else "?"
    answer = {"started": started, "phases": phases, "preset": preset, "bytes": len(video)}
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
