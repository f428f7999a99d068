"""`--lora SOURCE[=SCALE]` and `--lora-scale`: parsed, checked before anything is spent,
sent to Modal (a file's bytes, or a Hub repo pinned to its commit), recorded, and applied
by the core for one render only (ltx_lora.py), on the tiny pipeline with tiny LoRAs made
here with peft.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import Result

import pippa_cli
from pippa_cli.errors import UsageError
from pippa_cli.lora_refs import LoraRef, parse_lora
from tests.fixtures_ltx import decode_frames, pippa_env, probe, small_args
from tests.helpers import SMALL, batch, call_modal_local, history, invoke, only_job, sidecar, write
from tests.hub_server import HubServer
from tests.modal_standin import ModalStandIn

PROMPT = "a paper boat"
TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def make_lora(model: Path, path: Path, seed: int, rank: int = 4) -> Path:
    """A tiny LoRA for the tiny transformer, in diffusers' format, with seeded weights (its
    lora_B non-zero: peft starts it at zero, which would change nothing)."""
    import torch
    from diffusers import LTXPipeline, LTXVideoTransformer3DModel
    from peft import LoraConfig, get_peft_model_state_dict

    transformer = LTXVideoTransformer3DModel.from_pretrained(model, subfolder="transformer")
    transformer.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=TARGETS))
    generator = torch.Generator().manual_seed(seed)
    layers = {
        key: torch.randn(value.shape, generator=generator) * 0.5
        for key, value in get_peft_model_state_dict(transformer).items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    LTXPipeline.save_lora_weights(
        path.parent, transformer_lora_layers=layers, weight_name=path.name
    )
    return path


def tensors_file(path: Path, tensors: dict[str, Any]) -> Path:
    from safetensors.torch import save_file

    save_file(tensors, str(path))
    return path


def misfits(good: Path, directory: Path) -> dict[str, Path]:
    """LoRAs that do not fit the tiny model, each in its own way."""
    import torch
    from safetensors.torch import load_file

    sd = load_file(str(good))
    wide = {
        k: torch.randn(v.shape[0], 64) if "lora_A" in k else torch.randn(64, v.shape[1])
        for k, v in sd.items()
    }
    elsewhere = {k.replace("blocks.0", "blocks.7"): v for k, v in sd.items()}
    partly = {**sd, **{k.replace("blocks.0", "blocks.9"): v.clone() for k, v in sd.items()}}
    unet = {
        "lora_unet_down_blocks_0_proj_in.lora_down.weight": torch.randn(4, 320),
        "lora_unet_down_blocks_0_proj_in.lora_up.weight": torch.randn(320, 4),
    }
    cases = {"wide": wide, "elsewhere": elsewhere, "partly": partly, "unet": unet}
    return {name: tensors_file(directory / f"{name}.safetensors", t) for name, t in cases.items()}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def generate(*args: str) -> Result:
    """`pippa generate PROMPT --no-enhance SMALL ARGS` (on the test's Modal stand-in)."""
    return invoke("generate", PROMPT, "--no-enhance", *SMALL, *args)


def fake_lora(path: Path, fill: float = 0.0) -> Path:
    """A small safetensors file: enough for the client, which reads only its header."""
    import torch

    return tensors_file(path, {"transformer.x.lora_A.weight": torch.full((2, 2), fill)})


# --- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("style.safetensors", LoraRef("", "style.safetensors", None, None, None, None)),
        ("style.safetensors=0.8", LoraRef("", "style.safetensors", None, None, None, 0.8)),
        ("loras/a@b.safetensors", LoraRef("", "loras/a@b.safetensors", None, None, None, None)),
        ("C:\\l\\a.safetensors=2", LoraRef("", "C:\\l\\a.safetensors", None, None, None, 2.0)),
        ("./a/b:c.safetensors", LoraRef("", "./a/b:c.safetensors", None, None, None, None)),
        ("owner/ltx-paper", LoraRef("", None, "owner/ltx-paper", None, None, None)),
        ("owner/ltx-paper=.5", LoraRef("", None, "owner/ltx-paper", None, None, 0.5)),
        ("owner/p@v1.0", LoraRef("", None, "owner/p", "v1.0", None, None)),
        ("owner/p:x/w.safetensors", LoraRef("", None, "owner/p", None, "x/w.safetensors", None)),
        (
            "owner/p@abc123:w.safetensors=0",
            LoraRef("", None, "owner/p", "abc123", "w.safetensors", 0.0),
        ),
    ],
)
def test_a_lora_is_parsed(text: str, expected: LoraRef):
    parsed = parse_lora(text)
    assert parsed == LoraRef(text, *list(expected.__dict__.values())[1:])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("=0.5", "names no LoRA"),
        ("style.bin", "neither a .safetensors file nor a Hugging Face repo id"),
        ("owner/p:weights.bin", "is not a .safetensors file"),
        ("style.safetensors=2.5", "scale 2.5 is out of range"),
        ("style.safetensors=-1", "scale -1 is out of range"),
        ("a\x1b[31m.safetensors", "control characters"),
    ],
)
def test_a_plainly_wrong_lora_is_refused(text: str, message: str):
    with pytest.raises(UsageError, match="--lora") as caught:
        parse_lora(text)
    assert message in caught.value.message


