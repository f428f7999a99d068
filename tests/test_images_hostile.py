"""`--image` against hostile files and values: pipes, huge numbers, odd image kinds,
damaged metadata, many images, and the records and limits around them."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import Result

from pippa_cli.image_input import load_images
from pippa_cli.image_refs import ImageRef, parse_image
from tests.helpers import SMALL, child_env, invoke, only_job, run_pippa
from tests.modal_standin import ModalStandIn

PROMPT = "the cat leaps off the sofa"


def picture(path: Path, size: tuple[int, int] = (256, 160), seed: int = 0, **save: Any) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, **save)
    return path


def generate(*args: str) -> Result:
    return invoke("generate", PROMPT, "--no-enhance", *SMALL, *args)


def fitted(text: str) -> np.ndarray:
    [image] = load_images([text], num_frames=25, width=256, height=160)
    return np.asarray(Image.open(io.BytesIO(image.png)))


# --- reading must never hang or crash ------------------------------------------------------


def test_a_fifo_is_refused_rather_than_waited_on_forever(clean_env: Path):
    # `--image <(some command)` or a named pipe nobody writes to: open() blocks forever.
    import os

    os.mkfifo("pipe.png")
    code = (
        "import sys\n"
        "from pippa_cli.errors import UsageError\n"
        "from pippa_cli.image_input import load_images\n"
        "try:\n"
        "    load_images(['pipe.png'], num_frames=25, width=256, height=160)\n"
        "except UsageError as exc:\n"
        "    print(exc.message)\n"
    )
    try:
        child = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=20,
            env=child_env(),
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("reading --image pipe.png (a FIFO) blocked for 20 s")
    assert child.stdout.startswith("--image pipe.png:"), (child.stdout, child.stderr)


def test_a_frame_number_with_thousands_of_digits_is_exit_2(
    clean_env: Path, modal_standin: ModalStandIn
):
    picture(Path("cat.png"))
    result = generate("--image", "cat.png@" + "1" * 5000, "-o", "clip.mp4")
    # int() alone refuses thousands of digits ("Exceeds the limit (4300 digits)").
    assert result.exit_code == 2, result.stderr
    assert "unexpected" not in result.stderr
    assert modal_standin.spawns == []


def test_a_corrupt_exif_block_prints_no_python_warning(clean_env: Path):
    # A JPEG whose EXIF is damaged (common from editing tools): Pillow warns with
    # warnings.warn, which Python prints with pippa's install path and source line.
    import struct

    buf = io.BytesIO()
    Image.new("RGB", (256, 160), (10, 200, 30)).save(buf, format="JPEG")
    data = buf.getvalue()
    payload = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08" + b"\xff" * 40
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    Path("photo.jpg").write_bytes(data[:2] + segment + data[2:])

    proc = run_pippa("generate", PROMPT, "--no-enhance", *SMALL, "--image", "photo.jpg")

    stderr = proc.stderr.decode()
    assert "UserWarning" not in stderr and "TiffImagePlugin" not in stderr, stderr


# --- images cameras and tools really write -------------------------------------------------


def test_a_camera_jpeg_with_a_second_picture_mpo_is_taken_as_a_jpeg(
    clean_env: Path, modal_standin: ModalStandIn
):
    # Many phone and camera JPEGs carry an MPF block (depth map, preview): Pillow then
    # reports their format as "MPO". They are JPEG files, named .jpg.
    first, second = (Image.fromarray(np.full((160, 256, 3), v, np.uint8)) for v in (90, 200))
    first.save("phone.jpg", format="MPO", save_all=True, append_images=[second])

    result = generate("--image", "phone.jpg", "-o", "clip.mp4")

    # Pillow calls a JPEG with a second picture inside "MPO".
    assert result.exit_code == 0, result.stderr
    assert len(modal_standin.spawns[0].request["images"]) == 1


def test_a_16_bit_grayscale_png_keeps_its_tones(clean_env: Path):
    # A mid-grey 16-bit PNG (scanners, HDR tools, exported depth or renders).
    Image.fromarray(np.full((160, 256), 32768, np.uint16)).save("grey16.png")
    assert Image.open("grey16.png").mode == "I;16"

    pixels = fitted("grey16.png")

    # Pillow's I;16 -> RGB conversion clips (every pixel 255) rather than scales.
    assert 100 < pixels.mean() < 160, pixels.mean()


# --- parsing: "a suffix counts only when it is a number" -----------------------------------


def test_a_suffix_of_non_ascii_digits_is_part_of_the_path():
    # `\d` and float() take Arabic-Indic and other Unicode digits; a user's file named
    # `shot@٣` would be read as `shot` at frame 3.
    assert parse_image("shot@\u0663") == ImageRef("shot@\u0663", "shot@\u0663", None, 1.0)
    assert parse_image("shot:\u0661") == ImageRef("shot:\u0661", "shot:\u0661", None, 1.0)


def test_a_strength_of_minus_zero_is_recorded_as_zero(clean_env: Path, modal_standin: ModalStandIn):
    picture(Path("cat.png"))
    result = generate("--image", "cat.png:-0", "-o", "clip.mp4")

    assert result.exit_code == 0, result.stderr
    [image] = only_job().settings["images"]
    assert math.copysign(1, image["strength"]) == 1, "recorded as -0.0"
    assert '"strength": -0.0' not in Path("clip.json").read_text("utf-8")


# --- the crop note -------------------------------------------------------------------------


def test_the_crop_note_never_claims_the_whole_side_is_cropped(clean_env: Path):
    Image.new("RGB", (10000, 1)).save("strip.png")
    [image] = load_images(["strip.png"], num_frames=25, width=256, height=160)
    assert image.note is not None
    assert "100%" not in image.note, image.note


def test_quiet_hides_the_crop_note(clean_env: Path, modal_standin: ModalStandIn):
    picture(Path("square.png"), size=(300, 300))
    result = generate("--image", "square.png", "-o", "clip.mp4", "-q")
    assert result.exit_code == 0, result.stderr
    assert "cropped" not in result.stderr


# --- a Modal app deployed before this feature ----------------------------------------------


def test_an_app_deployed_before_images_refuses_an_image_request_clearly(
    clean_env: Path, modal_standin: ModalStandIn
):
    assert modal_standin.deployment is not None
    modal_standin.deployment["pippa_version"] = "0.0.1"
    modal_standin.deployment["request_fields"].remove("images")
    picture(Path("cat.png"))

    result = generate("--image", "cat.png", "-o", "clip.mp4")

    assert result.exit_code == 1
    assert "images" in result.stderr and "pippa deploy" in result.stderr
    assert modal_standin.spawns == []


# --- what is recorded ----------------------------------------------------------------------


def test_json_output_and_records_hold_no_image_bytes(clean_env: Path, modal_standin: ModalStandIn):
    picture(Path("cat.png"), size=(512, 320))
    picture(Path("dusk.png"), size=(512, 320), seed=2)

    result = generate("--image", "cat.png", "--image", "dusk.png@-1", "-o", "clip.mp4", "--json")

    assert result.exit_code == 0, result.stderr
    for text in (result.stdout, Path("clip.json").read_text("utf-8")):
        assert "\\x89PNG" not in text and "iVBOR" not in text and len(text) < 8000
    assert json.loads(result.stdout.splitlines()[-1])


# --- the Python API ----------------------------------------------------------------------


def test_a_path_object_is_the_file_it_names(clean_env: Path, modal_standin: ModalStandIn):
    # A Path is unambiguous: it names a file. Parsed like --image text, a
    # real file named `take:1` (legal on Linux and macOS) is read as `take` at strength 1.
    import pippa_cli

    picture(Path("take:1"), format="PNG")
    job = pippa_cli.generate(
        "a cat", image=Path("take:1"), enhance=False, modal_sdk=modal_standin,
        duration=3, fps=8, width=256, height=160, steps=4, output="clip.mp4",
    )  # fmt: skip
    assert job.settings["images"][0]["file"] == "take:1"


# --- many images --------------------------------------------------------------------------


def test_a_hundred_images_are_bounded_before_anything_is_spent(
    clean_env: Path, modal_standin: ModalStandIn
):
    # Each image off frame 0 adds a latent frame's tokens to what the transformer attends
    # over; 100 of them multiply the sequence several times over, and the request carries
    # 100 PNGs: both are bounded before anything is spent.
    picture(Path("cat.png"), size=(768, 512))
    flags = [a for n in range(100) for a in ("--image", f"cat.png@{n * 2}")]
    result = invoke(
        "generate", PROMPT, "--no-enhance", "--duration", "10", "--fps", "30",
        "--width", "768", "--height", "512", "--steps", "4", "-o", "clip.mp4", *flags,
    )  # fmt: skip
    sent = sum(len(i["png"]) for s in modal_standin.spawns for i in s.request["images"])
    assert result.exit_code == 2 or sent < 32 * 2**20, (result.exit_code, sent)
