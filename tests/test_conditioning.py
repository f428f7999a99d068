"""Image conditioning in the core (ltx.py, ltx_conditioning.py) on the tiny LTX pipeline.

A random-weight VAE does not give the image back, so the conditioning is proved where it
enters diffusers: LTXConditionPipeline.prepare_latents, which gets the image's pixels, its
frame and its strength, and returns the latents it pinned.
"""

from __future__ import annotations

import dataclasses
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pippa_cli.ltx import ImageCondition, RenderRequest
from tests.fixtures_ltx import decode_frames, probe
from tests.helpers import call_modal_local

FRAMES = 17  # 4 latent frames after the first with the tiny VAE (4x in time)


def png_of(seed: int, width: int = 64, height: int = 64) -> bytes:
    """A noise picture as PNG bytes: each seed its own image."""
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def request(*images: ImageCondition, **overrides: Any) -> RenderRequest:
    fields: dict[str, Any] = {
        "prompt": "w1 w2 w3",
        "negative_prompt": "w4",
        "width": 64,
        "height": 64,
        "num_frames": FRAMES,
        "fps": 8,
        "steps": 2,
        "guidance": 3.0,
        "seed": 3,
        "images": images,
    }
    return RenderRequest(**{**fields, **overrides})


# --- the request: what crosses to Modal --------------------------------------------------


def test_images_round_trip_through_the_dict():
    sent = request(ImageCondition(png_of(1), 0, 1.0), ImageCondition(png_of(2), 16, 0.5))

    data = sent.to_dict()

    assert data["images"] == (
        {"png": png_of(1), "frame": 0, "strength": 1.0},
        {"png": png_of(2), "frame": 16, "strength": 0.5},
    )
    assert RenderRequest.from_dict(data) == sent
    # Lists (as JSON or another client would send them) come back as the same tuple.
    as_lists = {**data, "images": [dict(image) for image in data["images"]]}
    assert RenderRequest.from_dict(as_lists) == sent
    # A whole-number strength is a float once read.
    one = {**data, "images": [{"png": png_of(1), "frame": 3, "strength": 1}]}
    assert RenderRequest.from_dict(one).images == (ImageCondition(png_of(1), 3, 1.0),)


def test_a_request_without_images_round_trips_with_none():
    plain = request()
    assert plain.images == ()
    assert plain.to_dict()["images"] == ()
    assert RenderRequest.from_dict(plain.to_dict()) == plain
    assert RenderRequest.from_dict({**plain.to_dict(), "images": []}) == plain
    assert "images" in RenderRequest.field_names()


def _jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(out, format="JPEG")
    return out.getvalue()


def _image(**fields: Any) -> dict[str, Any]:
    return {"png": png_of(1), "frame": 0, "strength": 1.0, **fields}


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (_image(frame=-1), r"frame -1 is outside the clip \(0\.\.16\)"),
        (_image(frame=FRAMES), r"frame 17 is outside the clip \(0\.\.16\)"),
        (_image(frame=1.0), "frame 1.0 is not a whole number"),
        (_image(frame=True), "frame True is not a whole number"),
        (_image(frame="0"), "frame '0' is not a whole number"),
        (_image(strength=1.5), r"strength 1.5 is outside 0\.\.1"),
        (_image(strength=-0.1), r"strength -0.1 is outside 0\.\.1"),
        (_image(strength=math.nan), r"strength nan is outside 0\.\.1"),
        (_image(strength=math.inf), r"strength inf is outside 0\.\.1"),
        (_image(strength="1"), "strength '1' is not a number"),
        (_image(strength=None), "strength None is not a number"),
        (_image(png="cat.png"), "png is bytes, not str"),
        (_image(png=b"not an image at all"), "not a PNG image"),
        (_image(png=_jpeg()), "not a PNG image"),
        (_image(png=png_of(1)[:200]), "does not decode as a PNG"),
        (_image(png=png_of(1, width=32)), "image 1 is 32x64, not the clip's 64x64"),
        ({"png": png_of(1), "frame": 0}, "image 1 has the fields frame, png, not"),
        (_image(path="cat.png"), "image 1 has the fields frame, path, png, strength, not"),
        ("cat.png", "image 1 is a dict, not str"),
    ],
)
def test_from_dict_refuses_an_image_it_cannot_render(images: Any, message: str):
    data = {**request().to_dict(), "images": [images]}
    with pytest.raises(ValueError, match=message):
        RenderRequest.from_dict(data)


