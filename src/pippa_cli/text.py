"""Text pippa did not write: cleaned before it is used, made visible-safe before it is shown.

Foreign text (an LLM's answer, a server's error body, a file name, a model's config) may
carry terminal control sequences (ESC/CSI/OSC, C1), bidi overrides or NUL. Two rules,
applied at the few places text leaves pippa (output/, the history, sidecars, MP4 tags):

- `strip_controls`: an enhanced prompt loses every control and bidi character (it is
  data a video model reads, and is stored in files other tools read);
- `visible`: anything else is shown with those characters as escapes (`\\x1b`), so a
  terminal never acts on them and a user still sees what was there.

Both also redact known secrets (`redaction.redact`). Every function here is linear in
the length of its input.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pippa_cli.redaction import redact

# Bidi embeddings, overrides, isolates and marks (Trojan Source, CVE-2021-42574).
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# Invisible format characters: zero width space, word joiner and invisible operators,
# BOM/ZWNBSP, the Mongolian vowel separator, interlinear annotations, musical format
# characters and the tag characters (which can spell out hidden instructions to an LLM,
# or split a key so it is not recognised). ZWNJ/ZWJ (U+200C/D) are kept: emoji sequences
# and Persian and Indic scripts need them.
_INVISIBLE = (
    "\u180e\u200b\u2060-\u2064\u206a-\u206f\ufeff\ufff9-\ufffb"
    "\U0001d173-\U0001d17a\U000e0000-\U000e007f"
)
# C0 except tab/newline/CR, DEL, and C1: what the user may not type into a prompt.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Everything a terminal may act on, or that cannot be encoded (lone surrogates come from
# undecodable bytes in file names); tab and newline are handled by the callers.
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}{_INVISIBLE}\u2028\u2029\ud800-\udfff]")
# Whole escape sequences: CSI (ESC [ or C1 CSI), OSC/DCS/PM/APC strings up to their
# terminator (or the end), and two-byte ESC sequences. Each part's classes are disjoint
# from what follows them, so matching is linear.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]P^_X]|[\x90\x9d\x9e\x9f\x98])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -~]?"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
# For JSON: what json.dumps(ensure_ascii=False) leaves raw but a terminal or a JavaScript
# reader would act on.
_JSON_UNSAFE = re.compile(f"[\x7f-\x9f{_BIDI}{_INVISIBLE}\u2028\u2029\ud800-\udfff]")


def has_control_chars(text: str) -> bool:
    return _CONTROL.search(text) is not None


def has_undecodable(text: str) -> bool:
    """Lone surrogates: bytes that were not UTF-8 (an argument, a history cell)."""
    return _SURROGATE.search(text) is not None


def has_unsafe_chars(text: str) -> bool:
    """Controls (tab and newline included), bidi controls or undecodable bytes."""
    return "\t" in text or "\n" in text or _UNSAFE.search(text) is not None


def strip_controls(text: str) -> str:
    """`text` without escape sequences, controls, bidi or invisible characters; newlines
    are kept and other whitespace controls (tab, CR, FF, VT) become spaces. Secrets are
    redacted after that, so a key split by those characters is whole again, and hidden."""
    text = _ESCAPES.sub("", text.replace("\r\n", "\n"))
    text = text.translate(_SPACES)
    return redact(_UNSAFE.sub("", text))


_SPACES = str.maketrans({"\t": " ", "\r": "\n", "\x0b": " ", "\x0c": " "})


def visible(text: str, *, multiline: bool = False) -> str:
    """`text` as it may be shown or stored: secrets redacted, every control or bidi
    character as an escape (`\\x1b`, `\\u202e`). `multiline` keeps newlines and tabs."""
    text = _redact_split(text)
    if multiline:
        return _UNSAFE.sub(_escape, text)
    return _UNSAFE.sub(_escape, text.replace("\n", "\\n").replace("\t", "\\t"))


def _redact_split(text: str) -> str:
    """`redact`, also of a key split by invisible or control characters: then they go
    (escaping them would still show the key to anyone who reads past the escapes)."""
    redacted = redact(text)
    if _UNSAFE.search(redacted) is None:
        return redacted
    # Joining the pieces up makes redaction hide more: a key was split.
    joined = _join(redacted)
    hidden = redact(_join(text))
    return hidden if hidden != joined else redacted


def _join(text: str) -> str:
    return _UNSAFE.sub("", _ESCAPES.sub("", text))


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as os.fsdecode keeps it
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def json_dumps(obj: Any, **options: Any) -> str:
    """JSON that is safe to print and store: no raw C1, DEL, bidi or line-separator
    characters (they are \\u escapes, which every JSON reader decodes), secrets redacted."""
    text = json.dumps(_redact_strings(obj), ensure_ascii=False, default=str, **options)
    return redact(_JSON_UNSAFE.sub(_json_escape, text))


def _redact_strings(obj: Any) -> Any:
    """Each string redacted on its own, before JSON escapes could split a key further."""
    if isinstance(obj, str):
        return _redact_split(obj)
    if isinstance(obj, dict):
        return {_redact_strings(key): _redact_strings(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_redact_strings(value) for value in obj]
    return obj


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    if 0xD800 <= code <= 0xDFFF:
        # A lone surrogate (an undecodable byte) is not a character: strict JSON readers
        # reject its \\u escape. Show it as `visible` does, as text.
        return _escape(match).replace("\\", "\\\\")
    if code > 0xFFFF:  # JSON spells these as a surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def fold_whitespace(text: str) -> str:
    """Collapse every run of whitespace (newlines included) into one space."""
    return " ".join(text.split())


def word_count(text: str) -> int:
    return len(text.split())
