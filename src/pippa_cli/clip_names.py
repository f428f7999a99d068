"""Where a clip goes: its file name, a free name beside a taken one, the -o check, and
the sidecar beside it. Every name pippa makes stays inside its directory, whatever the
prompt says.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from datetime import datetime
from pathlib import Path

from pippa_cli.errors import UsageError
from pippa_cli.text import has_unsafe_chars, visible


def sidecar_path(video: Path) -> Path:
    return video.with_suffix(".json")


def slugify(text: str, max_words: int = 6, max_chars: int = 48) -> str:
    """A safe file-name stem: ASCII letters, digits and dashes, never empty.

    Letters, digits or emoji with no ASCII form (Hebrew, CJK, Arabic, ...) would vanish and
    leave different texts with one name, so a short hash of the text stands in for them:
    `clip-1a2b3c4d` when nothing ASCII remains, `ascii-words-1a2b3c4d` for mixed text.
    Accents are not lost: they decompose to their base letters.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = decomposed.encode("ascii", "ignore").decode()
    words = "".join(c.lower() if c.isalnum() else " " for c in ascii_text).split()
    slug = "-".join(words[:max_words])[:max_chars].strip("-")
    if _loses_identity(decomposed):
        return f"{slug or 'clip'}-{text_hash(text)}"
    return slug or "clip"


def _loses_identity(decomposed: str) -> bool:
    """Whether a letter, digit or emoji has no ASCII form (combining accents do not count)."""
    return any(
        ord(c) > 127 and (unicodedata.category(c)[0] in "LN" or unicodedata.category(c) == "So")
        for c in decomposed
    )


def text_hash(text: str) -> str:
    """8 hex digits that name `text` the same way on every run and machine."""
    data = unicodedata.normalize("NFC", text).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:8]


def default_name(prompt: str, now: datetime) -> str:
    """The file name pippa picks when the user names no file: prompt slug and time."""
    return f"{slugify(prompt)}-{now:%Y%m%d-%H%M%S}.mp4"


def default_output(prompt: str, now: datetime) -> Path:
    return free_name(Path.cwd() / default_name(prompt, now))


def free_name(path: Path) -> Path:
    """`path`, or `stem-2`, `stem-3`, ... beside it: the first whose video and sidecar are free.

    A dangling symlink counts as taken: writing there would replace the link.
    """
    candidate, counter = path, 2
    while os.path.lexists(candidate) or os.path.lexists(sidecar_path(candidate)):
        candidate = path.with_name(f"{path.stem}-{counter}{path.suffix}")
        counter += 1
    return candidate


def check_output(output: str | Path, overwrite: bool, file_name: str | None = None) -> Path:
    """Absolute output path, after checking it can be written; raises UsageError if not.

    With `file_name`, `output` may name a directory (one that exists, or any spelled with
    a trailing slash): the clip goes inside it under that name, or the first free variant
    of it unless `overwrite`.
    """
    text = str(output)
    if not text:
        raise UsageError("-o is empty", "Name an MP4 file or a directory, e.g. -o clip.mp4.")
    # `-` means stdout to every Unix tool; a file named `-.mp4` would surprise everyone.
    if isinstance(output, str) and text == "-":
        raise UsageError(
            "-o - (stdout) is not supported: pippa writes the video to a file and prints its "
            "path on stdout",
            "Name an MP4 file or a directory, e.g. -o clip.mp4 (-o ./- for a file named '-').",
        )
    # The user's text only: a Path pippa built from the working directory is not an -o.
    if isinstance(output, str) and has_unsafe_chars(text):
        raise UsageError(
            f"-o {visible(text)} contains control characters",
            "Pick a name without newlines, tabs, escapes or bidi characters.",
        )
    expanded = os.path.expanduser(text)
    path = Path(os.path.abspath(expanded))
    names_directory = isinstance(output, str) and expanded.endswith(("/", os.sep))
    if file_name is not None and (names_directory or path.is_dir()):
        if os.path.lexists(path) and not path.is_dir():
            raise UsageError(f"{path} is not a directory", "Drop the trailing slash.")
        if not path.is_dir():
            raise UsageError(
                f"directory {path} does not exist", "Create it first, or pick another -o."
            )
        path /= file_name
        if not overwrite:
            path = free_name(path)
    if path.is_dir():
        raise UsageError(f"{path} is a directory", "Give a file name, e.g. -o clip.mp4.")
    if path.suffix.lower() != ".mp4":
        if path.suffix:
            raise UsageError(f"{path.name}: pippa writes MP4 files", "Name the output *.mp4.")
        path = path.with_suffix(".mp4")
        if path.is_dir():
            raise UsageError(f"{path} is a directory", "Give a file name, e.g. -o clip.mp4.")
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(
            f"directory {parent} does not exist", "Create it first, or pick another -o."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"directory {parent} is not writable", "Pick another -o.")
    if not overwrite:
        for existing in (path, sidecar_path(path)):
            if os.path.lexists(existing):
                # A dangling symlink too: os.replace would silently replace the link.
                what = "already exists" if existing.exists() else "is a broken symlink"
                raise UsageError(
                    f"{existing} {what}", "Pass --overwrite to replace it, or pick another -o."
                )
    return path
