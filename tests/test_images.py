"""`--image PATH[@FRAME][:STRENGTH]`: parsed, checked, fitted, recorded and rendered.

From the user's text to the RenderRequest (the Modal stand-in receives the request as
Modal would, images as PNG bytes), and end to end on the tiny model, where a spy on
LTXConditionPipeline.prepare_latents shows the images reached the pipeline at their frames
(a random-weight VAE does not reproduce a picture, so the colours prove nothing).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import Result

import pippa_cli
from pippa_cli.enhancement import SYSTEM_PROMPT
from pippa_cli.errors import UsageError
from pippa_cli.image_refs import ImageRef, parse_image, place_images
from pippa_cli.spec import frames_for
from tests.fixtures_ltx import decode_frames, pippa_env, probe, small_args
from tests.groq_server import GroqServer
from tests.helpers import (
    SMALL,
    batch,
    history,
    invoke,
    only_job,
    run_pippa,
    sidecar,
    without_file_capabilities,
    write,
)
from tests.modal_standin import ModalStandIn

PROMPT = "the cat leaps off the sofa"
FRAMES = frames_for(3, 8)  # SMALL and the tiny renders: 25 frames, 0 to 24


def picture(path: Path, size: tuple[int, int] = (256, 160), seed: int = 0, **save: Any) -> Path:
    """A noise image at `path` (its format from the suffix, or `format=`)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, **save)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
        return image.size


def generate(*args: str) -> Result:
    """`pippa generate PROMPT --no-enhance SMALL ARGS` (on the test's Modal stand-in)."""
    return invoke("generate", PROMPT, "--no-enhance", *SMALL, *args)


# --- parsing: from the right, a suffix only when it is a number -------------------------


@pytest.mark.parametrize(
    ("text", "path", "frame", "strength"),
    [
        ("cat.jpg", "cat.jpg", None, 1.0),
        ("cat.jpg@0", "cat.jpg", 0, 1.0),
        ("dusk.png@-1", "dusk.png", -1, 1.0),
        ("cat.jpg:0.5", "cat.jpg", None, 0.5),
        ("cat.jpg:.25", "cat.jpg", None, 0.25),
        ("cat.jpg:1", "cat.jpg", None, 1.0),
        ("cat.jpg@12:0", "cat.jpg", 12, 0.0),
        ("C:\\pics\\a.png", "C:\\pics\\a.png", None, 1.0),
        ("C:\\pics\\a.png@-1:0.5", "C:\\pics\\a.png", -1, 0.5),
        ("me@2x.png", "me@2x.png", None, 1.0),
        ("me@2x.png@8", "me@2x.png", 8, 1.0),
        ("dawn:blue.jpg", "dawn:blue.jpg", None, 1.0),
        ("dawn:blue.jpg:0.7", "dawn:blue.jpg", None, 0.7),
        ("shot@3@0", "shot@3", 0, 1.0),  # a name that ends in @3 is written with its frame
        ("a.png@1.5", "a.png@1.5", None, 1.0),  # not a whole number: part of the path
        ("a.png:x", "a.png:x", None, 1.0),
        ("~/pics/@home.png", "~/pics/@home.png", None, 1.0),
    ],
)
def test_an_image_is_parsed_from_the_right(
    text: str, path: str, frame: int | None, strength: float
):
    assert parse_image(text) == ImageRef(text, path, frame, strength)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@3", "names no file"),
        (":0.5", "names no file"),
        ("cat.jpg:1.5", "strength 1.5 is out of range"),
        ("cat.jpg:-0.1", "strength -0.1 is out of range"),
        ("cat\x1b[31m.jpg", "contains control characters"),
        ("cat\n.jpg", "contains control characters"),
    ],
)
def test_a_plainly_wrong_image_is_refused_before_any_file_is_read(text: str, message: str):
    with pytest.raises(UsageError, match=message) as caught:
        parse_image(text)
    assert caught.value.message.startswith("--image ")
    assert "\x1b" not in caught.value.message and "\n" not in caught.value.message


