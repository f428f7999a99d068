"""LTX-2 on the request side: what `--model ltx-2` (and `--no-audio`) asks for, checks,
records and tells the enhancer, before and around a render.

No render runs here: refusals are checked before anything is spent (a render attempt
would fail the test), and Modal is the stand-in, whose MP4 is its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pippa_cli import limits
from pippa_cli.enhancement import MAX_WORDS_WITH_SOUND, SOUND_SYSTEM_PROMPT, SYSTEM_PROMPT
from pippa_cli.errors import UsageError
from pippa_cli.limits import Request, check_request, memory_gb, render_seconds
from pippa_cli.mp4 import AUDIO_BITRATE, AUDIO_CHANNELS, AUDIO_CODEC, AUDIO_SAMPLE_RATE
from pippa_cli.presets import (
    LTX_2,
    LTX_VIDEO,
    OFFLOAD_BELOW_GB,
    PRESETS,
    is_ltx_pipeline,
    resolve_model,
)
from pippa_cli.render_request import render_request
from pippa_cli.spec import build_spec
from tests.groq_server import FAKE_KEY, GroqServer
from tests.helpers import SMALL, batch, history, invoke, sidecar, write
from tests.modal_standin import ModalStandIn, Script

PROMPT = "a street drummer at dusk"
AUDIO_RECORD = {
    "codec": AUDIO_CODEC,
    "sample_rate": AUDIO_SAMPLE_RATE,
    "channels": AUDIO_CHANNELS,
    "bitrate": AUDIO_BITRATE,
}


def spec(**options: object):
    return build_spec(prompt=PROMPT, backend="modal", output="clip.mp4", overwrite=True, **options)


# --- the model's source ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "preset"),
    [
        ("Lightricks/LTX-2.5-Diffusers", "ltx-2"),
        ("Lightricks/LTX-2", "ltx-2"),
        ("someone/my-ltx2-finetune@v1", "ltx-2"),
        ("Lightricks/LTX-2.5-Diffusers+Lightricks/LTX-2.5-Diffusers", "ltx-2-hd"),
        ("Lightricks/LTX-Video", "ltx-video"),
        ("Lightricks/LTX-Video-0.9.7-distilled", "ltx-distilled"),
        ("someone/ltxv-2b-finetune", "ltx-video"),  # "ltxv-2": not LTX-2
        ("ltx2-org/ltx-video-copy", "ltx-video"),  # the owner's name does not count
        ("Lightricks/LTX-Video+Lightricks/ltxv-spatial-upscaler-0.9.7", "ltx-hd"),
    ],
)
def test_a_hub_repo_gets_its_familys_settings_from_its_name(model: str, preset: str):
    assert resolve_model(model).defaults is PRESETS[preset]


def model_dir(root: Path, class_name: str, *, upsampler: bool = False) -> Path:
    root.mkdir(parents=True)
    (root / "model_index.json").write_text(json.dumps({"_class_name": class_name}))
    if upsampler:
        (root / "latent_upsampler").mkdir()
        (root / "latent_upsampler" / "config.json").write_text("{}")
    return root


@pytest.mark.parametrize(
    ("class_name", "upsampler", "preset"),
    [
        ("LTX2Pipeline", False, "ltx-2"),
        ("LTX2ConditionPipeline", False, "ltx-2"),
        ("LTX2ImageToVideoPipeline", False, "ltx-2"),
        ("LTX2Pipeline", True, "ltx-2-hd"),
        ("LTXPipeline", True, "ltx-hd"),
        ("LTXConditionPipeline", False, "ltx-distilled"),
    ],
)
def test_a_local_directory_gets_its_familys_settings_from_its_pipeline(
    tmp_path: Path, class_name: str, upsampler: bool, preset: str
):
    directory = model_dir(tmp_path / "model", class_name, upsampler=upsampler)

    source = resolve_model(str(directory))

    assert source.defaults is PRESETS[preset]
    assert source.upsampler == (str(directory.resolve()) if upsampler else None)


def test_the_ltx2_pipelines_are_ltx_pipelines():
    for name in ("LTX2Pipeline", "LTX2ConditionPipeline", "LTX2ImageToVideoPipeline"):
        assert is_ltx_pipeline({"_class_name": name})
    assert not is_ltx_pipeline({"_class_name": "WanPipeline"})


# --- frames, rate, the request ------------------------------------------------------------


def test_ltx2_defaults_to_24_fps_and_renders_8k_plus_1_frames():
    clip = spec(model="ltx-2", seed=1)
    settings = clip.settings()

    assert (settings["fps"], settings["num_frames"]) == (24, 121)  # 5 s x 24 = 120 -> 121
    assert settings["duration"] == 5.042  # 121 / 24, the real length
    assert settings["requested_duration"] == 5.0
    assert spec(model="ltx-2", duration=3, seed=1).num_frames == 73  # 72 -> 73
    assert spec(model="ltx-2", fps=30, seed=1).num_frames == 153  # a given rate is kept


def test_ltx_video_still_defaults_to_30_fps():
    assert spec(model="ltx-video", seed=1).settings()["fps"] == 30


def test_ltx2_request_carries_the_presets_sigmas_and_guidance_terms():
    preset = PRESETS["ltx-2"]
    request = render_request(spec(model="ltx-2", seed=1), "task", "a prompt")

    assert request.sigmas == list(preset.sigmas or ())
    assert request.guidance_terms == dict(preset.guidance_terms)
    assert request.guidance_terms["stg_scale"] == 0.0  # distilled: no STG pass
    assert request.timesteps is None
    assert request.audio is True
    assert (request.fps, request.num_frames) == (24, 121)
    assert request.max_sequence_length == 1024  # LTX-2's Gemma, room for sound


def test_other_steps_leave_the_sigmas_to_the_core():
    request = render_request(spec(model="ltx-2", steps=12, seed=1), "task", "a prompt")

    assert request.sigmas is None
    assert request.steps == 12


def test_ltx_video_request_has_no_sigmas_or_guidance_terms():
    request = render_request(spec(model="ltx-video", seed=1), "task", "a prompt")

    assert request.sigmas is None
    assert request.guidance_terms == {}
    assert request.max_sequence_length == 256


def test_ltx2_hd_plans_its_refining_sigmas_at_exactly_the_clips_size():
    clip = spec(model="ltx-2-hd", seed=1)
    request = render_request(clip, "task", "a prompt")
    stages = PRESETS["ltx-2-hd"].two_stage
    assert stages is not None

    assert request.two_stage is not None
    assert (request.width, request.height) == (1536, 1024)
    assert (request.two_stage.first_width, request.two_stage.first_height) == (768, 512)
    assert request.two_stage.refine_sigmas == stages.refine_sigmas
    record = clip.settings()["two_stage"]
    assert record["first_size"] == "768x512" and record["refine_size"] == "1536x1024"
    assert record["refine_sigmas"] == list(stages.refine_sigmas or ())
    assert "refine_timesteps" not in record  # LTX-2 refines on sigmas only


# --- the recorded settings ------------------------------------------------------------------


def test_ltx2_records_the_mp4s_sound_track():
    settings = spec(model="ltx-2", seed=1).settings()

    assert settings["audio"] == AUDIO_RECORD
    assert json.loads(json.dumps(settings))["audio"] == AUDIO_RECORD


def test_no_audio_is_recorded_as_false():
    clip = spec(model="ltx-2", seed=1, audio=False)

    assert clip.settings()["audio"] is False
    assert render_request(clip, "task", "a prompt").audio is False


def test_a_silent_models_settings_are_unchanged_by_no_audio():
    with_sound = spec(model="ltx-video", seed=1).settings()
    without = spec(model="ltx-video", seed=1, audio=False).settings()

    assert "audio" not in with_sound
    assert with_sound == without


# --- refused before anything is spent ------------------------------------------------------


@pytest.fixture
def no_render(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Any attempt to render is recorded, and fails."""
    from pippa_cli.backends.local_backend import LocalBackend

    calls: list[object] = []

    def render(self, request, source, on_progress, **kwargs):
        calls.append(request)
        raise AssertionError("rendered a request that should have been refused")

    monkeypatch.setattr(LocalBackend, "render", render)
    return calls


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ["--model", "ltx-2", "--extend", "nowhere.mp4"],
            ["--extend does not go with --model ltx-2 (LTX-2)", "an LTX-Video model"],
            id="extend",  # refused before the file is read: it does not exist
        ),
        pytest.param(
            ["--model", "ltx-2-hd", "--extend", "nowhere.mp4"],
            ["--extend does not go with --model ltx-2-hd (LTX-2)"],
            id="extend-hd",
        ),
        pytest.param(
            ["--model", "ltx-2-hd", "--width", "1280", "--height", "736"],
            [
                "--model ltx-2-hd: 1280x736 cannot render in two stages",
                "multiples of 64",
                "1280x704 or 1280x768",
            ],
            id="hd-not-64",
        ),
        pytest.param(
            ["--model", "ltx-2-hd", "--width", "64", "--height", "64"],
            ["64x64 is too small for two stages", "at half", "choose 128 or more"],
            id="hd-too-small",
        ),
        pytest.param(
            [
                "--model",
                "ltx-2",
                "--width",
                "1536",
                "--height",
                "1024",
                "--fps",
                "30",
                "--duration",
                "10",
            ],
            [
                "1536x1024 at 305 frames (10.2 s) is larger than LTX-2 renders well",
                "at most 2048 px a side and about 1536x1024 at 241 frames",
                "Largest that works",
            ],
            id="ltx2-too-many-tokens",
        ),
        pytest.param(
            ["--model", "ltx-video", "--width", "1536", "--height", "1024"],
            ["is larger than LTX-Video renders well", "at most 1280 px a side"],
            id="ltx-video-side",
        ),
    ],
)
def test_ltx2_requests_it_cannot_render_are_refused_before_anything_runs(
    args: list[str], expected: list[str], groq: GroqServer, no_render: list[object]
):
    result = invoke("generate", PROMPT, "--backend", "local", "--seed", "1", *args)

    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("Error: "), result.stderr
    for text in expected:
        assert text in result.stderr, (text, result.stderr)
    assert groq.requests == []
    assert no_render == []
    assert history().list() == []
    assert list(Path.cwd().iterdir()) == []


