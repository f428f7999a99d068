"""`pippa status` and `pippa cancel`: listing, finding, refreshing and cancelling jobs.

Modal jobs are followed through the stand-in for Modal's call objects
(tests/modal_standin.py); local jobs are history rows whose process is real (or gone).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import modal.exception
import pytest

from pippa_cli.history import Job
from tests.helpers import SMALL, Watched, add_job, dead_pid, history, invoke, sidecar
from tests.modal_results import remote_raise
from tests.modal_standin import ModalStandIn, Script

SEED_SCHEMA = (
    "task_id",
    "status",
    "progress",
    "video_path",
    "original_prompt",
    "enhanced_prompt",
    "created_at",
)


def fields(stdout: str) -> dict[str, str]:
    """`pippa status ID`'s `name  value` lines as a dict."""
    out = {}
    for line in stdout.splitlines():
        name, _, value = line.partition(" ")
        out[name] = value.strip()
    return out


@pytest.fixture
def three_jobs() -> list[Job]:
    return [
        add_job(
            "a red fox in snow",
            "completed",
            task_id="11111111-aaaa-4000-8000-000000000001",
            created_at="2025-01-01T10:00:00+00:00",
            progress=100,
            video_path="/videos/fox.mp4",
            output_path="/videos/fox.mp4",
            enhanced_prompt="A red fox trots through deep snow at dawn.",
        ),
        add_job(
            "a storm over the sea",
            "failed",
            task_id="22222222-bbbb-4000-8000-000000000002",
            created_at="2025-01-01T11:00:00+00:00",
            progress=40,
            error="the render failed on Modal: boom",
            output_path="/videos/storm.mp4",
        ),
        add_job(
            "a cat on a piano",
            "completed",
            task_id="33333333-cccc-4000-8000-000000000003",
            created_at="2025-01-01T12:00:00+00:00",
            progress=100,
            video_path="/videos/cat.mp4",
        ),
    ]


# --- the list --------------------------------------------------------------------------


def table_rows(stdout: str) -> list[list[str]]:
    lines = stdout.splitlines()
    assert lines[0].split()[:6] == ["ID", "STATUS", "PROGRESS", "AGE", "PROMPT", "OUTPUT"]
    return [line.split() for line in lines[1:]]


def test_table_lists_jobs_newest_first(three_jobs: list[Job]):
    result = invoke("status")

    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert [row[0] for row in rows] == ["33333333", "22222222", "11111111"]
    cat, storm, fox = (" ".join(row) for row in rows)
    assert "completed 100%" in cat and "a cat on a piano" in cat and cat.endswith("/videos/cat.mp4")
    assert "failed 40%" in storm and "a storm over the sea" in storm
    assert storm.endswith("the render failed on Modal: boom")  # a failure shows its error
    assert "completed 100%" in fox and fox.endswith("/videos/fox.mp4")
    assert "d ago" in fox  # its age


def test_limit(three_jobs: list[Job]):
    result = invoke("status", "--limit", "2")

    assert result.exit_code == 0, result.output
    assert [row[0] for row in table_rows(result.stdout)] == ["33333333", "22222222"]


def test_status_filter(three_jobs: list[Job]):
    result = invoke("status", "--status", "completed")

    assert result.exit_code == 0, result.output
    assert [row[0] for row in table_rows(result.stdout)] == ["33333333", "11111111"]


def test_unknown_status_filter_is_a_usage_error(three_jobs: list[Job]):
    result = invoke("status", "--status", "done")

    assert result.exit_code == 2
    assert "Error: unknown status 'done'" in result.stderr
    assert "completed" in result.stderr
    assert result.stdout == ""