# --- refused with exit 2 before anything is spent -----------------------------------------


def assert_refused(result: Result, standin: ModalStandIn, *expected: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    for text in expected:
        assert text in result.stderr, (text, result.stderr)
    assert standin.spawns == []
    assert history().list() == []


def test_a_missing_file_is_refused(modal_standin: ModalStandIn):
    result = generate("--lora", "gone.safetensors=0.5")
    assert_refused(result, modal_standin, "Error: --lora gone.safetensors=0.5:", "does not exist")


def test_a_file_that_is_not_safetensors_is_refused(modal_standin: ModalStandIn):
    write(Path("fake.safetensors"), "not a safetensors file at all")
    Path("folder.safetensors").mkdir()
    assert_refused(
        generate("--lora", "fake.safetensors"), modal_standin, "is not a safetensors file"
    )
    assert_refused(generate("--lora", "folder.safetensors"), modal_standin, "is a directory")


def test_a_scale_out_of_range_is_refused(modal_standin: ModalStandIn):
    fake_lora(Path("style.safetensors"))
    assert_refused(
        generate("--lora", "style.safetensors", "--lora-scale", "3"),
        modal_standin,
        "Error: --lora-scale 3 is out of range",
    )


# --- what reaches Modal, and what is recorded ----------------------------------------------


def test_a_local_lora_reaches_modal_as_bytes_and_is_recorded(modal_standin: ModalStandIn):
    Path("loras").mkdir()
    one = fake_lora(Path("loras/style.safetensors"))
    two = fake_lora(Path("ink.safetensors"), 1.0)

    result = generate(
        "--lora", "loras/style.safetensors", "--lora", "ink.safetensors=1.5",
        "--lora-scale", "0.8", "-o", "boat.mp4",
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    sent = modal_standin.spawns[0].request["loras"]
    assert [(s["data"], s["scale"], s["name"], s["repo"]) for s in sent] == [
        (one.read_bytes(), 0.8, "style.safetensors", None),
        (two.read_bytes(), 1.5, "ink.safetensors", None),
    ]
    recorded = [
        {"file": "loras/style.safetensors", "sha256": sha256(one), "scale": 0.8},
        {"file": "ink.safetensors", "sha256": sha256(two), "scale": 1.5},
    ]
    job = only_job()
    assert job.settings["loras"] == recorded
    assert sidecar(Path("boat.mp4"))["settings"]["loras"] == recorded
    assert json.loads(modal_standin.spawns[0].request["metadata"]["pippa"])["loras"] == recorded


def test_a_prompt_without_loras_is_recorded_and_sent_as_before(modal_standin: ModalStandIn):
    result = generate("-o", "clip.mp4")

    assert result.exit_code == 0, result.stderr
    assert modal_standin.spawns[0].request["loras"] == ()
    assert "loras" not in only_job().settings


def _hub_lora(hub: HubServer, root: Path, repo: str, *names: str, sha: str = "c0ffee" * 6) -> None:
    directory = root / repo.replace("/", "--")
    directory.mkdir(parents=True)
    for name in names:
        fake_lora(directory / name)
    hub.add(repo, directory, sha + "abcd", refs=("main", "v1"))


def test_a_hub_lora_is_checked_and_pinned_to_its_commit(
    hub: HubServer, tmp_path: Path, modal_standin: ModalStandIn
):
    _hub_lora(hub, tmp_path, "owner/ltx-paper", "paper.safetensors", "README.md")
    _hub_lora(hub, tmp_path, "owner/two", "a.safetensors", "b.safetensors")
    commit = "c0ffee" * 6 + "abcd"

    result = generate("--lora", "owner/ltx-paper@v1", "--lora-scale", "0.8", "-o", "boat.mp4")

    assert result.exit_code == 0, result.stderr
    [sent] = modal_standin.spawns[0].request["loras"]
    assert sent == {
        "scale": 0.8,
        "data": None,
        "name": None,
        "repo": "owner/ltx-paper",
        "revision": commit,
        "weight_name": "paper.safetensors",
    }
    assert only_job().settings["loras"] == [
        {
            "repo": "owner/ltx-paper",
            "weight_name": "paper.safetensors",
            "revision": "v1",
            "commit": commit,
            "scale": 0.8,
        }
    ]
    ok = generate("--lora", "owner/two:b.safetensors=0.3", "-o", "two.mp4")
    assert ok.exit_code == 0, ok.stderr
    assert modal_standin.spawns[1].request["loras"][0]["weight_name"] == "b.safetensors"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("owner/nobody", "--lora owner/nobody: model owner/nobody not found on Hugging Face"),
        ("owner/two@v9", "revision v9 of owner/two not found"),
        ("owner/two", "several .safetensors files (a.safetensors, b.safetensors)"),
        ("owner/two:c.safetensors", "the repo has no file c.safetensors"),
    ],
)
def test_a_hub_lora_that_is_not_there_is_refused(
    hub: HubServer, tmp_path: Path, modal_standin: ModalStandIn, value: str, message: str
):
    _hub_lora(hub, tmp_path, "owner/two", "a.safetensors", "b.safetensors")
    assert_refused(generate("--lora", value), modal_standin, message)


