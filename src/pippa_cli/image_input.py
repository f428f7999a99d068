"""The user's images, read before anything is spent: checked, fitted to the clip, as PNG.

Each `--image` file is read once: its bytes are hashed (the record says exactly which
file conditioned the clip) and decoded with Pillow, turned upright (EXIF orientation),
resized and center-cropped to the clip's width x height, and encoded as PNG, so that the
request carries the very pixels rendered (Modal never sees a path). The client does this,
not the GPU: a laptop sends a few hundred KB, not a 12 MP photo. A noticeable crop is a
note, shown before the job starts.

A spec holds its images' PNGs (about 0.5 MB at 768x512): a batch holds one per image line.
Pillow is imported inside functions: `pippa --help` must not load it.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pippa_cli.errors import UsageError
from pippa_cli.files import InputFileRefused
from pippa_cli.image_refs import FLAG, SYNTAX_HINT, ImageRef, parse_image, place_images

if TYPE_CHECKING:
    from PIL import Image

# The image formats LTX users start from; anything else is refused rather than guessed at.
FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP"}  # MPO: a phone's
# JPEG with a second picture inside (the first one is read)
# Larger is no photo a clip needs, and reading it would only cost memory.
MAX_BYTES = 64 * 2**20
# A crop that cuts off more than this share of a side is worth a note.
CROP_NOTE = 0.02


@dataclass(frozen=True)
class InputImage:
    """One image, read and fitted: what the render gets and what the records keep."""

    file: str  # the path as given
    sha256: str  # of the file's bytes
    frame: int  # 0 .. num_frames - 1
    strength: float
    png: bytes = field(repr=False)  # width x height, RGB (kilobytes: kept out of the repr)
    note: str | None = None  # what fitting it did that the user may not expect

    def record(self) -> dict[str, Any]:
        """For the sidecar, the history and the MP4 tag: enough to reproduce the clip."""
        return {
            "file": self.file,
            "sha256": self.sha256,
            "frame": self.frame,
            "strength": self.strength,
        }


def load_images(
    texts: Sequence[str],
    *,
    num_frames: int,
    width: int,
    height: int,
    directory: Path | None = None,
) -> tuple[InputImage, ...]:
    """Every --image value parsed and placed, then each file read and fitted; UsageError
    (naming the value) for the first problem. Relative paths are read from `directory`
    (a JSON Lines list's), else the working directory."""
    placed = place_images([parse_image(text) for text in texts], num_frames)
    return tuple(read_image(ref, frame, width, height, directory) for ref, frame in placed)


def read_image(
    ref: ImageRef, frame: int, width: int, height: int, directory: Path | None = None
) -> InputImage:
    path = (directory or Path.cwd()) / Path(ref.path).expanduser()
    data = _read_bytes(ref, path)
    picture = _decode(ref, path, data)
    fitted, note = _fit(picture, width, height, ref)
    png = io.BytesIO()
    fitted.save(png, format="PNG")
    return InputImage(
        ref.path, hashlib.sha256(data).hexdigest(), frame, ref.strength, png.getvalue(), note
    )


def _read_bytes(ref: ImageRef, path: Path) -> bytes:
    from pippa_cli.files import DIRECTORY, MISSING, SPECIAL, TOO_LARGE, read_input_file

    try:
        return read_input_file(path, MAX_BYTES)
    except InputFileRefused as exc:
        syntax = f" {SYNTAX_HINT}" if "@" in ref.text or ":" in ref.text else ""
        hints = {
            MISSING: "Check the path." + syntax,
            DIRECTORY: "Name an image file.",
            SPECIAL: "Name an image file.",
            TOO_LARGE: "Give a smaller JPEG, PNG or WebP: the clip is at most 2048 pixels a side.",
        }
        raise UsageError(f"{FLAG} {ref.text}: {exc.problem}", hints.get(exc.reason)) from None


def _decode(ref: ImageRef, path: Path, data: bytes) -> Image.Image:
    """The first frame of the image, upright, as RGB."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    def refuse(problem: str, hint: str) -> UsageError:
        return UsageError(f"{FLAG} {ref.text}: {problem}", hint)

    give = "Give a JPEG, PNG or WebP file."
    try:
        # A decompression bomb (a small file of enormous dimensions) is refused, not
        # merely warned about.
        with warnings.catch_warnings():
            # Pillow's other warnings (a damaged EXIF block) are not the user's business.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = Image.open(io.BytesIO(data))
            kind = picture.format or "unknown"
            if kind not in FORMATS:
                raise refuse(f"{path.name} is a {kind} image", "Convert it to JPEG, PNG or WebP.")
            picture.load()
    except UnidentifiedImageError:
        raise refuse(f"{path.name} is not an image", give) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        limit = Image.MAX_IMAGE_PIXELS or 0
        raise refuse(f"{path.name} has more than {limit:,} pixels", give) from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise refuse(f"{path.name} cannot be decoded ({exc})", give) from None
    with warnings.catch_warnings():
        # A damaged EXIF block only loses the orientation; Pillow's warning is not ours.
        warnings.simplefilter("ignore")
        upright: Image.Image = ImageOps.exif_transpose(picture)
    if upright.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # 16-bit grey: scaled to 8 bits (convert("RGB") would clip it to white).
        upright = upright.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    return upright.convert("RGB")


def _fit(
    picture: Image.Image, width: int, height: int, ref: ImageRef
) -> tuple[Image.Image, str | None]:
    """`picture` scaled to cover width x height and center-cropped to it, with a note when
    the crop cuts off a noticeable share of one side."""
    from PIL import Image, ImageOps

    have_w, have_h = picture.size
    ratio, wanted = have_w / have_h, width / height
    kept = min(ratio / wanted, wanted / ratio)  # of the side that is cropped
    note = None
    if 1 - kept > CROP_NOTE:
        side, edges = (
            ("width", "left and right") if ratio > wanted else ("height", "top and bottom")
        )
        note = (
            f"{FLAG} {ref.path}: {have_w}x{have_h} differs in shape from the clip's "
            f"{width}x{height}; {min(round((1 - kept) * 100), 99)}% of its {side} is cropped "
            f"({edges})"
        )
    fitted = ImageOps.fit(picture, (width, height), method=Image.Resampling.LANCZOS)
    return fitted, note
