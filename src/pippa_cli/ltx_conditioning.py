"""Image conditioning for the LTX core: the clip starts from, or passes through, images.

ltx.py calls this only for a request with images. The images arrive as PNG bytes already
resized and cropped to the clip (render_request.py does that on the client), so that what
renders on Modal is exactly what renders locally. diffusers checks none of it (a frame
beyond the clip or a wrongly sized image passes silently), so a request is checked here.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

    from pippa_cli.ltx import ImageCondition

_FIELDS = frozenset({"png", "frame", "strength"})


def images_from_dicts(
    items: Iterable[Any], width: int, height: int, num_frames: int
) -> tuple[ImageCondition, ...]:
    """The request's images from their dicts (RenderRequest.to_dict); ValueError if one
    is not a width x height PNG, sits outside the clip's frames or has a strength not in 0..1.
    """
    from pippa_cli.ltx import ImageCondition, request_items

    images = []
    for where, item in request_items(items, "images", "image", _FIELDS):
        png, frame, strength = item["png"], item["frame"], item["strength"]
        if isinstance(frame, bool) or not isinstance(frame, int):
            raise ValueError(f"{where}: frame {frame!r} is not a whole number")
        if not 0 <= frame < num_frames:
            raise ValueError(f"{where}: frame {frame} is outside the clip (0..{num_frames - 1})")
        if isinstance(strength, bool) or not isinstance(strength, int | float):
            raise ValueError(f"{where}: strength {strength!r} is not a number")
        if not (math.isfinite(strength) and 0 <= strength <= 1):  # NaN is in no range
            raise ValueError(f"{where}: strength {strength} is outside 0..1")
        if not isinstance(png, bytes):
            raise ValueError(f"{where}: png is bytes, not {type(png).__name__}")
        size = _png_size(png, where)
        if size != (width, height):
            raise ValueError(f"{where} is {size[0]}x{size[1]}, not the clip's {width}x{height}")
        images.append(ImageCondition(png=png, frame=frame, strength=float(strength)))
    return tuple(images)


def _png_size(data: bytes, where: str) -> tuple[int, int]:
    """The (width, height) of a PNG that decodes whole; ValueError otherwise."""
    try:
        with open_png(data) as image:
            size = image.size
            image.load()  # the header alone proves nothing about the pixels
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    except Exception as exc:  # Pillow raises many kinds for a broken file
        raise ValueError(f"{where} does not decode as a PNG: {exc}") from None
    return size


def open_png(data: bytes) -> Image.Image:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data), formats=["PNG"])
    except UnidentifiedImageError:
        raise ValueError("the bytes are not a PNG image") from None
    return image


def condition_pipeline(pipe: Any) -> Any:
    """An LTXConditionPipeline on `pipe`'s own modules (from_pipe copies no weights)."""
    from diffusers import LTXConditionPipeline

    if isinstance(pipe, LTXConditionPipeline):  # the distilled checkpoints load as one
        return pipe
    components: dict[str, Any] = {}
    if pipe.scheduler.config.get("use_dynamic_shifting"):
        # LTXConditionPipeline passes the scheduler no `mu`, which dynamic shifting needs
        # ("`mu` must be passed"): it gets a static copy, and `pipe` keeps its own.
        components["scheduler"] = type(pipe.scheduler).from_config(
            pipe.scheduler.config, use_dynamic_shifting=False
        )
    conditioned = LTXConditionPipeline.from_pipe(pipe, **components)
    conditioned.set_progress_bar_config(disable=True)  # from_pipe does not carry it over
    return conditioned


def video_conditions(images: Iterable[ImageCondition]) -> list[Any]:
    """diffusers' LTXVideoCondition for each image, at its frame with its strength."""
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

    conditions = []
    for image in images:
        with open_png(image.png) as picture:
            rgb = picture.convert("RGB")
        conditions.append(
            LTXVideoCondition(image=rgb, frame_index=image.frame, strength=image.strength)
        )
    return conditions