def test_images_are_placed_in_the_clip():
    refs = [parse_image(t) for t in ("dusk.png@-1", "dawn.png", "noon.png@12:0.5", "b.png@-25")]
    with pytest.raises(
        UsageError, match=re.escape("--image b.png@-25: frame 0 already has dawn.png")
    ):
        place_images(refs, FRAMES)
    placed = place_images(refs[:3], FRAMES)
    assert [(ref.path, frame) for ref, frame in placed] == [
        ("dusk.png", 24),
        ("dawn.png", 0),
        ("noon.png", 12),
    ]


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["a.png@25"], "frame 25 is outside the clip (25 frames: 0 to 24, or -25 to -1)"),
        (["a.png@-26"], "frame -26 is outside the clip"),
        (["a.png", "b.png"], "only one image may leave out @FRAME"),
        (["a.png@24", "b.png@-1"], "--image b.png@-1: frame 24 already has a.png@24"),
        (["a.png@0:0.5", "b.png"], "frame 0 already has a.png@0:0.5"),
    ],
)
def test_a_frame_outside_the_clip_or_taken_twice_is_refused(texts: list[str], message: str):
    with pytest.raises(UsageError, match=re.escape(message)):
        place_images([parse_image(t) for t in texts], FRAMES)


def test_the_second_frameless_image_is_told_how_to_name_a_frame():
    with pytest.raises(UsageError) as caught:
        place_images([parse_image("dawn.png"), parse_image("dusk.png")], FRAMES)
    assert (
        caught.value.hint == "Name the frame of the others, e.g. --image dusk.png@-1 for the last."
    )


# --- refused with exit 2 before anything is spent -----------------------------------------


@pytest.fixture
def images(clean_env: Path) -> Path:
    """cat.png (the clip's 256x160), in the working directory."""
    picture(Path("cat.png"))
    return Path.cwd()


def assert_refused(result: Result, standin: ModalStandIn, *expected: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: --image "), result.stderr
    for text in expected:
        assert text in result.stderr, (text, result.stderr)
    assert standin.spawns == []
    assert history().list() == []


def test_a_missing_file_is_refused(images: Path, modal_standin: ModalStandIn):
    result = generate("--image", "dog.png")
    assert_refused(result, modal_standin, f"--image dog.png: {images / 'dog.png'} does not exist")


def test_a_missing_file_with_a_suffix_that_is_no_number_mentions_the_syntax(
    images: Path, modal_standin: ModalStandIn
):
    result = generate("--image", "cat.png:strong")
    assert_refused(
        result, modal_standin, "cat.png:strong does not exist", "PATH[@FRAME][:STRENGTH]"
    )


def test_a_directory_is_refused(images: Path, modal_standin: ModalStandIn):
    Path("shots").mkdir()
    assert_refused(generate("--image", "shots"), modal_standin, "is a directory")


def test_a_file_that_is_not_an_image_is_refused(images: Path, modal_standin: ModalStandIn):
    write(Path("notes.png"), "not a picture at all")
    assert_refused(
        generate("--image", "notes.png"), modal_standin, "notes.png is not an image", "JPEG, PNG"
    )


@pytest.mark.parametrize("suffix", [".gif", ".bmp", ".tiff"])
def test_an_image_format_other_than_jpeg_png_webp_is_refused(
    suffix: str, images: Path, modal_standin: ModalStandIn
):
    name = picture(Path("cat" + suffix)).name
    kind = {".gif": "GIF", ".bmp": "BMP", ".tiff": "TIFF"}[suffix]
    assert_refused(
        generate("--image", name),
        modal_standin,
        f"{name} is a {kind} image",
        "Convert it to JPEG, PNG or WebP",
    )


def test_a_truncated_image_is_refused(images: Path, modal_standin: ModalStandIn):
    whole = picture(Path("whole.jpg"), size=(512, 512), format="JPEG").read_bytes()
    Path("cut.jpg").write_bytes(whole[: len(whole) // 2])
    assert_refused(generate("--image", "cut.jpg"), modal_standin, "cut.jpg cannot be decoded")


@pytest.mark.parametrize("limit", [30_000, 40_000])  # past the limit: warned; twice: refused
def test_a_decompression_bomb_is_refused(
    limit: int, images: Path, modal_standin: ModalStandIn, monkeypatch: pytest.MonkeyPatch
):
    # Pillow's limit (some 89 megapixels) lowered, rather than a 100 MB image made.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    assert_refused(
        generate("--image", "cat.png"), modal_standin, f"cat.png has more than {limit:,} pixels"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["cat.png@25"], "frame 25 is outside the clip"),
        (["cat.png@-1:1.01"], "strength 1.01 is out of range"),
        (["cat.png", "cat.png@-25"], "frame 0 already has cat.png"),
        (["cat.png", "cat.png"], "only one image may leave out @FRAME"),
    ],
)
def test_frames_and_strengths_are_checked_against_the_clip(
    args: list[str], expected: str, images: Path, modal_standin: ModalStandIn
):
    flags = [arg for text in args for arg in ("--image", text)]
    assert_refused(generate(*flags), modal_standin, expected)


