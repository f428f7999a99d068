"""The job history: SQLite rows, prefix lookup, a corrupt file, many writers at once."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pippa_cli.errors import HistoryError, UsageError
from pippa_cli.history import History, Job, new_job
from tests.helpers import invoke, wait_for
from tests.modal_standin import ModalStandIn, pippa_process


@pytest.fixture
def history(clean_env: Path) -> History:
    return History.open_default()


def job_with_id(task_id: str, prompt: str = "a fox", **fields) -> Job:
    job = new_job(prompt, "modal", **fields)
    job.task_id = task_id
    return job


# --- rows ----------------------------------------------------------------------------------


def test_open_default_lives_in_pippa_home(history: History, clean_env: Path):
    assert history.path == clean_env / "history.db"
    assert history.path.is_file()


def test_add_and_get_round_trip(history: History):
    job = new_job(
        "a red fox in snow",
        "modal",
        output_path="/videos/fox.mp4",
        settings={"steps": 50, "customization": {"style": "cinematic"}, "note": "ünïcode ✓"},
        seed=42,
        model="ltx-video",
    )

    history.add(job)

    again = history.get(job.task_id)
    assert again == job
    assert again.status == "queued" and again.active
    assert again.pid == os.getpid()
    assert again.settings["customization"] == {"style": "cinematic"}
    assert again.settings["note"] == "ünïcode ✓"


def test_update_changes_only_the_given_fields(history: History):
    job = new_job("a fox", "modal")
    history.add(job)

    history.update(job.task_id, status="running", progress=48, stage="denoising")
    history.update(job.task_id, timings={"submit_s": 0.5}, remote_call_id="fc-123")
    history.update(job.task_id)  # nothing to change

    again = history.get(job.task_id)
    assert (again.status, again.progress, again.stage) == ("running", 48, "denoising")
    assert again.timings == {"submit_s": 0.5}
    assert again.remote_call_id == "fc-123"
    assert again.original_prompt == "a fox"
    assert again.completed_at is None


def test_finish_sets_the_end_time(history: History):
    job = new_job("a fox", "local")
    history.add(job)

    history.finish(job.task_id, "failed", error="interrupted")

    again = history.get(job.task_id)
    assert again.status == "failed"
    assert again.error == "interrupted"
    assert again.completed_at and again.completed_at >= again.created_at
    assert not again.active


def test_list_newest_first_with_limit_and_status(history: History):
    jobs = []
    for i, status in enumerate(["completed", "failed", "completed", "running"]):
        job = new_job(f"job {i}", "modal")
        job.status = status
        job.created_at = f"2025-01-0{i + 1}T00:00:00+00:00"
        history.add(job)
        jobs.append(job)

    assert [j.task_id for j in history.list()] == [j.task_id for j in reversed(jobs)]
    assert [j.original_prompt for j in history.list(limit=2)] == ["job 3", "job 2"]
    assert [j.original_prompt for j in history.list(status="completed")] == ["job 2", "job 0"]
    assert history.list(status="cancelled") == []


def test_list_keeps_insertion_order_within_one_second(history: History):
    ids = []
    for i in range(3):
        job = new_job(f"job {i}", "modal")
        job.created_at = "2025-01-01T00:00:00+00:00"
        history.add(job)
        ids.append(job.task_id)

    assert [j.task_id for j in history.list()] == ids[::-1]


def test_get_by_prefix(history: History):
    history.add(job_with_id("abc12345-0000"))
    history.add(job_with_id("abd99999-0000"))

    assert history.get("abc").task_id == "abc12345-0000"
    assert history.get("  ABD9 ").task_id == "abd99999-0000"
    with pytest.raises(UsageError, match="ambiguous") as ambiguous:
        history.get("ab")
    assert "abc12345-000" in ambiguous.value.message
    assert "abd99999-000" in ambiguous.value.message
    with pytest.raises(UsageError, match="no job with id zzz"):
        history.get("zzz")
    with pytest.raises(UsageError, match="no task id"):
        history.get("   ")


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [("a_", "a_b-literal"), ("a%", "a%b-literal"), ("a\\", "a\\b-literal")],
)
def test_prefix_wildcards_are_literal(history: History, prefix: str, expected: str):
    for task_id in ("a_b-literal", "a%b-literal", "a\\b-literal", "axb-other", "ayb-other"):
        history.add(job_with_id(task_id))

    assert history.get(prefix).task_id == expected


def test_a_bare_wildcard_matches_nothing(history: History):
    history.add(job_with_id("abc"))
    history.add(job_with_id("abd"))

    for prefix in ("%", "_", "_bc"):
        with pytest.raises(UsageError, match="no job with id"):
            history.get(prefix)


def test_wal_mode_is_on(history: History):
    history.add(new_job("a fox", "modal"))

    with sqlite3.connect(history.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unwritable_home_is_a_history_error(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")

    with pytest.raises(HistoryError, match="cannot create the history directory"):
        History(blocker / "sub" / "history.db")


# --- a corrupt file is reported, never replaced ------------------------------------------------

GARBAGE = b"this is not an SQLite database\x00\xff\xfe" * 200


@pytest.fixture
def corrupt_history(clean_env: Path) -> Path:
    clean_env.mkdir(parents=True, exist_ok=True)
    path = clean_env / "history.db"
    path.write_bytes(GARBAGE)
    return path


def test_corrupt_history_fails_status_and_keeps_the_file(corrupt_history: Path):
    result = invoke("status")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: the job history ")
    assert str(corrupt_history) in result.stderr.replace("\n", "")
    assert "never overwrites" in result.stderr
    assert "Traceback" not in result.output
    assert corrupt_history.read_bytes() == GARBAGE


def test_corrupt_history_stops_generate_before_anything_is_spent(
    corrupt_history: Path, modal_standin: ModalStandIn
):
    result = invoke("generate", "a fox", "--no-enhance", "--duration", "3")

    assert result.exit_code == 1
    assert "Error: the job history" in result.stderr
    assert modal_standin.spawns == []
    assert corrupt_history.read_bytes() == GARBAGE


def test_corrupt_history_in_doctor(corrupt_history: Path, monkeypatch: pytest.MonkeyPatch):
    import pippa_cli.doctor

    monkeypatch.setattr(
        pippa_cli.doctor, "check_local", lambda: pippa_cli.doctor.Check("x", "ok", "")
    )
    monkeypatch.setenv("PIPPA_BACKEND", "local")

    result = invoke("doctor")

    assert result.exit_code == 1
    history_line = next(line for line in result.stdout.splitlines() if " history " in line)
    assert history_line.startswith("error")
    assert corrupt_history.read_bytes() == GARBAGE


# --- many writers at once -------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pippa_cli.history import History, new_job

    go, ready = sys.argv[1], sys.argv[3]
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.002)
    history = History.open_default()
    for i in range(20):
        job = new_job(f"writer {sys.argv[2]} job {i}", "modal")
        history.add(job)
        history.update(job.task_id, status="running", stage="denoising", progress=50)
        history.finish(job.task_id, "completed", progress=100, video_path=f"/v/{i}.mp4")
    """
)


