"""`--image PATH[@FRAME][:STRENGTH]` as the user writes it: parsed, and placed in the clip.

Read from the right, and a suffix counts only when it is a number: `C:\\shots\\a.png`,
`me@2x.png` and `dawn:blue.jpg` are paths as they stand, `me@2x.png@-1:0.5` is `me@2x.png`
at the last frame with strength 0.5. (A file whose own name ends in `@3` is written with
its frame: `shot@3@0`.) No file is opened here: image_input.py reads them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pippa_cli.errors import UsageError
from pippa_cli.text import has_unsafe_chars, visible

FLAG = "--image"
SYNTAX_HINT = "Write PATH[@FRAME][:STRENGTH], e.g. cat.jpg, dusk.png@-1, cat.jpg@0:0.8."
# ASCII digits only: `shot@٣` is a file name, not frame 3.
_FRAME = re.compile(r"-?[0-9]+")
_STRENGTH = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
# More images than keyframes a clip of at most 10 s could use; each one off frame 0 adds a
# latent frame's tokens to the render, and its PNG to the request.
MAX_IMAGES = 16
_OUT_OF_RANGE = 10**9


@dataclass(frozen=True)
class ImageRef:
    """One --image value, parsed: nothing about the file is known yet."""

    text: str  # as given, for messages
    path: str  # the path part, as given (relative paths are resolved when read)
    frame: int | None  # as given: None (frame 0), or negative counting from the end
    strength: float


def parse_image(text: str) -> ImageRef:
    """`text` split into path, frame and strength; UsageError for what is plainly wrong."""
    if has_unsafe_chars(text):
        raise UsageError(
            f"{FLAG} {visible(text)} contains control characters",
            "Rename the file without newlines, tabs, escapes or bidi characters.",
        )
    rest, strength = text, 1.0
    head, colon, tail = text.rpartition(":")
    if colon and _STRENGTH.fullmatch(tail):
        rest, strength = head, float(tail) + 0.0  # + 0.0: -0 is recorded as 0
    path, frame = rest, None
    head, at, tail = rest.rpartition("@")
    if at and _FRAME.fullmatch(tail):
        # int() refuses thousands of digits; any that long is out of range anyway.
        path, frame = (
            head,
            int(tail) if len(tail) <= 9 else _OUT_OF_RANGE * (-1 if tail[0] == "-" else 1),
        )
    if not path:
        raise UsageError(f"{FLAG} {text!r} names no file", SYNTAX_HINT)
    if not 0 <= strength <= 1:
        raise UsageError(
            f"{FLAG} {text}: strength {strength:g} is out of range",
            "Choose 0 to 1: 1 holds the frame to the image, lower values let it drift.",
        )
    return ImageRef(text, path, frame, strength)


def place_images(refs: list[ImageRef], num_frames: int) -> list[tuple[ImageRef, int]]:
    """Each image with the frame it is at (0 .. num_frames - 1); a negative frame counts
    from the end (@-1 is the last frame).

    One image may leave out @FRAME: it starts the clip. Two images at one frame, or a frame
    outside the clip, are UsageErrors.
    """
    if len(refs) > MAX_IMAGES:
        raise UsageError(
            f"{len(refs)} images; a clip takes at most {MAX_IMAGES}",
            "Keep the keyframes that matter: the first, the last and a few between.",
        )
    placed: list[tuple[ImageRef, int]] = []
    taken: dict[int, ImageRef] = {}
    for ref in refs:
        frame = 0 if ref.frame is None else ref.frame
        if not -num_frames <= frame < num_frames:
            raise UsageError(
                f"{FLAG} {ref.text}: frame {frame} is outside the clip "
                f"({num_frames} frames: 0 to {num_frames - 1}, or -{num_frames} to -1)",
                "Use @-1 for the last frame, or a longer --duration.",
            )
        frame %= num_frames
        other = taken.get(frame)
        if other is not None:
            if other.frame is None and ref.frame is None:
                raise UsageError(
                    f"{FLAG} {ref.text}: only one image may leave out @FRAME (it starts "
                    f"the clip, like {other.text})",
                    f"Name the frame of the others, e.g. {FLAG} {ref.path}@-1 for the last.",
                )
            raise UsageError(
                f"{FLAG} {ref.text}: frame {frame} already has {other.text}",
                "Give each image a frame of its own.",
            )
        taken[frame] = ref
        placed.append((ref, frame))
    return placed
