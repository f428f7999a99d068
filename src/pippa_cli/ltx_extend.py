"""Extending a clip in the LTX core: the source's last frames condition the new ones.

ltx.py calls this only for a request with `extend` (the source MP4's bytes: Modal never
sees a path). The last OVERLAP frames of the source are given to LTXConditionPipeline as
a video condition at frame 0 with strength 1; the render is OVERLAP + 8m frames; its
first OVERLAP frames (the model's redraw of the source's tail) are dropped, and the clip
returned is every source frame followed by the m new blocks: old + new, with no seam of
repeated or redrawn frames. The source's frames are passed on exactly as decoded (they
are encoded once more with the clip, at pippa's CRF: that is the only loss).

diffusers checks little of this (a condition video of the wrong length is silently cut,
uint8 arrays are not scaled), so the request is checked here, and the tail is handed over
as PIL images of exactly OVERLAP frames.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pippa_cli.mp4_info import VideoInfo, read_video_info

if TYPE_CHECKING:
    import numpy as np

# Source frames the new part starts from: 8k+1, a whole number of latent frames for LTX's
# VAE (8x in time; the tiny test VAE's 4x too). More holds the motion better and costs
# render time; 9 is the prototype's and Lightricks' usual choice for a short overlap.
OVERLAP = 9
# The render adds frames in the VAE's blocks of 8.
BLOCK = 8
# The source travels inside the request: larger is no clip pippa could extend anyway.
MAX_SOURCE_BYTES = 256 * 2**20
# The whole clip, decoded (uint8 RGB, old + new), is held in memory once: at 768x512 this
# is some 3,600 frames, two minutes at 30 fps.
MAX_CLIP_BYTES = 4 * 2**30


def added_frames(num_frames: int) -> int:
    """How many new frames a render of `num_frames` adds to the source."""
    return num_frames - OVERLAP


def clip_bytes(frames: int, width: int, height: int) -> int:
    """Memory for `frames` decoded frames of width x height."""
    return frames * width * height * 3


def check_source(mp4: Any, *, width: int, height: int, fps: int, num_frames: int) -> VideoInfo:
    """The source's index, if the request can extend it; ValueError naming the problem."""
    if not isinstance(mp4, bytes):
        raise ValueError(f"extend is bytes, not {type(mp4).__name__}")
    if len(mp4) > MAX_SOURCE_BYTES:
        raise ValueError(f"extend is larger than {MAX_SOURCE_BYTES // 2**20} MiB")
    added = added_frames(num_frames)
    if added < BLOCK or added % BLOCK:
        raise ValueError(
            f"num_frames {num_frames} does not extend a clip: it is {OVERLAP} frames of the "
            f"source plus a multiple of {BLOCK}"
        )
    try:
        info = read_video_info(mp4)
    except ValueError as exc:
        raise ValueError(f"extend: {exc}") from None
    if (info.width, info.height) != (width, height):
        raise ValueError(f"extend is {info.width}x{info.height}, not the clip's {width}x{height}")
    if info.fps != fps:
        raise ValueError(f"extend plays at {float(info.fps):g} fps, not the request's {fps}")
    if info.frames < OVERLAP:
        raise ValueError(f"extend has {info.frames} frames: extending needs {OVERLAP}")
    if clip_bytes(info.frames + added, width, height) > MAX_CLIP_BYTES:
        raise ValueError(f"extend has {info.frames} frames: too long to extend in memory")
    return info


@dataclass
class SourceClip:
    """The source's frames, decoded into an array with room for the new ones after them."""

    frames: np.ndarray  # (source frames + added frames, height, width, 3) uint8
    count: int  # how many of them are the source's

    @classmethod
    def decode(cls, mp4: bytes, width: int, height: int, num_frames: int) -> SourceClip:
        """Every frame of `mp4` (checked by check_source); ValueError if they do not decode
        as the index said."""
        import av
        import numpy as np

        info = read_video_info(mp4)
        room = info.frames + added_frames(num_frames)
        frames = np.empty((room, height, width, 3), dtype=np.uint8)
        count = 0
        with av.open(io.BytesIO(mp4)) as container:
            for frame in container.decode(container.streams.video[0]):
                if count == info.frames:
                    raise ValueError(f"extend decodes to more than its {info.frames} frames")
                picture = frame.to_ndarray(format="rgb24")
                if picture.shape != (height, width, 3):
                    raise ValueError(
                        f"extend decodes to {picture.shape[1]}x{picture.shape[0]} frames, "
                        f"not {width}x{height}"
                    )
                frames[count] = picture
                count += 1
        if count < OVERLAP:
            raise ValueError(f"extend decodes to {count} frames: extending needs {OVERLAP}")
        # A frame short of the index (a damaged file): the new part follows the last one.
        return cls(frames[: count + added_frames(num_frames)], count)

    def condition(self) -> Any:
        """The source's last OVERLAP frames, as the condition the render starts from."""
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition
        from PIL import Image

        tail = [Image.fromarray(f) for f in self.frames[self.count - OVERLAP : self.count]]
        return LTXVideoCondition(video=tail, frame_index=0, strength=1.0)

    def joined(self, rendered: np.ndarray) -> np.ndarray:
        """The whole clip: the source's frames, then what the render added after them."""
        added = rendered[OVERLAP:]
        if len(added) != len(self.frames) - self.count:
            raise ValueError(f"the render added {len(added)} frames, not the request's")
        self.frames[self.count :] = added
        return self.frames
