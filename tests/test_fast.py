"""--fast: the transformer's step cache (step_cache.py) for one render.

On the tiny models (random weights) only determinism and plumbing can be checked: a
cached render differs from the uncached one, the same seed renders the same frames, the
cache skips exactly the steps `computed_steps` says, and it is gone after the render
however the render ends. Real quality is not judged here. The refusals, the records and
the request's way to Modal need no model.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pippa_cli.errors import UsageError
from pippa_cli.ltx import RenderRequest
from pippa_cli.presets import PRESETS
from pippa_cli.render_request import render_request
from pippa_cli.spec import build_spec
from pippa_cli.step_cache import MIN_STEPS, WARM_UP, computed_steps, problem, schedule
from tests.fixtures_ltx import probe, small_args
from tests.helpers import SMALL, batch, history, invoke, sidecar, write
from tests.modal_standin import ModalStandIn

PROMPT = "a red fox trotting through fresh snow"


def spec(**options: Any):
    return build_spec(prompt=PROMPT, backend="modal", output="clip.mp4", overwrite=True, **options)


# --- the schedule --------------------------------------------------------------------------


def test_fifty_steps_run_23_in_full_and_the_ends_are_never_cached():
    steps = computed_steps(50)

    assert len(steps) == 23
    assert steps[:5] == [0, 1, 2, 3, 4] and steps[-5:] == [45, 46, 47, 48, 49]
    assert schedule(50) == (5, 45) and schedule(100) == (10, 90)
    assert problem(MIN_STEPS) is None and problem(MIN_STEPS - 1) is not None


def test_the_help_gives_the_schedule_as_it_is():
    from pippa_cli.request_options import FAST

    skipped = 50 - len(computed_steps(50))
    assert f"{skipped} of 50 steps" in FAST.cli_help and f"{MIN_STEPS} or more" in FAST.cli_help


@pytest.mark.parametrize("steps", range(MIN_STEPS, 201))
def test_every_allowed_schedule_caches_something_and_keeps_its_ends(steps: int):
    computed = computed_steps(steps)
    warm_up, cool_down = schedule(steps)

    assert len(computed) < steps
    assert set(range(warm_up)) | set(range(cool_down, steps)) <= set(computed)


def test_a_refining_pass_runs_in_full():
    # Its own pipeline call restarts the cache's count: all its steps must be warm-up.
    stages = [p.two_stage for p in PRESETS.values() if p.two_stage is not None]
    assert stages and all(stage.refine_steps < WARM_UP for stage in stages)


# --- refused before anything is spent --------------------------------------------------------


@pytest.mark.parametrize("model", ["ltx-distilled", "ltx-hd", "ltx-2", "ltx-2-hd"])
def test_fast_is_refused_on_the_8_step_presets(model: str):
    with pytest.raises(UsageError, match=f"--fast does not go with --model {model}") as caught:
        spec(model=model, fast=True)
    hint = caught.value.hint or ""
    assert "drop --fast" in hint and "ltx-video" in hint


def test_fast_is_refused_on_too_few_steps():
    with pytest.raises(UsageError, match="--fast with --steps 19: 19 steps are too few") as caught:
        spec(model="ltx-video", steps=19, fast=True)
    assert "--steps 20 or more" in (caught.value.hint or "")


def test_the_cli_refuses_fast_on_a_distilled_preset_with_exit_2(modal_standin: ModalStandIn):
    result = invoke("generate", PROMPT, "--no-enhance", "--model", "ltx-distilled", "--fast")

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --fast does not go with --model ltx-distilled")
    assert modal_standin.spawns == [] and modal_standin.remote_calls == []
    assert history().list() == []


def test_fast_is_accepted_on_a_long_schedule_even_of_a_distilled_model():
    assert spec(model="ltx-distilled", steps=20, fast=True).fast is True
    assert spec(model="ltx-2", steps=30, fast=True).fast is True


# --- the request and the records ------------------------------------------------------------


def test_fast_reaches_the_render_request_and_the_records():
    fast, plain = spec(model="ltx-video", fast=True), spec(model="ltx-video")

    request = render_request(fast, "task", PROMPT)

    assert request.fast is True and render_request(plain, "task", PROMPT).fast is False
    assert fast.settings()["fast"] is True and plain.settings()["fast"] is False
    assert json.loads(request.metadata["pippa"])["fast"] is True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fast": "yes"}, "fast is true or false, not 'yes'"),
        ({"fast": 1}, "fast is true or false, not 1"),
        ({"fast": True, "steps": 8}, "fast: 8 steps are too few to cache"),
        ({"fast": True, "steps": "50"}, "steps '50' is not a whole number"),
        (
            {"fast": True, "steps": 50, "timesteps": [1000.0, 500.0]},
            "fast: 2 steps are too few to cache",
        ),
    ],
)
def test_from_dict_refuses_a_fast_it_cannot_honour(change: dict[str, Any], message: str):
    data = {**ltx_request(steps=50).to_dict(), **change}

    with pytest.raises(ValueError, match=message):
        RenderRequest.from_dict(data)


def test_from_dict_takes_fast():
    data = ltx_request(steps=50, fast=True).to_dict()

    assert RenderRequest.from_dict(data).fast is True
    assert RenderRequest.from_dict({**data, "fast": False}).fast is False


def test_fast_travels_to_modal_and_is_recorded(modal_standin: ModalStandIn):
    result = invoke(
        "generate", PROMPT, "--no-enhance", "--fast", "-o", "fox.mp4", *SMALL, "--steps", "20"
    )

    assert result.exit_code == 0, result.output
    assert modal_standin.spawns[0].request["fast"] is True
    assert sidecar(Path("fox.mp4"))["settings"]["fast"] is True
    assert history().list()[0].settings["fast"] is True


def test_an_app_deployed_before_fast_is_not_called(modal_standin: ModalStandIn):
    assert modal_standin.deployment is not None
    modal_standin.deployment["pippa_version"] = "0.0.1"
    modal_standin.deployment["request_fields"].remove("fast")

    result = invoke("generate", PROMPT, "--no-enhance", "--fast", *SMALL, "--steps", "20")

    assert result.exit_code == 1
    assert "request field(s) fast" in result.stderr and "pippa deploy" in result.stderr
    assert modal_standin.spawns == []


def test_jsonl_lines_take_fast(tmp_path: Path):
    from pippa_cli.batch_input import read_lines

    source = write(
        tmp_path / "shots.jsonl",
        '{"prompt": "a fox", "fast": true, "steps": 20}\n{"prompt": "a cat", "fast": "yes"}\n',
    )

    lines, errors = read_lines(str(source))

    assert [line.overrides for line in lines] == [{"fast": True, "steps": 20}]
    assert [e.number for e in errors] == [2] and "fast" in errors[0].message


def test_a_batch_line_asks_for_fast_alone(modal_standin: ModalStandIn, tmp_path: Path):
    source = write(
        tmp_path / "shots.jsonl",
        '{"prompt": "a fox", "fast": true, "steps": 20, "name": "fox"}\n'
        '{"prompt": "a cat", "steps": 20, "name": "cat"}\n',
    )
    clips = tmp_path / "clips"

    result = batch(str(source), clips)

    assert result.exit_code == 0, result.output
    spawned = {s.request["prompt"]: s.request["fast"] for s in modal_standin.spawns}
    assert spawned == {"a fox": True, "a cat": False}
    assert sidecar(clips / "fox.mp4")["settings"]["fast"] is True
    assert sidecar(clips / "cat.mp4")["settings"]["fast"] is False


# --- on the tiny models ---------------------------------------------------------------------


def ltx_request(**overrides: Any) -> RenderRequest:
    fields: dict[str, Any] = {
        "prompt": PROMPT,
        "negative_prompt": "blurry",
        "width": 64,
        "height": 64,
        "num_frames": 9,
        "fps": 8,
        "steps": MIN_STEPS,
        "guidance": 4.5,  # the ltx-video preset's: CFG batched, one transformer call a step
        "seed": 3,
    }
    return RenderRequest(**{**fields, **overrides})


def block_passes(transformer: Any) -> list[int]:
    """A list that grows by one each time the transformer's first block really runs."""
    passes: list[int] = []
    transformer.transformer_blocks[0].ff.register_forward_hook(lambda *_: passes.append(1))
    return passes


