"""An unreachable Modal costs seconds, not minutes: the real Modal SDK against a server that
accepts connections and never answers (on 127.0.0.1), in real pippa processes.

Modal's client retries such a server for one to three minutes; pippa gives up after
CONNECT_TIMEOUT_S (10 s) and says so. Nothing is replaced: these run the installed pippa
and modal with fake credentials and MODAL_SERVER_URL pointing at the silent server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pippa_cli.backends.modal_backend import CONNECT_TIMEOUT_S
from pippa_cli.history import History, new_job

# Generous: the bound is 10 s, plus a process start and pippa's own work.
WITHIN_S = CONNECT_TIMEOUT_S + 15


@pytest.fixture
def silent_modal(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A TCP server that accepts and then says nothing; the environment pointing at it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)  # never read, never answered
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    env = {
        **os.environ,
        "MODAL_SERVER_URL": f"http://127.0.0.1:{server.getsockname()[1]}",
        "MODAL_TOKEN_ID": "ak-silent-test",
        "MODAL_TOKEN_SECRET": "as-silent-test",
        "PIPPA_HOME": str(tmp_path / "home"),
    }
    yield env
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def pippa(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pippa_cli", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_generate_status_and_deploy_give_up_within_seconds(
    silent_modal: dict[str, str], tmp_path: Path
):
    # A job Modal holds, as an earlier `generate --detach` would have left it.
    history = History.open_default(Path(silent_modal["PIPPA_HOME"]))
    job = new_job("a storm at sea", "modal")
    job.status, job.remote_call_id = "running", "fc-01SILENTSILENTSILENTSILENT"
    job.pid = None  # its process let go of it (as after --detach)
    history.add(job)

    started = time.monotonic()
    runs = {
        "generate": pippa(silent_modal, tmp_path, "generate", "a red fox", "--no-enhance"),
        "status": pippa(silent_modal, tmp_path, "status", job.task_id),
        "deploy": pippa(silent_modal, tmp_path, "deploy"),
    }
    outputs = {name: proc.communicate(timeout=WITHIN_S + 30) for name, proc in runs.items()}
    elapsed = time.monotonic() - started

    assert elapsed < WITHIN_S, elapsed  # all three ran side by side
    generate_out, generate_err = outputs["generate"]
    assert runs["generate"].returncode == 1
    assert generate_out == ""
    assert "Connecting to Modal..." in generate_err
    assert "Error: could not reach Modal within 10 s (connecting to Modal)" in generate_err
    assert "Traceback" not in generate_err
    assert history.list() == [history.get(job.task_id)]  # generate recorded no job

    status_out, status_err = outputs["status"]
    assert "remote_call_id" in status_out
    assert runs["status"].returncode == 0  # the job as last recorded, with a warning
    assert "could not reach Modal within 10 s" in status_err
    assert history.get(job.task_id).status == "running"  # still findable, not failed

    deploy_out, deploy_err = outputs["deploy"]
    assert runs["deploy"].returncode == 1
    assert deploy_out == ""
    assert "Error: could not reach Modal within 10 s" in deploy_err
    assert "ak-silent-test" not in generate_err + status_err + deploy_err
