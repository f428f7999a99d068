"""`pippa generate` on the Modal backend, against the stand-in for Modal's call objects.

Everything but the Modal SDK's call objects is pippa's real code: the CLI, ModalBackend,
the generation flow, the history and the files it writes (see tests/modal_standin.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import modal.exception
import pytest

import pippa_cli.recording
from pippa_cli.spec import frames_for
from tests.helpers import SMALL, history, invoke, only_job, sidecar, wait_for
from tests.modal_results import remote_raise
from tests.modal_standin import (
    WEIGHTS_COMMIT,
    FakeFunctionCall,
    ModalStandIn,
    Script,
    pippa_process,
)

PROMPT = "a red fox trotting through fresh snow"


# --- a render, start to finish ---------------------------------------------------------


def test_generate_spawns_one_call_and_saves_the_video(
    modal_standin: ModalStandIn, standin_mp4: bytes, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(pippa_cli.recording, "PERSIST_EVERY_S", 0.0)  # every report persists
    seen: list[tuple[int, str | None, int, str | None]] = []

    def look_at_history(call: FakeFunctionCall, index: int) -> None:
        job = only_job()
        seen.append((index, job.status, job.progress, job.remote_call_id))

    modal_standin.on_get.append(look_at_history)
    modal_standin.script = Script(steps=4)

    result = invoke("generate", PROMPT, "--no-enhance", "--seed", "42", "-o", "fox.mp4", *SMALL)

    assert result.exit_code == 0, result.output
    video = Path("fox.mp4").resolve()
    assert result.stdout == f"{video}\n"
    assert video.read_bytes() == standin_mp4
    # One spawn, on the deployed app's class, with the model label and the full request.
    assert len(modal_standin.spawns) == 1
    spawn = modal_standin.spawns[0]
    # The preset's exact repo and commit: what this pippa means, whatever the app's table.
    ltx_video = "Lightricks/LTX-Video@a6d59ee37c13c58261aa79027d3e41cd41960925"
    assert (spawn.app_name, spawn.class_name, spawn.model) == ("pippa", "LTX", ltx_video)
    request = spawn.request
    assert request["prompt"] == PROMPT
    assert request["num_frames"] == frames_for(3, 8) == 25
    assert (request["fps"], request["width"], request["height"]) == (8, 256, 160)
    assert (request["seed"], request["steps"]) == (42, 4)
    job = only_job()
    tags = request["metadata"]
    assert tags["title"] == PROMPT
    assert tags["comment"] == PROMPT
    embedded = json.loads(tags["pippa"])
    assert embedded["task_id"] == job.task_id
    assert embedded["original_prompt"] == PROMPT
    assert embedded["seed"] == 42
    # The job: completed, with the call id of the spawn and the file it wrote.
    assert job.status == "completed"
    assert job.progress == 100
    assert job.remote_call_id == spawn.call_id
    assert job.remote_call_id.startswith("fc-")
    assert job.video_path == str(video)
    assert job.seed == 42
    assert job.model == "ltx-video"
    assert job.completed_at
    assert job.timings["submit_s"] >= 0 and job.timings["remote_s"] >= 0
    saved = sidecar(video)
    assert saved["task_id"] == job.task_id
    assert saved["status"] == "completed"
    assert saved["remote_call_id"] == spawn.call_id
    assert saved["video_path"] == str(video)
    # The call id was in the history before the result came (already at the first poll),
    # and the progress Modal published reached the history as the timeline advanced.
    assert [index for index, *_ in seen] == [0, 1, 2, 3, 4, 5]
    assert seen[0][1:] == ("running", 2, spawn.call_id)
    progress = [p for _, _, p, _ in seen]
    assert progress == sorted(progress) and len(set(progress)) == len(progress), progress
    assert progress[-1] == 92  # denoising 4/4
    assert modal_standin.calls[spawn.call_id].gets[0] == pytest.approx(1.0)  # its poll timeout
    assert modal_standin.cancelled == []
    assert "Denoising" in result.stderr
    assert "Traceback" not in result.output


def test_model_repo_id_is_passed_to_the_container(modal_standin: ModalStandIn):
    repo = "Lightricks/LTX-Video-0.9.8-dev@main"

    result = invoke("generate", PROMPT, "--no-enhance", "--model", repo, "-o", "clip.mp4", *SMALL)

    assert result.exit_code == 0, result.output
    # The container loads the exact commit the app's weights cache holds for it.
    pinned = f"Lightricks/LTX-Video-0.9.8-dev@{WEIGHTS_COMMIT}"
    assert [s.model for s in modal_standin.spawns] == [pinned]
    job = only_job()
    assert job.model == repo  # what the user asked for
    assert job.settings["model_revision"] == WEIGHTS_COMMIT


def test_app_name_comes_from_the_environment(
    modal_standin: ModalStandIn, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PIPPA_MODAL_APP", "pippa-staging")

    result = invoke("generate", PROMPT, "--no-enhance", "-o", "clip.mp4", *SMALL)

    assert result.exit_code == 0, result.output
    assert modal_standin.cls_lookups == [("pippa-staging", "LTX")]


def test_json_prints_one_job_object(modal_standin: ModalStandIn):
    result = invoke("generate", PROMPT, "--no-enhance", "--json", "-o", "clip.mp4", *SMALL)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["status"] == "completed"
    assert data["video_path"] == str(Path("clip.mp4").resolve())
    assert data["remote_call_id"] == modal_standin.spawns[0].call_id


# --- before anything is spent ----------------------------------------------------------


def test_missing_credentials_fail_fast_without_a_job(modal_standin: ModalStandIn):
    modal_standin.credentials = False

    result = invoke("generate", PROMPT, "--no-enhance", *SMALL)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: no Modal credentials found"), result.stderr
    assert "modal token new" in result.stderr
    assert "Traceback" not in result.output
    assert modal_standin.spawns == [] and modal_standin.cls_lookups == []
    # Fast because nothing was asked of Modal: no lookup, no deployment record, no call.
    assert modal_standin.credential_checks >= 1
    assert modal_standin.app_lookups == [] and modal_standin.deployments.reads == []
    assert modal_standin.call_lookups == [] and modal_standin.remote_calls == []
    assert history().list() == []


# `python -m pippa_cli ARGS` where every connection attempt fails at once and says so on
# stderr: a command that needs no network shows that it never reached for it.
NO_NETWORK = """
import runpy, socket, sys