def test_fast_on_ltx_video_skips_its_schedule_deterministically_and_leaves_no_cache(
    tiny_model: Path,
):
    from pippa_cli.ltx import load_pipeline, render_frames
    from pippa_cli.presets import resolve_model

    never_cached = render_frames(load_pipeline(resolve_model(str(tiny_model))), ltx_request())
    pipe = load_pipeline(resolve_model(str(tiny_model)))
    passes = block_passes(pipe.transformer)

    fast = render_frames(pipe, ltx_request(fast=True))
    counted = len(passes)
    again = render_frames(pipe, ltx_request(fast=True))
    plain = render_frames(pipe, ltx_request())

    assert counted == len(computed_steps(MIN_STEPS)) < MIN_STEPS
    assert not np.array_equal(fast, never_cached)
    assert np.array_equal(fast, again)
    assert not pipe.transformer.is_cache_enabled
    assert np.array_equal(plain, never_cached)


def test_the_cache_is_gone_after_a_render_that_fails(tiny_model: Path):
    from pippa_cli.ltx import load_pipeline, render_frames
    from pippa_cli.presets import resolve_model

    never_cached = render_frames(load_pipeline(resolve_model(str(tiny_model))), ltx_request())
    pipe = load_pipeline(resolve_model(str(tiny_model)))

    def fail(stage: str, step: int, total: int) -> None:
        if step == 8:  # among the cached steps
            raise RuntimeError("the GPU fell over")

    with pytest.raises(RuntimeError, match="fell over"):
        render_frames(pipe, ltx_request(fast=True), fail)

    assert not pipe.transformer.is_cache_enabled
    assert np.array_equal(render_frames(pipe, ltx_request()), never_cached)


