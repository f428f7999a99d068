"""The GPU benchmark's cold start (benchmarks/gpu.py --cold-start, benchmarks/gpu_cold.py):
a preset saved to disk and loaded by a fresh process as a new Modal container loads it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import gpu_cold  # noqa: E402

Usage = namedtuple("Usage", "total used free")


def _free_space(monkeypatch: pytest.MonkeyPatch, free: float) -> None:
    monkeypatch.setattr(gpu_cold.shutil, "disk_usage", lambda _path: Usage(0, 0, int(free)))


@pytest.mark.slow
def test_cold_start_runs_end_to_end_in_a_fresh_process(tmp_path: Path) -> None:
    """Every phase of the fresh process is timed (a positive number of seconds), with the
    total, its cost, the warm clip it is compared with and the window; the preset's folder
    is gone afterwards."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cold_dir = tmp_path / "cold"
    cold_dir.mkdir()
    command = [
        sys.executable,
        str(BENCHMARKS / "gpu.py"),
        "--random-weights",
        "--device",
        "cpu",
        "--presets",
        "ltx-video",
        "--runs",
        "1",
        "--duration",
        "0.4",
        "--cold-start",
        "--cold-dir",
        str(cold_dir),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    cold = out[out.index("  cold start (a fresh process") :]
    phases = {}
    for phase in gpu_cold.PHASES:
        found = re.search(rf"^      {re.escape(phase)} +([0-9.]+) s$", cold, re.MULTILINE)
        assert found, (phase, cold)
        phases[phase] = float(found.group(1))
    assert all(seconds > 0 for phase, seconds in phases.items() if phase != gpu_cold.PLACE)
    total = re.search(r"^      total +([0-9.]+) s, \$[0-9.]+ at \$3\.95/h$", cold, re.MULTILINE)
    assert total and abs(float(total.group(1)) - sum(phases.values())) < 0.05, cold
    window = re.search(
        r"warm clip ([0-9.]+) s: the cold start adds ([0-9.]+) s; scale-down window ~(\d+) s "
        r"\(ski rental\), idle cost \$[0-9.]+",
        cold,
    )
    assert window, cold
    warm, extra, seconds = (float(group) for group in window.groups())
    assert abs(extra - (float(total.group(1)) - warm)) < 0.05
    assert seconds >= extra
    assert "network Volume" in cold and "lower bound" in cold
    assert list(cold_dir.iterdir()) == []  # the saved weights are removed


def test_a_preset_without_room_for_its_weights_is_skipped_not_built(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Too little free space: a reason, nothing built or saved, no fresh process; the
    report shows the reason where the figures would be."""
    import torch
    from gpu_results import Environment, cold_lines, cold_markdown

    _free_space(monkeypatch, 1e9)
    cold_dir = tmp_path / "cold"
    cold_dir.mkdir()

    def build() -> Any:
        raise AssertionError("a skipped preset is not built")

    result = gpu_cold.measure_cold(
        build, "ltx-video", "small", "cpu", torch.float32, {}, cold_dir, 1.0, None, True
    )
    assert result.skipped.startswith("skipped: its float32 weights (")
    assert "1.0 GB free" in result.skipped and "--cold-dir" in result.skipped
    assert result.runs == [] and list(cold_dir.iterdir()) == []
    env = Environment("d", "cpu", "n/a", "t", "d", "c", False, "random", 3.95)
    assert cold_lines(result, env) == [f"  cold start: {result.skipped}"]
    assert f"| ltx-video | {result.skipped} |" in "\n".join(cold_markdown([result], env))


@pytest.mark.slow
def test_the_skip_follows_the_bf16_weights_from_parameter_counts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """On the GPU machine's disk (say 60 GB free): LTX-Video's ~14 GB of bf16 weights fit
    with the margin, LTX-2's ~70 GB do not."""
    import torch

    _free_space(monkeypatch, 60e9)
    small = gpu_cold.weights_bytes("ltx-video", "full", torch.bfloat16)
    large = gpu_cold.weights_bytes("ltx-2", "full", torch.bfloat16)
    assert 13e9 < small < 16e9 and large > 64e9
    assert gpu_cold.space_problem(small, tmp_path, "bfloat16") is None
    assert "bfloat16 weights (70.5 GB)" in (gpu_cold.space_problem(large, tmp_path, "bfloat16"))


@pytest.mark.slow
@pytest.mark.parametrize(("preset", "family"), [("ltx-hd", "ltx"), ("ltx-2-hd", "ltx2")])
def test_a_saved_two_stage_pipeline_loads_through_pippas_loader(
    tmp_path: Path, preset: str, family: str
) -> None:
    """save_pipeline's folder is what pippa resolves as a two-stage model of the same
    preset, and ltx.load_pipeline loads it, upsampler included, with the saved weights."""
    import architectures
    import torch

    from pippa_cli.ltx import load_pipeline
    from pippa_cli.ltx2_two_stage import LTX2TwoStage
    from pippa_cli.ltx_two_stage import TwoStagePipelines
    from pippa_cli.presets import resolve_model

    saved = architectures.build_pipeline(preset, "small", "cpu", torch.float32)
    folder = gpu_cold.save_pipeline(saved, tmp_path / "model")
    source = resolve_model(str(folder))
    assert source.defaults.name == preset
    assert source.upsampler == str(folder.resolve())
    loaded = load_pipeline(source, "cpu", "float32", local_files_only=True)
    assert isinstance(loaded, LTX2TwoStage if family == "ltx2" else TwoStagePipelines)
    for name in ("latent_upsampler",):
        before = getattr(saved.upsampler, name).state_dict()
        after = getattr(loaded.upsampler, name).state_dict()
        assert before.keys() == after.keys()
        assert all(torch.equal(before[key], after[key]) for key in before)
    before = saved.pipe.transformer.state_dict()
    after = loaded.pipe.transformer.state_dict()
    assert all(torch.equal(before[key], after[key]) for key in before)
    assert loaded.upsampler.vae is loaded.pipe.vae  # the pipeline's own VAE, shared


def test_the_window_is_the_cold_starts_extra_seconds_rounded_up() -> None:
    run = gpu_cold.ColdRun("no compile", dict.fromkeys(gpu_cold.PHASES, 10.0), warm_seconds=7.5)
    assert run.total == 50.0 and run.extra == 42.5
    assert gpu_cold.window(run) == 43
    # Under a second more than a warm clip: the shortest window `pippa deploy` takes.
    assert gpu_cold.window(gpu_cold.ColdRun("x", {gpu_cold.FIRST: 1.0}, 2.0)) == 2
    assert gpu_cold.window(gpu_cold.ColdRun("x", {gpu_cold.FIRST: 9999.0}, 1.0)) == 3600
    assert gpu_cold.window(gpu_cold.ColdRun("x", {gpu_cold.FIRST: 1.0})) is None


def test_cold_start_needs_random_weights() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "gpu.py"), "--cold-start"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2 and "add --random-weights" in done.stderr
    assert done.stdout == ""


@pytest.mark.slow
def test_with_compile_two_more_processes_share_one_compile_cache(tmp_path: Path) -> None:
    """The first compiling process fills the cache folder the second one is given (the
    Volume-kept cache of a container): three fresh processes, each fully timed."""
    import architectures
    import torch
    from gpu_measure import preset_request

    from pippa_cli.presets import PRESETS

    cold_dir = tmp_path / "cold"
    cold_dir.mkdir()
    request = preset_request(PRESETS["ltx-video"], 128, 128, duration=0.4)
    result = gpu_cold.measure_cold(
        lambda: architectures.build_pipeline("ltx-video", "small", "cpu", torch.float32),
        "ltx-video",
        "small",
        "cpu",
        torch.float32,
        request.to_dict(),
        cold_dir,
        warm=1.0,
        compile_warm=0.5,
        with_compile=True,
    )
    assert not result.skipped
    labels = [run.label for run in result.runs]
    assert labels == ["no compile", "compile, empty cache", "compile, cache kept"]
    for run in result.runs:
        assert run.note == "" and set(run.phases) == set(gpu_cold.PHASES)
    assert [run.warm_seconds for run in result.runs] == [1.0, 0.5, 0.5]
    assert result.cache_bytes is not None and result.cache_bytes > 0
    assert list(cold_dir.iterdir()) == []


def test_the_cold_start_table_has_a_row_per_process_and_the_caveat() -> None:
    from gpu_results import Environment, cold_markdown

    phases = dict.fromkeys(gpu_cold.PHASES, 2.0)
    result = gpu_cold.ColdResult("ltx-hd", 10**9, 1.0)
    result.runs = [
        gpu_cold.ColdRun("no compile", phases, 4.0),
        gpu_cold.ColdRun("compile, empty cache", note="failed (exit 1): boom"),
    ]
    env = Environment("d", "H100", "1", "t", "d", "c", True, "random", 3.6)
    table = cold_markdown([result], env)
    assert "## Cold start" in table and any("network Volume" in line for line in table)
    header, rule, *rows = [line for line in table if line.startswith("|")]
    columns = header.count("|")
    assert rule.count("|") == columns and all(row.count("|") == columns for row in rows)
    # 10 s in all, 6 s more than a warm clip: a 6 s window, $0.006 idle at $3.60/h.
    assert rows[0] == (
        "| ltx-hd | no compile | 2.00 | 2.00 | 2.00 | 2.00 | 2.00 | 10.00 | $0.0100 | 4.00 | "
        "6.00 | 6 | $0.0060 |"
    )
    assert rows[1].startswith("| ltx-hd | compile, empty cache: failed (exit 1): boom | - |")
