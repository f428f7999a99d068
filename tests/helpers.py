"""What the test modules share: running pippa, the render sizes, the job history, waiting.

    invoke(*args)               `pippa ARGS` in this process (typer's CliRunner)
    batch(source, out_dir)      `pippa generate --from-file SOURCE --output-dir OUT_DIR`
    run_pippa(*args)            `pippa ARGS` in a child process, stdin a pipe
    Watched                     a child process whose stderr is read as it comes
    without_file_capabilities   Python in a child that file permissions stop, root or not
    SMALL, TINY                 the size options of a cheap render
    history(), only_job(), add_job(), dead_pid(), sidecar(), write()
    wait_for(predicate, what)   poll a state (history, file); the timeout is a safety net

Tests wait on what they can observe (a history row, a file, a line pippa printed), never
on a sleep that hopes something happened meanwhile.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from typer.testing import CliRunner, Result

from pippa_cli.history import History, Job, new_job

T = TypeVar("T")

REPO = Path(__file__).resolve().parent.parent

# The size options of a cheap render: SMALL is what most Modal stand-in tests ask for;
# TINY is the tiny model's own size (tests/fixtures_ltx.py `small_args` for local renders).
SMALL = ["--duration", "3", "--fps", "8", "--width", "256", "--height", "160", "--steps", "4"]
TINY = ["--duration", "3", "--fps", "8", "--width", "64", "--height", "64", "--steps", "2"]


# --- pippa in this process ------------------------------------------------------------


def invoke(
    *args: str,
    input: str | bytes | None = None,
    env: Mapping[str, str | None] | None = None,
    **kwargs: Any,
) -> Result:
    """`pippa ARGS` in this process: exit code, stdout and stderr apart.

    `env` overrides variables for this call only; other keywords go to CliRunner.invoke
    (`obj=`: by default hands the CLI the test's Modal stand-in, if it has one). An
    exception pippa did not turn into an exit code is raised here, with its traceback,
    rather than hidden in `result.exception` behind an exit code of 1.
    """
    from pippa_cli.cli.app import app
    from tests.modal_standin import cli_obj

    # The running test's Modal stand-in (if it has one) is handed to the CLI, not patched in.
    kwargs.setdefault("obj", cli_obj())
    result = CliRunner().invoke(app, list(args), input=input, env=env, **kwargs)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def batch(
    source: str | Path,
    out_dir: str | Path,
    *extra: str,
    size: Sequence[str] = SMALL,
    input: str | None = None,
) -> Result:
    """`pippa generate --from-file SOURCE --output-dir OUT_DIR --no-enhance SIZE EXTRA`."""
    return invoke(
        "generate", "--from-file", str(source), "--output-dir", str(out_dir), "--no-enhance",
        *size, *extra, input=input,
    )  # fmt: skip


# --- pippa in a child process ------------------------------------------------------------


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment (conftest's clean one), with the repository importable
    (`tests.*` in a child) and `extra` set."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **extra}


def python_probe(source: str, env: Mapping[str, str]) -> dict[str, Any]:
    """Run `source` in a fresh Python (what a new process or container would see) and
    return the JSON object its last line of output prints."""
    proc = subprocess.run(
        [sys.executable, "-c", source],
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    found: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return found


def run_pippa(
    *args: str | bytes,
    input: bytes = b"",
    timeout: float = 60,
    python_flags: Sequence[str] = (),
) -> subprocess.CompletedProcess[bytes]:
    """The real `pippa ARGS` in a child process (stdin a pipe, never a terminal)."""
    return subprocess.run(
        [sys.executable, *python_flags, "-m", "pippa_cli", *args],
        input=input,
        capture_output=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


class Watched:
    """A child process whose stderr is read as it comes, so a test can wait on what it
    says (`wait_for_stderr`) before acting, then collect everything (`finish`).

    Used as a context manager, the child is killed if the test fails before `finish`.
    """

    def __init__(self, args: Sequence[str], **popen: Any) -> None:
        self.proc = subprocess.Popen(
            list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
        )
        self._stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def __enter__(self) -> Watched:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def wait_for_stderr(self, text: str, timeout: float = 60) -> None:
        def said_or_ended() -> bool:
            if text in self.stderr:
                return True
            if self.proc.poll() is not None and not self._reader.is_alive():
                pytest.fail(f"the process ended before saying {text!r}: {self.stderr}")
            return False

        try:
            wait_for(said_or_ended, f"{text!r} on stderr", timeout)
        except BaseException:
            self.kill()
            raise

    def finish(self, timeout: float = 60) -> tuple[str, str]:
        """Wait for the child to end; its stdout and stderr."""
        assert self.proc.stdout is not None
        try:
            stdout = self.proc.stdout.read()
            self.proc.wait(timeout=timeout)
        finally:
            self.kill()
        self._reader.join(timeout=timeout)
        return stdout, self.stderr

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# Root ignores file permissions through these capabilities; without them a chmod stops it.
DROP_FILE_CAPABILITIES = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner")


def without_file_capabilities(
    code: str, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Python `code` (with `args` in sys.argv[1:]) in a child process that file permissions
    apply to, in this working directory.

    As root (CI's user), the child is still root but without the capabilities that override
    permissions (setpriv); as anyone else, it is simply this user.
    """
    command = [sys.executable, "-c", code, *args]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.fail("running as root needs setpriv (util-linux) to drop capabilities")
        command = [*DROP_FILE_CAPABILITIES, *command]
    return subprocess.run(
        command, capture_output=True, text=True, env=child_env(), timeout=timeout, check=False
    )


@dataclass
class Ran:
    """What a pippa command did in a child process, as `invoke`'s Result has it."""

    exit_code: int
    stdout: str
    stderr: str


# --- the job history --------------------------------------------------------------------


def history() -> History:
    return History.open_default()


def only_job() -> Job:
    jobs = history().list()
    assert len(jobs) == 1, jobs
    return jobs[0]


def add_job(
    prompt: str = "a fox",
    status: str = "completed",
    *,
    backend: str = "modal",
    into: History | None = None,
    **fields: Any,
) -> Job:
    """A history row as another pippa process would have written it (any Job field set)."""
    job = new_job(prompt, backend)
    job.status = status
    for name, value in fields.items():
        setattr(job, name, value)
    (into or history()).add(job)
    return job


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- files --------------------------------------------------------------------------------


def sidecar(video: Path) -> dict[str, Any]:
    """The JSON sidecar pippa writes beside a clip."""
    data: dict[str, Any] = json.loads(video.with_suffix(".json").read_text(encoding="utf-8"))
    return data


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- waiting on state ----------------------------------------------------------------------


def wait_for(
    predicate: Callable[[], T | None],
    what: str,
    timeout: float = 60,
    *,
    proc: subprocess.Popen[Any] | None = None,
    interval: float = 0.02,
) -> T:
    """Poll `predicate` until it returns something true, and return that.

    The timeout is only a safety net (nothing correct waits that long): reaching it fails
    the test, naming `what`. With `proc`, that process ending first fails it too.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            _, stderr = proc.communicate()
            pytest.fail(f"the process ended (exit {proc.returncode}) before {what}: {stderr}")
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:g} s and never saw {what}")
        time.sleep(interval)


def call_modal_local(model: str, *requests: dict[str, Any]) -> list[BaseException | bytes]:
    """`LTX(model=...).generate.local(request)` for each request on one instance of the
    Modal class (the container's real code, offline): each bytes, or what it raised."""
    import warnings

    from pippa_cli.modal_app.app import LTX

    instance = LTX(model=model)
    outcomes: list[BaseException | bytes] = []
    with warnings.catch_warnings():
        # "executing locally and will not have access to the mounted Volume": expected.
        warnings.simplefilter("ignore", UserWarning)
        for req in requests:
            try:
                outcomes.append(instance.generate.local(req))
            except BaseException as exc:
                outcomes.append(exc)
    return outcomes