def test_a_hub_that_cannot_be_asked_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, modal_standin: ModalStandIn
):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there

    result = generate("--lora", "owner/ltx-paper", "-o", "boat.mp4")

    assert result.exit_code == 0, result.stderr
    assert "Hugging Face could not be asked (ConnectError): --lora owner/ltx-paper not" in (
        result.stderr
    )
    assert modal_standin.spawns[0].request["loras"][0]["revision"] is None


# --- JSON Lines and the Python API --------------------------------------------------------


def test_json_lines_loras_are_relative_to_the_list(modal_standin: ModalStandIn):
    lists = Path("lists")
    lists.mkdir()
    inside = fake_lora(lists / "style.safetensors")
    here = fake_lora(Path("style.safetensors"), 2.0)
    source = write(
        lists / "shots.jsonl",
        '{"prompt": "one", "lora": "style.safetensors=0.5", "name": "one"}\n'
        '{"prompt": "two", "lora": ["style.safetensors"], "lora_scale": 0.2, "name": "two"}\n'
        '{"prompt": "three", "name": "three"}\n',
    )

    result = batch(source, "clips", "--lora", "style.safetensors")

    assert result.exit_code == 0, result.stderr
    recorded = {job.original_prompt: job.settings["loras"] for job in history().list()}
    assert recorded["one"] == [
        {"file": "style.safetensors", "sha256": sha256(inside), "scale": 0.5}
    ]
    assert recorded["two"] == [
        {"file": "style.safetensors", "sha256": sha256(inside), "scale": 0.2}
    ]
    assert recorded["three"] == [
        {"file": "style.safetensors", "sha256": sha256(here), "scale": 1.0}
    ]
    sent = {s.request["metadata"]["title"]: s.request["loras"] for s in modal_standin.spawns}
    assert sent["three"][0]["data"] == here.read_bytes()


def test_the_api_takes_a_lora_or_a_list(modal_standin: ModalStandIn):
    fake_lora(Path("style.safetensors"))
    common: dict[str, Any] = dict(enhance=False, modal_sdk=modal_standin, duration=3, fps=8)
    size = dict(width=256, height=160, steps=4)

    one = pippa_cli.generate("a boat", lora="style.safetensors", output="one.mp4", **common, **size)
    two = pippa_cli.generate(
        "a boat",
        lora=[Path("style.safetensors"), "style.safetensors=0.1"],
        lora_scale=0.6,
        output="two.mp4",
        **common,
        **size,
    )

    assert [lora["scale"] for lora in one.settings["loras"]] == [1.0]
    assert [lora["scale"] for lora in two.settings["loras"]] == [0.6, 0.1]
    with pytest.raises(UsageError, match="lora must be str or list, not int"):
        pippa_cli.generate("a boat", lora=3, **common)
    with pytest.raises(UsageError, match=r"--lora dog\.safetensors: .* does not exist"):
        pippa_cli.generate("a boat", lora="dog.safetensors", **common)
    assert len(modal_standin.spawns) == 2