def test_eight_processes_write_at_once(clean_env: Path, tmp_path: Path):
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{n}" for n in range(8)]
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(go), str(n), str(ready[n])],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for n in range(8)
    ]
    # All at the starting line (imports done, history not yet opened), then all at once.
    wait_for(lambda: all(r.exists() for r in ready), "all eight writers ready")
    go.touch()
    outputs = [w.communicate(timeout=60) for w in writers]
    results = [(w.returncode, *out) for w, out in zip(writers, outputs, strict=True)]

    for code, _stdout, stderr in results:
        assert code == 0, stderr
        assert "database is locked" not in stderr
    jobs = History.open_default().list(limit=1000)
    assert len(jobs) == 160
    assert len({j.task_id for j in jobs}) == 160
    assert {j.status for j in jobs} == {"completed"}
    assert {j.progress for j in jobs} == {100}
    for n in range(8):
        assert sum(j.original_prompt.startswith(f"writer {n} ") for j in jobs) == 20


def test_eight_pippa_processes_record_their_jobs(clean_env: Path):
    """`xargs -P 8 pippa generate --detach`: real pippa processes, Modal stood in."""
    children = [
        pippa_process("generate", f"clip {n}", "--no-enhance", "--detach", "-o", f"clip-{n}.mp4")
        for n in range(8)
    ]
    outputs = [c.communicate(timeout=120) for c in children]
    results = [(c.returncode, *out) for c, out in zip(children, outputs, strict=True)]

    for code, _stdout, stderr in results:
        assert code == 0, stderr
        assert "database is locked" not in stderr
    ids = {stdout.strip() for _code, stdout, _stderr in results}
    jobs = History.open_default().list(limit=100)
    assert {j.task_id for j in jobs} == ids and len(ids) == 8
    assert all(j.status == "running" and j.remote_call_id for j in jobs)