def refuse(*args, **kwargs):
    sys.stderr.write("test: reached for the network\\n")
    raise OSError("test: no network")

socket.socket.connect = socket.socket.connect_ex = refuse
socket.getaddrinfo = socket.create_connection = refuse
runpy.run_module("pippa_cli", run_name="__main__")
"""


def test_missing_credentials_in_a_real_process():
    env = {**os.environ, "MODAL_CONFIG_PATH": str(Path("missing-modal.toml").resolve())}

    proc = subprocess.run(
        [sys.executable, "-c", NO_NETWORK, "generate", "x", "--no-enhance"],
        capture_output=True,
        text=True,
        timeout=60,  # a safety net: without a token nothing is waited on
        env=env,
    )

    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert "Error:" in proc.stderr
    assert "modal token new" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "reached for the network" not in proc.stderr  # so no network can hold it up
    assert history().list() == []


def test_app_not_deployed_names_pippa_deploy(modal_standin: ModalStandIn):
    modal_standin.spawn_error = modal.exception.NotFoundError("App 'pippa' not found")

    result = invoke("generate", PROMPT, "--no-enhance", *SMALL)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Error: the Modal app 'pippa' is not deployed" in result.stderr
    assert "pippa deploy" in result.stderr
    assert "Traceback" not in result.output
    job = only_job()
    assert job.status == "failed"
    assert "not deployed" in job.error
    assert job.remote_call_id is None
    assert job.completed_at


def test_rejected_token_at_spawn(modal_standin: ModalStandIn):
    modal_standin.spawn_error = modal.exception.AuthError("token revoked")

    result = invoke("generate", PROMPT, "--no-enhance", *SMALL)

    assert result.exit_code == 1
    assert "Error: Modal rejected your credentials" in result.stderr
    assert "modal token new" in result.stderr
    assert only_job().status == "failed"


def test_ctrl_c_before_the_call_exists_cancels_the_job(modal_standin: ModalStandIn):
    modal_standin.spawn_error = KeyboardInterrupt()

    result = invoke("generate", PROMPT, "--no-enhance", *SMALL)

    assert result.exit_code == 130
    assert "cancelled by user; nothing was saved" in result.stderr
    job = only_job()
    assert job.status == "cancelled"
    assert job.remote_call_id is None
    assert modal_standin.cancelled == []


# --- failures on Modal -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (remote_raise(ValueError("prompt too spicy for the text encoder")), "prompt too spicy"),
        (modal.exception.RemoteError("CUDA out of memory"), "CUDA out of memory"),
        (modal.exception.FunctionTimeoutError("ran 1800 s"), "ran past the Modal app's timeout"),
    ],
    ids=["user-code", "remote-error", "timeout"],
)
def test_remote_failure_is_reported_and_recorded(
    modal_standin: ModalStandIn, error: Exception, message: str
):
    modal_standin.script = Script(steps=2, outcome=error)

    result = invoke("generate", PROMPT, "--no-enhance", "-o", "clip.mp4", *SMALL)

    assert result.exit_code == 1
    assert result.stdout == ""
    error_line = next(line for line in result.stderr.splitlines() if line.startswith("Error:"))
    assert message in error_line
    assert "Traceback" not in result.output
    job = only_job()
    assert job.status == "failed"
    assert message in job.error
    assert job.remote_call_id == modal_standin.spawns[0].call_id
    assert not Path("clip.mp4").exists()
    assert modal_standin.cancelled == []


def test_losing_modal_while_following_keeps_the_job_findable(modal_standin: ModalStandIn):
    modal_standin.script = Script(steps=2, outcome=modal.exception.ConnectionError("offline"))

    result = invoke("generate", PROMPT, "--no-enhance", "-o", "clip.mp4", *SMALL)

    assert result.exit_code == 1
    assert "could not reach Modal" in result.stderr
    job = only_job()
    assert f"job {job.task_id} keeps running on Modal" in result.stderr
    assert f"pippa status {job.task_id[:8]} --wait" in result.stderr
    # The call still runs (and bills) on Modal: the record stays recoverable.
    assert job.status == "running"
    assert job.remote_call_id == modal_standin.spawns[0].call_id
    assert modal_standin.cancelled == []


# --- Ctrl-C while following the call -----------------------------------------------------


def test_ctrl_c_cancels_the_call(modal_standin: ModalStandIn):
    modal_standin.script = Script(steps=5, interrupt_at=2)

    result = invoke("generate", PROMPT, "--no-enhance", "-o", "clip.mp4", *SMALL)

    assert result.exit_code == 130
    call_id = modal_standin.spawns[0].call_id
    assert modal_standin.cancelled == [call_id]
    assert "cancelled job" in result.stderr and "on Modal" in result.stderr
    job = only_job()
    assert job.status == "cancelled"
    assert job.error == "cancelled by user"
    assert job.remote_call_id == call_id
    assert not Path("clip.mp4").exists()


def test_ctrl_c_with_keep_running_leaves_the_call_running(modal_standin: ModalStandIn):
    modal_standin.script = Script(steps=5, interrupt_at=2)

    result = invoke("generate", PROMPT, "--no-enhance", "--keep-running", "-o", "clip.mp4", *SMALL)

    assert result.exit_code == 130
    assert modal_standin.cancelled == []
    job = only_job()
    assert job.status == "running"
    assert job.remote_call_id == modal_standin.spawns[0].call_id
    assert "keeps running on Modal" in result.stderr
    assert f"pippa status {job.task_id[:8]} --wait" in result.stderr


def test_ctrl_c_with_a_failing_cancel_keeps_the_job_findable(
    modal_standin: ModalStandIn, monkeypatch: pytest.MonkeyPatch
):
    modal_standin.script = Script(steps=5, interrupt_at=1)

    def cancel_fails(self: FakeFunctionCall) -> None:
        raise modal.exception.ConnectionError("connection reset")

    monkeypatch.setattr(FakeFunctionCall, "cancel", cancel_fails)
    result = invoke("generate", PROMPT, "--no-enhance", "-o", "clip.mp4", *SMALL)

    assert result.exit_code == 130
    assert "could not cancel job" in result.stderr
    job = only_job()
    assert job.status == "running"
    assert f"pippa cancel {job.task_id[:8]}" in result.stderr


# --- --detach ------------------------------------------------------------------------------


def test_detach_prints_the_task_id_and_returns(modal_standin: ModalStandIn):
    result = invoke("generate", PROMPT, "--no-enhance", "--detach", "-o", "clip.mp4", *SMALL)

    assert result.exit_code == 0, result.output
    job = only_job()
    assert result.stdout == f"{job.task_id}\n"
    assert f"pippa status {job.task_id[:8]} --wait" in result.stderr
    assert job.status == "running"
    assert job.stage == "queued"
    assert job.remote_call_id == modal_standin.spawns[0].call_id
    assert job.output_path == str(Path("clip.mp4").resolve())
    assert modal_standin.gets == 0
    assert not Path("clip.mp4").exists()


def test_detach_json_prints_one_object(modal_standin: ModalStandIn):
    result = invoke("generate", PROMPT, "--no-enhance", "--detach", "--json", *SMALL)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["task_id"] == only_job().task_id
    assert data["status"] == "running"
    assert data["remote_call_id"] == modal_standin.spawns[0].call_id
    assert data["video_path"] is None
    assert modal_standin.gets == 0


def test_detach_needs_modal(modal_standin: ModalStandIn):
    result = invoke("generate", PROMPT, "--no-enhance", "--detach", "--backend", "local", *SMALL)

    assert result.exit_code == 2
    assert "--detach needs the Modal backend" in result.stderr


# --- SIGTERM / SIGHUP: stop following, leave the paid-for call running ---------------------


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX signals")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_termination_signal_stops_following_but_keeps_the_call(signum: int, tmp_path: Path):
    record = tmp_path / "record.json"
    child = pippa_process("generate", PROMPT, "--no-enhance", "-o", "clip.mp4", record=record)

    def following_its_call():
        jobs = history().list()
        # Submitted and recorded, and the first poll's "queued" (5%, after the 2% of the
        # prompt) reported: the child is inside its polling loop.
        if jobs and jobs[0].remote_call_id and jobs[0].status == "running":
            return jobs[0] if jobs[0].progress >= 5 else None
        return None

    try:
        job = wait_for(following_its_call, "the child following its Modal call", proc=child)
        child.send_signal(signum)
        stdout, stderr = child.communicate(timeout=15)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()

    assert child.returncode == 130, stderr
    assert stdout == ""
    assert "keeps running on Modal" in stderr
    assert f"pippa status {job.task_id[:8]} --wait" in stderr
    assert "Traceback" not in stderr
    after = history().get(job.task_id)
    assert after.status == "running"
    assert after.remote_call_id == job.remote_call_id
    done = json.loads(record.read_text())
    assert done["spawns"] == [job.remote_call_id]
    assert done["gets"] >= 1
    assert done["cancelled"] == []


@pytest.mark.parametrize("flag", ["--duration", "--guidance"])
def test_nan_is_out_of_range_before_anything_is_spent(flag: str, modal_standin: ModalStandIn):
    result = invoke("generate", "a fox", "--no-enhance", *SMALL, flag, "nan")

    assert result.exit_code == 2, result.stderr
    assert f"Error: {flag} nan is out of range" in result.stderr
    assert modal_standin.spawns == []  # nothing paid for
    assert history().list() == []


def test_ctrl_c_during_submit_records_no_submit_time(
    modal_standin: ModalStandIn, monkeypatch: pytest.MonkeyPatch
):
    """Ctrl-C while the call is spawned waits until its id is recorded, then cancels the
    job; the submission did not finish, so no submit time is recorded."""
    from tests import modal_standin as standin_module

    spawn = standin_module._FakeMethod.spawn

    def spawn_then_sigint(self, request):  # type: ignore[no-untyped-def]
        call = spawn(self, request)
        os.kill(os.getpid(), signal.SIGINT)
        return call

    monkeypatch.setattr(standin_module._FakeMethod, "spawn", spawn_then_sigint)
    result = invoke("generate", "a fox", "--no-enhance", *SMALL)

    assert result.exit_code == 130, result.stderr
    job = only_job()
    assert job.status == "cancelled"
    assert job.timings == {}