def test_a_2048_side_is_within_ltx2s_limits_but_not_ltx_videos():
    wanted = Request(2048, 1024, 25, 24, 8)

    check_request(PRESETS["ltx-2"], wanted)  # LTX-2 renders up to 2048 a side
    with pytest.raises(UsageError, match="larger than LTX-Video renders well"):
        check_request(PRESETS["ltx-video"], wanted)


def test_the_token_limit_sizes_are_the_presets_limits():
    for preset in PRESETS.values():
        width, height, frames = limits.TOKEN_LIMIT_SIZES[preset.family]
        assert limits.latent_tokens(width, height, frames) == preset.max_tokens, preset.name
    assert set(limits.TOKEN_LIMIT_SIZES) == {LTX_VIDEO, LTX_2}


# --- GPU memory and time: offload under 100 GB ------------------------------------------------


def test_ltx2_on_an_80_gb_gpu_holds_only_the_offloaded_set():
    preset = PRESETS["ltx-2"]
    assert preset.offload_weights_gb is not None
    size = (768, 512, 121)
    on_h100 = memory_gb(preset, *size, gpu_gb=80)
    on_h200 = memory_gb(preset, *size, gpu_gb=141)

    assert 80 < OFFLOAD_BELOW_GB < 141
    assert on_h200 - on_h100 == pytest.approx(preset.weights_gb - preset.offload_weights_gb)
    assert on_h100 < 80 < preset.weights_gb + 14  # all of it would not fit with activations
    # Offloading costs the weights' trips between CPU and GPU.
    assert render_seconds(preset, *size, 8, 1.0, 80) > render_seconds(preset, *size, 8, 1.0, 141)
    # A silent model is never offloaded.
    video = PRESETS["ltx-video"]
    assert memory_gb(video, *size, gpu_gb=80) == memory_gb(video, *size, gpu_gb=141)