def test_an_unreadable_file_is_refused_even_as_root(images: Path):
    Path("cat.png").chmod(0)
    code = (
        "import sys\n"
        "from pippa_cli.errors import UsageError\n"
        "from pippa_cli.image_input import load_images\n"
        "try:\n"
        "    load_images(sys.argv[1:], num_frames=25, width=256, height=160)\n"
        "except UsageError as exc:\n"
        "    print(exc.message)\n"
    )
    child = without_file_capabilities(code, "cat.png")
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == f"--image cat.png: cannot read {images / 'cat.png'}: " + (
        "Permission denied"
    )


# --- fitted to the clip --------------------------------------------------------------------


def test_an_image_is_resized_and_cropped_to_the_clip_with_one_note(
    images: Path, modal_standin: ModalStandIn
):
    picture(Path("photo.jpg"), size=(800, 600), format="JPEG")  # 4:3 into 8:5

    result = generate("--image", "photo.jpg", "-o", "clip.mp4")

    assert result.exit_code == 0, result.stderr
    note = (
        "Warning: --image photo.jpg: 800x600 differs in shape from the clip's 256x160; "
        "17% of its height is cropped (top and bottom)"
    )
    assert result.stderr.count(note) == 1, result.stderr
    [image] = modal_standin.spawns[0].request["images"]
    assert png_size(image["png"]) == (256, 160)
    assert (image["frame"], image["strength"]) == (0, 1.0)


def test_an_image_of_the_clips_shape_is_resized_without_a_note(
    images: Path, modal_standin: ModalStandIn
):
    picture(Path("wide.webp"), size=(1024, 640), format="WEBP")

    result = generate("--image", "wide.webp", "-o", "clip.mp4")

    assert result.exit_code == 0, result.stderr
    assert "Warning" not in result.stderr
    [image] = modal_standin.spawns[0].request["images"]
    assert png_size(image["png"]) == (256, 160)


