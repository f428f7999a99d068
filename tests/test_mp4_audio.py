"""The MP4 encoder's sound track: AAC-LC, 48 kHz stereo, exactly as long as the video."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest

from pippa_cli.mp4 import (
    AUDIO_BITRATE,
    AUDIO_CHANNELS,
    AUDIO_CODEC,
    AUDIO_SAMPLE_RATE,
    encode_mp4,
)
from tests.fixtures_ltx import top_level_boxes

FPS = 24
FRAMES = 17


@dataclass
class Tracks:
    video_codec: str
    pix_fmt: str
    video_seconds: float
    audio_codec: str | None = None
    profile: str | None = None
    rate: int | None = None
    channels: int | None = None
    audio_seconds: float | None = None
    samples: np.ndarray | None = None  # decoded, (channels, samples)


def tracks(data: bytes) -> Tracks:
    """What a player finds in the MP4: its streams, their durations, the decoded sound."""
    import av

    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        found = Tracks(
            video.codec_context.name,
            video.codec_context.pix_fmt,
            float(video.duration * video.time_base),
        )
        if container.streams.audio:
            audio = container.streams.audio[0]
            found.audio_codec = audio.codec_context.name
            found.profile = audio.codec_context.profile
            found.rate = audio.codec_context.sample_rate
            found.channels = audio.codec_context.channels
            found.audio_seconds = float(audio.duration * audio.time_base)
            found.samples = np.concatenate([f.to_ndarray() for f in container.decode(audio)], 1)
    return found


def frames(count: int = FRAMES) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, 64, 64, 3), dtype=np.uint8)


def tone(seconds: float, rate: int, channels: int = 2) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    waves = [0.5 * np.sin(2 * np.pi * (440 + 220 * c) * t) for c in range(channels)]
    return np.stack(waves).astype(np.float32)


def test_the_constants_are_what_the_sidecar_records():
    assert (AUDIO_CODEC, AUDIO_SAMPLE_RATE, AUDIO_CHANNELS, AUDIO_BITRATE) == (
        "aac",
        48000,
        2,
        192000,
    )


@pytest.mark.parametrize(
    ("seconds", "rate", "channels"),
    [
        (0.69, 24000, 2),  # LTX-2's sound: a little short of the video, at the vocoder's rate
        (0.69, 48000, 2),
        (0.9, 48000, 2),  # longer than the video: cut
        (0.5, 16000, 1),  # mono: both channels
    ],
)
def test_the_sound_track_is_aac_lc_48k_stereo_as_long_as_the_video(
    seconds: float, rate: int, channels: int
):
    sound = tone(seconds, rate, channels)
    data = encode_mp4(frames(), FPS, {"title": "t"}, sound[0] if channels == 1 else sound, rate)

    found = tracks(data)
    assert (found.video_codec, found.pix_fmt) == ("h264", "yuv420p")
    assert (found.audio_codec, found.profile, found.rate, found.channels) == ("aac", "LC", 48000, 2)
    assert found.video_seconds == pytest.approx(FRAMES / FPS)
    assert found.audio_seconds is not None
    assert abs(found.audio_seconds - found.video_seconds) < 1 / FPS
    boxes = top_level_boxes(data)
    assert boxes.index("moov") < boxes.index("mdat")  # faststart with sound too
    assert found.samples is not None and np.abs(found.samples).max() > 0.1  # not silence


def test_mono_plays_on_both_channels():
    data = encode_mp4(frames(), FPS, {}, tone(0.7, 48000, 1)[0], 48000)
    samples = tracks(data).samples
    assert samples is not None
    assert np.allclose(samples[0], samples[1], atol=1e-3)


def test_without_sound_the_encoding_is_as_before():
    video = frames()
    plain = encode_mp4(video, FPS, {"title": "t"})
    assert encode_mp4(video, FPS, {"title": "t"}, None, None) == plain
    assert tracks(plain).audio_codec is None


@pytest.mark.parametrize(
    ("audio", "rate", "message"),
    [
        (np.zeros((2, 100), np.float32), None, "audio needs its sample rate"),
        (np.zeros((3, 100), np.float32), 48000, "expected mono or stereo audio"),
        (np.zeros((1, 2, 100), np.float32), 48000, "expected mono or stereo audio"),
    ],
)
def test_sound_it_cannot_encode_is_refused(audio: np.ndarray, rate: int | None, message: str):
    with pytest.raises(ValueError, match=message):
        encode_mp4(frames(), FPS, {}, audio, rate)
