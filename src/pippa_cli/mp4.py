"""Encode frames as a web-ready MP4 (H.264, yuv420p, moov atom first, metadata tags; a
sound track as AAC-LC), and tell a whole MP4 on disk from one cut short."""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# Visually lossless for generated video at a modest size. x264's "veryfast" at CRF 17
# encodes a 5 s clip 2-3x faster than "medium" at CRF 18, at the same size and fidelity
# (benchmarks/mp4_encode.py): the GPU idles, billed, while the CPU encodes.
CRF = 17
X264_PRESET = "veryfast"
# The sound track, recorded as it is in the clip's settings (spec.py): AAC-LC, 48 kHz
# stereo at 192 kbit/s, what every browser and phone plays (LTX-2.5's vocoder makes 48 kHz
# stereo already; other rates are resampled).
AUDIO_CODEC = "aac"
AUDIO_SAMPLE_RATE = 48000
AUDIO_CHANNELS = 2
AUDIO_BITRATE = 192000


def encode_mp4(
    frames: np.ndarray,
    fps: int,
    metadata: Mapping[str, str],
    audio: np.ndarray | None = None,
    sample_rate: int | None = None,
    *,
    x264_preset: str = X264_PRESET,
    crf: int = CRF,
) -> bytes:
    """frames: uint8 array (frames, height, width, 3) in RGB; audio (optional): float
    samples in -1..1, (channels, samples) or (samples,), mono or stereo, at `sample_rate`.
    Returns the MP4's bytes. The sound track lasts exactly as long as the video: padded
    with silence or cut (LTX-2's audio decodes a little shorter than its frames)."""
    import av

    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected (frames, height, width, 3) RGB frames, got {frames.shape}")
    sound = None
    if audio is not None:
        if not sample_rate or sample_rate < 1:
            raise ValueError(f"audio needs its sample rate, not {sample_rate!r}")
        sound = _stereo_48k(audio, sample_rate, round(len(frames) * AUDIO_SAMPLE_RATE / fps))
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
            stream.options = {"crf": str(crf), "preset": x264_preset}
            # Every stream is added before the first packet (that writes the header).
            audio_stream = None if sound is None else _audio_stream(container)
            for array in frames:
                frame = av.VideoFrame.from_ndarray(array, format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
            if audio_stream is not None and sound is not None:
                _mux_audio(container, audio_stream, sound)
        return path.read_bytes()


def _stereo_48k(audio: np.ndarray, sample_rate: int, samples: int) -> np.ndarray:
    """`audio` as float32 planar stereo at AUDIO_SAMPLE_RATE, exactly `samples` long."""
    import av
    import numpy as np

    sound = np.asarray(audio, dtype=np.float32)
    if sound.ndim == 1:
        sound = sound[None]
    if sound.ndim != 2 or sound.shape[0] not in (1, 2):
        raise ValueError(f"expected mono or stereo audio (channels, samples), got {sound.shape}")
    sound = np.ascontiguousarray(np.clip(np.nan_to_num(sound), -1.0, 1.0))
    if sample_rate != AUDIO_SAMPLE_RATE or sound.shape[0] != AUDIO_CHANNELS:
        layout = "mono" if sound.shape[0] == 1 else "stereo"
        frame = av.AudioFrame.from_ndarray(sound, format="fltp", layout=layout)
        frame.sample_rate = sample_rate
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_SAMPLE_RATE)
        parts = [f.to_ndarray() for f in [*resampler.resample(frame), *resampler.resample(None)]]
        sound = np.concatenate(parts, axis=1) if parts else np.zeros((2, 0), np.float32)
    if sound.shape[1] >= samples:
        return np.ascontiguousarray(sound[:, :samples])
    return np.pad(sound, ((0, 0), (0, samples - sound.shape[1])))


def _audio_stream(container: Any) -> Any:
    stream = container.add_stream(AUDIO_CODEC, rate=AUDIO_SAMPLE_RATE, layout="stereo")
    stream.bit_rate = AUDIO_BITRATE
    return stream


def _mux_audio(container: Any, stream: Any, sound: np.ndarray) -> None:
    """Encode planar stereo float samples at AUDIO_SAMPLE_RATE as the AAC track."""
    import av

    frame = av.AudioFrame.from_ndarray(sound, format="fltp", layout="stereo")
    frame.sample_rate = AUDIO_SAMPLE_RATE
    frame.pts = 0
    container.mux(stream.encode(frame))  # PyAV cuts it into the encoder's 1024-sample frames
    container.mux(stream.encode(None))


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
