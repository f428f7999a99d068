"""Who may change a job: `pippa cancel` from another terminal, a batch's other jobs, a
second process looking at a job its owner still follows, a save that fails after a paid
render. Modal runs through the stand-in for its call objects (tests/modal_standin.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import pippa_cli.recording
from pippa_cli.history import new_job
from tests.fixtures_ltx import small_args
from tests.helpers import SMALL, history, invoke, wait_for
from tests.modal_standin import FakeFunctionCall, ModalStandIn, Script

PROMPT = "a lighthouse in a storm"


@pytest.fixture
def prompt_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every progress report and poll looks at the history (normally once a second)."""
    monkeypatch.setattr(pippa_cli.recording, "PERSIST_EVERY_S", 0.0)


def test_finish_never_overwrites_an_ended_job():
    job = new_job("a fox", "modal")
    history().add(job)
    history().finish(job.task_id, "cancelled", error="cancelled with pippa cancel")

    history().finish(job.task_id, "failed", error="the call failed after its cancel")

    after = history().get(job.task_id)
    assert (after.status, after.error) == ("cancelled", "cancelled with pippa cancel")


def test_pippa_cancel_stops_a_local_render_in_another_process(tiny_model: Path, tmp_path: Path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    command = [sys.executable, "-m", "pippa_cli", "generate", "a slow fox", "--no-enhance"]
    command += small_args(tiny_model, duration=10, steps=50, seed=1)
    command += ["-o", str(out_dir / "slow.mp4")]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        job = wait_for(
            lambda: next((j for j in history().list() if j.stage == "denoising"), None),
            "the render denoising",
            timeout=120,
            proc=proc,
        )

        cancelled = invoke("cancel", job.task_id[:8])

        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert cancelled.exit_code == 0, cancelled.output
    assert proc.returncode == 130, stderr
    assert stdout == ""
    assert f"job {job.task_id} was cancelled (pippa cancel); nothing was saved" in stderr
    assert list(out_dir.iterdir()) == []
    final = history().get(job.task_id)
    assert (final.status, final.error) == ("cancelled", "cancelled with pippa cancel")


def test_cancelling_one_batch_job_leaves_the_others(
    modal_standin: ModalStandIn, prompt_checks: None, tmp_path: Path
):
    def cancel_the_whale(call: FakeFunctionCall, index: int) -> None:
        spawn = next(s for s in modal_standin.spawns if s.call_id == call.object_id)
        if "whale" in spawn.request["prompt"] and index == 1:
            whale = next(j for j in history().list() if j.remote_call_id == call.object_id)
            # What `pippa cancel` runs, called directly: this runs in a batch worker thread,
            # and a second CliRunner there would swap sys.stdout under the batch's own.
            from pippa_cli.jobs import cancel_job
            from pippa_cli.settings import load_settings

            cancel_job(whale, history(), load_settings(), modal_standin)

    modal_standin.script = Script(steps=3)
    modal_standin.on_get.append(cancel_the_whale)
    source = tmp_path / "p.txt"
    source.write_text("a red fox\na blue whale\na green frog\n")
    clips = tmp_path / "clips"
    clips.mkdir()

    result = invoke(
        "generate",
        "--from-file",
        str(source),
        "--output-dir",
        str(clips),
        "--no-enhance",
        "--concurrency",
        "3",
        "--json",
        *SMALL,
    )

    assert result.exit_code == 1  # not every line succeeded
    by_line = {o["line"]: o for o in map(json.loads, result.stdout.splitlines())}
    assert by_line[1]["status"] == by_line[3]["status"] == "completed"
    assert by_line[2]["status"] == "cancelled"
    whale = history().get(by_line[2]["task_id"])
    assert whale.status == "cancelled" and whale.remote_call_id in modal_standin.cancelled
    assert sorted(p.name for p in clips.glob("*.mp4")) == [
        "001-a-red-fox.mp4",
        "003-a-green-frog.mp4",
    ]


def test_batch_keep_running_reports_the_jobs_left_on_modal(modal_standin: ModalStandIn, tmp_path):
    interrupted: set[str] = set()

    def interrupt_once_all_are_submitted(call: FakeFunctionCall, index: int) -> None:
        if len(modal_standin.spawns) == 2 and call.object_id not in interrupted:
            interrupted.add(call.object_id)
            raise KeyboardInterrupt  # what a batch stopping does to each worker's poll

    modal_standin.script = Script(pending_forever=True)
    modal_standin.on_get.append(interrupt_once_all_are_submitted)
    clips = tmp_path / "clips"
    clips.mkdir()

    result = invoke(
        "generate",
        "--from-file",
        "-",
        "--output-dir",
        str(clips),
        "--no-enhance",
        "--keep-running",
        "--json",
        *SMALL,
        input="a red fox\na blue whale\n",
    )

    objects = [json.loads(line) for line in result.stdout.splitlines()]
    running = [o for o in objects if o["status"] == "running"]
    assert len(running) == 2, result.output
    for item in running:
        job = history().get(item["task_id"])
        assert job.status == "running" and job.remote_call_id
        assert job.remote_call_id not in modal_standin.cancelled
    assert f"left running on Modal {len(running)}" in result.stderr


def test_a_failed_save_keeps_the_paid_render_fetchable(modal_standin: ModalStandIn, tmp_path: Path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def remove_the_output_dir(call: FakeFunctionCall, index: int) -> None:
        if index == 2 and out_dir.exists():
            out_dir.rmdir()  # the user tidied up while the clip rendered

    modal_standin.script = Script(steps=2)
    modal_standin.on_get.append(remove_the_output_dir)

    result = invoke("generate", PROMPT, "--no-enhance", "-o", str(out_dir / "storm.mp4"), *SMALL)

    assert result.exit_code == 1
    job = history().list()[0]
    assert job.status == "running" and job.remote_call_id
    assert f"pippa status {job.task_id[:8]} --wait -o PATH" in result.stderr

    saved = invoke("status", job.task_id[:8], "--wait", "-o", str(tmp_path / "kept.mp4"))

    assert saved.exit_code == 0, saved.output
    assert (tmp_path / "kept.mp4").read_bytes() == modal_standin.mp4
    assert history().get(job.task_id).status == "completed"


def test_status_leaves_a_job_to_the_process_that_follows_it(
    modal_standin: ModalStandIn, tmp_path: Path
):
    # A live process whose command line says pippa: the job's owner, still following it.
    owner = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "pippa"], env=os.environ.copy()
    )
    try:
        call = modal_standin.add_call("fc-OWNED", Script(steps=0))
        job = new_job(PROMPT, "modal", output_path=str(tmp_path / "owned.mp4"))
        job.status, job.remote_call_id, job.pid = "running", call.object_id, owner.pid
        history().add(job)

        shown = invoke("status", job.task_id[:8])

        assert shown.exit_code == 0, shown.output
        assert call.gets == []  # not asked, not fetched: the owner saves it, once
        assert not (tmp_path / "owned.mp4").exists()
        assert history().get(job.task_id).status == "running"
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()

    # The owner is gone: status asks Modal now (the stand-in's first poll is "queued").
    assert invoke("status", job.task_id[:8]).exit_code == 0
    fetched = invoke("status", job.task_id[:8])

    assert fetched.exit_code == 0, fetched.output
    assert len(call.gets) == 2
    assert (tmp_path / "owned.mp4").read_bytes() == modal_standin.mp4
    assert history().get(job.task_id).status == "completed"


