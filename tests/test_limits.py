"""Size limits: what a refusal suggests is accepted when followed; the seed's range fits."""

from __future__ import annotations

import itertools
import re

import pytest

from pippa_cli.errors import UsageError
from pippa_cli.limits import Request, check_request, needs_vae_tiling
from pippa_cli.presets import PRESETS
from pippa_cli.spec import frames_for

GPUS = ["H100", "A100-80GB", "L40S", "A10G", None]  # None: the local backend (model only)
SIZES = [(768, 512), (512, 768), (1024, 576), (1280, 704), (1280, 1280), (64, 64)]


def request(width: int, height: int, seconds: float, fps: int, steps: int) -> Request:
    return Request(width, height, frames_for(seconds, fps), fps, steps)


def suggestions(hint: str, seconds: float) -> list[tuple[int, int, float]]:
    found = [
        (int(w), int(h), float(s)) for s, w, h in re.findall(r"(\d+\.\d) s at (\d+)x(\d+)", hint)
    ]
    found += [(int(w), int(h), seconds) for w, h in re.findall(r"(\d+)x(\d+) at this length", hint)]
    return found


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_suggestion_is_accepted_when_followed(preset: str):
    figures = PRESETS[preset]
    followed = 0
    for gpu, timeout, (width, height), seconds, fps in itertools.product(
        GPUS, [300, 1800], SIZES, [3, 5, 8, 10], [8, 24, 30, 60]
    ):
        wanted = request(width, height, seconds, fps, figures.steps)
        try:
            check_request(figures, wanted, gpu, timeout if gpu else None)
            continue
        except UsageError as refused:
            offered = suggestions(refused.hint or "", seconds)
        for w, h, s in offered:
            assert s >= 3.0
            # A two-stage preset is offered only sizes it can render (LTX-2: multiples of 64).
            if figures.two_stage is not None and figures.two_stage.refine_sigmas is not None:
                assert figures.two_stage.size_problem(w, h) is None, (w, h)
            check_request(
                figures, request(w, h, s, fps, figures.steps), gpu, timeout if gpu else None
            )
            followed += 1
    assert followed > 50  # the sweep did refuse, and suggest


@pytest.mark.parametrize(("width", "height"), [(768, 512), (512, 768)])
@pytest.mark.parametrize("fps", [24, 30])
def test_the_seeds_range_fits_the_default_deployment(width: int, height: int, fps: int):
    for seconds in (3, 5, 7.5, 10):
        check_request(PRESETS["ltx-video"], request(width, height, seconds, fps, 50), "H100", 1800)


def test_tiling_is_for_long_or_large_clips():
    assert not needs_vae_tiling(768, 512, 153)  # a 5 s clip
    assert needs_vae_tiling(768, 512, 305)  # 10 s
    assert needs_vae_tiling(1280, 704, 121)


def test_presets_decode_with_lightricks_settings():
    for preset in PRESETS.values():
        assert (preset.decode_timestep, preset.decode_noise_scale) == (0.05, 0.025)
