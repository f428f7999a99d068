"""The checks RenderRequest.from_dict runs on how a request samples: its sound, --fast,
sigma schedule, guidance terms and prompt length (LTX-2's fields and their neighbours).

A request crosses to Modal as a plain dict, from a client that may be older or newer
than the deployment: what this code cannot render exactly as asked is refused
(ValueError), never rendered some other way.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pippa_cli.ltx import RenderRequest

# An audio guidance term diffusers reads as unset when it is 0 (`audio_x or x`): it then
# takes its video counterpart's value instead.
_AUDIO_FALLBACK = {
    "audio_stg_scale": "stg_scale",
    "audio_modality_scale": "modality_scale",
    "audio_guidance_rescale": "guidance_rescale",
}


def checked_sampling(request: RenderRequest) -> RenderRequest:
    """`request` with its audio, fast, sigmas, guidance terms and max_sequence_length checked
    (numbers as floats); ValueError for one it cannot render."""
    if not isinstance(request.audio, bool):
        raise ValueError(f"audio is true or false, not {request.audio!r}")
    if not isinstance(request.fast, bool):
        raise ValueError(f"fast is true or false, not {request.fast!r}")
    if request.fast:
        from pippa_cli.step_cache import problem

        steps = request.steps
        if isinstance(steps, bool) or not isinstance(steps, int):
            raise ValueError(f"steps {steps!r} is not a whole number")
        reason = problem(request.denoising_steps())
        if reason is not None:
            raise ValueError(f"fast: {reason}")
    length = request.max_sequence_length
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"max_sequence_length {length!r} is not a positive whole number")
    sigmas = request.sigmas
    if sigmas is not None:
        sigmas = checked_sigmas(sigmas, "sigmas")
        if request.steps != len(sigmas):
            raise ValueError(f"steps {request.steps!r} is not the sigmas' count ({len(sigmas)})")
    terms = checked_guidance_terms(request.guidance_terms, request.guidance)
    return dataclasses.replace(request, sigmas=sigmas, guidance_terms=terms)


def checked_sigmas(values: Any, name: str) -> list[float]:
    """A sigma schedule: a non-empty list of numbers in (0, 1]; ValueError otherwise."""
    if not isinstance(values, list | tuple) or not values:
        raise ValueError(f"{name} is a non-empty list of numbers")
    if not all(_number(s) and 0 < s <= 1 for s in values):
        raise ValueError(f"{name} {list(values)} are not all in (0, 1]")
    return [float(s) for s in values]


def checked_guidance_terms(terms: Any, guidance: Any) -> dict[str, float]:
    """LTX-2's guidance terms: the pipeline's own keywords (ltx2.GUIDANCE_TERMS) with
    finite values, none negative, the rescales at most 1; ValueError otherwise."""
    from pippa_cli.ltx2 import GUIDANCE_TERMS

    if not isinstance(terms, dict):
        raise ValueError(f"guidance_terms is a dict, not {type(terms).__name__}")
    unknown = sorted(map(str, set(terms) - GUIDANCE_TERMS))
    if unknown:
        known = ", ".join(sorted(GUIDANCE_TERMS))
        raise ValueError(f"unknown guidance term(s) {', '.join(unknown)} (known: {known})")
    checked = {}
    for name, value in sorted(terms.items()):
        limit = 1 if name.endswith("rescale") else math.inf
        if not (_number(value) and 0 <= value <= limit):
            span = "0..1" if limit == 1 else "a number, 0 or more"
            raise ValueError(f"guidance term {name} {value!r} is not {span}")
        checked[name] = float(value)
    fallbacks = {**_AUDIO_FALLBACK, "audio_guidance_scale": None}
    for name, video in fallbacks.items():
        video_value = guidance if video is None else checked.get(video)
        if checked.get(name) == 0 and video_value != 0:
            raise ValueError(
                f"guidance term {name} 0 would render as {video or 'guidance'} "
                f"{video_value if video_value is not None else '(its default)'}: "
                "diffusers reads 0 as unset; set both to 0"
            )
    return checked


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