@pytest.mark.parametrize(
    ("images", "message"),
    [(None, "images is a list, not NoneType"), ("cat.png", "images is a list, not str")],
)
def test_from_dict_refuses_images_that_are_not_a_list(images: Any, message: str):
    with pytest.raises(ValueError, match=message):
        RenderRequest.from_dict({**request().to_dict(), "images": images})


def test_the_second_image_is_named_when_it_is_the_bad_one():
    data = {**request().to_dict(), "images": [_image(), _image(frame=99)]}
    with pytest.raises(ValueError, match="image 2: frame 99 is outside the clip"):
        RenderRequest.from_dict(data)


def test_width_and_height_are_not_swapped():
    wide = request(ImageCondition(png_of(1, width=96, height=64), 0, 1.0), width=96)
    assert RenderRequest.from_dict(wide.to_dict()) == wide
    tall = {**wide.to_dict(), "images": [_image(png=png_of(1, width=64, height=96))]}
    with pytest.raises(ValueError, match="image 1 is 64x96, not the clip's 96x64"):
        RenderRequest.from_dict(tall)


# --- rendering ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pipe(tiny_model: Path) -> Any:
    from pippa_cli.ltx import load_pipeline
    from pippa_cli.presets import resolve_model

    return load_pipeline(resolve_model(str(tiny_model)))


class PrepareLatentsSpy:
    """What LTXConditionPipeline.prepare_latents got, and the latents mask it returned."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from diffusers import LTXConditionPipeline

        self.calls: list[dict[str, Any]] = []
        original = LTXConditionPipeline.prepare_latents

        def spy(pipeline: Any, conditions: Any, strengths: Any, frames: Any, **kw: Any) -> Any:
            out = original(pipeline, conditions, strengths, frames, **kw)
            _, mask, coords, extra = out
            self.calls.append(
                {
                    "pipe": pipeline,
                    "conditions": [c.clone() for c in conditions],
                    "strengths": list(strengths),
                    "frames": list(frames),
                    "mask": None if mask is None else mask.clone(),
                    "coords": coords.clone(),  # the pipeline scales them in place after
                    "extra": extra,
                }
            )
            return out

        monkeypatch.setattr(LTXConditionPipeline, "prepare_latents", spy)


def pixels(pipe: Any, png: bytes, width: int = 64, height: int = 64) -> Any:
    """The tensor the VAE encodes for `png`, as diffusers prepares it."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as picture:
        return pipe.video_processor.preprocess(picture.convert("RGB"), height, width).unsqueeze(2)


def render(pipe: Any, req: RenderRequest) -> np.ndarray:
    from pippa_cli.ltx import render_frames

    return render_frames(pipe, req)


def test_one_image_at_frame_zero_makes_its_own_clip(pipe: Any, tmp_path: Path):
    from pippa_cli.ltx import generate_mp4

    def clip(name: str, req: RenderRequest) -> np.ndarray:
        path = tmp_path / f"{name}.mp4"
        path.write_bytes(generate_mp4(pipe, req))
        info = probe(path)
        assert info.frames == FRAMES and (info.width, info.height) == (64, 64)
        return decode_frames(path)

    plain = clip("plain", request())
    first = clip("first", request(ImageCondition(png_of(1), 0, 1.0)))
    again = clip("again", request(ImageCondition(png_of(1), 0, 1.0)))
    other = clip("other", request(ImageCondition(png_of(2), 0, 1.0)))

    assert np.array_equal(first, again)  # same image, same seed: the same clip
    assert not np.array_equal(first, plain)  # the image changes the clip
    assert not np.array_equal(first, other)  # and another image another clip


