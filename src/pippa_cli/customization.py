"""Customization of a video: style, camera angle, lighting, movement and mood.

`FIELDS` is the one table of the five: each field's name, how --help introduces it, its
suggested values (shown in --help and shell completion; any short free text is accepted
too, as the seed's request schema did) and how it reads as a plain phrase. The command-line
options, the JSON Lines keys and the recorded settings are derived from it (see
request_options.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pippa_cli.errors import UsageError
from pippa_cli.text import has_control_chars, strip_controls

MAX_VALUE_CHARS = 60


@dataclass(frozen=True)
class CustomizationField:
    name: str  # the Python and JSON Lines name; --camera-angle for camera_angle
    label: str  # how --help introduces it
    examples: tuple[str, ...]
    # How a value reads as a plain descriptive phrase when the LLM is unavailable: a
    # template, words that make the template redundant when the value already has one,
    # and whole values with a phrase of their own.
    phrase: str
    redundant: tuple[str, ...]
    special: Mapping[str, str] = field(default_factory=dict)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def help(self) -> str:
        return f"{self.label}: {', '.join(self.examples)}, or any short text."

    def describe(self, value: str) -> str:
        lowered = value.lower()
        if lowered in self.special:
            return self.special[lowered]
        if any(word in lowered.split() for word in self.redundant):
            return value
        return self.phrase.format(value)


FIELDS: tuple[CustomizationField, ...] = (
    CustomizationField(
        "style",
        "Visual style",
        (
            "cinematic",
            "anime",
            "documentary",
            "photorealistic",
            "vintage film",
            "noir",
            "watercolor",
            "3d animation",
            "claymation",
            "cyberpunk",
            "fantasy",
        ),
        "{} style",
        ("style",),
    ),
    CustomizationField(
        "camera_angle",
        "Camera angle",
        (
            "close-up",
            "extreme close-up",
            "medium shot",
            "wide",
            "aerial",
            "low angle",
            "high angle",
            "over-the-shoulder",
            "first-person",
        ),
        "{} shot",
        ("shot", "angle", "view"),
    ),
    CustomizationField(
        "lighting",
        "Lighting",
        (
            "natural",
            "golden hour",
            "blue hour",
            "neon",
            "studio",
            "dramatic",
            "soft",
            "backlit",
            "candlelight",
            "moonlight",
        ),
        "{} lighting",
        ("lighting", "light"),
    ),
    CustomizationField(
        "movement",
        "Motion or camera movement",
        (
            "slow-motion",
            "tracking",
            "static",
            "pan",
            "tilt",
            "dolly in",
            "dolly out",
            "orbit",
            "handheld",
            "crane",
            "time-lapse",
        ),
        "{} camera movement",
        ("movement", "motion", "camera", "shot"),
        special={
            "slow-motion": "slow-motion footage",
            "slow motion": "slow-motion footage",
            "time-lapse": "time-lapse footage",
            "static": "static camera",
            "handheld": "handheld camera",
        },
    ),
    CustomizationField(
        "mood",
        "Mood",
        (
            "peaceful",
            "tense",
            "joyful",
            "melancholic",
            "mysterious",
            "epic",
            "romantic",
            "eerie",
            "playful",
            "nostalgic",
        ),
        "{} mood",
        ("mood", "atmosphere"),
    ),
)

_BY_NAME = {f.name: f for f in FIELDS}


@dataclass(frozen=True)
class Customization:
    """The fields that are set, with their cleaned values, in the table's order."""

    values: tuple[tuple[str, str], ...] = ()

    @classmethod
    def create(cls, **values: str | None) -> Customization:
        """Validate and normalise user-given values (whitespace folded, empty -> None)."""
        for name in values:
            if name not in _BY_NAME:
                raise UsageError(f"unknown customization field {name!r}")
        clean = ((f, _clean_value(f, values.get(f.name))) for f in FIELDS)
        return cls(tuple((f.name, value) for f, value in clean if value))

    def as_dict(self) -> dict[str, str]:
        """The fields that are set, in a stable order."""
        return dict(self.values)

    def describe(self) -> list[str]:
        """Plain descriptive phrases, e.g. ['cinematic style', 'golden hour lighting']."""
        return [_BY_NAME[name].describe(value) for name, value in self.values]


def _clean_value(field: CustomizationField, value: str | None) -> str | None:
    if value is None:
        return None
    if has_control_chars(value.replace("\n", " ").replace("\t", " ")):
        raise UsageError(f"{field.flag} contains control characters", "Use plain text.")
    # Bidi controls (and undecodable bytes) mean nothing to the model; they would travel
    # into the prompt, the sidecar and the tags.
    folded = " ".join(strip_controls(value).split())
    if not folded:
        return None
    if len(folded) > MAX_VALUE_CHARS:
        raise UsageError(
            f"{field.flag} is {len(folded)} characters long; the limit is {MAX_VALUE_CHARS}",
            "Describe it in a few words; put the rest in the prompt.",
        )
    return folded