@pytest.mark.parametrize("name", ["ltx-2", "ltx-2-hd"])
@pytest.mark.parametrize("gpu", ["H100", "H200"])
def test_ltx2_presets_default_5_s_clip_fits_the_default_and_larger_gpu(name: str, gpu: str):
    preset = PRESETS[name]
    wanted = Request(preset.width, preset.height, 121, 24, preset.steps)

    assert check_request(preset, wanted, gpu, 1800) is None


def test_ltx2_on_a_small_gpu_is_refused_naming_one_that_holds_it():
    preset = PRESETS["ltx-2"]

    with pytest.raises(UsageError) as refused:
        check_request(preset, Request(768, 512, 121, 24, 8), "A10G", 1800)

    assert "needs about" in refused.value.message and "A10G has 24 GB" in refused.value.message
    assert "This model needs a larger GPU: pippa deploy --gpu H100" in (refused.value.hint or "")


def test_ltx2_hd_suggests_only_sizes_it_can_render():
    preset = PRESETS["ltx-2-hd"]
    stages = preset.two_stage
    assert stages is not None

    with pytest.raises(UsageError) as refused:  # 10 s at 1536x1024 is past an H100's memory
        check_request(preset, Request(1536, 1024, 241, 24, 8), "H100", 1800)

    hint = refused.value.hint or ""
    sizes = [tuple(map(int, s.split("x"))) for s in _sizes(hint)]
    assert sizes, hint
    for width, height in sizes:
        assert stages.size_problem(width, height) is None, (width, height)