def test_json_lines_follow_the_seed_schema(three_jobs: list[Job]):
    result = invoke("status", "--json")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    jobs = [json.loads(line) for line in lines]
    assert [j["task_id"] for j in jobs] == [
        three_jobs[2].task_id,
        three_jobs[1].task_id,
        three_jobs[0].task_id,
    ]
    for job in jobs:
        assert tuple(job)[: len(SEED_SCHEMA)] == SEED_SCHEMA
    fox = jobs[2]
    assert fox["status"] == "completed"
    assert fox["progress"] == 100
    assert fox["video_path"] == "/videos/fox.mp4"
    assert fox["original_prompt"] == "a red fox in snow"
    assert fox["enhanced_prompt"] == "A red fox trots through deep snow at dawn."
    assert fox["created_at"] == "2025-01-01T10:00:00+00:00"


def test_json_with_filter_and_limit(three_jobs: list[Job]):
    result = invoke("status", "--json", "--status", "completed", "--limit", "1")

    assert result.exit_code == 0, result.output
    assert [json.loads(line)["task_id"] for line in result.stdout.splitlines()] == [
        three_jobs[2].task_id
    ]


def test_empty_history():
    result = invoke("status")

    assert result.exit_code == 0
    assert result.stdout == ""
    assert "No jobs yet" in result.stderr
    assert invoke("status", "--json").stdout == ""


def test_wait_without_an_id_is_a_usage_error():
    result = invoke("status", "--wait")

    assert result.exit_code == 2
    assert "--wait and --output need a task id" in result.stderr


# --- one job, by any unique prefix ----------------------------------------------------------


@pytest.mark.parametrize(
    "prefix", ["2", "2222", "22222222-BBBB", "22222222-bbbb-4000-8000-000000000002"]
)
def test_any_unique_prefix_finds_the_job(three_jobs: list[Job], prefix: str):
    result = invoke("status", prefix)

    assert result.exit_code == 0, result.output
    shown = fields(result.stdout)
    assert shown["task_id"] == three_jobs[1].task_id
    assert shown["status"] == "failed"
    assert shown["progress"] == "40%"
    assert shown["original_prompt"] == "a storm over the sea"
    assert shown["error"] == "the render failed on Modal: boom"


