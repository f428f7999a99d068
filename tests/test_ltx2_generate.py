"""`pippa generate` with an LTX-2 model on the local backend, end to end on the tiny LTX-2
pipeline (tests/tiny_ltx2.py): the MP4 has a sound track in sync, `--no-audio` writes
video only, and the sidecar, history and MP4 tag say which.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pippa_cli.mp4 import AUDIO_BITRATE, AUDIO_CHANNELS, AUDIO_CODEC, AUDIO_SAMPLE_RATE
from tests.fixtures_ltx import probe, small_args
from tests.helpers import history, invoke, sidecar

PROMPT = "a street drummer at dusk"
AUDIO_RECORD = {
    "codec": AUDIO_CODEC,
    "sample_rate": AUDIO_SAMPLE_RATE,
    "channels": AUDIO_CHANNELS,
    "bitrate": AUDIO_BITRATE,
}


def sound_track(path: Path) -> tuple[str, int, int, float] | None:
    """(codec, sample rate, channels, seconds) of the MP4's audio stream, None if it has
    none: what a player finds, decoded."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return (
            stream.codec_context.name,
            stream.codec_context.sample_rate,
            stream.codec_context.channels,
            samples / stream.codec_context.sample_rate,
        )


def render(model: Path, *extra: str, output: str = "drums.mp4") -> Path:
    result = invoke(
        "generate", PROMPT, *small_args(model), "--no-enhance", "--seed", "3", "-o", output,
        *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip())
    assert path == Path(output).resolve()
    return path


def test_ltx2_writes_an_mp4_with_its_sound_track_in_sync(tiny_ltx2: Path):
    path = render(tiny_ltx2)

    clip = probe(path)
    assert (clip.codec, clip.width, clip.height, clip.frames) == ("h264", 64, 64, 25)  # 3 s x 8
    track = sound_track(path)
    assert track is not None
    codec, rate, channels, seconds = track
    assert (codec, rate, channels) == (AUDIO_CODEC, AUDIO_SAMPLE_RATE, AUDIO_CHANNELS)
    assert seconds == pytest.approx(25 / 8, abs=0.05)  # as long as the video
    settings = sidecar(path)["settings"]
    assert settings["audio"] == AUDIO_RECORD
    assert settings["model_location"] == str(tiny_ltx2.resolve())
    assert json.loads(clip.metadata["pippa"])["audio"] == AUDIO_RECORD
    job = history().list()[0]
    assert job.status == "completed" and job.settings["audio"] == AUDIO_RECORD


def test_no_audio_writes_the_video_only(tiny_ltx2: Path):
    path = render(tiny_ltx2, "--no-audio")

    assert sound_track(path) is None
    assert probe(path).frames == 25
    assert sidecar(path)["settings"]["audio"] is False
    assert history().list()[0].settings["audio"] is False


def test_ltx2_starts_from_an_image(tiny_ltx2: Path):
    from PIL import Image

    Image.new("RGB", (96, 64), (200, 40, 40)).save("drummer.png")

    path = render(tiny_ltx2, "--image", "drummer.png")

    assert sound_track(path) is not None
    images = sidecar(path)["settings"]["images"]
    assert [(i["file"], i["frame"]) for i in images] == [("drummer.png", 0)]


def test_ltx2_two_stage_renders_at_the_clips_size_with_sound(tiny_ltx2_hd: Path):
    path = render(tiny_ltx2_hd, "--width", "128", "--height", "128", "--steps", "1")

    clip = probe(path)
    assert (clip.width, clip.height) == (128, 128)
    assert sound_track(path) is not None
    record = sidecar(path)["settings"]["two_stage"]
    assert (record["first_size"], record["refine_size"]) == ("64x64", "128x128")
