"""Encode frames as a web-ready MP4 (H.264, yuv420p, moov atom first, metadata tags), and
tell a whole MP4 on disk from one cut short."""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# Visually lossless for generated video at a modest size.
CRF = 18
# The sound track of a model that renders one (LTX-2): AAC-LC, which every browser and
# player takes in an MP4, 48 kHz stereo (the vocoder's rate is resampled to it); 192 kb/s
# keeps music and speech clean. Recorded in the clip's settings as they are
# (spec.GenerateSpec.settings).
AUDIO_CODEC = "aac"
AUDIO_SAMPLE_RATE = 48_000
AUDIO_CHANNELS = 2
AUDIO_BITRATE = 192_000


def encode_mp4(frames: np.ndarray, fps: int, metadata: Mapping[str, str]) -> bytes:
    """frames: uint8 array (frames, height, width, 3) in RGB. Returns the MP4's bytes."""
    import av

    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected (frames, height, width, 3) RGB frames, got {frames.shape}")
    _, height, width, _ = frames.shape
    with tempfile.TemporaryDirectory(prefix="pippa-encode-") as tmp:
        path = Path(tmp) / "clip.mp4"
        # faststart: browsers can play before the download ends; use_metadata_tags keeps
        # our own keys (the mp4 muxer otherwise drops all but a few iTunes ones).
        options = {"movflags": "+faststart+use_metadata_tags"}
        with av.open(str(path), mode="w", format="mp4", options=options) as container:
            container.metadata.update({k: str(v) for k, v in metadata.items()})
            stream = container.add_stream("libx264", rate=fps)
            stream.width = width
            stream.height = height
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(CRF), "preset": "medium"}
            for array in frames:
                frame = av.VideoFrame.from_ndarray(array, format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        return path.read_bytes()


def check_structure(path: Path) -> str | None:
    """Why `path` is not a whole MP4, or None when it looks like one.

    Cheap (reads only box headers, no PyAV): the top-level ISO-BMFF boxes (4-byte
    big-endian size and 4-byte type; size 1: a 64-bit size follows; size 0: to the end of
    the file) must tile the file exactly, `ftyp` first, with `moov` and `mdat` present.
    A clip cut short by a full disk or a crash fails this; a damaged frame does not.
    """
    kinds: list[bytes] = []
    try:
        with path.open("rb") as handle:
            end = os.fstat(handle.fileno()).st_size
            pos = 0
            while pos < end:
                handle.seek(pos)
                header = handle.read(16)
                if len(header) < 8:
                    return f"truncated box header at byte {pos}"
                size, kind = struct.unpack(">I4s", header[:8])
                start = 8
                if size == 1:
                    if len(header) < 16:
                        return f"truncated box size at byte {pos}"
                    (size,) = struct.unpack(">Q", header[8:16])
                    start = 16
                elif size == 0:
                    size = end - pos
                if size < start or pos + size > end:
                    return f"box {kind!r} at byte {pos} runs past the end of the file"
                kinds.append(kind)
                pos += size
    except OSError as exc:
        return exc.strerror or str(exc)
    if not kinds or kinds[0] != b"ftyp":
        return "not an MP4 (no ftyp box first)"
    missing = [k.decode() for k in (b"moov", b"mdat") if k not in kinds]
    if missing:
        return "no " + " or ".join(missing) + " box"
    return None
