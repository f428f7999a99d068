"""`--extend VIDEO`: the clip to continue, read and checked before anything is spent.

The file is read once: its bytes are hashed (the record says exactly which clip was
continued) and its MP4 index read (mp4_info.py: size, frame count, frame rate; no PyAV on
the client), and the bytes travel in the request, decoded where the render runs
(ltx_extend.py). `--duration` is the length of the new part: `--extend fox.mp4
--duration 4` adds some 4 seconds to fox.mp4, and the MP4 written is the whole clip.

The source must match the request: its size and frame rate are the clip's, or it is
refused with the flags that match it (frames of two rates in one clip would play at the
wrong speed).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pippa_cli.errors import UsageError
from pippa_cli.files import InputFileRefused
from pippa_cli.ltx_extend import BLOCK, MAX_CLIP_BYTES, MAX_SOURCE_BYTES, OVERLAP, clip_bytes
from pippa_cli.mp4_info import VideoInfo, read_video_info
from pippa_cli.request_options import FPS
from pippa_cli.text import has_unsafe_chars, visible

FLAG = "--extend"


@dataclass(frozen=True)
class SourceVideo:
    """The clip to continue: what the render gets and what the records keep."""

    file: str  # the path as given
    sha256: str  # of the file's bytes
    info: VideoInfo
    mp4: bytes = field(repr=False)  # the whole file (megabytes: kept out of the repr)

    @property
    def fps(self) -> int | None:
        """Its frame rate, if a whole number (pippa renders whole rates only)."""
        return int(self.info.fps) if self.info.fps.denominator == 1 else None

    def record(self, added: int) -> dict[str, Any]:
        """For the sidecar, the history and the MP4 tag: enough to reproduce the clip."""
        return {
            "file": self.file,
            "sha256": self.sha256,
            "source_frames": self.info.frames,
            "overlap": OVERLAP,
            "added_frames": added,
        }


def added_for(duration: float, fps: int) -> int:
    """New frames for `duration` seconds: whole blocks of 8, at least duration x fps."""
    wanted = math.ceil(round(duration * fps, 6))
    return BLOCK * math.ceil(wanted / BLOCK)


def read_source(text: str, directory: Path | None = None) -> SourceVideo:
    """The --extend file read and its index checked; UsageError naming it otherwise.
    A relative path is read from `directory` (a JSON Lines list's), else the working one."""
    if has_unsafe_chars(text):
        raise UsageError(
            f"{FLAG} {visible(text)} contains control characters",
            "Rename the file without newlines, tabs, escapes or bidi characters.",
        )

    def refuse(problem: str, hint: str | None = None) -> UsageError:
        return UsageError(f"{FLAG} {text}: {problem}", hint)

    if not text.strip():
        raise UsageError(
            f"{FLAG} names no file", "Give the MP4 to continue, e.g. --extend fox.mp4."
        )
    path = (directory or Path.cwd()) / Path(text).expanduser()
    from pippa_cli.files import DIRECTORY, MISSING, SPECIAL, TOO_LARGE, read_input_file

    try:
        data = read_input_file(path, MAX_SOURCE_BYTES)
    except InputFileRefused as exc:
        hints = {
            MISSING: "Check the path.",
            DIRECTORY: "Name an MP4 file.",
            SPECIAL: "Name an MP4 file.",
            TOO_LARGE: "Extend a shorter clip, or cut the end you want to continue from.",
        }
        raise refuse(exc.problem, hints.get(exc.reason)) from None
    try:
        info = read_video_info(data)
    except ValueError as exc:
        raise refuse(f"{path.name} is not a readable video: {exc}", "Give an MP4 file.") from None
    if info.frames < OVERLAP:
        raise refuse(
            f"{path.name} has {info.frames} frames; extending needs at least {OVERLAP}",
            "Give a longer clip.",
        )
    return SourceVideo(text, hashlib.sha256(data).hexdigest(), info, data)


def check_source(source: SourceVideo, *, width: int, height: int, fps: int, added: int) -> None:
    """UsageError unless `source` can be continued by a width x height render at `fps`
    adding `added` frames."""
    info = source.info
    if (info.width, info.height) != (width, height):
        raise UsageError(
            f"{FLAG} {source.file} is {info.width}x{info.height}, not the requested "
            f"{width}x{height}",
            f"Extend it at its own size: --width {info.width} --height {info.height}.",
        )
    if info.fps != fps:
        rate = float(info.fps)
        low, high = FPS.minimum or 1, FPS.maximum or math.inf
        whole = source.fps is not None and low <= rate <= high
        raise UsageError(
            f"{FLAG} {source.file} plays at {rate:g} fps, not the requested {fps}",
            f"Give --fps {rate:g}."
            if whole
            else f"pippa renders whole frame rates from {low:g} to {high:g}: convert it "
            "first, e.g. ffmpeg -i IN.mp4 -r 30 OUT.mp4.",
        )
    if clip_bytes(info.frames + added, width, height) > MAX_CLIP_BYTES:
        raise UsageError(
            f"{FLAG} {source.file}: {info.frames} frames at {width}x{height} plus the new "
            f"ones are more than pippa holds in memory ({MAX_CLIP_BYTES // 2**30} GiB)",
            "Extend a shorter clip, or cut the end you want to continue from.",
        )
