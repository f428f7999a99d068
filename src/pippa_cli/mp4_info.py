"""What an MP4's index says about its video track: size, frame count, frame rate, codec.

Pure Python over the ISO-BMFF boxes (no PyAV: the base install has none), so the client
can check an `--extend` source before anything is spent, and the core can check a request
before it decodes. Only the index is read: whether the frames decode is the decoder's
business (ltx_extend.py). Boxes: moov > trak > mdia > (hdlr: the track's kind; mdhd: its
timescale; minf > stbl > stsd: the sample entry's width and height, stts: how long each
frame lasts, stsz/stz2: how many frames there are).
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


@dataclass(frozen=True)
class VideoInfo:
    """The first video track of an MP4, as its index describes it."""

    width: int
    height: int
    frames: int
    fps: Fraction  # the rate most frames play at (one frame's length: the commonest)
    codec: str  # the sample entry's type: avc1, hvc1, av01, ...


def read_video_info(data: bytes) -> VideoInfo:
    """The first video track of the MP4 `data`; ValueError saying why it is not one."""
    view = memoryview(data)
    try:
        top = dict(_boxes(view, 0, len(view)))
    except ValueError as exc:
        raise ValueError(f"not an MP4 video ({exc})") from None
    if b"moov" not in top:
        raise ValueError("not an MP4 video (no moov box)")
    try:
        for kind, (start, end) in _boxes(view, *top[b"moov"]):
            if kind == b"trak":
                track = _video_track(view, start, end)
                if track is not None:
                    return track
    except struct.error:  # a field past the end of a box that claimed to hold it
        raise ValueError("the MP4's index is truncated") from None
    raise ValueError("the MP4 has no video track")


def _boxes(view: memoryview, start: int, end: int) -> Iterator[tuple[bytes, tuple[int, int]]]:
    """(type, (payload start, payload end)) of each box between start and end."""
    pos = start
    while pos < end:
        if end - pos < 8:
            raise ValueError(f"truncated box header at byte {pos}")
        size, kind = struct.unpack_from(">I4s", view, pos)
        header = 8
        if size == 1:
            if end - pos < 16:
                raise ValueError(f"truncated box size at byte {pos}")
            (size,) = struct.unpack_from(">Q", view, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"box {kind!r} at byte {pos} runs past its end")
        yield kind, (pos + header, pos + size)
        pos += size


def _find(view: memoryview, start: int, end: int, *path: bytes) -> tuple[int, int] | None:
    """The payload of the box at `path` below start..end (the first of each type)."""
    for kind, (inner, stop) in _boxes(view, start, end):
        if kind == path[0]:
            return (inner, stop) if len(path) == 1 else _find(view, inner, stop, *path[1:])
    return None


def _video_track(view: memoryview, start: int, end: int) -> VideoInfo | None:
    hdlr = _find(view, start, end, b"mdia", b"hdlr")
    if hdlr is not None:
        _check_room(hdlr[0] + 12, hdlr[1], "hdlr")
    if hdlr is None or bytes(view[hdlr[0] + 8 : hdlr[0] + 12]) != b"vide":
        return None
    mdhd = _need(_find(view, start, end, b"mdia", b"mdhd"), "mdhd")
    stbl = _need(_find(view, start, end, b"mdia", b"minf", b"stbl"), "stbl")
    version = view[mdhd[0]]
    _check_room(mdhd[0] + (24 if version == 1 else 16), mdhd[1], "mdhd")
    (timescale,) = struct.unpack_from(">I", view, mdhd[0] + (20 if version == 1 else 12))
    stsd = _need(_find(view, *stbl, b"stsd"), "stsd")
    # A visual sample entry: size, type, 6 reserved, data ref index, 16 bytes of
    # pre_defined/reserved, then width and height (16 bits each).
    entry = stsd[0] + 8
    _check_room(entry + 36, stsd[1], "stsd")
    codec = bytes(view[entry + 4 : entry + 8]).decode("latin-1")
    width, height = struct.unpack_from(">HH", view, entry + 32)
    frames = _frame_count(view, stbl)
    if frames == 0:
        raise ValueError("the video track's index lists no frames (a fragmented MP4?)")
    fps = _frame_rate(view, stbl, timescale)
    return VideoInfo(width, height, frames, fps, codec)


def _frame_count(view: memoryview, stbl: tuple[int, int]) -> int:
    """The frames the index lists: the size table's count, which must be backed by its
    entries and agree with the duration table (a count alone could claim millions)."""
    stsz = _find(view, *stbl, b"stsz")
    if stsz is not None:
        _check_room(stsz[0] + 12, stsz[1], "stsz")
        size, count = struct.unpack_from(">II", view, stsz[0] + 4)
        if size == 0:  # one entry a frame
            _check_room(stsz[0] + 12 + 4 * count, stsz[1], "stsz")
    else:
        stz2 = _need(_find(view, *stbl, b"stz2"), "stsz")
        _check_room(stz2[0] + 12, stz2[1], "stz2")
        field_bits = view[stz2[0] + 7]
        (count,) = struct.unpack_from(">I", view, stz2[0] + 8)
        _check_room(stz2[0] + 12 + (count * field_bits + 7) // 8, stz2[1], "stz2")
    if count != _timed_frames(view, stbl):
        raise ValueError("the video track's index disagrees with itself about its frames")
    return int(count)


def _timed_frames(view: memoryview, stbl: tuple[int, int]) -> int:
    """The frames the duration table (stts) gives a length to."""
    stts = _need(_find(view, *stbl, b"stts"), "stts")
    _check_room(stts[0] + 8, stts[1], "stts")
    (entries,) = struct.unpack_from(">I", view, stts[0] + 4)
    _check_room(stts[0] + 8 + 8 * entries, stts[1], "stts")
    return sum(
        struct.unpack_from(">I", view, stts[0] + 8 + 8 * number)[0] for number in range(entries)
    )


def _frame_rate(view: memoryview, stbl: tuple[int, int], timescale: int) -> Fraction:
    stts = _need(_find(view, *stbl, b"stts"), "stts")
    _check_room(stts[0] + 8, stts[1], "stts")
    (entries,) = struct.unpack_from(">I", view, stts[0] + 4)
    _check_room(stts[0] + 8 + 8 * entries, stts[1], "stts")
    lengths: Counter[int] = Counter()
    for number in range(entries):
        count, delta = struct.unpack_from(">II", view, stts[0] + 8 + 8 * number)
        lengths[delta] += count
    # Muxers often give the last frame a length of its own: the commonest length counts.
    delta = max(lengths, key=lambda d: lengths[d]) if lengths else 0
    if not timescale or not delta:
        raise ValueError("the video track's index gives no frame rate")
    return Fraction(timescale, delta)


def _need(found: tuple[int, int] | None, name: str) -> tuple[int, int]:
    if found is None:
        raise ValueError(f"the video track has no {name} box")
    return found


def _check_room(needed: int, end: int, name: str) -> None:
    if needed > end:
        raise ValueError(f"the {name} box is truncated")