def _sizes(hint: str) -> list[str]:
    import re

    return re.findall(r"(\d+x\d+) at this length", hint)


# --- --no-audio and batches -------------------------------------------------------------------


def test_jsonl_lines_take_audio_false(tmp_path: Path):
    from pippa_cli.batch_input import read_lines

    source = write(
        tmp_path / "shots.jsonl",
        '{"prompt": "a drummer", "model": "ltx-2", "audio": false}\n'
        '{"prompt": "a fox", "audio": "no"}\n',
    )

    lines, errors = read_lines(str(source))

    assert [line.overrides for line in lines] == [{"model": "ltx-2", "audio": False}]
    assert [e.number for e in errors] == [2] and "audio" in errors[0].message


def test_a_batch_of_ltx2_lines_reaches_modal_with_sound_settings(
    modal_standin: ModalStandIn, tmp_path: Path
):
    source = write(
        tmp_path / "shots.jsonl",
        '{"prompt": "a drummer", "model": "ltx-2", "name": "drums"}\n'
        '{"prompt": "a quiet drummer", "model": "ltx-2", "audio": false, "name": "quiet"}\n'
        '{"prompt": "a fox", "audio": false, "name": "fox"}\n',
    )
    clips = tmp_path / "clips"

    result = batch(str(source), clips)

    assert result.exit_code == 0, result.output
    spawned = {s.request["prompt"]: s for s in modal_standin.spawns}
    drums, quiet, fox = (spawned[p] for p in ("a drummer", "a quiet drummer", "a fox"))
    assert drums.model is not None and drums.model.startswith("Lightricks/LTX-2.5-Diffusers@")
    assert (drums.request["audio"], quiet.request["audio"]) == (True, False)
    assert drums.request["guidance_terms"] == dict(PRESETS["ltx-2"].guidance_terms)
    assert fox.request["guidance_terms"] == {}
    assert sidecar(clips / "drums.mp4")["settings"]["audio"] == AUDIO_RECORD
    assert sidecar(clips / "quiet.mp4")["settings"]["audio"] is False
    assert "audio" not in sidecar(clips / "fox.mp4")["settings"]
    jobs = {job.original_prompt: job for job in history().list()}
    assert jobs["a drummer"].settings["audio"] == AUDIO_RECORD
    assert {job.status for job in jobs.values()} == {"completed"}


def test_no_audio_is_accepted_with_ltx_video_on_modal(modal_standin: ModalStandIn):
    result = invoke("generate", "a fox", "--no-enhance", "--no-audio", "-o", "fox.mp4", *SMALL)

    assert result.exit_code == 0, result.output
    assert modal_standin.spawns[0].request["audio"] is False
    assert "audio" not in sidecar(Path("fox.mp4"))["settings"]