def test_one_job_as_json(three_jobs: list[Job]):
    result = invoke("status", "1111", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert tuple(data)[: len(SEED_SCHEMA)] == SEED_SCHEMA
    assert data["task_id"] == three_jobs[0].task_id
    assert data["video_path"] == "/videos/fox.mp4"


def test_ambiguous_prefix_names_the_candidates(three_jobs: list[Job]):
    add_job(
        "x",
        "completed",
        task_id="3333aaaa-dddd-4000-8000-000000000004",
        created_at="2025-01-02T00:00:00+00:00",
    )

    result = invoke("status", "3333")

    assert result.exit_code == 2
    assert "ambiguous" in result.stderr
    assert "33333333-ccc" in result.stderr and "3333aaaa-ddd" in result.stderr
    assert result.stdout == ""


def test_unknown_id(three_jobs: list[Job]):
    result = invoke("status", "999")

    assert result.exit_code == 2
    assert "Error: no job with id 999" in result.stderr


# --- a detached Modal job, followed through `pippa status` ------------------------------------


def detach(*args: str) -> Job:
    result = invoke("generate", "a storm at sea", "--no-enhance", "--detach", *SMALL, *args)
    assert result.exit_code == 0, result.output
    return history().get(result.stdout.strip())


def test_status_follows_a_detached_job_to_its_video(
    modal_standin: ModalStandIn, standin_mp4: bytes
):
    modal_standin.script = Script(steps=2)
    job = detach("-o", "storm.mp4")
    planned = Path("storm.mp4").resolve()

    # get #0: the container is starting; nothing published yet.
    first = invoke("status", job.task_id[:8])
    assert first.exit_code == 0, first.output
    assert fields(first.stdout)["stage"] == "queued"
    assert history().get(job.task_id).progress == 5
    # get #1 and #2: the container publishes denoising progress in the Dict.
    second = invoke("status", job.task_id[:8])
    now = history().get(job.task_id)
    assert (now.status, now.stage, now.progress) == ("running", "denoising", 48)
    assert fields(second.stdout)["progress"] == "48%"
    invoke("status", job.task_id[:8])
    assert history().get(job.task_id).progress == 92
    assert modal_standin.progress.reads == [job.remote_call_id] * 3
    assert not planned.exists()
    # get #3: the result; `pippa status` saves it where generate planned to.
    done = invoke("status", job.task_id[:8])
    assert done.exit_code == 0, done.output
    assert planned.read_bytes() == standin_mp4
    finished = history().get(job.task_id)
    assert finished.status == "completed"
    assert finished.progress == 100
    assert finished.video_path == str(planned)
    assert fields(done.stdout)["video_path"] == str(planned)
    assert sidecar(planned)["status"] == "completed"
    # Later looks do not ask Modal again.
    gets = modal_standin.gets
    assert invoke("status", job.task_id[:8]).exit_code == 0
    assert modal_standin.gets == gets
    assert modal_standin.cancelled == []


def test_status_output_option_saves_elsewhere(modal_standin: ModalStandIn, standin_mp4: bytes):
    modal_standin.script = Script(steps=0)
    job = detach("-o", "planned.mp4")
    assert invoke("status", job.task_id).exit_code == 0  # get #0: still queued

    result = invoke("status", job.task_id, "-o", "elsewhere.mp4")

    assert result.exit_code == 0, result.output
    target = Path("elsewhere.mp4").resolve()
    assert target.read_bytes() == standin_mp4
    assert not Path("planned.mp4").exists()
    assert history().get(job.task_id).video_path == str(target)


def test_status_wait_follows_and_saves(modal_standin: ModalStandIn, standin_mp4: bytes):
    modal_standin.script = Script(steps=4)
    job = detach()

    result = invoke("status", job.task_id[:8], "--wait", "-o", "storm.mp4")

    assert result.exit_code == 0, result.output
    target = Path("storm.mp4").resolve()
    assert target.read_bytes() == standin_mp4
    finished = history().get(job.task_id)
    assert finished.status == "completed"
    assert finished.video_path == str(target)
    assert fields(result.stdout)["video_path"] == str(target)
    assert len(modal_standin.calls[job.remote_call_id].gets) == 6  # queued, 4 steps, result
    assert "Denoising" in result.stderr


def test_status_wait_refuses_to_overwrite(modal_standin: ModalStandIn):
    job = detach()
    Path("storm.mp4").write_bytes(b"mine")

    result = invoke("status", job.task_id, "--wait", "-o", "storm.mp4")

    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert Path("storm.mp4").read_bytes() == b"mine"
    assert modal_standin.gets == 0


def test_expired_result_fails_the_job(modal_standin: ModalStandIn):
    modal_standin.script = Script(steps=0, outcome=modal.exception.OutputExpiredError())
    job = detach()
    invoke("status", job.task_id)  # get #0: pending

    result = invoke("status", job.task_id)

    assert result.exit_code == 0, result.output
    failed = history().get(job.task_id)
    assert failed.status == "failed"
    assert failed.error.startswith("expired")
    assert "Modal keeps results for 7 days" in failed.error
    assert fields(result.stdout)["error"] == failed.error
    assert not Path(job.output_path).exists()


def test_expired_result_with_wait_exits_1(modal_standin: ModalStandIn):
    modal_standin.script = Script(steps=0, outcome=modal.exception.OutputExpiredError())
    job = detach()
    invoke("status", job.task_id)

    result = invoke("status", job.task_id, "--wait")

    assert result.exit_code == 1
    assert history().get(job.task_id).error.startswith("expired")


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (modal.exception.RemoteError("CUDA out of memory"), "CUDA out of memory"),
        (remote_raise(ValueError("height must be divisible by 32")), "divisible by 32"),
    ],
    ids=["remote-error", "user-code"],
)
def test_remote_failure_fails_the_job(modal_standin: ModalStandIn, error: Exception, message: str):
    modal_standin.script = Script(steps=0, outcome=error)
    job = detach()
    invoke("status", job.task_id)

    result = invoke("status", job.task_id)

    assert result.exit_code == 0, result.output
    failed = history().get(job.task_id)
    assert failed.status == "failed"
    assert message in failed.error
    assert "failed on Modal" in fields(result.stdout)["error"]


