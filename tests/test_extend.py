"""`--extend VIDEO`: the source read and checked, sent as bytes, recorded, and continued.

From the user's file to the RenderRequest (the Modal stand-in receives what Modal would:
the source's MP4 bytes), and end to end on the tiny model: the clip written is the
source's frames followed by whole blocks of new ones, the new ones start from the
source's last OVERLAP frames (a spy on LTXConditionPipeline.prepare_latents), and the same
inputs give the same clip.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import Result

import pippa_cli
from pippa_cli.errors import UsageError
from pippa_cli.extend_input import added_for
from pippa_cli.ltx import ImageCondition, RenderRequest
from pippa_cli.ltx_extend import OVERLAP
from pippa_cli.mp4 import encode_mp4
from pippa_cli.mp4_info import VideoInfo, read_video_info
from tests.fixtures_ltx import decode_frames, pippa_env, probe, small_args
from tests.helpers import SMALL, batch, history, invoke, only_job, sidecar, write
from tests.modal_standin import ModalStandIn

PROMPT = "the fox keeps running"
ADDED = added_for(3, 8)  # SMALL's 3 s at 8 fps: 24 new frames, three blocks of 8


def clip(
    path: Path, frames: int = 25, size: tuple[int, int] = (256, 160), fps: int = 8, seed: int = 0
) -> Path:
    """A noise MP4 at `path`, as pippa's encoder writes one."""
    shape = (frames, size[1], size[0], 3)
    pixels = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    path.write_bytes(encode_mp4(pixels, fps, {}))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def generate(*args: str) -> Result:
    """`pippa generate PROMPT --no-enhance SMALL ARGS` (on the test's Modal stand-in)."""
    return invoke("generate", PROMPT, "--no-enhance", *SMALL, *args)


# --- reading an MP4's index without PyAV ----------------------------------------------------


def test_the_index_gives_size_frames_and_rate(tmp_path: Path):
    info = read_video_info(clip(tmp_path / "a.mp4", frames=17, size=(96, 64), fps=24).read_bytes())
    assert info == VideoInfo(96, 64, 17, Fraction(24), "avc1")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no moov box"),
        (b"hello world", "not an MP4 video"),
        (b"\x00\x00\x00\x08ftyp", "no moov box"),
    ],
)
def test_what_is_no_mp4_is_refused_with_a_reason(data: bytes, message: str):
    with pytest.raises(ValueError, match=message):
        read_video_info(data)


def test_a_truncated_index_is_refused(tmp_path: Path):
    data = clip(tmp_path / "a.mp4").read_bytes()
    with pytest.raises(ValueError, match=r"not an MP4 video \(box .* runs past its end"):
        read_video_info(data[: data.index(b"moov") + 50])


# --- the request: what crosses to Modal -----------------------------------------------------


def request(source: bytes | None, **overrides: Any) -> RenderRequest:
    fields: dict[str, Any] = {
        "prompt": "w1 w2 w3",
        "negative_prompt": "w4",
        "width": 64,
        "height": 64,
        "num_frames": OVERLAP + 8,
        "fps": 8,
        "steps": 2,
        "guidance": 3.0,
        "seed": 3,
        "extend": source,
    }
    return RenderRequest(**{**fields, **overrides})


