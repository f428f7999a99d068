"""pippa on a pseudo-terminal, as a person sees it (pexpect).

    term = spawn_pippa(tmp_path, "generate", "a fox", steps=3)
    term.expect(r"Enhancing prompt")      # the visible text: escape codes stripped
    term.allow(0, 1)                      # the Modal stand-in answers its gets #0 and #1
    term.expect(r"Denoising[^\\n]*step 1/3")
    term.interrupt(); term.answer("n")    # Ctrl-C, then type an answer
    term.exit_code(), term.stdout, term.record()

The child's stdin and stderr are the terminal; its stdout (the data) goes to a file, as with
`pippa generate ... > out.txt`, so a test sees that no progress leaks into it. Modal is the
stand-in for its call objects (tests/modal_standin.py), in the child: each call's get #i
waits until the test allows it (a file per get), so every state of the display stays on
the screen until the test has seen it. Nothing here sleeps for correctness; the timeouts
(30 s) are safety nets.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.helpers import child_env

if TYPE_CHECKING:
    import pexpect

TIMEOUT_S = 30.0
# CSI (colours, cursor moves, erasing), OSC (titles, links), and two-byte escapes.
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
SPINNER_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"  # rich's "dots" spinner


def strip_ansi(text: str) -> str:
    """The text of what was written: colours dropped; a cursor move or an erase (a live
    display redrawing itself) and a carriage return start a new line."""

    def replace(escape: re.Match[str]) -> str:
        return "\n" if escape.group().endswith(("A", "B", "H", "J", "K")) else ""

    return ANSI.sub(replace, text).replace("\r", "\n")


def read_terminal(master: int, until: bytes | None = None, deadline: float | None = None) -> bytes:
    """What a child wrote to a raw pty (`pty.openpty()`): up to and with `until`, else until
    the child closed the terminal; never past `deadline` (time.monotonic())."""
    import select

    deadline = deadline or time.monotonic() + TIMEOUT_S
    data = b""
    while (until is None or until not in data) and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if not ready:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        data += chunk
    return data


def terminal_env(**extra: str) -> dict[str, str]:
    """A colour terminal that rich detects itself (no forcing), its size from the pty."""
    env = child_env(TERM="xterm-256color", LANG="C.UTF-8", **extra)
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES"):
        env.pop(name, None)
    return env


class Terminal:
    """A pippa child on a pseudo-terminal, and what the terminal has shown so far."""

    def __init__(self, child: pexpect.spawn, work: Path) -> None:
        self.child = child
        self.work = work
        self.raw = ""  # everything written to the terminal, escape codes and all
        self._seen = 0  # where in the visible text the next expect starts

    @property
    def screen(self) -> str:
        """What was written, as text: escape codes stripped, redraws one after another."""
        return strip_ansi(self.raw)

    def expect(self, pattern: str, timeout: float = TIMEOUT_S) -> re.Match[str]:
        """Wait until the visible text after the last match shows `pattern` (a regex)."""
        import pexpect

        wanted = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = wanted.search(self.screen, self._seen)
            if found:
                self._seen = found.end()
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the terminal never showed {pattern!r}:\n{self.screen}")
            try:
                self.raw += self.child.read_nonblocking(65536, timeout=min(left, 1.0))
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                if not wanted.search(self.screen, self._seen):
                    raise AssertionError(
                        f"pippa ended without showing {pattern!r}:\n{self.screen}"
                    ) from None

    def allow(self, *gets: int) -> None:
        """Let the stand-in's calls answer these gets (0-based, as in its timeline)."""
        for index in gets:
            (self.work / "gate" / str(index)).touch()

    def interrupt(self) -> None:
        """Ctrl-C, typed on the terminal (SIGINT to the foreground process)."""
        self.child.sendintr()

    def answer(self, text: str) -> None:
        """Type `text` and Enter."""
        self.child.sendline(text)

    def exit_code(self, timeout: float = TIMEOUT_S) -> int:
        """Read to the end of the output; the child's exit status."""
        import pexpect

        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"pippa did not end:\n{self.screen}")
            try:
                self.raw += self.child.read_nonblocking(65536, timeout=min(left, 1.0))
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                break
        self.child.close()
        assert self.child.exitstatus is not None, f"killed by signal {self.child.signalstatus}"
        return int(self.child.exitstatus)

    @property
    def stdout(self) -> str:
        """What pippa wrote to its stdout (the file it was redirected to)."""
        return (self.work / "stdout.txt").read_text(encoding="utf-8")

    def record(self) -> dict[str, Any]:
        """What the stand-in saw (spawns, gets, cancelled), written when the child ended."""
        data: dict[str, Any] = json.loads((self.work / "gate" / "record.json").read_text())
        return data

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


def spawn_pippa(
    work: Path,
    *args: str,
    steps: int = 3,
    mp4: bytes = b"",
    stdout_to_file: bool = True,
    columns: int = 100,
) -> Terminal:
    """`pippa ARGS` on a `columns`-wide pseudo-terminal, Modal being the gated stand-in
    whose calls publish `steps` denoising steps and then return `mp4`."""
    import pexpect

    (work / "gate").mkdir(parents=True)
    (work / "gate" / "standin.mp4").write_bytes(mp4)
    env = terminal_env(
        PIPPA_TEST_GATE=str(work / "gate"),
        PIPPA_TEST_STEPS=str(steps),
        PIPPA_TEST_STDOUT=str(work / "stdout.txt"),
    )
    command = [sys.executable, "-c", "import tests.pseudo_terminal as t; t.child_main()", *args]
    if stdout_to_file:
        command = ["/bin/sh", "-c", 'exec "$@" > "$PIPPA_TEST_STDOUT"', "sh", *command]
    child = pexpect.spawn(
        command[0],
        command[1:],
        env=env,
        cwd=os.getcwd(),
        dimensions=(40, columns),
        encoding="utf-8",
        codec_errors="replace",
        timeout=TIMEOUT_S,
    )
    return Terminal(child, work)


def child_main() -> None:
    """In the child: Modal is the gated stand-in, then `pippa ARGS` (sys.argv[1:])."""
    from pippa_cli.cli.context import Runtime
    from tests.modal_standin import FakeFunctionCall, ModalStandIn, Script

    gate = Path(os.environ["PIPPA_TEST_GATE"])
    standin = ModalStandIn((gate / "standin.mp4").read_bytes())
    standin.script = Script(steps=int(os.environ["PIPPA_TEST_STEPS"]))

    def wait_at_the_gate(call: FakeFunctionCall, index: int) -> None:
        while not (gate / str(index)).exists():
            time.sleep(0.01)  # Ctrl-C lands here, as in a real get

    standin.on_get.append(wait_at_the_gate)
    from pippa_cli.cli.app import app

    try:
        app(sys.argv[1:], prog_name="pippa", obj=Runtime(modal_sdk=standin))
    finally:
        (gate / "record.json").write_text(json.dumps(standin.record()))
