"""Small text helpers shared by prompt validation and output cleaning."""

from __future__ import annotations

import re

# C0 controls except tab/newline/CR, DEL, and C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def has_control_chars(text: str) -> bool:
    return _CONTROL.search(text) is not None


def fold_whitespace(text: str) -> str:
    """Collapse every run of whitespace (newlines included) into one space."""
    return " ".join(text.split())


def word_count(text: str) -> int:
    return len(text.split())
