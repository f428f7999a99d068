"""What a person sees on a terminal: the live progress of a clip and of a batch, and the
question Ctrl-C asks about a job on Modal. pippa runs on a pseudo-terminal, its stdout (the
data) redirected to a file; Modal is the stand-in, each of whose answers waits for the test
(tests/pseudo_terminal.py), so every state is on the screen when the test looks for it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug import Request, Response

from tests.groq_server import GroqServer, completion_response
from tests.helpers import SMALL, add_job, history, only_job, sidecar
from tests.pseudo_terminal import SPINNER_FRAMES, Terminal, spawn_pippa

PROMPT = "a red fox trotting through fresh snow"
ENHANCED = "A red fox trots through fresh snow at dawn, the camera low beside it."
CANCEL_QUESTION = "Cancel the job on Modal? (no: keep running, fetch later with pippa status)"


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    """Terminals a test opens; any child still running at the end is killed."""
    opened: list[Terminal] = []
    yield opened
    for term in opened:
        term.close()


def on_terminal(
    terminals: list[Terminal], work: Path, *args: str, steps: int = 3, mp4: bytes = b""
) -> Terminal:
    term = spawn_pippa(work, *args, steps=steps, mp4=mp4)
    terminals.append(term)
    return term


def assert_clean_data(stdout: str) -> None:
    """stdout carries data only: no escape code, no progress."""
    assert "\x1b" not in stdout and "\r" not in stdout
    for progress in ("Denoising", "Queued", "Enhancing", "━", *SPINNER_FRAMES):
        assert progress not in stdout


# --- one clip -------------------------------------------------------------------------------


def test_generate_shows_each_stage_live_and_prints_only_the_path(
    groq: GroqServer, standin_mp4: bytes, terminals: list[Terminal], tmp_path: Path
):
    asked = threading.Event()
    release = threading.Event()

    def enhance_when_released(request: Request) -> Response:
        asked.set()
        release.wait(60)
        return completion_response(ENHANCED)(request)

    groq.respond(enhance_when_released)
    term = on_terminal(
        terminals, tmp_path, "generate", PROMPT, "-o", "fox.mp4", *SMALL, mp4=standin_mp4
    )

    assert asked.wait(30), term.screen
    term.expect(r"Enhancing prompt")  # while Groq holds the request
    release.set()
    term.expect(r"Connecting to Modal")
    term.allow(0)  # get #0: queued, the container is starting
    term.expect(r"Queued on Modal")
    term.allow(1)
    term.expect(r"Denoising[^\n]*step 1/3")
    term.allow(2)
    term.expect(r"Denoising[^\n]*step 2/3")
    term.allow(3, 4)  # the last step, then the clip
    term.expect(r"✓ Denoising[^\n]*step 3/3")
    term.expect(r"✓ Saving")

    assert term.exit_code() == 0, term.screen
    video = Path("fox.mp4").resolve()
    assert term.stdout == f"{video}\n"
    assert_clean_data(term.stdout)
    assert video.read_bytes() == standin_mp4
    assert sidecar(video)["enhanced_prompt"] == ENHANCED
    # A live display: a spinner turning, a bar, colour; no error on the screen.
    assert any(frame in term.screen for frame in SPINNER_FRAMES)
    assert "━" in term.screen and "\x1b[" in term.raw
    assert "Error" not in term.screen and "Traceback" not in term.screen
    assert only_job().status == "completed"


# --- a batch --------------------------------------------------------------------------------


CLIPS = ["001-a-red-fox.mp4", "002-a-blue-whale.mp4", "003-a-green-frog.mp4"]


def batch_on_terminal(
    terminals: list[Terminal], tmp_path: Path, mp4: bytes
) -> tuple[Terminal, Path]:
    """`pippa generate --from-file` with three lines; the stand-in's calls take 2 steps."""
    source = tmp_path / "prompts.txt"
    source.write_text("a red fox\na blue whale\na green frog\n", encoding="utf-8")
    clips = tmp_path / "clips"
    args = ["generate", "--from-file", str(source), "--output-dir", str(clips), "--no-enhance"]
    return on_terminal(terminals, tmp_path, *args, *SMALL, steps=2, mp4=mp4), clips


