"""Customization of a video: style, camera angle, lighting, movement and mood.

The known values are suggestions shown in --help and shell completion; any short free text
is accepted too, as the seed's request schema did.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pippa_cli.errors import UsageError
from pippa_cli.text import has_control_chars, strip_controls

MAX_VALUE_CHARS = 60

KNOWN_VALUES: dict[str, tuple[str, ...]] = {
    "style": (
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
    "camera_angle": (
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
    "lighting": (
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
    "movement": (
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
    "mood": (
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
}

FIELDS = tuple(KNOWN_VALUES)

# How each field reads as a plain descriptive phrase when the LLM is unavailable:
# a template, and words that make the template redundant when the value already has one.
_PHRASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "style": ("{} style", ("style",)),
    "camera_angle": ("{} shot", ("shot", "angle", "view")),
    "lighting": ("{} lighting", ("lighting", "light")),
    "movement": ("{} camera movement", ("movement", "motion", "camera", "shot")),
    "mood": ("{} mood", ("mood", "atmosphere")),
}
_SPECIAL_PHRASES = {
    "slow-motion": "slow-motion footage",
    "slow motion": "slow-motion footage",
    "time-lapse": "time-lapse footage",
    "static": "static camera",
    "handheld": "handheld camera",
}


@dataclass(frozen=True)
class Customization:
    style: str | None = None
    camera_angle: str | None = None
    lighting: str | None = None
    movement: str | None = None
    mood: str | None = None

    @classmethod
    def create(cls, **values: str | None) -> Customization:
        """Validate and normalise user-given values (whitespace folded, empty -> None)."""
        clean: dict[str, str | None] = {}
        for field, value in values.items():
            if field not in KNOWN_VALUES:
                raise UsageError(f"unknown customization field {field!r}")
            clean[field] = _clean_value(field, value)
        return cls(**clean)

    def as_dict(self) -> dict[str, str]:
        """The fields that are set, in a stable order."""
        return {k: v for k, v in asdict(self).items() if v}

    def describe(self) -> list[str]:
        """Plain descriptive phrases, e.g. ['cinematic style', 'golden hour lighting']."""
        phrases = []
        for field, value in self.as_dict().items():
            template, words = _PHRASES[field]
            lowered = value.lower()
            if field == "movement" and lowered in _SPECIAL_PHRASES:
                phrases.append(_SPECIAL_PHRASES[lowered])
            elif any(word in lowered.split() for word in words):
                phrases.append(value)
            else:
                phrases.append(template.format(value))
        return phrases


def _clean_value(field: str, value: str | None) -> str | None:
    if value is None:
        return None
    flag = "--" + field.replace("_", "-")
    if has_control_chars(value.replace("\n", " ").replace("\t", " ")):
        raise UsageError(f"{flag} contains control characters", "Use plain text.")
    # Bidi controls (and undecodable bytes) mean nothing to the model; they would travel
    # into the prompt, the sidecar and the tags.
    folded = " ".join(strip_controls(value).split())
    if not folded:
        return None
    if len(folded) > MAX_VALUE_CHARS:
        raise UsageError(
            f"{flag} is {len(folded)} characters long; the limit is {MAX_VALUE_CHARS}",
            "Describe it in a few words; put the rest in the prompt.",
        )
    return folded
