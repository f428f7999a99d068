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


def ltx_image_request() -> RenderRequest:
    """From an image: the VAE encodes it (channels-last reaches its encoder too)."""
    from pippa_cli.ltx import ImageCondition
    from tests.test_conditioning import png_of

    return ltx_request(images=(ImageCondition(png_of(1), 0, 1.0),))


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
    "ltx-video from an image": ("tiny_model", ltx_image_request),
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


# --- under model CPU offload --------------------------------------------------------------


def test_under_model_cpu_offload_the_text_encoder_is_left_to_it(tiny_ltx2: Path):
    """LTX-2 on an 80 GB GPU takes turns (container.needs_offload): its hooks already move
    the text encoder, so pippa adds none of its own. (Offload to the CPU itself here; the
    offload alone moves a pixel by a level on the CPU, so it is the reference.)"""
    offloaded = load(tiny_ltx2)
    offloaded.enable_model_cpu_offload(device="cpu")
    expected = render(offloaded, ltx2_request())
    pipe = load(tiny_ltx2)
    pipe.enable_model_cpu_offload(device="cpu")

    apply_speed(pipe, SpeedSettings(text_encoder_offload=True, channels_last=True), "cpu")

    assert not pipe.text_encoder._forward_pre_hooks
    assert not pipe.transformer._forward_pre_hooks
    assert_same(render(pipe, ltx2_request()), expected)


# --- with a LoRA --------------------------------------------------------------------------


def lora_request(lora: Path) -> RenderRequest:
    from pippa_cli.ltx_lora import LoraWeights

    weights = LoraWeights(1.0, data=lora.read_bytes(), name=lora.name)
    return ltx_request(loras=(weights,))


def test_a_lora_applies_with_the_text_encoder_offloaded(tiny_model: Path, tmp_path: Path):
    from diffusers.loaders.lora_base import _func_optionally_disable_offloading

    from tests.test_lora import make_lora

    styled = lora_request(make_lora(tiny_model, tmp_path / "style.safetensors", 1))
    eager = load(tiny_model)
    expected = render(eager, styled)
    pipe = load(tiny_model)
    apply_speed(pipe, SpeedSettings(text_encoder_offload=True), "cpu")
    loaded: list[tuple[bool, bool, bool]] = []
    original = pipe.load_lora_weights

    def load_lora_weights(*args: Any, **kwargs: Any) -> Any:
        # What diffusers' loader decides just before it loads: offloaded or not.
        loaded.append(_func_optionally_disable_offloading(pipe))
        return original(*args, **kwargs)

    pipe.load_lora_weights = load_lora_weights
    got = render(pipe, styled)

    assert loaded == [(False, False, False)]  # no model CPU offload turned on after it
    assert not any(hasattr(c, "_hf_hook") for c in pipe.components.values())
    assert_same(got, expected)
    assert not np.array_equal(got.frames, render(eager, ltx_request()).frames)
    assert_same(render(pipe, ltx_request()), render(eager, ltx_request()))  # unloaded


# --- compile ------------------------------------------------------------------------------


def compiled_blocks(pipe: Any) -> list[Any]:
    return [m for m in pipe.transformer.modules() if getattr(m, "_compiled_call_impl", None)]


def test_compile_renders_within_a_level_and_a_lora_still_applies(tiny_model: Path, tmp_path: Path):
    """One compile of LTX-Video's block: plain, with a LoRA (peft changes the block: it
    compiles again), and plain after it, each within 1/255 of eager. No graph breaks."""
    import torch

    from tests.test_lora import make_lora

    styled = lora_request(make_lora(tiny_model, tmp_path / "style.safetensors", 1))
    eager = load(tiny_model)
    pipe = load(tiny_model)
    apply_speed(pipe, SpeedSettings(compile=True), "cpu")
    assert len(compiled_blocks(pipe)) == len(pipe.transformer.transformer_blocks)
    torch._dynamo.utils.counters.clear()

    for request in (ltx_request(), styled, ltx_request()):
        assert_same(render(pipe, request), render(eager, request), 1)

    assert not torch._dynamo.utils.counters["graph_break"]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 2  # plain, LoRA


def test_compile_renders_ltx2_within_a_level(tiny_ltx2: Path):
    import torch

    expected = plain("ltx-2", tiny_ltx2, {})
    pipe = load(tiny_ltx2)
    apply_speed(pipe, SpeedSettings(compile=True), "cpu")
    assert len(compiled_blocks(pipe)) == len(pipe.transformer.transformer_blocks)
    torch._dynamo.utils.counters.clear()

    assert_same(render(pipe, ltx2_request()), expected, 1)
    assert not torch._dynamo.utils.counters["graph_break"]


def test_past_the_recompile_limit_a_compiled_model_still_renders(tiny_model: Path):
    """A warm container meets many clip sizes: once torch stops recompiling, the block runs
    eagerly rather than failing the render (no fullgraph)."""
    import torch

    pipe = load(tiny_model)
    apply_speed(pipe, SpeedSettings(compile=True), "cpu")
    with torch._dynamo.config.patch(recompile_limit=1):
        render(pipe, ltx_request(width=32, height=32, num_frames=9))
        other = render(pipe, ltx_request(width=64, height=32, num_frames=9))

    assert other.frames.shape == (9, 32, 64, 3)


# --- refused ------------------------------------------------------------------------------


def test_an_unknown_attention_backend_is_refused():
    with pytest.raises(ValueError, match="'flash' is not one of sdpa, cudnn, efficient, math"):
        SpeedSettings(attention="flash")


@pytest.mark.parametrize("name", ["cudnn", "efficient"])
def test_a_cuda_only_backend_is_refused_without_cuda(name: str):
    pipe = SimpleNamespace()  # refused before the pipeline is touched

    with pytest.raises(ValueError, match=f"the {name} attention backend needs a CUDA GPU"):
        apply_speed(pipe, SpeedSettings(attention=name), "cpu")
    assert SpeedSettings(attention=name).problem(cuda=True) is None


def test_the_settings_say_which_levers_are_on():
    from pippa_cli.deployment import DeployConfig

    assert DeployConfig().levers() == "" and not SpeedSettings().any
    everything = DeployConfig(
        compile=True,
        attention="cudnn",
        text_encoder_offload=True,
        channels_last=True,
        gpu_snapshot=True,
    )
    assert everything.levers() == (
        "compile, attention cudnn, text_encoder_offload, channels_last; GPU snapshots"
    )
    assert everything.speed.any