def test_generate_help_shows_the_options_and_enhance_has_none():
    result = invoke("generate", "--help")
    assert "--lora" in result.stdout and "--lora-scale" in result.stdout
    assert "--lora" not in invoke("enhance", "--help").stdout


def test_an_unfit_remote_failure_is_explained():
    from pippa_cli.remote_errors import UNFIT, RemoteFailure, as_error

    error = as_error(RemoteFailure("LoraMisfit", "style.safetensors does not fit", UNFIT), "m")
    assert error.message == "the request does not fit m: style.safetensors does not fit"
    assert "Nothing was rendered" in (error.hint or "")


# --- the core, end to end on the tiny model ------------------------------------------------


@dataclass
class Rendered:
    frames: np.ndarray
    settings: dict[str, Any]
    tags: dict[str, Any]


@pytest.fixture(scope="module")
def renders(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    """Through the CLI in one process (one cached pipeline), the same seed each time: plain
    first on a pipeline no LoRA ever touched, then with LoRAs, then plain again."""
    from pippa_cli.backends.local_backend import LocalBackend

    root = tmp_path_factory.mktemp("lora-renders")
    done: dict[str, Rendered] = {}
    with pippa_env(root, HF_HUB_OFFLINE="1") as work, pytest.MonkeyPatch.context() as mp:
        mp.setattr(LocalBackend, "_pipelines", {})  # a fresh pipeline: never had a LoRA
        make_lora(tiny_model, work / "style.safetensors", 1)
        make_lora(tiny_model, work / "ink.safetensors", 2)
        cases = {
            "plain": [],
            "style": ["--lora", "style.safetensors"],
            "style again": ["--lora", "style.safetensors"],
            "style half": ["--lora", "style.safetensors", "--lora-scale", "0.5"],
            "style zero": ["--lora", "style.safetensors=0"],
            "two": ["--lora", "style.safetensors", "--lora", "ink.safetensors=0.7"],
            "plain after": [],
        }
        for name, flags in cases.items():
            output = work / f"{name.replace(' ', '-')}.mp4"
            args = small_args(tiny_model, seed=7, output=str(output))
            result = invoke("generate", PROMPT, *args, "--no-enhance", *flags)
            assert result.exit_code == 0, (name, result.stderr)
            done[name] = Rendered(
                decode_frames(output),
                sidecar(output)["settings"],
                json.loads(probe(output).metadata["pippa"]),
            )
    return done


def test_a_lora_changes_the_clip_and_the_same_inputs_repeat_it(renders: dict[str, Rendered]):
    style = renders["style"]
    assert style.frames.shape == (25, 64, 64, 3)
    assert not np.array_equal(style.frames, renders["plain"].frames)
    # The same LoRA again gives the same clip, up to a few levels here and there: LoRA
    # renders through the CLI were seen to vary slightly between processes (and once
    # within one), though the core repeats them bit for bit. Far from what the LoRA does.
    again = _mean_difference(style.frames, renders["style again"].frames)
    assert again < 0.05 * _mean_difference(style.frames, renders["plain"].frames)
    assert not np.array_equal(renders["style half"].frames, style.frames)
    assert not np.array_equal(renders["two"].frames, style.frames)
    assert style.settings["loras"] == style.tags["loras"]
    assert [(lo["file"], lo["scale"]) for lo in renders["two"].settings["loras"]] == [
        ("style.safetensors", 1.0),
        ("ink.safetensors", 0.7),
    ]


def _mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int64) - b.astype(np.int64)).mean())


def test_scale_zero_and_a_render_after_a_lora_equal_a_plain_render(
    renders: dict[str, Rendered],
):
    plain = renders["plain"].frames
    assert np.array_equal(renders["style zero"].frames, plain)
    assert np.array_equal(renders["plain after"].frames, plain)
    assert "loras" not in renders["plain after"].settings


