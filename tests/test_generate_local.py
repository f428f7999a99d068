"""`pippa generate --backend local` end to end on the tiny LTX pipeline: real MP4s out."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import Result

from pippa_cli.history import History, Job
from tests.fixtures_ltx import decode_frames, pippa_env, probe, small_args, top_level_boxes
from tests.helpers import invoke, sidecar, wait_for

PROMPT = "A red fox trots through fresh snow at dawn"
# A key nobody could mistake for another string: it must never be written anywhere.
FAKE_KEY = "gsk_fixture_LEAKCHECK_7d1e9a0c55"


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def enhancement_fails_env() -> dict[str, str]:
    """A fake Groq key whose server cannot be reached: enhancement falls back quickly."""
    return {
        "GROQ_API_KEY": FAKE_KEY,
        "GROQ_BASE_URL": closed_port_url(),
        "PIPPA_ENHANCE_TIMEOUT": "5",
        "PIPPA_ENHANCE_RETRIES": "0",
    }


@dataclass
class Render:
    result: Result
    work: Path
    home: Path

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.result.stdout)

    def job(self, task_id: str) -> Job:
        return History.open_default(self.home).get(task_id)


# --- one render with --json, no -o, enhancement falling back: read by many tests ------


@pytest.fixture(scope="module")
def json_render(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Render:
    root = tmp_path_factory.mktemp("json-render")
    with pippa_env(root, **enhancement_fails_env()) as work:
        args = small_args(tiny_model, seed=7, style="cinematic")
        result = invoke("generate", PROMPT, *args, "--json")
    assert result.exit_code == 0, result.stderr
    return Render(result, work, root / "pippa-home")


def test_json_prints_one_object_with_the_status_schema(json_render: Render):
    lines = json_render.result.stdout.splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert {
        "task_id",
        "status",
        "progress",
        "original_prompt",
        "enhanced_prompt",
        "created_at",
        "video_path",
        "settings",
        "seed",
        "timings",
    } <= set(data)
    assert data["status"] == "completed"
    assert data["progress"] == 100
    assert data["original_prompt"] == PROMPT
    # Groq was unreachable: the fallback is the prompt plus the customization as a phrase.
    assert data["enhanced_prompt"] == f"{PROMPT}. Cinematic style."
    assert data["seed"] == 7
    assert data["settings"]["seed"] == 7
    assert data["settings"]["num_frames"] == 25
    assert (data["settings"]["width"], data["settings"]["height"]) == (64, 64)
    assert data["settings"]["customization"] == {"style": "cinematic"}
    assert datetime.fromisoformat(data["created_at"]).tzinfo is not None
    assert {"render_s", "total_s"} <= set(data["timings"])
    assert Path(data["video_path"]).is_absolute()
    assert Path(data["video_path"]).is_file()


def test_enhancement_failure_is_a_warning_not_an_error(json_render: Render):
    stderr = json_render.result.stderr
    assert "Warning: prompt not enhanced: could not reach Groq" in stderr
    assert "Error" not in stderr


def test_default_output_is_named_from_the_prompt_in_cwd(json_render: Render):
    video = Path(json_render.payload["video_path"])
    assert video.parent == json_render.work
    assert re.fullmatch(r"a-red-fox-trots-through-fresh-\d{8}-\d{6}\.mp4", video.name)
    # The clip and its sidecar, nothing else (no temp files left behind).
    assert sorted(p.name for p in json_render.work.iterdir()) == sorted(
        [video.name, video.with_suffix(".json").name]
    )


def test_mp4_is_web_ready(json_render: Render):
    info = probe(Path(json_render.payload["video_path"]))
    assert info.codec == "h264"
    assert info.pix_fmt == "yuv420p"
    assert (info.width, info.height) == (64, 64)
    assert info.frames == 25  # 3 s at 8 fps = 24 frames, rounded up to 8k+1
    assert info.fps == 8
    assert info.faststart, info.boxes


def test_mp4_carries_prompts_and_settings_as_tags(json_render: Render, tiny_model: Path):
    data = json_render.payload
    tags = probe(Path(data["video_path"])).metadata
    assert tags["title"] == PROMPT
    assert tags["comment"] == data["enhanced_prompt"]
    pippa = json.loads(tags["pippa"])
    assert pippa["task_id"] == data["task_id"]
    assert pippa["seed"] == 7
    assert pippa["model"] == str(tiny_model)
    assert pippa["original_prompt"] == PROMPT
    assert pippa["enhanced_prompt"] == data["enhanced_prompt"]
    for name in ("width", "height", "fps", "num_frames", "steps", "guidance", "backend"):
        assert pippa[name] == data["settings"][name], name


def test_sidecar_records_the_job(json_render: Render):
    data = json_render.payload
    saved = sidecar(Path(data["video_path"]))
    assert saved["task_id"] == data["task_id"]
    assert saved["status"] == "completed"
    assert saved["seed"] == 7
    assert saved["settings"] == data["settings"]
    assert saved["original_prompt"] == PROMPT
    assert saved["enhanced_prompt"] == data["enhanced_prompt"]
    assert saved["video_path"] == data["video_path"]


def test_history_records_the_job_as_completed(json_render: Render):
    data = json_render.payload
    job = json_render.job(data["task_id"])
    assert job.status == "completed"
    assert job.progress == 100
    assert job.video_path == data["video_path"]
    assert job.seed == 7
    assert job.backend == "local"
    assert job.enhanced_prompt == data["enhanced_prompt"]
    assert job.completed_at is not None


def test_groq_key_is_written_nowhere(json_render: Render):
    data = json_render.payload
    video = Path(data["video_path"])
    key = FAKE_KEY.encode()
    assert key not in video.read_bytes()
    assert key not in video.with_suffix(".json").read_bytes()
    assert FAKE_KEY not in json_render.result.stdout
    assert FAKE_KEY not in json_render.result.stderr
    # history.db and its WAL/SHM files: the key must be in none of them.
    stored = [p for p in json_render.home.rglob("*") if p.is_file()]
    assert any(p.name == "history.db" for p in stored)
    for path in stored:
        assert key not in path.read_bytes(), path


# --- seeds: three renders without enhancement --------------------------------------------


@dataclass
class Clip:
    path: Path
    stderr: str


@pytest.fixture(scope="module")
def seed_renders(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Clip]:
    root = tmp_path_factory.mktemp("seed-renders")
    clips: dict[str, Clip] = {}
    with pippa_env(root) as work:
        for name, seed in (("first", 11), ("again", 11), ("other", 12)):
            args = small_args(tiny_model, seed=seed, output=f"{name}.mp4")
            result = invoke("generate", PROMPT, *args, "--no-enhance")
            assert result.exit_code == 0, result.stderr
            assert result.stdout == f"{work / name}.mp4\n"
            clips[name] = Clip(work / f"{name}.mp4", result.stderr)
    return clips


def test_same_seed_renders_identical_frames(seed_renders: dict[str, Clip]):
    first = decode_frames(seed_renders["first"].path)
    again = decode_frames(seed_renders["again"].path)
    assert first.shape == (25, 64, 64, 3)
    assert np.array_equal(first, again)


def test_other_seed_renders_different_frames(seed_renders: dict[str, Clip]):
    first = decode_frames(seed_renders["first"].path).astype(np.int16)
    other = decode_frames(seed_renders["other"].path).astype(np.int16)
    assert first.shape == other.shape
    assert np.abs(first - other).mean() > 1.0


def test_no_enhance_renders_the_prompt_as_written(seed_renders: dict[str, Clip]):
    video = seed_renders["first"].path
    saved = sidecar(video)
    assert saved["original_prompt"] == PROMPT
    assert saved["enhanced_prompt"] == PROMPT
    assert "enhance_s" not in saved["timings"]
    tags = probe(video).metadata
    assert tags["comment"] == PROMPT
    stderr = seed_renders["first"].stderr
    assert "Enhancing" not in stderr
    assert "not enhanced" not in stderr  # no key is set: trying would have warned


# --- a real process -------------------------------------------------------------------


def test_subprocess_prints_only_the_absolute_path(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    for name, value in enhancement_fails_env().items():
        monkeypatch.setenv(name, value)
    command = [sys.executable, "-m", "pippa_cli", "generate", PROMPT]
    command += small_args(tiny_model, seed=3, output="clip.mp4")
    proc = subprocess.run(
        command, capture_output=True, env=os.environ.copy(), timeout=180, check=False
    )
    stderr = proc.stderr.decode()
    assert proc.returncode == 0, stderr
    video = Path.cwd() / "clip.mp4"
    assert proc.stdout.decode() == f"{video}\n"
    assert "prompt not enhanced" in stderr  # the fake key was tried, and failed
    assert FAKE_KEY not in stderr
    info = probe(video)
    assert (info.codec, info.frames, info.width, info.height) == ("h264", 25, 64, 64)
    history_files = [p for p in Path(os.environ["PIPPA_HOME"]).rglob("*") if p.is_file()]
    for path in [video, video.with_suffix(".json"), *history_files]:
        assert FAKE_KEY.encode() not in path.read_bytes(), path


def test_ctrl_c_cancels_a_local_render_and_saves_nothing(tiny_model: Path, tmp_path: Path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # 81 frames at 50 steps: half a minute on two cores if nothing stopped it.
    command = [sys.executable, "-m", "pippa_cli", "generate", "a slow fox", "--no-enhance"]
    command += small_args(tiny_model, duration=10, steps=50, seed=1)
    command += ["-o", str(out_dir / "slow.mp4")]
    history_path = Path(os.environ["PIPPA_HOME"]) / "history.db"
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy()
    )
    try:
        job = _wait_for_denoising(proc, history_path, timeout=120)
        assert job.status == "running"
        proc.send_signal(signal.SIGINT)
        stdout, stderr_bytes = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = stderr_bytes.decode()
    assert proc.returncode == 130, stderr
    assert stdout == b""
    assert "Traceback" not in stderr
    assert f"job {job.task_id} cancelled by user; nothing was saved" in stderr
    assert list(out_dir.iterdir()) == []  # no MP4, no sidecar, no .part temp file
    final = History(history_path).get(job.task_id)
    assert final.status == "cancelled"
    assert final.completed_at is not None


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_local_render_shows_as_interrupted(signum: int, tiny_model: Path, tmp_path: Path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    command = [sys.executable, "-m", "pippa_cli", "generate", "a slow fox", "--no-enhance"]
    command += small_args(tiny_model, duration=10, steps=50, seed=1)
    command += ["-o", str(out_dir / "slow.mp4")]
    history_path = Path(os.environ["PIPPA_HOME"]) / "history.db"
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy()
    )
    try:
        job = _wait_for_denoising(proc, history_path, timeout=120)
        proc.send_signal(signum)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    status = invoke("status", "--json")
    listed = [json.loads(line) for line in status.stdout.splitlines()]
    assert [(j["task_id"], j["status"]) for j in listed] == [(job.task_id, "failed")]
    assert listed[0]["error"].startswith("interrupted")
    one = invoke("status", job.task_id[:8])
    assert "failed" in one.stdout and "interrupted" in one.stdout
    assert [p for p in out_dir.iterdir() if p.suffix == ".mp4"] == []


def _wait_for_denoising(proc: subprocess.Popen, history_path: Path, timeout: float) -> Job:
    def denoising() -> Job | None:
        jobs = History(history_path).list() if history_path.exists() else []
        if jobs and jobs[0].status == "running" and jobs[0].stage == "denoising":
            return jobs[0]
        return None

    return wait_for(denoising, "the job denoising", timeout, proc=proc)


# --- the frame arithmetic ---------------------------------------------------------------


def test_frames_for_the_default_clip():
    from pippa_cli.spec import frames_for

    assert frames_for(5, 30) == 153
    assert frames_for(3, 8) == 25
    assert frames_for(10, 60) == 601


def test_frames_for_is_the_smallest_8k_plus_1_that_is_long_enough():
    from pippa_cli.spec import frames_for

    durations = [Fraction(d, 10) for d in range(30, 101)]  # 3.0, 3.1, ... 10.0 s
    for fps, duration in itertools.product(range(8, 61), durations):
        frames = frames_for(float(duration), fps)
        wanted = duration * fps
        assert (frames - 1) % 8 == 0, (duration, fps, frames)
        assert frames >= wanted, (duration, fps, frames)
        assert frames - 8 < wanted, (duration, fps, frames)


# --- the distilled preset through the core ------------------------------------------------


def test_distilled_preset_renders_with_its_own_timesteps(tiny_model: Path):
    import diffusers

    from pippa_cli.customization import Customization
    from pippa_cli.ltx import load_pipeline, render_frames
    from pippa_cli.presets import PRESETS, ModelSource
    from pippa_cli.render_request import render_request
    from pippa_cli.spec import build_spec

    preset = PRESETS["ltx-distilled"]
    spec = build_spec(
        prompt="a red fox",
        customization=Customization.create(),
        enhance=False,
        duration=3,
        fps=8,
        width=64,
        height=64,
        steps=None,
        guidance=None,
        negative_prompt=None,
        seed=5,
        model="ltx-distilled",
        backend="local",
        output=None,
        overwrite=False,
    )
    assert (spec.steps, spec.guidance) == (8, 1.0)
    assert spec.timesteps == list(preset.timesteps)
    # The distilled defaults, but the tiny model's weights.
    source = ModelSource("ltx-distilled", str(tiny_model), None, preset, True)
    request = render_request(dataclasses.replace(spec, model=source), "task", spec.prompt)
    assert request.timesteps == list(preset.timesteps)
    assert (request.decode_timestep, request.decode_noise_scale) == (0.05, 0.025)

    pipe = load_pipeline(source)
    assert isinstance(pipe, diffusers.LTXConditionPipeline)
    reports: list[tuple[str, int, int]] = []
    frames = render_frames(pipe, request, lambda *report: reports.append(report))

    assert frames.shape == (25, 64, 64, 3)
    assert frames.dtype == np.uint8
    denoising = [r for r in reports if r[0] == "denoising"]
    assert denoising == [("denoising", i, 8) for i in range(9)]
    assert reports[-1] == ("decoding", 0, 1)
    # The scheduler ran the preset's schedule, not one of its own making.
    used = pipe.scheduler.timesteps.float().numpy()
    assert np.allclose(used, preset.timesteps, atol=1e-3)


def test_other_step_counts_drop_the_distilled_timesteps():
    from pippa_cli.customization import Customization
    from pippa_cli.spec import build_spec

    spec = build_spec(
        prompt="a red fox",
        customization=Customization.create(),
        enhance=False,
        duration=3,
        fps=8,
        width=64,
        height=64,
        steps=4,
        guidance=None,
        negative_prompt=None,
        seed=5,
        model="ltx-distilled",
        backend="local",
        output=None,
        overwrite=False,
    )
    assert spec.steps == 4
    assert spec.timesteps is None


# --- the MP4 box scanner the tests rely on -----------------------------------------------


def _box(kind: bytes, payload: bytes = b"", large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def test_box_scanner_reads_64_bit_sizes_and_order():
    data = _box(b"ftyp", b"isom") + _box(b"mdat", b"\0" * 40, large=True) + _box(b"moov", b"x")
    assert top_level_boxes(data) == ["ftyp", "mdat", "moov"]
    with pytest.raises(ValueError):
        top_level_boxes(data[:-1])
    with pytest.raises(ValueError):
        top_level_boxes(data + b"\0\0\0")
