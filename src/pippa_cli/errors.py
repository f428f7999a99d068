"""The errors pippa reports to users (all of them `Explained`: message, hint, exit code).

    PippaError            exit 1: something went wrong at run time
    ├── UsageError        exit 2: the request itself is wrong; nothing was spent
    ├── EnhancementError  the LLM could not enhance the prompt (only raised with --strict)
    ├── BackendError      the render backend failed (Modal, local GPU)
    └── HistoryError      the job history cannot be read or written

    KeyboardInterrupt
    └── Interrupted       exit 130: Ctrl-C or a signal stopped a job (what became of it)

Each carries a one-line message and, where there is one, a hint saying what to do next.
Interrupted is a KeyboardInterrupt, so that a Python caller's `except Exception` never
swallows a Ctrl-C. The CLI turns them all into `Error: message` plus the hint; nothing
else is shown unless the user asked for tracebacks (--debug or PIPPA_DEBUG=1).
"""

from __future__ import annotations


class Explained(BaseException):
    """What every error pippa reports carries: a message, a hint, an exit code."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # The job this error ended, once one was recorded (a batch reports it).
        self.task_id: str | None = None
        # More than a user needs (a remote traceback): shown only with --debug.
        self.details: str | None = None


class PippaError(Explained, Exception):
    pass


class UsageError(PippaError):
    exit_code = 2


class EnhancementError(PippaError):
    pass


class BackendError(PippaError):
    pass


class HistoryError(PippaError):
    pass


class Interrupted(Explained, KeyboardInterrupt):
    """The user stopped a job (Ctrl-C) or its process was asked to end; the message says
    what became of the job (cancelled, or left running on Modal)."""

    exit_code = 130