def test_a_lora_that_does_not_fit_is_exit_2_and_leaves_the_model_as_it_was(
    tiny_model: Path, tmp_path: Path
):
    from pippa_cli.backends.local_backend import LocalBackend

    good = make_lora(tiny_model, tmp_path / "good.safetensors", 1)
    bad = misfits(good, tmp_path)
    expected = {
        "wide": "is (4, 64) in the LoRA, (4, 32) in the model",
        "elsewhere": "the model has no layer transformer_blocks.7.",
        "partly": "the model has no layer transformer_blocks.9.",
        "unet": "is not a key of the transformer (pippa applies transformer LoRAs)",
    }
    for name, path in bad.items():
        output = tmp_path / f"{name}.mp4"
        args = small_args(tiny_model, seed=7, output=str(output))
        result = invoke("generate", PROMPT, *args, "--no-enhance", "--lora", str(path))
        assert result.exit_code == 2, (name, result.stderr)
        assert f"Error: --lora: {name}.safetensors does not fit this model" in result.stderr
        assert expected[name] in result.stderr, (name, result.stderr)
        assert not output.exists()
    # Nothing of them stayed in the cached pipeline.
    [pipe] = [p for k, p in LocalBackend._pipelines.items() if k[0] == str(tiny_model)]
    assert pipe.get_list_adapters() == {}


# --- on Modal: the container applies and unloads LoRAs --------------------------------------


def test_the_modal_class_applies_a_lora_for_one_request(tiny_model: Path, tmp_path: Path):
    from pippa_cli.ltx import RenderRequest
    from pippa_cli.ltx_lora import LoraWeights
    from pippa_cli.remote_errors import REQUEST, UNFIT, RemoteFailure

    good = make_lora(tiny_model, tmp_path / "good.safetensors", 1)
    wide = misfits(good, tmp_path)["wide"]
    plain = RenderRequest("w1 w2 w3", "w4", 64, 64, 17, 8, 2, 3.0, 3)
    styled = RenderRequest(
        "w1 w2 w3", "w4", 64, 64, 17, 8, 2, 3.0, 3,
        loras=(LoraWeights(1.0, data=good.read_bytes(), name="good.safetensors"),),
    )  # fmt: skip
    unfit = RenderRequest(
        "w1 w2 w3", "w4", 64, 64, 17, 8, 2, 3.0, 3,
        loras=(LoraWeights(1.0, data=wide.read_bytes(), name="wide.safetensors"),),
    )  # fmt: skip
    garbled = styled.to_dict()
    garbled["loras"] = [dict(garbled["loras"][0], scale=5)]

    first, with_lora, refused, bad_scale, after = call_modal_local(
        str(tiny_model),
        plain.to_dict(),
        styled.to_dict(),
        unfit.to_dict(),
        garbled,
        plain.to_dict(),
    )

    videos = {}
    for name, data in (("first", first), ("lora", with_lora), ("after", after)):
        assert isinstance(data, bytes), (name, data)
        videos[name] = tmp_path / f"{name}.mp4"
        videos[name].write_bytes(data)
    frames = {name: decode_frames(path) for name, path in videos.items()}
    assert probe(videos["lora"]).frames == 17
    assert not np.array_equal(frames["lora"], frames["first"])
    assert np.array_equal(frames["after"], frames["first"])
    assert isinstance(refused, RemoteFailure) and refused.category == UNFIT
    assert "wide.safetensors does not fit this model" in refused.message
    assert isinstance(bad_scale, RemoteFailure) and bad_scale.category == REQUEST
    assert "LoRA 1: scale 5 is outside 0..2" in bad_scale.message


def test_the_request_round_trips_and_refuses_what_it_cannot_load():
    from pippa_cli.ltx import RenderRequest
    from pippa_cli.ltx_lora import LoraWeights

    sent = RenderRequest(
        "p", "", 64, 64, 17, 8, 2, 3.0, 3,
        loras=(
            LoraWeights(0.5, data=b"bytes", name="a.safetensors"),
            LoraWeights(1.0, repo="o/n", revision="abc", weight_name="w.safetensors"),
        ),
    )  # fmt: skip
    assert RenderRequest.from_dict(sent.to_dict()) == sent
    assert "bytes" not in repr(sent)
    data = sent.to_dict()
    for lora, message in [
        (dict(data["loras"][0], repo="o/n"), "either data (a file's bytes) or a repo"),
        (dict(data["loras"][1], repo=None), "either data (a file's bytes) or a repo"),
        (dict(data["loras"][0], scale=True), "scale True is not a number"),
        (dict(data["loras"][0], data="text"), "data is bytes, not str"),
        ({"scale": 1.0}, "has the fields scale, not data, name"),
    ]:
        with pytest.raises(ValueError, match=r"LoRA 1"):
            RenderRequest.from_dict({**data, "loras": [lora]})
        try:
            RenderRequest.from_dict({**data, "loras": [lora]})
        except ValueError as exc:
            assert message in str(exc), (message, exc)
