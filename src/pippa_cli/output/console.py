"""The console: data on stdout; information, warnings, errors and questions on stderr.

Rich styling appears only where stderr is a terminal (rich honours NO_COLOR itself). Every
line passes through `text.visible` on its way out: no control sequence or secret reaches
the terminal, whatever a server or a model said.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Collection, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from pippa_cli.text import json_dumps, visible

if TYPE_CHECKING:
    from rich.console import Console


class Output:
    def __init__(
        self, *, quiet: bool = False, json_mode: bool = False, interactive: bool = True
    ) -> None:
        self.quiet = quiet
        self.json_mode = json_mode
        # Whether questions may be put to a user at the terminal (not from a library call).
        self.interactive = interactive
        self._warned: set[str] = set()
        self.stdout_closed = False

    @cached_property
    def err(self) -> Console:
        return stderr_console()

    @property
    def live(self) -> bool:
        """Whether to draw live progress (a terminal, not quiet, not --json)."""
        return self.err.is_terminal and not self.quiet and not self.json_mode

    # stdout: data only -------------------------------------------------------------
    def data(self, text: str) -> None:
        """One line (or several) of data; a reader that went away ends output quietly."""
        if self.stdout_closed:
            return
        try:
            sys.stdout.write(visible(text, multiline=True) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            # `pippa status --json | head`: the reader has what it wanted. The rest of the
            # command (a render being saved) goes on; stdout goes nowhere from now on.
            self.stdout_closed = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)

    def data_json(self, obj: Any) -> None:
        self.data(json_dumps(obj))

    def table(
        self,
        header: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        squeeze: Collection[str] = (),
    ) -> None:
        """Rows of data: an aligned table on a terminal (the `squeeze` columns share what
        width is left), whole values tab-separated when piped."""
        if sys.stdout.isatty():
            from pippa_cli.output.table import print_table

            print_table(header, rows, squeeze=squeeze)
            return
        for row in (header, *rows):
            self.data("\t".join(visible(value) for value in row))

    # stderr ------------------------------------------------------------------------
    def info(self, message: str) -> None:
        if not self.quiet:
            self._say(message, style="dim")

    def warn(self, message: str) -> None:
        if not self.quiet:
            # One line: a newline in foreign text must not forge a line of its own.
            self._say(visible(f"Warning: {message}"), style="yellow")

    def warn_once(self, message: str, where: str) -> None:
        """A warning that many lines of a list share is shown once, for the first line."""
        if message not in self._warned:
            self._warned.add(message)
            self.warn(f"{where}: {message} (not repeated for later lines)")

    def error(self, message: str, hint: str | None = None) -> None:
        report_error(message, hint, console=self.err)

    def confirm(
        self, question: str, *, default: bool, pause: Callable[[], None] | None = None
    ) -> bool:
        """Ask a yes/no question on the terminal; `pause` first stops a live display.

        Without a terminal to ask on (stdin or stderr redirected, or not `interactive`), or
        when the user answers Ctrl-C or end-of-file, the answer is `default`.
        """
        if not (self.interactive and sys.stdin.isatty() and self.err.is_terminal):
            return default
        from rich.prompt import Confirm
        from rich.text import Text

        try:
            if pause is not None:
                pause()
            # Text, not markup: the question is shown as written.
            question_text = Text(visible(question), style="prompt")
            return Confirm.ask(question_text, console=self.err, default=default)
        except (KeyboardInterrupt, EOFError):
            return default

    def _say(self, message: str, style: str) -> None:
        from rich.text import Text

        self.err.print(Text(visible(message, multiline=True), style=style))


def stderr_console() -> Console:
    """Rich on stderr; NO_COLOR drops every escape (rich alone keeps bold and dim)."""
    import os

    from rich.console import Console

    no_color = os.environ.get("NO_COLOR", "") != ""
    return Console(
        stderr=True,
        highlight=False,
        soft_wrap=True,
        color_system=None if no_color else "auto",
    )


def report_error(message: str, hint: str | None = None, console: Console | None = None) -> None:
    """`Error: message` and, on the next line, what to do about it."""
    from rich.text import Text

    console = console or stderr_console()
    line = Text("Error: ", style="bold red")
    # One line each: a newline in foreign text (a model's class name, a server's error)
    # must not forge a line of its own.
    line.append(visible(message))
    console.print(line)
    if hint:
        console.print(Text(visible(hint), style="dim"))