def test_detached_ltx2_job_is_followed_to_its_video(
    modal_standin: ModalStandIn, standin_mp4: bytes
):
    modal_standin.script = Script(steps=2)
    submitted = invoke(
        "generate", PROMPT, "--model", "ltx-2", "--no-enhance", "--detach", "-o", "drums.mp4",
        *SMALL,
    )  # fmt: skip
    assert submitted.exit_code == 0, submitted.output
    task_id = submitted.stdout.strip()

    result = invoke("status", task_id[:8], "--wait")

    assert result.exit_code == 0, result.output
    target = Path("drums.mp4").resolve()
    assert target.read_bytes() == standin_mp4
    job = history().get(task_id)
    assert job.status == "completed"
    assert job.settings["model"] == "ltx-2" and job.settings["audio"] == AUDIO_RECORD
    assert sidecar(target)["settings"]["audio"] == AUDIO_RECORD


def test_a_running_ltx2_job_is_cancelled(modal_standin: ModalStandIn):
    submitted = invoke(
        "generate", PROMPT, "--model", "ltx-2", "--no-audio", "--no-enhance", "--detach", *SMALL
    )
    assert submitted.exit_code == 0, submitted.output
    job = history().get(submitted.stdout.strip())

    result = invoke("cancel", job.task_id[:8])

    assert result.exit_code == 0, result.output
    assert modal_standin.cancelled == [job.remote_call_id]
    cancelled = history().get(job.task_id)
    assert cancelled.status == "cancelled"
    assert cancelled.settings["audio"] is False


# --- the enhancer knows the model hears ---------------------------------------------------------


def system_prompts(groq: GroqServer) -> list[str]:
    return [json.loads(r.get_data())["messages"][0]["content"] for r in groq.requests]


def test_the_sound_prompt_asks_for_a_soundscape_and_quoted_speech():
    assert "No sound, no dialogue" in SYSTEM_PROMPT
    assert "No sound" not in SOUND_SYSTEM_PROMPT
    for wanted in ("LTX-2", "soundscape", "ambient sound", "music", "in quotes", "who says"):
        assert wanted in SOUND_SYSTEM_PROMPT, wanted
    assert f"At most {MAX_WORDS_WITH_SOUND} words." in SOUND_SYSTEM_PROMPT


@pytest.mark.parametrize(
    ("args", "env", "sound"),
    [
        (["--model", "ltx-2"], {}, True),
        (["--model", "ltx-2-hd"], {}, True),
        (["--model", "Lightricks/LTX-2.5-Diffusers"], {}, True),
        ([], {"PIPPA_MODEL": "ltx-2"}, True),
        (["--model", "ltx-2", "--no-audio"], {}, False),
        (["--model", "ltx-video"], {}, False),
        (["--model", "ltx-video", "--no-audio"], {}, False),
        ([], {}, False),
    ],
)
def test_pippa_enhance_describes_sound_for_a_model_that_hears(
    groq: GroqServer, args: list[str], env: dict[str, str], sound: bool
):
    groq.answer("A drummer plays.")

    result = invoke("enhance", PROMPT, *args, env=env)

    assert result.exit_code == 0, result.output
    assert system_prompts(groq) == [SOUND_SYSTEM_PROMPT if sound else SYSTEM_PROMPT]


def test_pippa_enhance_refuses_an_unknown_model_before_asking(groq: GroqServer):
    result = invoke("enhance", PROMPT, "--model", "nonsense")

    assert result.exit_code == 2
    assert "unknown model 'nonsense'" in result.stderr
    assert groq.requests == []
    assert FAKE_KEY not in result.stderr


def test_a_longer_answer_is_kept_for_a_model_that_hears(groq: GroqServer):
    answer = " ".join(["word"] * 210) + "."
    groq.answer(answer)

    heard = invoke("enhance", PROMPT, "--model", "ltx-2")
    silent = invoke("enhance", PROMPT, "--model", "ltx-video")

    assert heard.stdout == answer + "\n"  # within 200 words and a fifth
    assert len(silent.stdout.split()) == 180  # cut a fifth past 150


