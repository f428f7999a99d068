"""The GPU benchmark's random-weight architectures (benchmarks/architectures.py) and its CPU
mode (benchmarks/gpu.py --random-weights --device cpu).

Full size is checked on the `meta` device only (no memory): each preset's parameter
counts must be the published ones, so a wrong config cannot pass. The small scale renders
through pippa's own core on the CPU.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import architectures  # noqa: E402

PRESETS = ("ltx-video", "ltx-distilled", "ltx-hd", "ltx-2", "ltx-2-hd")
B = 1e9

# Published sizes, with the tolerance each figure's rounding allows:
# - LTX-Video 2B: transformer 1.92B, VAE 0.42B (the LTX-Video 0.9.0 release, as REFERENCES.md
#   records them; the 0.9.0 checkpoint ltx-video-2b-v0.9.safetensors is 9.37 GB in float32,
#   (1.92 + 0.42)B x 4 bytes).
# - T5-XXL encoder: 4.76B (the encoder half of google/t5-v1_1-xxl's 11B, as the diffusers
#   and Flux/SD3 documentation quote it: "T5-XXL (4.7B)").
# - LTX-Video 0.9.7: "13B" (Lightricks' name for it: ltxv-13b-0.9.7-distilled).
# - LTX-2.5: "22B" (Lightricks/LTX-2.5's name, ltx-2.5-22b-distilled): the DiT checkpoint,
#   which holds the transformer and the text connectors (the conversion script splits one
#   file into both, split_transformer_and_connector_state_dict).
# - Gemma 3 12B: 12.2B (google/gemma-3-12b-it's model card, vision tower included).
FULL_SIZES = {
    "ltx-video": {"transformer": (1.92, 0.01), "vae": (0.42, 0.01), "text_encoder": (4.76, 0.01)},
    "ltx-distilled": {"transformer": (13.0, 0.03), "text_encoder": (4.76, 0.01)},
    "ltx-2": {"transformer+connectors": (22.0, 0.03), "text_encoder": (12.2, 0.02)},
}


@functools.cache
def _counts(preset: str) -> dict[str, int]:
    """Full-size parameter counts (a few seconds each on `meta`: built once per session)."""
    return architectures.parameter_counts(preset)


def _within(found: float, published: float, tolerance: float) -> bool:
    return abs(found / published - 1) <= tolerance


@pytest.mark.slow
@pytest.mark.parametrize("preset", list(FULL_SIZES))
def test_full_architectures_have_the_published_sizes(preset: str) -> None:
    counts = dict(_counts(preset))
    counts["transformer+connectors"] = counts["transformer"] + counts.get("connectors", 0)
    for component, (published, tolerance) in FULL_SIZES[preset].items():
        found = counts[component] / B
        assert _within(found, published, tolerance), (preset, component, found, published)


@pytest.mark.slow
def test_full_architectures_fit_the_presets_memory_budgets() -> None:
    """The presets' own weight budgets (bf16, GiB) hold the full architectures: for LTX-2
    (all of it, and the offloaded set without the text encoder) within 6%."""
    from pippa_cli.presets import PRESETS as PIPPA_PRESETS

    for preset in ("ltx-2", "ltx-2-hd"):
        counts = _counts(preset)
        total_gib = 2 * sum(counts.values()) / 2**30
        assert _within(total_gib, PIPPA_PRESETS[preset].weights_gb, 0.06), (preset, total_gib)
        offloaded = 2 * (sum(counts.values()) - counts["text_encoder"]) / 2**30
        budget = PIPPA_PRESETS[preset].offload_weights_gb
        assert budget is not None and _within(offloaded, budget, 0.06), (preset, offloaded)


@pytest.mark.slow
def test_two_stage_presets_add_only_their_upsampler() -> None:
    for one, two in (("ltx-distilled", "ltx-hd"), ("ltx-2", "ltx-2-hd")):
        single, double = _counts(one), dict(_counts(two))
        upsampler = double.pop("latent_upsampler")
        assert double == single
        assert 0.05 * B < upsampler < 1 * B


@pytest.mark.slow
def test_small_scale_is_small_and_builds_identically_twice() -> None:
    import torch

    for preset in PRESETS:
        assert sum(architectures.parameter_counts(preset, "small").values()) < 30e6
    first = architectures.build_models("ltx-2", "small", "cpu", torch.float32)
    second = architectures.build_models("ltx-2", "small", "cpu", torch.float32)
    for name, model in first.items():
        for (key, a), b in zip(
            model.state_dict().items(), second[name].state_dict().values(), strict=True
        ):
            assert torch.equal(a, b), (name, key)


def test_unknown_preset_or_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="no architecture"):
        architectures.parameter_counts("ltx-3")
    with pytest.raises(ValueError, match="scale"):
        architectures.parameter_counts("ltx-2", "medium")


def _request(preset: str, width: int, height: int) -> object:
    from gpu_measure import preset_request

    from pippa_cli.presets import PRESETS as PIPPA_PRESETS

    # A short clip: the shape rules are the same as for 5 s.
    return preset_request(PIPPA_PRESETS[preset], width, height, duration=0.4)


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_small_scale_renders_through_pippas_core(preset: str) -> None:
    """The small architecture is the pipeline pippa loads (its class, two-stage pairs too)
    and renders frames of the requested shape, and LTX-2's sound, through ltx.render."""
    import torch

    from pippa_cli.ltx import render

    pipe = architectures.build_pipeline(preset, "small", "cpu", torch.float32)
    expected = architectures.ARCHITECTURES[preset].pipeline_class
    assert type(getattr(pipe, "pipe", pipe)).__name__ == expected
    request = _request(preset, 128, 128)
    clip = render(pipe, request)
    assert clip.frames.shape == (request.num_frames, 128, 128, 3)
    if preset.startswith("ltx-2"):
        assert clip.audio is not None and clip.audio.shape[0] == 2
        assert clip.sample_rate == 48000
        seconds = clip.audio.shape[1] / clip.sample_rate
        assert abs(seconds - request.num_frames / request.fps) < 0.2
    else:
        assert clip.audio is None


@pytest.mark.slow
def test_cpu_mode_runs_end_to_end_and_prints_every_stage(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [
        sys.executable,
        str(BENCHMARKS / "gpu.py"),
        "--random-weights",
        "--device",
        "cpu",
        "--presets",
        "ltx-distilled",
        "--runs",
        "1",
        "--duration",
        "1",
        "--levers",
        "channels_last",
        "fast",
        "attention:cudnn",
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for stage in ("text encoding", "denoising", "VAE decode", "MP4 encode", "other"):
        assert f"    {stage}" in out, out
    assert "per clip (median of 1, warm)" in out
    assert "vs bare diffusers" in out and "ratio " in out
    assert "cost $" in out and "at $3.95/h" in out
    assert "peak RSS" in out
    assert "lever channels_last:" in out
    assert "lever attention:cudnn: CUDA only" in out
    assert "lever fast:" in out


def test_cpu_mode_refuses_a_full_size_or_real_weights_run() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for extra in (["--random-weights", "--scale", "full"], []):
        done = subprocess.run(
            [sys.executable, str(BENCHMARKS / "gpu.py"), "--device", "cpu", *extra],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 2, done.stderr
        assert "error:" in done.stderr and done.stdout == ""