def test_remote_failure_while_waiting(modal_standin: ModalStandIn):
    modal_standin.script = Script(steps=2, outcome=modal.exception.RemoteError("segfault"))
    job = detach()

    result = invoke("status", job.task_id, "--wait")

    assert result.exit_code == 1
    assert "Error: the render failed on Modal: segfault" in result.stderr
    assert not Path(job.output_path).exists()
    shown = invoke("status", job.task_id)
    failed = history().get(job.task_id)
    assert failed.status == "failed"
    assert "segfault" in failed.error
    assert fields(shown.stdout)["status"] == "failed"


def test_ctrl_c_while_waiting_leaves_the_job_running(modal_standin: ModalStandIn):
    modal_standin.script = Script(steps=5, interrupt_at=2)
    job = detach()

    result = invoke("status", job.task_id[:8], "--wait")

    assert result.exit_code == 130
    assert "keeps running on Modal" in result.stderr
    assert f"pippa status {job.task_id[:8]} --wait" in result.stderr
    assert modal_standin.cancelled == []
    still = history().get(job.task_id)
    assert still.status == "running"
    assert still.remote_call_id == job.remote_call_id


def test_an_offline_status_check_does_not_fail_the_job(modal_standin: ModalStandIn):
    modal_standin.script = Script(steps=0, outcome=modal.exception.ConnectionError("offline"))
    job = detach()
    invoke("status", job.task_id)  # get #0: pending

    invoke("status", job.task_id)  # get #1: Modal cannot be reached

    assert history().get(job.task_id).status == "running"


# --- pippa cancel ---------------------------------------------------------------------------


def test_cancel_a_running_modal_job(modal_standin: ModalStandIn):
    job = detach()

    result = invoke("cancel", job.task_id[:6])

    assert result.exit_code == 0, result.output
    assert result.stdout == f"{job.task_id}\n"
    assert modal_standin.cancelled == [job.remote_call_id]
    cancelled = history().get(job.task_id)
    assert cancelled.status == "cancelled"
    assert cancelled.error == "cancelled with pippa cancel"
    assert cancelled.completed_at


def test_cancel_a_completed_job_is_refused(three_jobs: list[Job], modal_standin: ModalStandIn):
    result = invoke("cancel", "1111")

    assert result.exit_code == 1
    assert "already completed" in result.stderr
    assert modal_standin.cancelled == []
    assert history().get("1111").status == "completed"


def test_cancel_an_orphaned_local_job_is_refused():
    job = add_job(
        "a lighthouse",
        "running",
        task_id="44444444-eeee-4000-8000-000000000004",
        created_at="2025-01-01T00:00:00+00:00",
        backend="local",
    )
    history().update(job.task_id, pid=dead_pid(), host=socket.gethostname())

    result = invoke("cancel", "4444")

    assert result.exit_code == 1
    assert "already failed" in result.stderr


# --- jobs whose process is gone ----------------------------------------------------------------


@pytest.mark.parametrize("status", ["running", "queued"])
def test_local_job_with_a_dead_process_shows_as_interrupted(status: str):
    job = add_job(
        "a lighthouse in fog",
        status,
        task_id="55555555-ffff-4000-8000-000000000005",
        created_at="2025-01-01T00:00:00+00:00",
        backend="local",
        pid=dead_pid(),
        host=socket.gethostname(),
    )

    listing = invoke("status")

    assert listing.exit_code == 0, listing.output
    row = " ".join(table_rows(listing.stdout)[0])
    assert row.startswith("55555555 failed")
    assert "interrupted" in row
    failed = history().get(job.task_id)
    assert failed.status == "failed"
    assert failed.error.startswith("interrupted")
    assert failed.completed_at
    shown = fields(invoke("status", "5555").stdout)
    assert shown["status"] == "failed"
    assert shown["error"].startswith("interrupted")


