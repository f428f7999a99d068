"""Text pippa did not write: cleaned before it is used, made visible-safe before it is shown.

Foreign text (an LLM's answer, a server's error body, a file name, a model's config) may
carry terminal control sequences (ESC/CSI/OSC, C1), bidi overrides or NUL. Two rules,
applied at the few places text leaves pippa (output.py, the history, sidecars, MP4 tags):

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
# C0 except tab/newline/CR, DEL, and C1: what the user may not type into a prompt.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Everything a terminal may act on, or that cannot be encoded (lone surrogates come from
# undecodable bytes in file names); tab and newline are handled by the callers.
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}\u2028\u2029\ud800-\udfff]")
# Whole escape sequences: CSI (ESC [ or C1 CSI), OSC/DCS/PM/APC strings up to their
# terminator (or the end), and two-byte ESC sequences. Each part's classes are disjoint
# from what follows them, so matching is linear.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]P^_X]|[\x90\x9d\x9e\x9f\x98])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -~]?"
)
# For JSON: what json.dumps(ensure_ascii=False) leaves raw but a terminal or a JavaScript
# reader would act on.
_JSON_UNSAFE = re.compile(f"[\x7f-\x9f{_BIDI}\u2028\u2029\ud800-\udfff]")


def has_control_chars(text: str) -> bool:
    return _CONTROL.search(text) is not None


def has_unsafe_chars(text: str) -> bool:
    """Controls (tab and newline included), bidi controls or undecodable bytes."""
    return "\t" in text or "\n" in text or _UNSAFE.search(text) is not None


def strip_controls(text: str) -> str:
    """`text` without escape sequences, controls or bidi characters; newlines are kept and
    other whitespace controls (tab, CR, FF, VT) become spaces."""
    text = _ESCAPES.sub("", text.replace("\r\n", "\n"))
    text = text.translate(_SPACES)
    return redact(_UNSAFE.sub("", text))


_SPACES = str.maketrans({"\t": " ", "\r": "\n", "\x0b": " ", "\x0c": " "})


def visible(text: str, *, multiline: bool = False) -> str:
    """`text` as it may be shown or stored: secrets redacted, every control or bidi
    character as an escape (`\\x1b`, `\\u202e`). `multiline` keeps newlines and tabs."""
    text = redact(text)
    if multiline:
        return _UNSAFE.sub(_escape, text)
    return _UNSAFE.sub(_escape, text.replace("\n", "\\n").replace("\t", "\\t"))


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as os.fsdecode keeps it
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def json_dumps(obj: Any, **options: Any) -> str:
    """JSON that is safe to print and store: no raw C1, DEL, bidi or line-separator
    characters (they are \\u escapes, which every JSON reader decodes), secrets redacted."""
    text = json.dumps(obj, ensure_ascii=False, default=str, **options)
    return redact(_JSON_UNSAFE.sub(lambda m: f"\\u{ord(m[0]):04x}", text))


def fold_whitespace(text: str) -> str:
    """Collapse every run of whitespace (newlines included) into one space."""
    return " ".join(text.split())


def word_count(text: str) -> int:
    return len(text.split())
