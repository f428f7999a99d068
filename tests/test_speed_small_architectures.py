"""The lossless speed levers on the scaled-down real architectures (benchmarks/
architectures.py, `--scale small`): the same frames (and sound) with each lever as
without, as on the tiny models (test_speed.py). These are the presets' own structures,
narrow and shallow, so a lever that broke on a real block layout (LTX-2's audio, the
13B's two-stage pair) would show here before it did on a GPU."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import architectures  # noqa: E402
from gpu_measure import preset_request  # noqa: E402

from pippa_cli.ltx import render  # noqa: E402
from pippa_cli.presets import PRESETS  # noqa: E402
from pippa_cli.speed import SpeedSettings, apply_speed  # noqa: E402

pytestmark = pytest.mark.slow

LOSSLESS = {
    "sdpa": SpeedSettings(attention="sdpa"),
    "text_encoder_offload": SpeedSettings(text_encoder_offload=True),
    "channels_last": SpeedSettings(channels_last=True),
}


def _render(preset: str, settings: SpeedSettings | None) -> Any:
    import torch

    # Built afresh each time (a lever cannot be undone), from the same seed: same weights.
    pipe = architectures.build_pipeline(preset, "small", "cpu", torch.float32)
    if settings is not None:
        apply_speed(pipe, settings, "cpu")
    size = 128 if PRESETS[preset].two_stage else 64
    return render(pipe, preset_request(PRESETS[preset], size, size, 0.3))


@pytest.mark.parametrize("preset", ["ltx-video", "ltx-hd", "ltx-2", "ltx-2-hd"])
def test_each_lossless_lever_renders_the_same_clip(preset: str):
    plain = _render(preset, None)

    for name, settings in LOSSLESS.items():
        clip = _render(preset, settings)
        assert np.array_equal(clip.frames, plain.frames), (preset, name)
        if plain.audio is None:
            assert clip.audio is None
        else:
            assert np.array_equal(clip.audio, plain.audio), (preset, name)
