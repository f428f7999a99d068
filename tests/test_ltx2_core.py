"""The LTX-2 core on the tiny random-weight LTX-2 pipelines: video with sound, one and two
stages, images, seeds, progress, and the requests it refuses before any work."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pippa_cli.ltx import ImageCondition, RenderRequest, TwoStagePlan
from pippa_cli.presets import PRESETS
from tests.fixtures_ltx import decode_frames, probe
from tests.helpers import call_modal_local
from tests.test_mp4_audio import tracks

FPS = 24
FRAMES = 17
LTX2 = PRESETS["ltx-2"]
REFINE_SIGMAS = (0.909375, 0.725, 0.421875)


def request(**overrides: Any) -> RenderRequest:
    fields: dict[str, Any] = {
        "prompt": "a red fox runs in the sea",
        "negative_prompt": "",
        "width": 64,
        "height": 64,
        "num_frames": FRAMES,
        "fps": FPS,
        "steps": 2,
        "sigmas": [1.0, 0.5],
        "guidance": 1.0,
        "guidance_terms": dict(LTX2.guidance_terms),
        "seed": 5,
        "max_sequence_length": 256,
        "metadata": {"title": "a red fox"},
    }
    return RenderRequest(**{**fields, **overrides})


def hd_request(**overrides: Any) -> RenderRequest:
    plan = TwoStagePlan(
        first_width=64,
        first_height=64,
        refine_timesteps=(),
        refine_strength=1.0,
        adain_factor=1.0,
        refine_sigmas=REFINE_SIGMAS,
    )
    return request(**{"width": 128, "height": 128, "two_stage": plan, **overrides})


def png_of(seed: int, width: int = 64, height: int = 64) -> bytes:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def pipe(tiny_ltx2: Path) -> Any:
    from pippa_cli.ltx import load_pipeline
    from pippa_cli.presets import resolve_model

    return load_pipeline(resolve_model(str(tiny_ltx2)))


@pytest.fixture(scope="module")
def hd_pipes(tiny_ltx2_hd: Path) -> Any:
    from pippa_cli.ltx import load_pipeline
    from pippa_cli.presets import resolve_model

    return load_pipeline(resolve_model(str(tiny_ltx2_hd)))


def mp4(pipe: Any, req: RenderRequest, reports: list[tuple[str, int, int]] | None = None) -> bytes:
    from pippa_cli.ltx import generate_mp4

    return generate_mp4(pipe, req, (lambda *r: reports.append(r)) if reports is not None else None)


def written(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / f"{name}.mp4"
    path.write_bytes(data)
    return path


# --- one stage ------------------------------------------------------------------------------


def test_a_local_ltx2_directory_loads_as_ltx2(tiny_ltx2: Path, tiny_ltx2_hd: Path):
    from pippa_cli.presets import resolve_model

    assert resolve_model(str(tiny_ltx2)).defaults.name == "ltx-2"
    hd = resolve_model(str(tiny_ltx2_hd))
    assert hd.defaults.name == "ltx-2-hd" and hd.upsampler == hd.location


def test_the_clip_has_h264_video_and_an_aac_track_as_long_as_it(pipe: Any, tmp_path: Path):
    reports: list[tuple[str, int, int]] = []
    data = mp4(pipe, request(), reports)

    info = probe(written(tmp_path, "clip", data))
    assert (info.codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", 64, 64)
    assert info.frames == FRAMES and info.fps == FPS and info.faststart
    assert info.metadata["title"] == "a red fox"
    found = tracks(data)
    assert (found.audio_codec, found.profile, found.rate, found.channels) == ("aac", "LC", 48000, 2)
    assert found.audio_seconds is not None
    assert abs(found.audio_seconds - found.video_seconds) < 1 / FPS
    assert found.samples is not None and np.abs(found.samples).max() > 0  # the model's sound
    assert reports == [
        ("denoising", 0, 2),
        ("denoising", 1, 2),
        ("denoising", 2, 2),
        ("decoding", 0, 1),
        ("encoding", 0, 1),
    ]


def test_the_same_seed_repeats_video_and_sound_and_another_seed_does_not(pipe: Any, tmp_path: Path):
    first, again, other = (mp4(pipe, request(seed=seed)) for seed in (5, 5, 6))

    frames = [
        decode_frames(written(tmp_path, str(i), d)) for i, d in enumerate((first, again, other))
    ]
    sounds = [tracks(d).samples for d in (first, again, other)]
    assert np.array_equal(frames[0], frames[1])
    assert np.array_equal(sounds[0], sounds[1])
    assert not np.array_equal(frames[0], frames[2])
    assert not np.array_equal(sounds[0], sounds[2])


def test_no_audio_writes_the_same_frames_without_a_sound_track(pipe: Any, tmp_path: Path):
    with_sound = mp4(pipe, request())
    silent = mp4(pipe, request(audio=False))

    assert tracks(silent).audio_codec is None
    assert np.array_equal(
        decode_frames(written(tmp_path, "silent", silent)),
        decode_frames(written(tmp_path, "sound", with_sound)),
    )


def test_the_presets_schedule_and_guidance_terms_reach_the_pipeline(
    pipe: Any, monkeypatch: pytest.MonkeyPatch
):
    from pippa_cli.ltx import render

    seen: dict[str, Any] = {}
    call = type(pipe).__call__

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return call(self, *args, **kwargs)

    monkeypatch.setattr(type(pipe), "__call__", spy)
    sigmas = list(LTX2.sigmas or ())
    clip = render(pipe, request(steps=len(sigmas), sigmas=sigmas, guidance=1.0))

    assert clip.frames.shape == (FRAMES, 64, 64, 3) and clip.frames.dtype == np.uint8
    assert clip.sample_rate == 24000 and clip.audio is not None and clip.audio.shape[0] == 2
    assert seen["sigmas"] == sigmas and seen["num_inference_steps"] == len(sigmas)
    assert seen["num_frames"] == FRAMES and seen["frame_rate"] == FPS
    assert seen["guidance_scale"] == 1.0
    assert {k: seen[k] for k in dict(LTX2.guidance_terms)} == dict(LTX2.guidance_terms)
    assert seen["max_sequence_length"] == 256


def test_without_sigmas_it_runs_the_steps_asked(pipe: Any):
    from pippa_cli.ltx import render

    reports: list[tuple[str, int, int]] = []
    render(pipe, request(steps=3, sigmas=None), lambda *r: reports.append(r))
    assert [r for r in reports if r[0] == "denoising"][-1] == ("denoising", 3, 3)


def test_an_image_conditions_the_clip_with_its_own_pixels(
    pipe: Any, monkeypatch: pytest.MonkeyPatch
):
    # The tiny model's weights are random: its VAE does not give an image back, so no
    # frame can look like the image. What pippa owns is checked: the image's very pixels
    # reach LTX-2's condition pipeline at the frame and strength asked, and they change
    # the clip (another image: another clip; the same: the same).
    from diffusers import LTX2ConditionPipeline
    from PIL import Image

    from pippa_cli.ltx import render

    sent: list[Any] = []
    call = LTX2ConditionPipeline.__call__

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(kwargs["conditions"])
        return call(self, *args, **kwargs)

    monkeypatch.setattr(LTX2ConditionPipeline, "__call__", spy)
    image, other = png_of(1), png_of(2)
    plain = render(pipe, request()).frames
    pinned = render(pipe, request(images=(ImageCondition(image, 0, 0.75),))).frames
    again = render(pipe, request(images=(ImageCondition(image, 0, 0.75),))).frames
    moved = render(pipe, request(images=(ImageCondition(other, 0, 0.75),))).frames

    (condition,) = sent[0]
    assert (condition.index, condition.strength) == (0, 0.75)
    expected = np.asarray(Image.open(io.BytesIO(image)).convert("RGB"))
    assert np.array_equal(np.asarray(condition.frames), expected)
    assert np.array_equal(pinned, again)
    assert not np.array_equal(pinned, plain)
    assert not np.array_equal(pinned, moved)


@pytest.mark.parametrize(
    ("frame", "num_frames", "index"),
    [(0, 17, 0), (1, 17, 1), (8, 17, 2), (5, 17, 2), (4, 17, 1), (16, 17, 2), (8, 9, 1), (3, 5, 0)],
)
def test_an_image_goes_to_the_nearest_latent_frame(frame: int, num_frames: int, index: int):
    from pippa_cli.ltx2 import video_conditions

    (condition,) = video_conditions((ImageCondition(png_of(1), frame, 0.5),), num_frames)
    assert (condition.index, condition.strength) == (index, 0.5)


# --- two stages -------------------------------------------------------------------------------


def test_two_stages_render_at_the_clip_size_with_sound(hd_pipes: Any, tmp_path: Path):
    reports: list[tuple[str, int, int]] = []
    data = mp4(hd_pipes, hd_request(), reports)

    info = probe(written(tmp_path, "hd", data))
    assert (info.width, info.height, info.frames) == (128, 128, FRAMES)
    found = tracks(data)
    assert found.audio_codec == "aac" and found.audio_seconds is not None
    assert abs(found.audio_seconds - found.video_seconds) < 1 / FPS
    stages = [r for r in reports if r[0] in ("upsampling", "refining", "decoding", "encoding")]
    assert stages == [
        ("upsampling", 0, 1),
        ("upsampling", 1, 1),
        ("refining", 0, 3),
        ("refining", 1, 3),
        ("refining", 2, 3),
        ("refining", 3, 3),
        ("decoding", 0, 1),
        ("encoding", 0, 1),
    ]
    assert reports[:3] == [("denoising", 0, 2), ("denoising", 1, 2), ("denoising", 2, 2)]


def test_two_stages_repeat_with_the_seed(hd_pipes: Any):
    from pippa_cli.ltx import render

    first, again = render(hd_pipes, hd_request()), render(hd_pipes, hd_request())
    other = render(hd_pipes, hd_request(seed=6))
    assert np.array_equal(first.frames, again.frames)
    assert first.audio is not None and again.audio is not None and other.audio is not None
    assert np.array_equal(first.audio, again.audio)
    assert not np.array_equal(first.frames, other.frames)


def test_an_image_conditions_a_two_stage_render(hd_pipes: Any):
    from pippa_cli.ltx import render

    image = png_of(2, 128, 128)
    plain = render(hd_pipes, hd_request()).frames
    pinned = render(hd_pipes, hd_request(images=(ImageCondition(image, 0, 1.0),))).frames
    assert pinned.shape == plain.shape == (FRAMES, 128, 128, 3)
    assert not np.array_equal(pinned, plain)


def test_a_two_stage_request_to_a_model_without_an_upsampler_is_refused(pipe: Any):
    from pippa_cli.ltx import render

    with pytest.raises(ValueError, match="without a latent upsampler"):
        render(pipe, hd_request())


# --- the Modal class, in-process ---------------------------------------------------------------


def test_the_modal_class_renders_ltx2_with_sound(tiny_ltx2: Path, tiny_ltx2_hd: Path):
    (one,) = call_modal_local(str(tiny_ltx2), request().to_dict())
    (hd,) = call_modal_local(str(tiny_ltx2_hd), hd_request(audio=False).to_dict())

    assert isinstance(one, bytes), one
    found = tracks(one)
    assert found.audio_codec == "aac" and found.audio_seconds is not None
    assert abs(found.audio_seconds - found.video_seconds) < 1 / FPS
    assert isinstance(hd, bytes), hd
    assert tracks(hd).audio_codec is None


# --- refused before any work -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"extend": b"\0\0\0\x18ftypisom"}, "cannot continue a clip"),
        ({"timesteps": [1000.0, 500.0], "sigmas": None}, "takes sigmas, not timesteps"),
        ({"max_sequence_length": 200}, "multiple of 128, not 200"),
    ],
)
def test_what_ltx2_cannot_render_is_refused_before_denoising(
    pipe: Any, change: dict[str, Any], message: str
):
    from pippa_cli.ltx import render

    reports: list[tuple[str, int, int]] = []
    with pytest.raises(ValueError, match=message):
        render(pipe, request(**change), lambda *r: reports.append(r))
    assert reports == []


def test_ltx_video_refuses_ltx2_sampling(tiny_model: Path):
    from pippa_cli.ltx import load_pipeline, render
    from pippa_cli.presets import resolve_model

    plain = load_pipeline(resolve_model(str(tiny_model)))
    with pytest.raises(ValueError, match="LTX-2's: this is an LTX-Video model"):
        render(plain, request())


# --- the request's new fields, checked in from_dict (no model) -------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"audio": "yes"}, "audio is true or false"),
        ({"sigmas": []}, "sigmas is a non-empty list"),
        ({"sigmas": "1.0"}, "sigmas is a non-empty list"),
        ({"sigmas": [1.0, 0.0]}, r"are not all in \(0, 1\]"),
        ({"sigmas": [1.5, 0.5]}, r"are not all in \(0, 1\]"),
        ({"sigmas": [1.0, math.nan]}, r"are not all in \(0, 1\]"),
        ({"sigmas": [True, 0.5]}, r"are not all in \(0, 1\]"),
        ({"sigmas": [1.0, 0.5, 0.25]}, r"steps 2 is not the sigmas' count \(3\)"),
        ({"guidance_terms": [1]}, "guidance_terms is a dict"),
        ({"guidance_terms": {"num_frames": 3}}, "unknown guidance term"),
        ({"guidance_terms": {"stg_scale": -1}}, "stg_scale -1 is not a number, 0 or more"),
        ({"guidance_terms": {"stg_scale": math.inf}}, "stg_scale inf is not"),
        ({"guidance_terms": {"stg_scale": "1"}}, "stg_scale '1' is not"),
        ({"guidance_terms": {"guidance_rescale": 1.5}}, "guidance_rescale 1.5 is not 0..1"),
        (
            {"guidance_terms": {"stg_scale": 1.0, "audio_stg_scale": 0.0}},
            "audio_stg_scale 0 would render as stg_scale 1.0",
        ),
        ({"guidance": 3.0, "guidance_terms": {"audio_guidance_scale": 0}}, "as guidance 3.0"),
        ({"max_sequence_length": 0}, "max_sequence_length 0 is not a positive whole number"),
        ({"max_sequence_length": True}, "max_sequence_length True is not"),
    ],
)
def test_from_dict_refuses_sampling_it_cannot_render(change: dict[str, Any], message: str):
    data = {**request().to_dict(), **change}
    with pytest.raises(ValueError, match=message):
        RenderRequest.from_dict(data)


def test_the_new_fields_round_trip_as_floats():
    sent = request(sigmas=[1, 0.5], guidance_terms={"stg_scale": 0, "modality_scale": 1})
    parsed = RenderRequest.from_dict(sent.to_dict())
    assert parsed.sigmas == [1.0, 0.5] and all(type(s) is float for s in parsed.sigmas)
    assert parsed.guidance_terms == {"stg_scale": 0.0, "modality_scale": 1.0}
    assert RenderRequest.from_dict(hd_request().to_dict()) == hd_request()
    assert RenderRequest.from_dict(request(audio=False).to_dict()).audio is False


@pytest.mark.parametrize(
    ("sigmas", "message"),
    [([], "refine_sigmas is a non-empty list"), ([0.9, 2.0], "refine_sigmas")],
)
def test_from_dict_refuses_a_bad_ltx2_plan(sigmas: list[float], message: str):
    data = hd_request().to_dict()
    data["two_stage"] = {**data["two_stage"], "refine_sigmas": sigmas}
    with pytest.raises(ValueError, match=message):
        RenderRequest.from_dict(data)


# --- where the container puts the model -------------------------------------------------------


def test_ltx2_takes_turns_on_an_80_gb_gpu_and_sits_whole_on_an_h200():
    from pippa_cli.container import needs_offload

    h100, h200 = 80 * 10**9 * 1.0625, 141 * 10**9 * 1.0625  # what CUDA reports, about
    assert needs_offload(PRESETS["ltx-2"], int(h100))
    assert needs_offload(PRESETS["ltx-2-hd"], int(h100))
    assert not needs_offload(PRESETS["ltx-2"], int(h200))
    assert not needs_offload(PRESETS["ltx-2-hd"], int(h200))
    # LTX-Video always moves whole, as before.
    assert not needs_offload(PRESETS["ltx-hd"], int(h100))
    assert not needs_offload(PRESETS["ltx-video"], 16 * 2**30)


# --- LoRAs --------------------------------------------------------------------------------------


def test_a_lora_for_the_ltx2_transformer_changes_the_clip_and_unloads(
    pipe: Any, tiny_ltx2: Path, tmp_path: Path
):
    import torch
    from diffusers import LTX2Pipeline, LTX2VideoTransformer3DModel
    from peft import LoraConfig, get_peft_model_state_dict

    from pippa_cli.ltx import render
    from pippa_cli.ltx_lora import LoraWeights

    transformer = LTX2VideoTransformer3DModel.from_pretrained(tiny_ltx2, subfolder="transformer")
    targets = ["to_q", "to_k", "to_v", "to_out.0"]
    transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=targets))
    generator = torch.Generator().manual_seed(0)
    layers = {  # lora_B non-zero: peft starts it at zero, which would change nothing
        key: torch.randn(value.shape, generator=generator) * 0.5
        for key, value in get_peft_model_state_dict(transformer).items()
    }
    LTX2Pipeline.save_lora_weights(tmp_path, transformer_lora_layers=layers, weight_name="l.st")
    lora = LoraWeights(scale=1.0, data=(tmp_path / "l.st").read_bytes(), name="l.safetensors")

    plain = render(pipe, request())
    with_lora = render(pipe, request(loras=(lora,)))
    after = render(pipe, request())

    assert not np.array_equal(with_lora.frames, plain.frames)
    assert np.array_equal(after.frames, plain.frames)  # unloaded bit for bit
    assert after.audio is not None and plain.audio is not None
    assert np.array_equal(after.audio, plain.audio)