def test_the_image_reaches_the_latents_at_frame_zero(pipe: Any, monkeypatch: pytest.MonkeyPatch):
    spy = PrepareLatentsSpy(monkeypatch)
    image = png_of(1)

    render(pipe, request(ImageCondition(image, 0, 0.75)))

    (call,) = spy.calls
    assert call["frames"] == [0] and call["strengths"] == [0.75]
    # The very pixels of the image went to the VAE encoder.
    (encoded,) = call["conditions"]
    assert encoded.shape == (1, 3, 1, 64, 64)
    assert np.array_equal(encoded.numpy(), pixels(pipe, image).numpy())
    # The first latent frame is pinned with the image's strength, no other.
    latent_frames = (FRAMES - 1) // pipe.vae_temporal_compression_ratio + 1
    grid = call["mask"].view(1, latent_frames, -1)
    assert (grid[:, 0] == 0.75).all() and (grid[:, 1:] == 0).all()
    assert call["extra"] == 0


def test_two_images_tie_the_first_and_the_last_frame(pipe: Any, monkeypatch: pytest.MonkeyPatch):
    spy = PrepareLatentsSpy(monkeypatch)
    dawn, dusk = png_of(1), png_of(2)
    both = request(ImageCondition(dawn, 0, 1.0), ImageCondition(dusk, FRAMES - 1, 0.5))

    frames = render(pipe, both)

    assert frames.shape == (FRAMES, 64, 64, 3)
    (call,) = spy.calls
    assert call["frames"] == [0, FRAMES - 1] and call["strengths"] == [1.0, 0.5]
    assert np.array_equal(call["conditions"][0].numpy(), pixels(pipe, dawn).numpy())
    assert np.array_equal(call["conditions"][1].numpy(), pixels(pipe, dusk).numpy())
    # The keyframe enters as extra tokens with its strength, placed at the last pixel frame.
    tokens = (64 // pipe.vae_spatial_compression_ratio) ** 2
    extra = call["extra"]
    assert extra == tokens
    assert (call["mask"][:, :extra] == 0.5).all()
    assert (call["coords"][0, 0, :extra] == FRAMES - 1).all()
    assert (call["mask"][:, extra : extra + tokens] == 1.0).all()  # frame 0 as before
    # Deterministic, and the last image matters.
    assert np.array_equal(frames, render(pipe, both))
    first_only = render(pipe, request(ImageCondition(dawn, 0, 1.0)))
    assert not np.array_equal(frames, first_only)
    dawn_twice = request(ImageCondition(dawn, 0, 1.0), ImageCondition(dawn, FRAMES - 1, 0.5))
    assert not np.array_equal(frames, render(pipe, dawn_twice))


def test_without_images_the_condition_pipeline_is_not_used(
    pipe: Any, monkeypatch: pytest.MonkeyPatch
):
    """Plain text-to-video stays LTXPipeline's, bit for bit."""
    import torch

    spy = PrepareLatentsSpy(monkeypatch)
    req = request()

    frames = render(pipe, req)

    assert spy.calls == []
    out = pipe(
        prompt=req.prompt,
        negative_prompt=req.negative_prompt,
        width=64,
        height=64,
        num_frames=FRAMES,
        frame_rate=8,
        num_inference_steps=2,
        guidance_scale=3.0,
        decode_timestep=req.decode_timestep,
        decode_noise_scale=req.decode_noise_scale,
        generator=torch.Generator(device="cpu").manual_seed(req.seed),
        output_type="np",
        max_sequence_length=req.max_sequence_length,
    )
    expected = (np.clip(np.asarray(out.frames[0]), 0.0, 1.0) * 255).round().astype(np.uint8)
    assert np.array_equal(frames, expected)


def test_progress_is_reported_as_for_a_text_prompt(pipe: Any):
    from pippa_cli.ltx import render_frames

    reports: list[tuple[str, int, int]] = []
    render_frames(pipe, request(ImageCondition(png_of(1), 0, 1.0)), lambda *r: reports.append(r))

    assert reports == [("denoising", i, 2) for i in range(3)] + [("decoding", 0, 1)]


def test_the_condition_pipeline_shares_the_loaded_modules(pipe: Any):
    from pippa_cli.ltx_conditioning import condition_pipeline

    conditioned = condition_pipeline(pipe)

    for name in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert getattr(conditioned, name) is getattr(pipe, name), name


def test_a_dynamic_shifting_scheduler_is_not_asked_for_mu(pipe: Any):
    """LTX-Video's own scheduler shifts dynamically; LTXConditionPipeline passes no `mu`."""
    from diffusers import FlowMatchEulerDiscreteScheduler, LTXPipeline

    dynamic = FlowMatchEulerDiscreteScheduler.from_config(
        pipe.scheduler.config, use_dynamic_shifting=True
    )
    base = LTXPipeline.from_pipe(pipe, scheduler=dynamic)
    base.set_progress_bar_config(disable=True)
    plain = render(base, request())

    frames = render(base, request(ImageCondition(png_of(1), 0, 1.0)))

    assert frames.shape == (FRAMES, 64, 64, 3)
    assert base.scheduler is dynamic and base.scheduler.config.use_dynamic_shifting
    assert np.array_equal(render(base, request()), plain)  # the base renders as before


def test_a_distilled_pipeline_conditions_with_its_own_timesteps(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
):
    """The distilled checkpoints load as an LTXConditionPipeline: it is used as it is."""
    from diffusers import LTXConditionPipeline

    from pippa_cli.ltx import load_pipeline, render_frames
    from pippa_cli.ltx_conditioning import condition_pipeline
    from pippa_cli.presets import PRESETS, ModelSource

    preset = PRESETS["ltx-distilled"]
    distilled = load_pipeline(ModelSource("ltx-distilled", str(tiny_model), None, preset, True))
    assert isinstance(distilled, LTXConditionPipeline)
    assert condition_pipeline(distilled) is distilled
    spy = PrepareLatentsSpy(monkeypatch)
    req = request(
        ImageCondition(png_of(1), 0, 1.0),
        steps=8,
        guidance=1.0,
        timesteps=list(preset.timesteps),
    )
    reports: list[tuple[str, int, int]] = []

    frames = render_frames(distilled, req, lambda *r: reports.append(r))

    assert frames.shape == (FRAMES, 64, 64, 3)
    assert [r for r in reports if r[0] == "denoising"] == [("denoising", i, 8) for i in range(9)]
    assert np.allclose(distilled.scheduler.timesteps.float().numpy(), preset.timesteps, atol=1e-3)
    (call,) = spy.calls
    assert call["pipe"] is distilled and call["frames"] == [0]


# --- on Modal: the container renders a request with images ----------------------------------


def test_the_modal_class_renders_a_request_with_images(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from pippa_cli.remote_errors import REQUEST, RemoteFailure

    spy = PrepareLatentsSpy(monkeypatch)
    keyframes = request(
        ImageCondition(png_of(1, width=96), 0, 1.0),
        ImageCondition(png_of(2, width=96), FRAMES - 1, 0.8),
        width=96,
        metadata={"title": "two keyframes"},
    )
    bad = keyframes.to_dict()
    bad["images"] = [dict(bad["images"][0], frame=FRAMES)]

    conditioned, plain, refused, again = call_modal_local(
        str(tiny_model),
        keyframes.to_dict(),
        dataclasses.replace(keyframes, images=()).to_dict(),
        bad,
        keyframes.to_dict(),
    )

    assert isinstance(conditioned, bytes) and isinstance(plain, bytes)
    videos = {}
    for name, data in (("conditioned", conditioned), ("plain", plain), ("again", again)):
        assert isinstance(data, bytes), name
        videos[name] = tmp_path / f"{name}.mp4"
        videos[name].write_bytes(data)
    info = probe(videos["conditioned"])
    assert (info.width, info.height, info.frames) == (96, 64, FRAMES)
    assert info.metadata["title"] == "two keyframes"
    frames = decode_frames(videos["conditioned"])
    assert not np.array_equal(frames, decode_frames(videos["plain"]))
    assert np.array_equal(frames, decode_frames(videos["again"]))
    # The images reached the pipeline in the container, at their frames, twice.
    assert [(c["frames"], c["strengths"]) for c in spy.calls] == [([0, 16], [1.0, 0.8])] * 2
    assert isinstance(refused, RemoteFailure) and refused.category == REQUEST
    assert "frame 17 is outside the clip (0..16)" in refused.message