def test_local_job_shown_by_id_is_marked_too():
    job = add_job(
        "waves",
        "running",
        task_id="66666666-aaaa-4000-8000-000000000006",
        created_at="2025-01-01T00:00:00+00:00",
        backend="local",
        pid=dead_pid(),
        host=socket.gethostname(),
    )

    result = invoke("status", "6666", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "failed"
    assert data["error"].startswith("interrupted")
    assert history().get(job.task_id).status == "failed"


def test_modal_job_that_never_reached_modal(modal_standin: ModalStandIn):
    job = add_job(
        "a storm",
        "queued",
        task_id="77777777-bbbb-4000-8000-000000000007",
        created_at="2025-01-01T00:00:00+00:00",
        backend="modal",
        pid=dead_pid(),
        host=socket.gethostname(),
    )

    result = invoke("status", "7777")

    assert result.exit_code == 0, result.output
    failed = history().get(job.task_id)
    assert failed.status == "failed"
    assert "no GPU time was spent" in failed.error
    assert "no GPU time was spent" in fields(result.stdout)["error"]
    assert modal_standin.call_lookups == []


def test_job_on_another_host_is_left_alone():
    job = add_job(
        "another host",
        "running",
        task_id="88888888-cccc-4000-8000-000000000008",
        created_at="2025-01-01T00:00:00+00:00",
        backend="local",
        pid=dead_pid(),
        host="some-other-machine",
    )

    result = invoke("status", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "running"
    assert history().get(job.task_id).status == "running"


def test_job_of_a_live_pippa_process_is_left_alone():
    # A live process whose command line names pippa (as `pippa generate` would).
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "pippa"])
    try:
        job = add_job(
            "still rendering",
            "running",
            task_id="99999999-dddd-4000-8000-000000000009",
            created_at="2025-01-01T00:00:00+00:00",
            backend="local",
            pid=live.pid,
            host=socket.gethostname(),
        )

        assert fields(invoke("status", "9999").stdout)["status"] == "running"
        assert json.loads(invoke("status", "--json").stdout)["status"] == "running"
        assert history().get(job.task_id).status == "running"
    finally:
        live.kill()
        live.wait()


def status_wait(prefix: str) -> Watched:
    """`pippa status PREFIX --wait` in a child process; the test acts once it says
    "Denoising..." on stderr: it is watching the owner's row."""
    return Watched([sys.executable, "-m", "pippa_cli", "status", prefix, "--wait"])


def test_wait_on_a_local_job_notices_its_process_dying():
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "pippa"])
    try:
        job = add_job(
            "a slow render",
            "running",
            task_id="aaaaaaaa-eeee-4000-8000-00000000000a",
            created_at="2025-01-01T00:00:00+00:00",
            backend="local",
            stage="denoising",
            progress=48,
            pid=live.pid,
            host=socket.gethostname(),
        )
        with status_wait("aaaa") as waiting:
            waiting.wait_for_stderr("Denoising")
            live.kill()

            stdout, stderr = waiting.finish()
    finally:
        live.kill()
        live.wait()

    assert waiting.proc.returncode == 1, stderr
    shown = fields(stdout)
    assert shown["status"] == "failed"
    assert shown["error"].startswith("interrupted")
    assert history().get(job.task_id).status == "failed"


def test_wait_on_a_local_job_follows_it_to_the_end():
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "pippa"])
    try:
        job = add_job(
            "a quick render",
            "running",
            task_id="bbbbbbbb-eeee-4000-8000-00000000000b",
            created_at="2025-01-01T00:00:00+00:00",
            backend="local",
            stage="denoising",
            pid=live.pid,
            host=socket.gethostname(),
        )
        with status_wait("bbbb") as waiting:
            waiting.wait_for_stderr("Denoising")
            history().finish(job.task_id, "completed", progress=100, video_path="/v/quick.mp4")

            stdout, stderr = waiting.finish()
    finally:
        live.kill()
        live.wait()

    assert waiting.proc.returncode == 0, stderr
    assert fields(stdout)["video_path"] == "/v/quick.mp4"
