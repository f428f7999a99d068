"""Encode frames as a web-ready MP4: H.264, yuv420p, moov atom first, metadata tags."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# Visually lossless for generated video at a modest size.
CRF = 18


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
