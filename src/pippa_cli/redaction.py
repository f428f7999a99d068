"""Secrets never leave pippa: every value pippa prints or stores passes through `redact`.

A key can come back from anywhere (an error body quoting the Authorization header, an LLM
answer repeating its input), so redaction happens where text leaves pippa, not where a
key is used. Known values are the keys in the environment and any a command registered
(a key read from `.env`, a saved Hugging Face token); Groq keys are also recognised by
their shape, so a key pippa never saw (another account's) is hidden too.
"""

from __future__ import annotations

import os
import re
import threading

REDACTED = "[redacted]"
_ENV_SECRETS = (
    "GROQ_API_KEY",
    "MODAL_TOKEN_ID",
    "MODAL_TOKEN_SECRET",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
)
# Shorter values would redact ordinary words.
_MIN_LENGTH = 8
_GROQ_KEY = re.compile(r"gsk_[A-Za-z0-9]{8,}")
_registered: set[str] = set()
_lock = threading.Lock()


def register(value: str | None) -> None:
    """Remember a secret that did not come from the environment (a .env file, a file)."""
    if value and len(value.strip()) >= _MIN_LENGTH:
        with _lock:
            _registered.add(value.strip())


def known_secrets() -> list[str]:
    values = {os.environ.get(name, "").strip() for name in _ENV_SECRETS}
    with _lock:
        values |= _registered
    # Longest first: a key that contains another is redacted whole.
    return sorted((v for v in values if len(v) >= _MIN_LENGTH), key=len, reverse=True)


def redact(text: str) -> str:
    for secret in known_secrets():
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _GROQ_KEY.sub(REDACTED, text)
