"""The speed levers (speed.py) change how fast a render runs, never what it renders.

On the tiny models of both families, one stage and two: each lever against none, the same
frames (and sound) bit for bit; `compile` within 1/255 (kernels fuse their arithmetic in
another order). A LoRA still applies with the text encoder offloaded, and diffusers'
LoRA loader does not take pippa's hooks for model CPU offload. What cannot work is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from pippa_cli.ltx import Rendered, RenderRequest
from pippa_cli.speed import SpeedSettings, apply_speed, offload_text_encoder
from tests.tiny_ltx import build_tiny_two_stage

# The levers that must not change a single value.
EXACT = {
    "sdpa": SpeedSettings(attention="sdpa"),
    "text_encoder_offload": SpeedSettings(text_encoder_offload=True),
    "channels_last": SpeedSettings(channels_last=True),
    "all three": SpeedSettings(attention="sdpa", text_encoder_offload=True, channels_last=True),
}


@pytest.fixture(autouse=True)
def attention_backend_restored() -> Iterator[None]:
    """diffusers also makes a backend set on one model the process's active one: put it
    back, or later tests would render with another backend."""
    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    active = _AttentionBackendRegistry.get_active_backend()[0]
    yield
    _AttentionBackendRegistry.set_active_backend(active)


def load(model: Path) -> Any:
    from pippa_cli.ltx import load_pipeline
    from pippa_cli.presets import resolve_model

    return load_pipeline(resolve_model(str(model)), "cpu")


def render(pipe: Any, request: RenderRequest) -> Rendered:
    from pippa_cli.ltx import render as render_core

    return render_core(pipe, request)


def ltx_request(**overrides: Any) -> RenderRequest:
    fields: dict[str, Any] = {
        "prompt": "w1 w2 w3",
        "negative_prompt": "w4",
        "width": 64,
        "height": 64,
        "num_frames": 17,
        "fps": 8,
        "steps": 2,
        "guidance": 3.0,  # classifier-free guidance: the negative prompt is encoded too
        "seed": 3,
    }
    return RenderRequest(**{**fields, **overrides})


def ltx_hd_request() -> RenderRequest:
    from tests.test_two_stage import request

    return request()


def ltx2_request() -> RenderRequest:
    from tests.test_ltx2_core import request

    return request()


def ltx2_hd_request() -> RenderRequest:
    from tests.test_ltx2_core import hd_request

    return hd_request()


@pytest.fixture(scope="module")
def ltx_hd(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_two_stage(tmp_path_factory.mktemp("tiny-hd") / "model", tiny_model)


# (the model's fixture, the request) for each family and number of stages.
CASES: dict[str, tuple[str, Callable[[], RenderRequest]]] = {
    "ltx-video": ("tiny_model", ltx_request),
    "ltx-video two-stage": ("ltx_hd", ltx_hd_request),
    "ltx-2": ("tiny_ltx2", ltx2_request),
    "ltx-2 two-stage": ("tiny_ltx2_hd", ltx2_hd_request),
}


@pytest.fixture(scope="module")
def plain_renders() -> dict[str, Rendered]:
    """Each case rendered without a lever, once (filled as the tests ask)."""
    return {}


def plain(case: str, model: Path, renders: dict[str, Rendered]) -> Rendered:
    if case not in renders:
        renders[case] = render(load(model), CASES[case][1]())
    return renders[case]


def assert_same(got: Rendered, expected: Rendered, tolerance: int = 0) -> None:
    assert got.frames.shape == expected.frames.shape
    frames = np.abs(got.frames.astype(np.int16) - expected.frames.astype(np.int16))
    assert frames.max() <= tolerance
    assert (got.audio is None) == (expected.audio is None)
    if expected.audio is not None:
        assert got.sample_rate == expected.sample_rate
        if tolerance:
            np.testing.assert_allclose(got.audio, expected.audio, atol=1e-2)
        else:
            assert np.array_equal(got.audio, expected.audio)


@pytest.mark.parametrize("lever", EXACT)
@pytest.mark.parametrize("case", CASES)
def test_a_lever_renders_the_same_frames_and_sound(
    case: str, lever: str, plain_renders: dict[str, Rendered], request: pytest.FixtureRequest
):
    model = request.getfixturevalue(CASES[case][0])
    expected = plain(case, model, plain_renders)
    pipe = load(model)

    apply_speed(pipe, EXACT[lever], "cpu")
    got = render(pipe, CASES[case][1]())

    assert expected.frames.std() > 0  # a clip, not a blank
    if case.startswith("ltx-2"):
        assert expected.audio is not None and expected.audio.std() > 0
    assert_same(got, expected)
    again = render(pipe, CASES[case][1]())  # the hooks serve the next render too
    assert_same(again, expected)


def test_the_backend_named_is_the_one_each_attention_layer_uses(tiny_model: Path):
    from diffusers.models.attention_dispatch import AttentionBackendName

    pipe = load(tiny_model)
    apply_speed(pipe, SpeedSettings(attention="math"), "cpu")

    backends = {
        getattr(module.processor, "_attention_backend", "no processor")
        for module in pipe.transformer.modules()
        if hasattr(module, "processor")
    }
    assert backends == {AttentionBackendName._NATIVE_MATH}
    # Another kernel: not bit for bit, but the same clip.
    assert_same(render(pipe, ltx_request()), render(load(tiny_model), ltx_request()), 1)


def test_channels_last_lays_out_the_vae_and_two_stages_share_it(ltx_hd: Path):
    import torch

    pipes = load(ltx_hd)
    apply_speed(pipes, SpeedSettings(channels_last=True), "cpu")

    convs = [m.weight for m in pipes.pipe.vae.modules() if isinstance(m, torch.nn.Conv3d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last_3d) for w in convs)
    assert pipes.upsampler.vae is pipes.pipe.vae


# --- the text encoder takes turns ---------------------------------------------------------


class Placed:
    """Stands in for a model on a device (no GPU here): records where it is sent and when
    it runs, through the real forward-hook machinery."""

    def __init__(self, name: str, log: list[tuple[str, str]]) -> None:
        import torch

        class Model(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.where = "cpu"

            def parameters(self, recurse: bool = True) -> Iterator[Any]:
                yield SimpleNamespace(device=torch.device(self.where))

            def to(self, device: Any) -> Any:  # type: ignore[override]
                self.where = torch.device(device).type
                log.append((name, self.where))
                return self

            def forward(self, x: Any) -> Any:
                log.append((name, "runs"))
                return x

        self.module = Model()


def test_the_text_encoder_visits_the_gpu_only_to_encode():
    log: list[tuple[str, str]] = []
    encoder, transformer = Placed("encoder", log).module, Placed("transformer", log).module

    offload_text_encoder(SimpleNamespace(text_encoder=encoder, transformer=transformer), "cuda")
    assert log == [("encoder", "cpu")]
    log.clear()

    encoder(1)  # the prompt
    encoder(2)  # the negative prompt: already there
    transformer(3)  # denoising step 1: the encoder leaves
    transformer(4)  # step 2: nothing moves
    encoder(5)  # the next render's prompt

    assert log == [
        ("encoder", "cuda"),
        ("encoder", "runs"),
        ("encoder", "runs"),
        ("encoder", "cpu"),
        ("transformer", "runs"),
        ("transformer", "runs"),
        ("encoder", "cuda"),
        ("encoder", "runs"),
    ]
