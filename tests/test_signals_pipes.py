"""How pippa ends when the world around it does: a batch terminated by SIGTERM or SIGHUP,
a reader that closes stdout early."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pippa_cli.history import History, new_job
from tests.fixtures_ltx import small_args
from tests.groq_server import GroqServer, completion_response
from tests.helpers import wait_for
from tests.modal_standin import pippa_process

TERMINATIONS = [signal.SIGTERM, signal.SIGHUP]


def _signal_when(
    predicate, proc: subprocess.Popen, signum: int, what: str, timeout: float = 120
) -> tuple[str, str]:
    """Send `signum` once `predicate` holds; pippa's stdout and stderr after it ended."""
    try:
        wait_for(predicate, what, timeout, proc=proc)
        proc.send_signal(signum)
        return proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("signum", TERMINATIONS, ids=["SIGTERM", "SIGHUP"])
def test_a_terminated_local_batch_records_its_job_and_prints_its_summary(
    signum: int, tiny_model: Path, tmp_path: Path
):
    source = tmp_path / "slow.txt"
    source.write_text("a slow fox\na slow owl\na slow cat\n")
    out_dir = tmp_path / "clips"
    out_dir.mkdir()
    command = [sys.executable, "-m", "pippa_cli", "generate", "--from-file", str(source)]
    command += ["--output-dir", str(out_dir), "--no-enhance"]
    command += small_args(tiny_model, duration=10, steps=50, seed=1)
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    history = Path(os.environ["PIPPA_HOME"]) / "history.db"

    def denoising():
        jobs = History(history).list() if history.exists() else []
        return jobs and jobs[0].stage == "denoising"

    _, stderr = _signal_when(denoising, proc, signum, "the first clip denoising")

    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "Done 0, failed 0, skipped 0 (already complete), cancelled 3" in stderr
    jobs = History(history).list()
    assert [(j.status, j.error) for j in jobs] == [("failed", "interrupted (terminated)")]
    assert [p for p in out_dir.iterdir() if p.suffix == ".mp4"] == []


@pytest.mark.parametrize("signum", TERMINATIONS, ids=["SIGTERM", "SIGHUP"])
def test_a_terminated_modal_batch_leaves_its_paid_jobs_running_and_findable(
    signum: int, tmp_path: Path
):
    source = tmp_path / "p.txt"
    source.write_text("one fox\ntwo owls\nthree cats\n")
    record = tmp_path / "record.json"
    proc = pippa_process(
        "generate",
        "--from-file",
        str(source),
        "--output-dir",
        str(tmp_path),
        "--no-enhance",
        "--concurrency",
        "2",
        record=record,
    )

    def two_submitted():
        jobs = [j for j in History.open_default().list() if j.remote_call_id]
        return len(jobs) == 2

    stdout, stderr = _signal_when(two_submitted, proc, signum, "two jobs on Modal", 30)
    assert stdout == ""

    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "left running on Modal 2" in stderr
    assert json.loads(record.read_text())["cancelled"] == []  # paid jobs are not thrown away
    jobs = [j for j in History.open_default().list() if j.remote_call_id]
    assert {(j.status, j.pid) for j in jobs} == {("running", None)}  # `status --wait` works
    for job in jobs:
        assert f"pippa status {job.task_id[:8]} --wait" in stderr


def _many_jobs(count: int) -> None:
    history = History.open_default()
    for index in range(count):
        history.add(new_job(f"a fox number {index} " + "in deep snow " * 20, "modal"))


@pytest.mark.parametrize("args", [["status", "--json"], ["status"]], ids=["json", "table"])
def test_a_reader_that_stops_early_ends_pippa_quietly(args: list[str]):
    _many_jobs(400)  # far more than a pipe holds, so pippa is still writing at close
    proc = subprocess.Popen(
        [sys.executable, "-m", "pippa_cli", *args, "--limit", "400"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    stderr = proc.stderr.read()
    proc.wait(timeout=60)

    assert first.strip()
    assert stderr == b"", stderr.decode()
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("concurrency", "extra"), [("1", []), ("1", ["--json"]), ("4", [])], ids=["one", "json", "four"]
)
def test_enhance_stops_sending_when_its_reader_is_gone(
    groq: GroqServer, tmp_path: Path, concurrency: str, extra: list[str]
):
    """`pippa enhance --from-file big.txt | head -1`: each line left is a Groq request the
    user pays for (quota) and no one will read."""
    answer = completion_response("A red fox trots through fresh snow at dawn.")
    closed = threading.Event()
    answered = itertools.count()

    def after_the_first_lines(request):
        # The first requests answer at once; later ones wait until the reader is gone, so
        # that how many lines fit in the pipe before it closes does not matter.
        if next(answered) >= int(concurrency):
            closed.wait(60)
        return answer(request)

    groq.respond(after_the_first_lines)
    ideas = tmp_path / "ideas.txt"
    ideas.write_text("".join(f"idea {i}\n" for i in range(300)))
    command = [sys.executable, "-m", "pippa_cli", "enhance", "--from-file", str(ideas)]
    proc = subprocess.Popen(
        [*command, "--concurrency", concurrency, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        first = proc.stdout.readline()
        proc.stdout.close()  # like `| head -1`
    finally:
        closed.set()
    stderr = proc.stderr.read()
    proc.wait(timeout=120)

    assert b"red fox" in first
    assert b"Traceback" not in stderr, stderr.decode()
    assert proc.returncode == 0, stderr.decode()
    # The first lines, those in flight when the pipe closed and those started while the
    # write that found it closed was under way: not the other 290.
    assert len(groq.requests) <= 3 * int(concurrency), len(groq.requests)