def test_cancelling_one_local_batch_job_leaves_the_others(
    tiny_model: Path, prompt_checks: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from pippa_cli.backends.local_backend import LocalBackend
    from pippa_cli.jobs import cancel_job
    from pippa_cli.settings import load_settings

    render = LocalBackend.render

    def cancel_the_whale(self, request, source, on_progress, **kwargs):
        if "whale" in request.prompt:  # `pippa cancel` from another terminal
            whale = next(j for j in history().list() if j.active)
            cancel_job(whale, history(), load_settings())
        return render(self, request, source, on_progress, **kwargs)

    monkeypatch.setattr(LocalBackend, "render", cancel_the_whale)
    source = tmp_path / "p.txt"
    source.write_text("a red fox\na blue whale\na green frog\n")
    clips = tmp_path / "clips"
    clips.mkdir()

    result = invoke(
        "generate",
        "--from-file",
        str(source),
        "--output-dir",
        str(clips),
        "--no-enhance",
        "--json",
        *small_args(tiny_model),
    )

    assert result.exit_code == 1, result.output  # not 130: nobody pressed Ctrl-C
    statuses = {o["line"]: o["status"] for o in map(json.loads, result.stdout.splitlines())}
    assert statuses == {1: "completed", 2: "cancelled", 3: "completed"}


def test_ctrl_c_during_submit_honours_keep_running(
    modal_standin: ModalStandIn, monkeypatch: pytest.MonkeyPatch
):
    from tests.modal_standin import _FakeMethod

    spawn = _FakeMethod.spawn

    def interrupted_spawn(self, request):
        os.kill(os.getpid(), signal.SIGINT)  # lands while Modal accepts the call
        return spawn(self, request)

    monkeypatch.setattr(_FakeMethod, "spawn", interrupted_spawn)
    modal_standin.script = Script(pending_forever=True)
    before = signal.getsignal(signal.SIGINT)

    result = invoke("generate", PROMPT, "--no-enhance", "--keep-running", *SMALL)

    assert result.exit_code == 130
    job = history().list()[0]
    assert job.status == "running" and job.remote_call_id  # the call id was not lost
    assert modal_standin.cancelled == []
    assert f"pippa status {job.task_id[:8]} --wait" in result.stderr
    assert signal.getsignal(signal.SIGINT) is before


def test_status_wait_takes_the_job_over(modal_standin: ModalStandIn):
    modal_standin.script = Script(steps=1)
    detached = invoke("generate", PROMPT, "--no-enhance", "--detach", "-o", "storm.mp4", *SMALL)
    task_id = detached.stdout.strip()
    assert history().get(task_id).pid is None  # the detaching process let go of it

    seen: list[int | None] = []
    modal_standin.on_get.append(lambda call, index: seen.append(history().get(task_id).pid))
    waited = invoke("status", task_id[:8], "--wait")

    assert waited.exit_code == 0, waited.output
    # The first poll is status's own look; while --wait follows, others see an owner.
    assert seen[0] is None and set(seen[1:]) == {os.getpid()}
    assert history().get(task_id).status == "completed"