def test_a_photo_is_turned_upright_by_its_exif_orientation(
    images: Path, modal_standin: ModalStandIn
):
    # Stored 160x256, left half red, right half blue, with "rotate 90 clockwise to show".
    stored = np.zeros((256, 160, 3), dtype=np.uint8)
    stored[:, :80] = (255, 0, 0)
    stored[:, 80:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save("phone.jpg", format="JPEG", exif=exif.tobytes(), quality=95)

    result = generate("--image", "phone.jpg", "-o", "clip.mp4")

    assert result.exit_code == 0, result.stderr
    assert "Warning" not in result.stderr  # upright it is the clip's own shape
    [image] = modal_standin.spawns[0].request["images"]
    shown = np.asarray(Image.open(io.BytesIO(image["png"])))
    assert shown.shape == (160, 256, 3)
    top, bottom = shown[20, 128].astype(int), shown[140, 128].astype(int)
    assert top[0] > 200 and top[2] < 60  # the left half (red) is on top now
    assert bottom[2] > 200 and bottom[0] < 60


# --- what reaches Modal, and what is recorded ----------------------------------------------


def test_a_keyframe_pair_reaches_modal_as_bytes_and_is_recorded(
    images: Path, modal_standin: ModalStandIn
):
    dawn, dusk = picture(Path("dawn.png"), seed=1), picture(Path("dusk.png"), seed=2)

    result = generate("--image", "dawn.png", "--image", "dusk.png@-1:0.6", "-o", "bay.mp4")

    assert result.exit_code == 0, result.stderr
    request = modal_standin.spawns[0].request
    first, last = request["images"]
    assert (first["frame"], first["strength"]) == (0, 1.0)
    assert (last["frame"], last["strength"]) == (24, 0.6)
    for sent in (first, last):
        assert isinstance(sent["png"], bytes) and png_size(sent["png"]) == (256, 160)
    assert first["png"] != last["png"]
    # The same image, of the clip's size already, arrives with its very pixels.
    assert np.array_equal(
        np.asarray(Image.open(io.BytesIO(first["png"]))), np.asarray(Image.open(dawn))
    )
    recorded = [
        {"file": "dawn.png", "sha256": sha256(dawn), "frame": 0, "strength": 1.0},
        {"file": "dusk.png", "sha256": sha256(dusk), "frame": 24, "strength": 0.6},
    ]
    job = only_job()
    assert job.settings["images"] == recorded
    assert sidecar(Path("bay.mp4"))["settings"]["images"] == recorded
    assert json.loads(request["metadata"]["pippa"])["images"] == recorded
    # No image bytes in the history.
    assert len(json.dumps(job.settings)) < 2000


def test_the_name_is_recorded_as_given_and_the_hash_is_of_the_files_bytes(
    images: Path, modal_standin: ModalStandIn
):
    Path("pics").mkdir()
    photo = picture(Path("pics/me@2x.png"), size=(512, 320))

    result = generate("--image", "pics/me@2x.png@-1", "-o", "clip.mp4")

    assert result.exit_code == 0, result.stderr
    assert only_job().settings["images"] == [
        {"file": "pics/me@2x.png", "sha256": sha256(photo), "frame": 24, "strength": 1.0}
    ]


def test_a_prompt_without_images_is_recorded_and_sent_as_before(modal_standin: ModalStandIn):
    result = generate("-o", "clip.mp4")

    assert result.exit_code == 0, result.stderr
    assert modal_standin.spawns[0].request["images"] == ()
    assert "images" not in only_job().settings
    assert "images" not in json.loads(modal_standin.spawns[0].request["metadata"]["pippa"])


# --- JSON Lines: "image" relative to the list ----------------------------------------------


def test_json_lines_images_are_relative_to_the_list(images: Path, modal_standin: ModalStandIn):
    lists = Path("lists")
    lists.mkdir()
    picture(lists / "cat.png", seed=3)
    picture(lists / "dusk.png", seed=4)
    source = write(
        lists / "shots.jsonl",
        '{"prompt": "a cat", "image": "cat.png", "name": "one"}\n'
        '{"prompt": "dusk falls", "image": ["cat.png", "dusk.png@-1:0.5"], "name": "two"}\n'
        '{"prompt": "the command\'s image", "name": "three"}\n',
    )

    # The command's --image is the working directory's cat.png (another picture).
    result = batch(source, "clips", "--image", "cat.png")

    assert result.exit_code == 0, result.stderr
    sent = {s.request["metadata"]["title"]: s.request["images"] for s in modal_standin.spawns}
    assert [(i["frame"], i["strength"]) for i in sent["dusk falls"]] == [(0, 1.0), (24, 0.5)]
    assert len(sent["a cat"]) == 1 and sent["a cat"][0]["png"] == sent["dusk falls"][0]["png"]
    assert sent["the command's image"][0]["png"] != sent["a cat"][0]["png"]
    recorded = {job.original_prompt: job.settings["images"] for job in history().list()}
    assert recorded["a cat"][0]["sha256"] == sha256(lists / "cat.png")
    assert recorded["the command's image"][0]["sha256"] == sha256(images / "cat.png")
    assert recorded["dusk falls"][1] == {
        "file": "dusk.png",
        "sha256": sha256(lists / "dusk.png"),
        "frame": 24,
        "strength": 0.5,
    }


def test_a_batch_notes_a_cropped_image_once_before_submitting(
    images: Path, modal_standin: ModalStandIn
):
    picture(Path("square.png"), size=(300, 300))
    source = write(
        Path("shots.jsonl"),
        '{"prompt": "one", "image": "square.png"}\n{"prompt": "two", "image": "square.png"}\n',
    )

    result = batch(source, "clips")

    assert result.exit_code == 0, result.stderr
    note = "Warning: --image square.png: 300x300 differs in shape from the clip's 256x160"
    assert result.stderr.count(note) == 1, result.stderr
    assert result.stderr.index(note) < result.stderr.index("Done 2")
    assert len(modal_standin.spawns) == 2


def test_json_lines_image_lines_are_checked_before_anything_is_submitted(
    images: Path, modal_standin: ModalStandIn
):
    source = write(
        Path("shots.jsonl"),
        '{"prompt": "fine", "image": "cat.png"}\n'
        '{"prompt": "missing", "image": "dog.png"}\n'
        '{"prompt": "wrong type", "image": 3}\n'
        '{"prompt": "a list of the wrong type", "image": ["cat.png", 3]}\n'
        '{"prompt": "outside", "image": "cat.png@99"}\n',
    )

    result = batch(source, "clips", "--strict")

    assert result.exit_code == 2, result.stderr
    assert "line 2: --image dog.png:" in result.stderr
    assert 'line 3: "image" has the wrong type (int)' in result.stderr
    assert 'line 4: "image" has the wrong type (list)' in result.stderr
    assert "line 5: --image cat.png@99: frame 99 is outside the clip" in result.stderr
    assert modal_standin.spawns == []
    assert history().list() == []


# --- the Python API ----------------------------------------------------------------------


def test_the_api_takes_an_image_or_a_list(images: Path, modal_standin: ModalStandIn):
    picture(Path("dusk.png"), seed=5)
    common: dict[str, Any] = dict(enhance=False, modal_sdk=modal_standin, duration=3, fps=8)
    size = dict(width=256, height=160, steps=4)

    one = pippa_cli.generate("a cat", image="cat.png", output="one.mp4", **common, **size)
    two = pippa_cli.generate(
        "a cat", image=[Path("cat.png"), "dusk.png@-1"], output="two.mp4", **common, **size
    )

    assert [i["frame"] for i in one.settings["images"]] == [0]
    assert [i["file"] for i in two.settings["images"]] == ["cat.png", "dusk.png"]
    assert [len(s.request["images"]) for s in modal_standin.spawns] == [1, 2]
    with pytest.raises(UsageError, match="image must be str or list, not int"):
        pippa_cli.generate("a cat", image=3, **common)
    with pytest.raises(UsageError, match=r"--image dog\.png: .* does not exist"):
        pippa_cli.generate("a cat", image="dog.png", **common)
    assert len(modal_standin.spawns) == 2


# --- the prompt enhancer is told ---------------------------------------------------------


def test_the_enhancer_is_told_the_clip_starts_from_an_image(
    images: Path, groq: GroqServer, modal_standin: ModalStandIn
):
    groq.answer("The cat springs from the cushion as the camera pans after it.")

    result = invoke("generate", PROMPT, *SMALL, "--image", "cat.png", "-o", "clip.mp4")

    assert result.exit_code == 0, result.stderr
    system, user = (m["content"] for m in groq.request_json()["messages"])
    assert system.startswith(SYSTEM_PROMPT)
    assert "The clip starts from an image" in system
    assert "Describe what moves and changes" in system
    assert "ends on an image" not in system
    assert user.endswith("Images: the first frame is the user's image")
    request = modal_standin.spawns[0].request
    assert request["prompt"] == "The cat springs from the cushion as the camera pans after it."


def test_the_enhancer_is_told_of_keyframes(
    images: Path, groq: GroqServer, modal_standin: ModalStandIn
):
    groq.answer("Daylight drains from the bay.")
    picture(Path("noon.png"), seed=6)

    args = ["--image", "cat.png", "--image", "noon.png@12", "--image", "cat.png@-1"]
    result = invoke("generate", "day turns to night", *SMALL, *args, "-o", "clip.mp4")

    assert result.exit_code == 0, result.stderr
    system, user = (m["content"] for m in groq.request_json()["messages"])
    assert "The clip starts from an image" in system
    assert "The clip ends on an image" in system
    assert "passes through images on the way" in system
    assert user.endswith(
        "Images: the first frame is the user's image; the last frame is the user's image; "
        "1 more of the user's images in between"
    )


def test_without_images_the_enhancer_is_asked_as_before(
    groq: GroqServer, modal_standin: ModalStandIn
):
    groq.answer("A red fox.")

    result = invoke("generate", PROMPT, *SMALL, "-o", "clip.mp4")

    assert result.exit_code == 0, result.stderr
    system, user = (m["content"] for m in groq.request_json()["messages"])
    assert system == SYSTEM_PROMPT
    assert user == f"Idea: {PROMPT}"


# --- help stays light ---------------------------------------------------------------------


def test_generate_help_shows_the_option_and_loads_no_pillow():
    proc = run_pippa("generate", "--help", python_flags=["-X", "importtime"])

    assert proc.returncode == 0, proc.stderr
    assert b"--image" in proc.stdout and b"PATH[@FRAME][:STRENGTH]" in proc.stdout
    imported = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in proc.stderr.decode().splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "typer" in imported and "PIL" not in imported


# --- end to end on the tiny model ----------------------------------------------------------


class PrepareLatentsSpy:
    """What LTXConditionPipeline.prepare_latents was given and returned, call by call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from diffusers import LTXConditionPipeline

        self.calls: list[dict[str, Any]] = []
        original = LTXConditionPipeline.prepare_latents

        def spy(pipe: Any, conditions: Any, strength: Any, frame_index: Any, **kw: Any) -> Any:
            out = original(pipe, conditions, strength, frame_index, **kw)
            self.calls.append({"strength": strength, "frame_index": frame_index, "out": out})
            return out

        monkeypatch.setattr(LTXConditionPipeline, "prepare_latents", spy)


@dataclass
class Rendered:
    frames: np.ndarray
    settings: dict[str, Any]
    tags: dict[str, Any]
    latents_calls: list[dict[str, Any]]


@pytest.fixture(scope="module")
def renders(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    """The same seed: no image, an image, the same image again, and a keyframe pair."""
    root = tmp_path_factory.mktemp("image-renders")
    done: dict[str, Rendered] = {}
    with pippa_env(root) as work, pytest.MonkeyPatch.context() as mp:
        spy = PrepareLatentsSpy(mp)
        picture(work / "dawn.png", size=(64, 64), seed=1)
        picture(work / "dusk.png", size=(96, 64), seed=2)  # 3:2 into 1:1: a note
        cases = {
            "plain": [],
            "dawn": ["--image", "dawn.png"],
            "dawn again": ["--image", "dawn.png"],
            "pair": ["--image", "dawn.png", "--image", "dusk.png@-1:0.8"],
        }
        for name, flags in cases.items():
            before = len(spy.calls)
            output = work / f"{name.replace(' ', '-')}.mp4"
            args = small_args(tiny_model, seed=7, output=str(output))
            result = invoke("generate", PROMPT, *args, "--no-enhance", *flags)
            assert result.exit_code == 0, result.stderr
            if name == "pair":
                assert "Warning: --image dusk.png: 96x64 differs in shape" in result.stderr
            done[name] = Rendered(
                decode_frames(output),
                sidecar(output)["settings"],
                json.loads(probe(output).metadata["pippa"]),
                spy.calls[before:],
            )
    return done


def test_a_clip_from_an_image_has_every_frame_and_records_it(renders: dict[str, Rendered]):
    dawn = renders["dawn"]
    assert dawn.frames.shape == (25, 64, 64, 3)
    assert dawn.settings["images"] == dawn.tags["images"]
    assert [(i["file"], i["frame"], i["strength"]) for i in dawn.settings["images"]] == [
        ("dawn.png", 0, 1.0)
    ]


def test_the_image_changes_the_clip_and_the_same_inputs_repeat_it(renders: dict[str, Rendered]):
    assert not np.array_equal(renders["dawn"].frames, renders["plain"].frames)
    assert np.array_equal(renders["dawn"].frames, renders["dawn again"].frames)
    assert not np.array_equal(renders["pair"].frames, renders["dawn"].frames)


def test_the_images_reach_the_pipeline_at_their_frames(renders: dict[str, Rendered]):
    assert renders["plain"].latents_calls == []  # text to video: LTXPipeline, as always
    [dawn] = renders["dawn"].latents_calls
    assert (dawn["frame_index"], dawn["strength"]) == ([0], [1.0])
    _, mask, _, extra = dawn["out"]
    # The first latent frame's tokens are held to the image, every later one is free.
    held = int((mask == 1.0).sum())
    assert extra == 0 and 0 < held < mask.numel()
    assert (mask[0, :held] == 1.0).all() and (mask[0, held:] == 0.0).all()
    [pair] = renders["pair"].latents_calls
    assert (pair["frame_index"], pair["strength"]) == ([0, 24], [1.0, 0.8])
    assert pair["out"][3] > 0  # the last frame's image: tokens of its own
