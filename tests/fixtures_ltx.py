"""Fixtures and helpers for tests that render real clips with the tiny LTX pipeline.

conftest lists this module in `pytest_plugins`: any test may ask for `tiny_model` (LTX-Video),
`tiny_ltx2` or `tiny_ltx2_hd` (LTX-2, one and two stages), and conftest marks every test
that does `slow` (conftest's TINY_MODEL_FIXTURES). (A module that also imports the fixture under
its function name, `tiny_model_fixture`, gets the same built model: see `_tiny_models`.)
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.tiny_ltx import build_tiny_ltx
from tests.tiny_ltx2 import build_tiny_ltx2, build_tiny_ltx2_two_stage

if TYPE_CHECKING:
    import numpy as np

# The same variables conftest's clean_env clears.
_ENV_PREFIXES = ("PIPPA_", "GROQ_", "MODAL_")


# Built once per session even when several modules import the fixture (each import is a
# fixture definition of its own, with its own cache).
_tiny_models: dict[int, Path] = {}
_tiny_ltx2_models: dict[tuple[int, str], Path] = {}


@pytest.fixture(scope="session", name="tiny_model")
def tiny_model_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight LTX-Video pipeline saved as a diffusers directory."""
    key = id(tmp_path_factory)
    if key not in _tiny_models:
        _tiny_models[key] = build_tiny_ltx(tmp_path_factory.mktemp("tiny-ltx") / "model")
    return _tiny_models[key]


@pytest.fixture(scope="session", name="tiny_ltx2")
def tiny_ltx2_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight LTX-2 pipeline (video and sound) saved as a diffusers directory."""
    return _tiny_ltx2(tmp_path_factory, "tiny-ltx2", build_tiny_ltx2)


@pytest.fixture(scope="session", name="tiny_ltx2_hd")
def tiny_ltx2_hd_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny LTX-2 pipeline with a tiny latent upsampler in `latent_upsampler/`."""
    return _tiny_ltx2(tmp_path_factory, "tiny-ltx2-hd", build_tiny_ltx2_two_stage)


def _tiny_ltx2(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Path]
) -> Path:
    key = (id(tmp_path_factory), name)
    if key not in _tiny_ltx2_models:
        _tiny_ltx2_models[key] = build(tmp_path_factory.mktemp(name) / "model")
    return _tiny_ltx2_models[key]


def small_args(model: Path, /, **overrides: Any) -> list[str]:
    """`pippa generate` options for a cheap local render: 64x64, 3 s at 8 fps, 2 steps."""
    options: dict[str, Any] = {
        "backend": "local",
        "model": str(model),
        "width": 64,
        "height": 64,
        "fps": 8,
        "duration": 3,
        "steps": 2,
    }
    options.update(overrides)
    args: list[str] = []
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return args


@contextmanager
def pippa_env(root: Path, **env: str) -> Iterator[Path]:
    """What conftest's clean_env does, for module-scoped fixtures (which run before it).

    Clears PIPPA_/GROQ_/MODAL_ variables, puts PIPPA_HOME under `root`, hides any Modal
    token, sets `env`, and chdirs into a fresh `root/work`, which it yields. Everything is
    restored on exit.
    """
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(_ENV_PREFIXES) or name == "NO_COLOR":
                mp.delenv(name, raising=False)
        mp.setenv("PIPPA_HOME", str(root / "pippa-home"))
        mp.setenv("MODAL_CONFIG_PATH", str(root / "no-modal.toml"))
        for name, value in env.items():
            mp.setenv(name, value)
        work = root / "work"
        work.mkdir(parents=True, exist_ok=True)
        mp.chdir(work)
        yield work


# --- looking inside MP4 files ---------------------------------------------------------


def top_level_boxes(data: bytes) -> list[str]:
    """The types of an MP4's top-level boxes, in file order.

    Each box starts with a 4-byte big-endian size and a 4-byte type; size 1 means a 64-bit
    size follows the type, size 0 means the box runs to the end of the file. Raises
    ValueError if the boxes do not tile the file exactly.
    """
    boxes: list[str] = []
    pos, end = 0, len(data)
    while pos < end:
        if end - pos < 8:
            raise ValueError(f"truncated box header at offset {pos}")
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            if end - pos < 16:
                raise ValueError(f"truncated 64-bit box size at offset {pos}")
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"bad size {size} for box {kind!r} at offset {pos}")
        boxes.append(kind.decode("latin-1"))
        pos += size
    return boxes


@dataclass
class Probe:
    codec: str
    pix_fmt: str
    width: int
    height: int
    frames: int  # decoded and counted, not the header's claim
    fps: float
    metadata: dict[str, str]
    boxes: list[str] = field(default_factory=list)

    @property
    def faststart(self) -> bool:
        """Whether the moov atom (the index) comes before the media data."""
        return (
            "moov" in self.boxes
            and "mdat" in self.boxes
            and self.boxes.index("moov") < self.boxes.index("mdat")
        )


def probe(path: Path) -> Probe:
    """What a player sees in `path`: codec, pixel format, size, frames, rate, tags, layout."""
    import av

    boxes = top_level_boxes(Path(path).read_bytes())
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        pix_fmt = stream.codec_context.pix_fmt
        width, height = stream.codec_context.width, stream.codec_context.height
        fps = float(stream.average_rate) if stream.average_rate else 0.0
        metadata = dict(container.metadata)
        frames = sum(1 for _ in container.decode(stream))
    return Probe(codec, pix_fmt, width, height, frames, fps, metadata, boxes)


def decode_frames(path: Path) -> np.ndarray:
    """Every frame of `path` as uint8 RGB, shape (frames, height, width, 3)."""
    import av
    import numpy as np

    with av.open(str(path)) as container:
        return np.stack(
            [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]
        )