@pytest.fixture(scope="module")
def fox(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A 64x64, 8 fps, 25-frame source as bytes."""
    return clip(tmp_path_factory.mktemp("fox") / "fox.mp4", size=(64, 64)).read_bytes()


def test_the_source_round_trips_through_the_dict_and_stays_out_of_the_repr(fox: bytes):
    sent = request(fox)
    assert RenderRequest.from_dict(sent.to_dict()) == sent
    assert sent.to_dict()["extend"] == fox
    assert "extend" not in repr(sent) and len(repr(sent)) < 1000
    assert RenderRequest.from_dict(request(None).to_dict()).extend is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"extend": "fox.mp4"}, "extend is bytes, not str"),
        ({"extend": b"not a video"}, "extend: not an MP4 video"),
        ({"width": 96}, "extend is 64x64, not the clip's 96x64"),
        ({"fps": 24}, "extend plays at 8 fps, not the request's 24"),
        ({"num_frames": OVERLAP + 4}, "num_frames 13 does not extend a clip"),
        ({"num_frames": OVERLAP}, "num_frames 9 does not extend a clip"),
    ],
)
def test_from_dict_refuses_a_source_it_cannot_extend(
    fox: bytes, overrides: dict[str, Any], message: str
):
    data = {**request(fox).to_dict(), **overrides}
    with pytest.raises(ValueError, match=message):
        RenderRequest.from_dict(data)


def test_from_dict_refuses_images_with_a_source(fox: bytes):
    from tests.test_conditioning import png_of

    data = request(fox, images=(ImageCondition(png_of(1), 0, 1.0),)).to_dict()
    with pytest.raises(ValueError, match="extends a clip or has images, not both"):
        RenderRequest.from_dict(data)


def test_from_dict_refuses_a_source_shorter_than_the_overlap(tmp_path: Path):
    short = clip(tmp_path / "short.mp4", frames=5, size=(64, 64)).read_bytes()
    with pytest.raises(ValueError, match="extend has 5 frames: extending needs 9"):
        RenderRequest.from_dict(request(short).to_dict())


# --- refused with exit 2 before anything is spent ------------------------------------------


@pytest.fixture
def source(clean_env: Path) -> Path:
    """fox.mp4 (256x160, 8 fps, 25 frames: SMALL's size), in the working directory."""
    return clip(Path("fox.mp4"))


def assert_refused(result: Result, standin: ModalStandIn, *expected: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: --extend "), result.stderr
    for text in expected:
        assert text in result.stderr, (text, result.stderr)
    assert standin.spawns == []
    assert history().list() == []


def test_a_missing_source_is_refused(source: Path, modal_standin: ModalStandIn):
    assert_refused(
        generate("--extend", "wolf.mp4"),
        modal_standin,
        f"--extend wolf.mp4: {Path.cwd() / 'wolf.mp4'} does not exist",
    )


def test_a_directory_is_refused(source: Path, modal_standin: ModalStandIn):
    Path("clips").mkdir()
    assert_refused(generate("--extend", "clips"), modal_standin, "is a directory")


def test_a_file_that_is_not_a_video_is_refused(source: Path, modal_standin: ModalStandIn):
    write(Path("notes.mp4"), "not a video at all")
    assert_refused(
        generate("--extend", "notes.mp4"),
        modal_standin,
        "notes.mp4 is not a readable video: not an MP4 video",
        "Give an MP4 file.",
    )


def test_a_source_of_another_size_is_refused_with_the_flags_that_fit(
    source: Path, modal_standin: ModalStandIn
):
    clip(Path("wide.mp4"), size=(320, 192))
    assert_refused(
        generate("--extend", "wide.mp4"),
        modal_standin,
        "--extend wide.mp4 is 320x192, not the requested 256x160",
        "Extend it at its own size: --width 320 --height 192.",
    )


def test_a_source_at_another_rate_is_refused_with_the_flag_that_fits(
    source: Path, modal_standin: ModalStandIn
):
    clip(Path("fast.mp4"), fps=24)
    assert_refused(
        generate("--extend", "fast.mp4"),
        modal_standin,
        "--extend fast.mp4 plays at 24 fps, not the requested 8",
        "Give --fps 24.",
    )


def test_a_source_too_short_to_continue_is_refused(source: Path, modal_standin: ModalStandIn):
    clip(Path("blink.mp4"), frames=4)
    assert_refused(
        generate("--extend", "blink.mp4"), modal_standin, "blink.mp4 has 4 frames; extending"
    )


def test_a_source_too_long_to_hold_is_refused(
    source: Path, modal_standin: ModalStandIn, monkeypatch: pytest.MonkeyPatch
):
    # The limit lowered, rather than a clip of several GiB made.
    monkeypatch.setattr("pippa_cli.extend_input.MAX_CLIP_BYTES", 256 * 160 * 3 * 40)
    assert_refused(
        generate("--extend", "fox.mp4"), modal_standin, "25 frames at 256x160 plus the new ones"
    )


def test_extend_and_image_together_are_refused(source: Path, modal_standin: ModalStandIn):
    from PIL import Image

    Image.new("RGB", (256, 160)).save("cat.png")
    result = generate("--extend", "fox.mp4", "--image", "cat.png")
    assert_refused(result, modal_standin, "--extend and --image cannot be combined")


# --- what reaches Modal, and what is recorded ----------------------------------------------


def test_the_source_reaches_modal_as_bytes_and_is_recorded(
    source: Path, modal_standin: ModalStandIn
):
    result = generate("--extend", "fox.mp4", "-o", "more.mp4")

    assert result.exit_code == 0, result.stderr
    sent = modal_standin.spawns[0].request
    assert sent["extend"] == source.read_bytes()
    # --duration is the new part: 3 s at 8 fps, after the 9 frames it starts from.
    assert sent["num_frames"] == OVERLAP + ADDED == OVERLAP + 24
    recorded = {
        "file": "fox.mp4",
        "sha256": sha256(source),
        "source_frames": 25,
        "overlap": OVERLAP,
        "added_frames": ADDED,
    }
    job = only_job()
    assert job.settings["extend"] == recorded
    assert job.settings["duration"] == 3.0
    assert sidecar(Path("more.mp4"))["settings"]["extend"] == recorded
    assert json.loads(sent["metadata"]["pippa"])["extend"] == recorded
    assert len(json.dumps(job.settings)) < 2000  # no video bytes in the history


def test_a_prompt_without_a_source_is_sent_and_recorded_as_before(modal_standin: ModalStandIn):
    result = generate("-o", "clip.mp4")

    assert result.exit_code == 0, result.stderr
    assert modal_standin.spawns[0].request["extend"] is None
    assert modal_standin.spawns[0].request["num_frames"] == 25
    assert "extend" not in only_job().settings


def test_json_lines_sources_are_relative_to_the_list(source: Path, modal_standin: ModalStandIn):
    lists = Path("lists")
    lists.mkdir()
    clip(lists / "fox.mp4", seed=3)
    list_file = write(
        lists / "shots.jsonl",
        '{"prompt": "the fox runs on", "extend": "fox.mp4", "name": "one"}\n'
        '{"prompt": "a new scene", "name": "two"}\n'
        '{"prompt": "bad", "extend": 3, "name": "three"}\n',
    )

    result = batch(list_file, "clips", "--strict")
    assert result.exit_code == 2 and 'line 3: "extend" has the wrong type (int)' in result.stderr
    assert modal_standin.spawns == []

    list_file.write_text("\n".join(list_file.read_text().splitlines()[:2]) + "\n")
    result = batch(list_file, "clips", "--extend", "fox.mp4")

    assert result.exit_code == 0, result.stderr
    sent = {s.request["metadata"]["title"]: s.request["extend"] for s in modal_standin.spawns}
    assert sent["the fox runs on"] == (lists / "fox.mp4").read_bytes()
    assert sent["a new scene"] == source.read_bytes()  # the command's, from the working dir
    recorded = {job.original_prompt: job.settings["extend"] for job in history().list()}
    assert recorded["the fox runs on"]["sha256"] == sha256(lists / "fox.mp4")


def test_the_api_takes_extend(source: Path, modal_standin: ModalStandIn):
    common: dict[str, Any] = dict(enhance=False, modal_sdk=modal_standin, duration=3, fps=8)
    size = dict(width=256, height=160, steps=4)

    job = pippa_cli.generate(PROMPT, extend=Path("fox.mp4"), output="more.mp4", **common, **size)

    assert job.settings["extend"]["sha256"] == sha256(source)
    assert modal_standin.spawns[0].request["extend"] == source.read_bytes()
    with pytest.raises(UsageError, match="extend must be str, not int"):
        pippa_cli.generate(PROMPT, extend=3, **common)
    with pytest.raises(UsageError, match=r"--extend wolf\.mp4: .* does not exist"):
        pippa_cli.generate(PROMPT, extend="wolf.mp4", **common, **size)
    assert len(modal_standin.spawns) == 1


# --- end to end on the tiny model ----------------------------------------------------------


class PrepareLatentsSpy:
    """The condition videos LTXConditionPipeline.prepare_latents got, call by call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from diffusers import LTXConditionPipeline

        self.calls: list[dict[str, Any]] = []
        original = LTXConditionPipeline.prepare_latents

        def spy(pipe: Any, conditions: Any, strengths: Any, frames: Any, **kw: Any) -> Any:
            out = original(pipe, conditions, strengths, frames, **kw)
            self.calls.append(
                {
                    "conditions": [c.clone() for c in conditions],
                    "strengths": list(strengths),
                    "frames": list(frames),
                    "pipe": pipe,
                }
            )
            return out

        monkeypatch.setattr(LTXConditionPipeline, "prepare_latents", spy)


def condition_pixels(pipe: Any, frames: np.ndarray) -> Any:
    """The tensor diffusers prepares from `frames` as a condition video."""
    from PIL import Image

    return pipe.video_processor.preprocess_video([Image.fromarray(f) for f in frames], 64, 64)


@pytest.fixture(scope="module")
def extended(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A clip pippa renders, extended twice with the same inputs and once with another seed."""
    root = tmp_path_factory.mktemp("extend-renders")
    out: dict[str, Any] = {}
    with pippa_env(root) as work, pytest.MonkeyPatch.context() as mp:
        spy = PrepareLatentsSpy(mp)
        args = small_args(tiny_model, seed=7, output=str(work / "fox.mp4"))
        result = invoke("generate", "a fox", *args, "--no-enhance")
        assert result.exit_code == 0, result.stderr
        for name, seed in (("more", 8), ("again", 8), ("other", 9)):
            args = small_args(tiny_model, seed=seed, output=str(work / f"{name}.mp4"))
            result = invoke("generate", PROMPT, *args, "--no-enhance", "--extend", "fox.mp4")
            assert result.exit_code == 0, result.stderr
            out[name] = decode_frames(work / f"{name}.mp4")
        out["fox"] = decode_frames(work / "fox.mp4")
        out["fox sha256"] = sha256(work / "fox.mp4")
        out["settings"] = sidecar(work / "more.mp4")["settings"]
        out["tags"] = json.loads(probe(work / "more.mp4").metadata["pippa"])
        out["calls"] = spy.calls
    return out


def test_the_extended_clip_is_the_source_then_whole_blocks_of_new_frames(
    extended: dict[str, Any],
):
    fox, more = extended["fox"], extended["more"]
    assert fox.shape == (25, 64, 64, 3)
    assert more.shape == (25 + ADDED, 64, 64, 3)
    # The source's frames come first, encoded once more (CRF 17: a small loss only) ...
    kept = np.abs(more[:25].astype(int) - fox).mean()
    # ... and the new frames are new: as far from the source's last frame as frames are
    # from each other, far beyond that loss.
    step = np.abs(np.diff(fox.astype(int), axis=0)).mean()
    assert kept < 6 and kept < step / 4, (kept, step)
    assert not np.array_equal(more[25:], np.repeat(fox[-1:], ADDED, axis=0))


def test_the_same_inputs_give_the_same_clip(extended: dict[str, Any]):
    # (The files differ only in their tags: each job has its own task id.)
    assert np.array_equal(extended["more"], extended["again"])
    assert not np.array_equal(extended["more"][25:], extended["other"][25:])


def test_the_new_frames_start_from_the_sources_last_frames(extended: dict[str, Any]):
    calls = extended["calls"]
    assert len(calls) == 3
    for call in calls:
        assert call["frames"] == [0] and call["strengths"] == [1.0]
        (video,) = call["conditions"]
        # Exactly OVERLAP frames, the source's last ones as decoded: nothing cut.
        expected = condition_pixels(call["pipe"], extended["fox"][-OVERLAP:])
        assert video.shape == (1, 3, OVERLAP, 64, 64)
        assert np.array_equal(video.numpy(), expected.numpy())


def test_the_extended_clip_records_its_source(extended: dict[str, Any]):
    recorded = extended["settings"]["extend"]
    assert recorded == extended["tags"]["extend"]
    assert recorded == {
        "file": "fox.mp4",
        "sha256": extended["fox sha256"],
        "source_frames": 25,
        "overlap": OVERLAP,
        "added_frames": ADDED,
    }
    assert extended["settings"]["num_frames"] == OVERLAP + ADDED


def test_the_core_hands_the_encoder_the_sources_frames_unchanged(tiny_model: Path, fox: bytes):
    from pippa_cli.ltx import load_pipeline, render_frames
    from pippa_cli.presets import resolve_model

    pipe = load_pipeline(resolve_model(str(tiny_model)))
    reports: list[tuple[str, int, int]] = []

    frames = render_frames(pipe, request(fox), lambda *r: reports.append(r))

    decoded = _decode(fox)
    assert frames.shape == (25 + 8, 64, 64, 3)
    assert np.array_equal(frames[:25], decoded)  # bit for bit, before the encoder
    assert reports == [("denoising", i, 2) for i in range(3)] + [("decoding", 0, 1)]


def _decode(mp4: bytes) -> np.ndarray:
    import io

    import av

    with av.open(io.BytesIO(mp4)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


# --- on Modal: the container extends a clip -------------------------------------------------


def test_the_modal_class_extends_a_clip(tiny_model: Path, fox: bytes, tmp_path: Path):
    from pippa_cli.modal_app.app import LTX
    from pippa_cli.remote_errors import REQUEST, RemoteFailure

    instance = LTX(model=str(tiny_model))
    sent = request(fox, metadata={"title": "more fox"})
    wrong = dataclasses.replace(sent, width=96).to_dict()
    outcomes: list[Any] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "executing locally ... Volume"
        for req in (sent.to_dict(), wrong, sent.to_dict()):
            try:
                outcomes.append(instance.generate.local(req))
            except BaseException as exc:
                outcomes.append(exc)

    first, refused, again = outcomes
    assert isinstance(first, bytes) and first == again
    path = tmp_path / "more.mp4"
    path.write_bytes(first)
    info = probe(path)
    assert (info.width, info.height, info.frames) == (64, 64, 25 + 8)
    assert info.metadata["title"] == "more fox"
    # Kept, not re-rendered (that would differ by ~85): only a re-encode's loss, which on
    # this noise (x264's worst case) comes to ~6.6 levels of 255.
    assert np.abs(decode_frames(path)[:25].astype(int) - _decode(fox)).mean() < 7.5
    assert isinstance(refused, RemoteFailure) and refused.category == REQUEST
    assert "extend is 64x64, not the clip's 96x64" in refused.message