def test_a_batch_shows_an_overall_bar_a_row_per_clip_and_a_summary(
    standin_mp4: bytes, terminals: list[Terminal], tmp_path: Path
):
    term, clips = batch_on_terminal(terminals, tmp_path, standin_mp4)
    rows = ["1 a red fox", "2 a blue whale", "3 a green frog"]

    term.expect(r"All clips[^\n]*0/3")
    for row in rows:
        term.expect(rf"{row}[^\n]*waiting")
    term.allow(0, 1)  # every clip: queued, then denoising step 1 of 2
    for row in rows:
        term.expect(rf"{row}[^\n]*denoising 1/2")
    term.allow(2, 3)  # step 2, then each clip's MP4
    term.expect(r"All clips[^\n]*3/3")
    term.expect(r"Done 3, failed 0, skipped 0")

    assert term.exit_code() == 0, term.screen
    assert sorted(p.name for p in clips.glob("*.mp4")) == CLIPS
    assert all(p.read_bytes() == standin_mp4 for p in clips.glob("*.mp4"))
    assert {j.status for j in history().list()} == {"completed"}
    assert "Error" not in term.screen and "Traceback" not in term.screen


def test_a_batch_on_a_terminal_prints_its_paths_on_stdout(
    standin_mp4: bytes, terminals: list[Terminal], tmp_path: Path
):
    term, clips = batch_on_terminal(terminals, tmp_path, standin_mp4)

    term.allow(0, 1, 2, 3)

    assert term.exit_code() == 0, term.screen
    # One path a line, as each clip is saved (in the order they finish).
    assert sorted(term.stdout.splitlines()) == [str(clips.resolve() / name) for name in CLIPS]
    assert_clean_data(term.stdout)
    assert not [name for name in CLIPS if name in term.screen]  # data is not progress


# --- Ctrl-C while a job runs on Modal ---------------------------------------------------------


def interrupted_at_the_question(terminals: list[Terminal], tmp_path: Path) -> Terminal:
    """`pippa generate` following its Modal call (at step 1 of 5) when Ctrl-C is pressed."""
    term = on_terminal(terminals, tmp_path, "generate", PROMPT, "--no-enhance", *SMALL, steps=5)
    term.allow(0, 1)
    term.expect(r"Denoising[^\n]*step 1/5")  # following the call: get #2 is waiting
    term.interrupt()
    term.expect(re.escape(CANCEL_QUESTION))
    return term


def test_ctrl_c_then_no_leaves_the_job_running_on_modal(terminals: list[Terminal], tmp_path: Path):
    term = interrupted_at_the_question(terminals, tmp_path)

    term.answer("n")

    term.expect(r"keeps running on Modal")
    assert term.exit_code() == 130, term.screen
    job = only_job()
    assert re.search(rf"pippa status {job.task_id[:8]} --wait", term.screen)
    assert (job.status, job.remote_call_id) == ("running", term.record()["spawns"][0])
    assert term.record()["cancelled"] == []
    assert term.stdout == ""
    assert "Traceback" not in term.screen


def test_ctrl_c_then_enter_cancels_the_job_on_modal(terminals: list[Terminal], tmp_path: Path):
    term = interrupted_at_the_question(terminals, tmp_path)

    term.answer("")  # Enter: the default, yes

    term.expect(r"cancelled job[^\n]*on Modal")
    assert term.exit_code() == 130, term.screen
    job = only_job()
    assert (job.status, job.error) == ("cancelled", "cancelled by user")
    assert term.record()["cancelled"] == term.record()["spawns"] == [job.remote_call_id]
    assert term.stdout == ""
    assert "Traceback" not in term.screen


# --- the job list at the terminal's width ---------------------------------------------------


def test_status_lays_the_table_out_for_the_terminal_width(
    terminals: list[Terminal], tmp_path: Path
):
    long_prompt = "a lighthouse on a cliff in a storm, waves breaking over the rocks " * 3
    add_job(long_prompt, created_at="2025-01-01T10:00:00+00:00", video_path="/videos/a.mp4")
    add_job("a cat on a piano", created_at="2025-01-01T12:00:00+00:00", video_path="/v/c.mp4")
    term = spawn_pippa(tmp_path, "status", stdout_to_file=False, columns=80)
    terminals.append(term)

    assert term.exit_code() == 0, term.screen
    lines = [line.rstrip() for line in term.screen.splitlines() if line.strip()]
    assert lines[0].split()[:6] == ["ID", "STATUS", "PROGRESS", "AGE", "PROMPT", "OUTPUT"]
    assert "a cat on a piano" in lines[1] and "a lighthouse" in lines[2]
    assert all(len(line) <= 80 for line in lines), lines
    assert "…" in lines[2]  # the long prompt is cut to fit, not wrapped
    assert len(lines) == 3
