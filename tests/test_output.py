"""The output layer's yes/no question (the Ctrl-C "cancel the job?"), on a real terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from pippa_cli.output import Output
from tests.pseudo_terminal import read_terminal

QUESTION = "Cancel the job on Modal? (no: keep running, fetch later with pippa status)"

# A live stage display is drawing when the question comes; `pause` stops it first.
ASK = f"""
from pippa_cli.output import Output, StageProgress

out = Output()
with StageProgress(out) as progress:
    progress.stage("denoising")
    answer = out.confirm({QUESTION!r} + " [bold]x[/]", default=True, pause=progress.pause)
print("ANSWER", answer)
"""


def _ask_on_a_terminal(keys: bytes) -> str:
    """Run ASK with a pseudo-terminal as its controlling terminal, type `keys` once the
    question shows; return what the terminal showed, without escape sequences."""
    master, slave = pty.openpty()

    def own_terminal() -> None:  # stdin's terminal controls it: Ctrl-C typed is a SIGINT
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    env = {k: v for k, v in os.environ.items() if k not in {"NO_COLOR", "FORCE_COLOR"}}
    proc = subprocess.Popen(
        [sys.executable, "-c", ASK],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**env, "TERM": "xterm-256color"},
        start_new_session=True,
        preexec_fn=own_terminal,
    )
    os.close(slave)
    deadline = time.monotonic() + 30
    try:
        shown = read_terminal(master, b"(y)", deadline)
        # Keys only once the child waits in input(): a Ctrl-C typed ahead would strike
        # (as SIGINT) wherever the child happens to be, not at the question.
        while not _reading_stdin(proc.pid) and time.monotonic() < deadline:
            shown += read_terminal(master, b"\x00", time.monotonic() + 0.05)
        os.write(master, keys)
        shown += read_terminal(master, b"ANSWER", deadline)
        shown += read_terminal(master, b"\n", deadline)
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode("utf-8", "replace"))


def _reading_stdin(pid: int) -> bool:
    """Whether the process is blocked reading fd 0 (Linux /proc; elsewhere: assume so)."""
    try:
        fields = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return True
    # read(2) is syscall 0 on x86-64 and 63 on arm64; its first argument the fd.
    return len(fields) > 1 and fields[0] in {"0", "63"} and fields[1] == "0x0"


@pytest.mark.parametrize(
    ("keys", "answer"),
    [
        (b"y\r", True),
        (b"n\r", False),
        (b"\r", True),  # Enter: the default
        (b"\x04", True),  # Ctrl-D: the default
        (b"\x03", True),  # Ctrl-C at the question: the default
    ],
    ids=["yes", "no", "enter", "ctrl-d", "ctrl-c"],
)
def test_confirm_asks_on_the_terminal(keys: bytes, answer: bool):
    shown = _ask_on_a_terminal(keys)

    # Asked once, as written (brackets are text, not markup), the display stopped before.
    before, question, after = shown.partition(f"{QUESTION} [bold]x[/] [y/n] (y): ")
    assert question and "Denoising" in before, shown
    assert "Denoising" not in after and QUESTION not in after, shown
    assert f"ANSWER {answer}" in after


@pytest.mark.parametrize("default", [True, False])
def test_confirm_without_a_terminal_is_the_default_and_stops_nothing(default: bool):
    paused = []
    # Under pytest stdin is not a terminal, nor is this stderr console.
    answer = Output().confirm(QUESTION, default=default, pause=lambda: paused.append(True))

    assert answer is default
    assert paused == []
