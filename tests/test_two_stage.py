"""The two-stage HD recipe (`--model ltx-hd`): the preset, the sizes, what reaches Modal,
the weights it needs there, and real renders on the tiny LTX pipeline with a tiny latent
upsampler (a local directory holding a `latent_upsampler/` folder renders two-stage).
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pippa_cli.ltx import ImageCondition, RenderRequest, TwoStagePlan
from pippa_cli.presets import PRESETS, resolve_model
from tests.fixtures_ltx import decode_frames, pippa_env, probe
from tests.helpers import invoke, only_job, sidecar
from tests.modal_standin import WEIGHTS_COMMIT, ModalStandIn
from tests.tiny_ltx import build_tiny_two_stage

HD = PRESETS["ltx-hd"]
STAGES = HD.two_stage
MAIN = "Lightricks/LTX-Video-0.9.7-distilled"
UPSAMPLER = "Lightricks/ltxv-spatial-upscaler-0.9.7"
C1, C2 = "1" * 40, "2" * 40
FRAMES = 17


# --- the preset and its sizes --------------------------------------------------------------


def test_the_preset_holds_lightricks_recipe():
    assert STAGES is not None
    assert (HD.repo_id, STAGES.upsampler_repo) == (MAIN, UPSAMPLER)
    assert HD.timesteps == (1000, 993, 987, 981, 975, 909, 725, 0.03)
    assert (HD.steps, HD.guidance, HD.pipeline_class) == (8, 1.0, "LTXConditionPipeline")
    assert STAGES.refine_timesteps == (1000, 909, 725, 421, 0)
    assert (STAGES.refine_strength, STAGES.adain_factor) == (0.999, 1.0)
    assert (HD.decode_timestep, HD.decode_noise_scale) == (0.05, 0.025)
    assert STAGES.refine_steps == 4  # int(5 x 0.999): diffusers drops the first timestep
    assert (HD.width, HD.height) == (1216, 704)


@pytest.mark.parametrize(
    ("size", "first", "refine"),
    [
        ((1216, 704), (800, 448), (1600, 896)),
        ((768, 512), (512, 320), (1024, 640)),
        ((832, 480), (544, 320), (1088, 640)),
        ((96, 96), (64, 64), (128, 128)),
    ],
)
def test_stage_one_is_two_thirds_rounded_down_and_the_refining_pass_twice_that(
    size: tuple[int, int], first: tuple[int, int], refine: tuple[int, int]
):
    assert STAGES is not None
    assert STAGES.sizes(*size) == (first, refine)
    assert STAGES.size_problem(*size) is None


def test_a_clip_whose_stage_one_would_be_under_64_px_is_refused():
    assert STAGES is not None
    assert "64x32" in (STAGES.size_problem(96, 64) or "")


def test_the_memory_estimate_is_the_refining_pass_size():
    from pippa_cli.limits import memory_gb

    at_refine_size = dataclasses.replace(HD, two_stage=None)
    assert memory_gb(HD, 1216, 704, 121) == memory_gb(at_refine_size, 1600, 896, 121)
    assert 60 < memory_gb(HD, 1216, 704, 121) < 80  # fits an 80 GB GPU


# --- where the weights come from -----------------------------------------------------------


def test_ltx_hd_names_both_repositories_to_modal():
    source = resolve_model("ltx-hd")

    assert (source.location, source.upsampler) == (MAIN, UPSAMPLER)
    assert source.remote_label == f"{MAIN}+{UPSAMPLER}"
    assert resolve_model(source.remote_label).upsampler == UPSAMPLER  # what download_weights gets
    pinned = source.pinned(C1, C2)
    assert pinned.remote_label == f"{MAIN}@{C1}+{UPSAMPLER}@{C2}"
    # What the container resolves is what the client meant.
    there = resolve_model(pinned.remote_label)
    assert (there.location, there.revision) == (MAIN, C1)
    assert (there.upsampler, there.upsampler_revision) == (UPSAMPLER, C2)
    assert there.defaults is HD


@pytest.mark.parametrize(
    "value", [f"{MAIN}+", f"+{UPSAMPLER}", f"{MAIN}+bad name", f"{MAIN}+{UPSAMPLER}@x+y"]
)
def test_a_malformed_two_stage_label_is_refused(value: str):
    with pytest.raises(ValueError, match="unknown model"):
        resolve_model(value)


def test_a_local_directory_with_a_latent_upsampler_folder_is_two_stage(tmp_path: Path):
    (tmp_path / "latent_upsampler").mkdir()
    (tmp_path / "latent_upsampler" / "config.json").write_text("{}")
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "LTXPipeline"}))

    source = resolve_model(str(tmp_path))

    assert source.defaults is HD and source.upsampler == str(tmp_path.resolve())
    (tmp_path / "latent_upsampler" / "config.json").unlink()
    assert resolve_model(str(tmp_path)).upsampler is None


def test_the_weights_record_covers_the_upsampler():
    from pippa_cli.container import fetched_key, weights_key

    fetched = {
        "location": MAIN,
        "revision": "main",
        "commit": C1,
        "upsampler": UPSAMPLER,
        "upsampler_revision": "main",
        "upsampler_commit": C2,
    }
    source = resolve_model("ltx-hd")
    key = weights_key(source.location, source.revision, source.upsampler, None)
    assert fetched_key(fetched) == key
    # ltx-distilled's record (same repository, no upsampler) does not stand for it.
    assert key != weights_key(MAIN, None)


def test_a_container_without_the_upsampler_says_which_weights_are_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from pippa_cli.container import Worker
    from pippa_cli.remote_errors import WEIGHTS_MISSING

    # A Hugging Face cache holding the model at C1 but not the upsampler.
    repo = tmp_path / "models--Lightricks--LTX-Video-0.9.7-distilled"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(C1)
    (repo / "snapshots" / C1).mkdir(parents=True)
    (repo / "snapshots" / C1 / "model_index.json").write_text("{}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))

    worker = Worker(f"{MAIN}@{C1}+{UPSAMPLER}@{C2}")
    worker.load("float32")

    assert worker.failure is not None and worker.failure.category == WEIGHTS_MISSING
    assert f"{UPSAMPLER}@{C2} has not been downloaded" in worker.failure.message


# --- the request: what crosses to Modal ----------------------------------------------------


def plan(**overrides: Any) -> TwoStagePlan:
    assert STAGES is not None
    fields: dict[str, Any] = {
        "first_width": 64,
        "first_height": 64,
        "refine_timesteps": STAGES.refine_timesteps,
        "refine_strength": STAGES.refine_strength,
        "adain_factor": STAGES.adain_factor,
    }
    return TwoStagePlan(**{**fields, **overrides})


def request(**overrides: Any) -> RenderRequest:
    fields: dict[str, Any] = {
        "prompt": "w1 w2 w3",
        "negative_prompt": "",
        "width": 96,
        "height": 96,
        "num_frames": FRAMES,
        "fps": 8,
        "steps": 8,
        "guidance": 1.0,
        "seed": 3,
        "timesteps": list(HD.timesteps),
        "vae_tiling": True,
        "two_stage": plan(),
    }
    return RenderRequest(**{**fields, **overrides})


def test_a_two_stage_request_round_trips_through_the_dict():
    sent = request()
    assert RenderRequest.from_dict(sent.to_dict()) == sent
    plain = request(two_stage=None)
    assert RenderRequest.from_dict(plain.to_dict()) == plain


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"first_width": 80}, "first_width 80 is not a positive multiple of 32"),
        ({"first_height": True}, "first_height True is not a positive multiple of 32"),
        ({"refine_timesteps": []}, "refine_timesteps is a non-empty list"),
        ({"refine_timesteps": [1000, 2000]}, "are not all in 0..1000"),
        ({"refine_strength": 0}, "refine_strength 0 is outside 0..1"),
        ({"refine_strength": 1.5}, "refine_strength 1.5 is outside 0..1"),
        ({"refine_strength": 0.1}, "leaves no refining step"),
        ({"adain_factor": float("nan")}, "adain_factor nan is outside 0..1"),
        ({"first_width": 128}, "stage one 128x64 is larger than the clip's 96x96"),
        ({"extra": 1}, "two_stage has the fields"),
    ],
)
def test_from_dict_refuses_a_plan_it_cannot_render(change: dict[str, Any], message: str):
    data = request().to_dict()
    data["two_stage"] = {**data["two_stage"], **change}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        RenderRequest.from_dict(data)


# --- through the CLI to Modal (the stand-in) -----------------------------------------------


def test_ltx_hd_reaches_modal_at_1216x704_with_its_plan_and_is_recorded(
    modal_standin: ModalStandIn,
):
    result = invoke("generate", "a red fox in snow", "--model", "ltx-hd", "--no-enhance")

    assert result.exit_code == 0, result.stderr
    (spawn,) = modal_standin.spawns
    sent = spawn.request
    assert (sent["width"], sent["height"], sent["steps"], sent["guidance"]) == (1216, 704, 8, 1.0)
    assert sent["timesteps"] == list(HD.timesteps) and sent["vae_tiling"] is True
    assert sent["two_stage"] == {
        "first_width": 800,
        "first_height": 448,
        "refine_timesteps": (1000, 909, 725, 421, 0),
        "refine_strength": 0.999,
        "adain_factor": 1.0,
        "refine_sigmas": None,
    }
    assert spawn.model == f"{MAIN}@{WEIGHTS_COMMIT}+{UPSAMPLER}"
    recorded = only_job().settings
    assert recorded["model"] == "ltx-hd" and recorded["two_stage"]["first_size"] == "800x448"
    assert recorded["two_stage"]["refine_size"] == "1600x896"


def test_the_upsampler_is_fetched_with_the_model_and_pinned_to_its_commit(
    modal_standin: ModalStandIn,
):
    modal_standin.weights_cached = False
    modal_standin.download_outcome = {
        "location": MAIN,
        "revision": "main",
        "commit": C1,
        "upsampler": UPSAMPLER,
        "upsampler_revision": "main",
        "upsampler_commit": C2,
    }

    result = invoke("generate", "a red fox", "--model", "ltx-hd", "--no-enhance")

    assert result.exit_code == 0, result.stderr
    (_, name, kwargs), *_ = modal_standin.remote_calls
    assert (name, kwargs) == ("download_weights", {"model": f"{MAIN}+{UPSAMPLER}"})
    assert modal_standin.spawns[0].model == f"{MAIN}@{C1}+{UPSAMPLER}@{C2}"
    recorded = only_job().settings
    assert (recorded["model_revision"], recorded["two_stage"]["upsampler_revision"]) == (C1, C2)


def test_a_size_too_small_for_two_stages_is_refused_before_anything_is_spent(
    modal_standin: ModalStandIn,
):
    result = invoke(
        "generate", "a fox", "--model", "ltx-hd", "--width", "64", "--height", "64", "--no-enhance"
    )

    assert result.exit_code == 2
    assert "too small for two stages" in result.stderr and "choose 96 or more" in result.stderr
    assert modal_standin.spawns == []


# --- real renders on the tiny pipeline -----------------------------------------------------


@pytest.fixture(scope="module")
def hd_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_two_stage(tmp_path_factory.mktemp("tiny-hd") / "model", tiny_model)


@pytest.fixture(scope="module")
def pipes(hd_model: Path) -> Any:
    from pippa_cli.ltx import load_pipeline

    return load_pipeline(resolve_model(str(hd_model)))


def test_the_core_runs_both_stages_and_resizes_to_the_clip(pipes: Any):
    from pippa_cli.ltx import render_frames

    reports: list[tuple[str, int, int]] = []
    seen: list[float] = []
    original = pipes.pipe.scheduler.step

    def step(output: Any, timestep: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(float(timestep.flatten()[0]))
        return original(output, timestep, *args, **kwargs)

    pipes.pipe.scheduler.step = step
    try:
        frames = render_frames(pipes, request(), lambda *r: reports.append(r))
    finally:
        del pipes.pipe.scheduler.step

    assert frames.shape == (FRAMES, 96, 96, 3) and frames.dtype == np.uint8
    assert reports == [
        *[("denoising", i, 8) for i in range(9)],
        ("upsampling", 0, 1),
        ("upsampling", 1, 1),
        *[("refining", i, 4) for i in range(5)],
        ("decoding", 0, 1),
    ]
    assert seen == pytest.approx([*HD.timesteps, 909, 725, 421, 0], abs=1e-2)
    assert np.array_equal(render_frames(pipes, request()), frames)
    assert not np.array_equal(render_frames(pipes, request(seed=4)), frames)


def test_an_image_conditions_both_stages(pipes: Any, monkeypatch: pytest.MonkeyPatch):
    from pippa_cli.ltx import render_frames
    from tests.test_conditioning import PrepareLatentsSpy, png_of

    plain = render_frames(pipes, request())
    spy = PrepareLatentsSpy(monkeypatch)  # it reads conditions: install it after the plain one
    image = ImageCondition(png_of(1, width=96, height=96), 0, 1.0)

    frames = render_frames(pipes, request(images=(image,)))

    assert frames.shape == (FRAMES, 96, 96, 3)
    assert not np.array_equal(frames, plain)
    conditioned = spy.calls
    assert [(c["frames"], c["strengths"]) for c in conditioned] == [([0], [1.0])] * 2
    # The image's pixels, resized to each pass's size: stage one's, then twice it.
    assert [tuple(c["conditions"][0].shape[-2:]) for c in conditioned] == [(64, 64), (128, 128)]


def test_a_two_stage_request_to_a_model_without_an_upsampler_is_refused(tiny_model: Path):
    from pippa_cli.ltx import load_pipeline, render_frames

    plain = load_pipeline(resolve_model(str(tiny_model)))
    with pytest.raises(ValueError, match="without a latent upsampler"):
        render_frames(plain, request())


def test_the_cli_renders_hd_locally_and_the_same_seed_repeats_it(
    hd_model: Path, tmp_path_factory: pytest.TempPathFactory
):
    root = tmp_path_factory.mktemp("hd-cli")
    with pippa_env(root) as work:
        runs = {}
        for name, seed in (("a", 5), ("again", 5), ("other", 6)):
            output = work / f"{name}.mp4"
            result = invoke(
                "generate", "a red fox in snow", "--backend", "local", "--model", str(hd_model),
                "--width", "96", "--height", "96", "--fps", "8",
                "--duration", "3", "--seed", str(seed), "--no-enhance", "-o", str(output),
            )  # fmt: skip
            assert result.exit_code == 0, result.stderr
            runs[name] = (result, output)
        result, output = runs["a"]
        info = probe(output)
        assert (info.width, info.height, info.frames) == (96, 96, 25)  # 3 s at 8 fps
        for label in ("Denoising", "Upsampling latents", "Refining at full size", "Decoding"):
            assert label in result.stderr
        settings = sidecar(output)["settings"]
        assert settings["two_stage"]["first_size"] == "64x64" and settings["vae_tiling"] is True
        frames = decode_frames(output)
        assert np.array_equal(frames, decode_frames(runs["again"][1]))
        assert not np.array_equal(frames, decode_frames(runs["other"][1]))


def test_the_modal_class_renders_two_stage(hd_model: Path, tmp_path: Path):
    from pippa_cli.modal_app.app import LTX

    instance = LTX(model=str(hd_model))
    with warnings.catch_warnings():
        # "executing locally and will not have access to the mounted Volume": expected.
        warnings.simplefilter("ignore", UserWarning)
        data = instance.generate.local(request(metadata={"title": "hd"}).to_dict())

    assert isinstance(data, bytes)
    (tmp_path / "hd.mp4").write_bytes(data)
    info = probe(tmp_path / "hd.mp4")
    assert (info.width, info.height, info.frames) == (96, 96, FRAMES)
    assert info.metadata["title"] == "hd"
