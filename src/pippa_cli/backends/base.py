"""What every backend does: the `Backend` protocol (LocalBackend and ModalBackend follow it).

A job asks a backend, in this order:

    preflight(spec) / preflight_model(source)   everything checkable for free; warnings
    prepare(source)                              weights in place; the source pinned
    render(request, source, on_progress, ...)    the MP4's bytes
    cancel(call_id)                              stop a call it submitted (Ctrl-C, cancel)

`remote` says where the render runs. A remote backend (Modal) renders elsewhere: the render
can outlive this process, so --detach and --keep-running apply; it names each render with a
call id, handed to `on_submitted` with Ctrl-C held from the spawn until the callback returns
(a paid call's id reaches the job's record before Ctrl-C acts); `check_stop` runs before the
spawn and before every poll. A local backend renders in this process: `on_submitted` is
never called (there is no call id) and `check_stop` runs at every progress report.

Detaching ("submit, record, stop") is `submit(request, source, on_submitted)`: like render
up to the callback, then it returns the call id without following the call. A local
backend refuses it (UsageError): there is nothing to detach from. Following a call made
earlier (`pippa status --wait`: `wait`, `state`, `deployment`) is Modal's alone and typed
as ModalBackend where it is used.

`capacity()`: how many renders may run at once (1 on the local GPU; the deployed app's
container limit on Modal, None when unknown).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pippa_cli.ltx import ProgressCallback, RenderRequest
    from pippa_cli.presets import ModelSource
    from pippa_cli.spec import GenerateSpec

# report(stage): a preparation stage starts ("connecting", "downloading"; see progress.py).
Report = Callable[[str], None]
# on_submitted(call_id): the remote call exists; Ctrl-C waits until this returns.
OnSubmitted = Callable[[str], None]
# check_stop(): raises to stop following (a batch stopping, a job cancelled elsewhere).
CheckStop = Callable[[], None]


class Backend(Protocol):
    """Where a clip is rendered (see the module docstring for the order and the rules)."""

    name: str  # "local", "modal": recorded with each job
    remote: bool  # renders elsewhere, and may outlive this process (--detach, --keep-running)

    def capacity(self) -> int | None:
        """How many renders may run at once; None when unknown."""
        ...

    def preflight_model(self, source: ModelSource, report: Report | None = None) -> list[str]:
        """Check the model and the backend's set-up before anything is spent; warnings."""
        ...

    def preflight(self, spec: GenerateSpec, report: Report | None = None) -> list[str]:
        """preflight_model, then whether this request fits; warnings (UsageError if not)."""
        ...

    def prepare(self, source: ModelSource, report: Report | None = None) -> ModelSource:
        """Make the weights available; the source pinned to what the render will load."""
        ...

    def render(
        self,
        request: RenderRequest,
        source: ModelSource,
        on_progress: ProgressCallback,
        *,
        on_submitted: OnSubmitted | None = None,
        check_stop: CheckStop | None = None,
    ) -> bytes:
        """Render and return the MP4's bytes (BackendError if it fails)."""
        ...

    def submit(self, request: RenderRequest, source: ModelSource, on_submitted: OnSubmitted) -> str:
        """Start the render, hand its call id to `on_submitted` (Ctrl-C held), and return
        the id without following it (--detach). UsageError for a local backend."""
        ...

    def cancel(self, call_id: str) -> None:
        """Stop a submitted call (BackendError if it cannot be asked to)."""
        ...