def test_pippa_enhance_from_file_takes_each_lines_model_and_audio(groq: GroqServer, tmp_path: Path):
    groq.answer("A drummer plays.")
    source = write(
        tmp_path / "ideas.jsonl",
        '{"prompt": "a drummer"}\n'
        '{"prompt": "a quiet drummer", "audio": false}\n'
        '{"prompt": "a fox", "model": "ltx-video"}\n'
        '{"prompt": "a bad one", "model": "nonsense"}\n',
    )

    result = invoke("enhance", "--from-file", str(source), "--model", "ltx-2", "--concurrency", "1")

    assert result.exit_code == 1  # the bad line
    assert "line 4: unknown model 'nonsense'" in result.stderr
    assert system_prompts(groq) == [SOUND_SYSTEM_PROMPT, SYSTEM_PROMPT, SYSTEM_PROMPT]


def test_the_python_enhance_takes_the_model(groq: GroqServer):
    from pippa_cli import enhance

    groq.answer("A drummer plays.")

    enhance(PROMPT, model="ltx-2")
    enhance(PROMPT, model="ltx-2", audio=False)

    assert system_prompts(groq) == [SOUND_SYSTEM_PROMPT, SYSTEM_PROMPT]
    with pytest.raises(UsageError, match="audio must be bool"):
        enhance(PROMPT, model="ltx-2", audio="no")  # type: ignore[arg-type]


def test_generate_with_ltx2_enhances_with_sound(groq: GroqServer, modal_standin: ModalStandIn):
    groq.answer("A drummer plays as the crowd cheers.")

    heard = invoke("generate", PROMPT, "--model", "ltx-2", "-o", "a.mp4", *SMALL)
    silent = invoke("generate", PROMPT, "--model", "ltx-2", "--no-audio", "-o", "b.mp4", *SMALL)

    assert heard.exit_code == 0 and silent.exit_code == 0, (heard.output, silent.output)
    assert system_prompts(groq) == [SOUND_SYSTEM_PROMPT, SYSTEM_PROMPT]
    assert modal_standin.spawns[0].request["prompt"] == "A drummer plays as the crowd cheers."


# --- found by the review ------------------------------------------------------------------


def test_ltx2_hd_size_hint_names_only_sizes_that_render():
    """96x96 rounds to 64x64 or 128x128, but 64x64 cannot render in two stages either."""
    result = invoke(
        "generate", "a drummer", "--model", "ltx-2-hd", "--width", "96", "--height", "96"
    )

    assert result.exit_code == 2
    assert "Nearest sizes that work: 128x128." in result.stderr, result.stderr
    assert "64x64" not in result.stderr.partition("Nearest")[2]


def test_another_guidance_guides_the_sound_too():
    """The preset's terms turn every other guidance off, the audio's included: with another
    --guidance none is sent, so the pipeline guides the sound as well (its own recipe)."""

    def terms(**options: float) -> dict[str, float]:
        spec = build_spec(
            prompt="a drummer", backend="modal", output="a.mp4", overwrite=True,
            model="ltx-2", **options,
        )  # fmt: skip
        return render_request(spec, "task", "a drummer").guidance_terms

    assert terms() == dict(PRESETS["ltx-2"].guidance_terms)
    assert terms(guidance=1.0) == dict(PRESETS["ltx-2"].guidance_terms)
    assert terms(guidance=3.0) == {}


def test_two_ltx2_images_on_one_latent_frame_are_refused(tmp_path: Path):
    """LTX-2 places images on its 8-frame grid: @2 and @4 would both be frame 1."""
    from PIL import Image

    for name in ("a.png", "b.png", "c.png"):
        Image.new("RGB", (64, 64), (200, 40, 40)).save(name)

    def images(*frames: int) -> object:
        given = [f"{name}.png@{frame}" for name, frame in zip("abc", frames, strict=False)]
        return build_spec(
            prompt="a drummer", backend="modal", output="a.mp4", overwrite=True,
            model="ltx-2", duration=3, image=given,
        )  # fmt: skip

    with pytest.raises(UsageError) as refused:
        images(2, 4)
    assert refused.value.message == (
        "--image: the images at frames 2 and 4 both land on LTX-2's frame 1"
    )
    assert "8-frame grid" in (refused.value.hint or "")
    images(0, 9, -1)  # frames 0, 9 and the last: three frames of the grid