def test_render_refuses_fast_on_a_short_schedule_before_denoising(tiny_model: Path):
    from pippa_cli.ltx import load_pipeline, render_frames
    from pippa_cli.presets import resolve_model

    pipe = load_pipeline(resolve_model(str(tiny_model)))
    reports: list[tuple[str, int, int]] = []

    with pytest.raises(ValueError, match="fast: 8 steps are too few"):
        render_frames(pipe, ltx_request(steps=8, fast=True), lambda *r: reports.append(r))

    assert reports == [] and not pipe.transformer.is_cache_enabled


@pytest.fixture(scope="module")
def hd_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_ltx import build_tiny_two_stage

    return build_tiny_two_stage(tmp_path_factory.mktemp("tiny-hd") / "model", tiny_model)


def test_a_two_stage_render_caches_stage_one_and_refines_in_full(hd_model: Path):
    from pippa_cli.ltx import load_pipeline, render_frames
    from pippa_cli.ltx_two_stage import refine_steps
    from pippa_cli.presets import resolve_model
    from tests.test_two_stage import request as hd_request

    pipes = load_pipeline(resolve_model(str(hd_model)))
    passes = block_passes(pipes.pipe.transformer)
    request = hd_request(steps=MIN_STEPS, timesteps=None, fast=True)
    assert request.two_stage is not None

    frames = render_frames(pipes, request)

    # No CFG (guidance 1): one transformer call a step, in each pass.
    assert len(passes) == len(computed_steps(MIN_STEPS)) + refine_steps(request.two_stage)
    assert np.array_equal(render_frames(pipes, request), frames)
    assert not pipes.pipe.transformer.is_cache_enabled


def test_fast_on_ltx2_caches_video_and_sound_and_leaves_no_cache(tiny_ltx2: Path):
    from pippa_cli.ltx import load_pipeline, render
    from pippa_cli.presets import resolve_model

    request = dataclasses.replace(
        ltx_request(num_frames=9, fps=24, guidance=1.0, max_sequence_length=256),
        guidance_terms=dict(PRESETS["ltx-2"].guidance_terms),
    )
    never_cached = render(load_pipeline(resolve_model(str(tiny_ltx2))), request)
    pipe = load_pipeline(resolve_model(str(tiny_ltx2)))
    passes = block_passes(pipe.transformer)

    fast = render(pipe, dataclasses.replace(request, fast=True))
    counted = len(passes)
    again = render(pipe, dataclasses.replace(request, fast=True))
    plain = render(pipe, request)

    assert counted == len(computed_steps(MIN_STEPS))
    assert not np.array_equal(fast.frames, never_cached.frames)
    assert np.array_equal(fast.frames, again.frames) and np.array_equal(fast.audio, again.audio)
    assert not pipe.transformer.is_cache_enabled
    assert np.array_equal(plain.frames, never_cached.frames)
    assert np.array_equal(plain.audio, never_cached.audio)


def test_generate_fast_locally_records_it_everywhere(tiny_model: Path, clean_env: Path):
    result = invoke(
        "generate", PROMPT, "--no-enhance", "--fast", "-o", "fox.mp4",
        *small_args(tiny_model, steps=MIN_STEPS),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert sidecar(Path("fox.mp4"))["settings"]["fast"] is True
    assert history().list()[0].settings["fast"] is True
    assert json.loads(probe(Path("fox.mp4")).metadata["pippa"])["fast"] is True
