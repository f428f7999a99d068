"""Review of issue 13 (GPU speed): reproductions of what the reviewed change got wrong.

Each test failed on the branch as reviewed; its comment says what a user saw.
"""

from __future__ import annotations

from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def bench_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/ imports its helpers by bare name (gpu.py puts its folder on sys.path)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))


def test_the_fast_lever_on_an_8_step_preset_is_not_reported_as_a_failure(bench_modules: None):
    """`python benchmarks/gpu.py --levers all` (or `--levers fast`) on ltx-distilled,
    ltx-hd, ltx-2 or ltx-2-hd: the lever row says `fast: failed: ValueError: fast: 8 steps
    are too few to cache` -- four of the five presets report the lever as broken, in the
    terminal and in RESULTS.md, when pippa refuses --fast there by design (exit 2 before
    anything is spent). It should read as not applicable (as `text_encoder_offload` does
    under model CPU offload: "n/a: ..."), not as a failed measurement."""
    import torch
    from architectures import build_pipeline
    from gpu_measure import measure_lever, preset_request

    from pippa_cli.presets import PRESETS

    preset = PRESETS["ltx-distilled"]
    pipe = build_pipeline("ltx-distilled", "small", "cpu", torch.float32)
    request = preset_request(preset, 64, 64, 1.0)

    result = measure_lever("fast", pipe, request, "cpu", 1, False)

    assert result.seconds is None
    assert not result.note.startswith("failed"), result.note
