"""Render on Modal: spawn a call on the deployed app, follow its progress, fetch the MP4.

The real Modal SDK is touched only through `ModalSDK`; tests pass a thin stand-in for
the Modal call objects (nothing of Modal works without its servers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pippa_cli.errors import BackendError
from pippa_cli.ltx import ProgressCallback, RenderRequest
from pippa_cli.presets import ModelSource

# Shared with modal_app: the container publishes progress here, keyed by call id.
PROGRESS_DICT = "pippa-progress"
POLL_SECONDS = 1.0


class ModalSDK:
    """The three entry points pippa uses, so a stand-in can replace them in tests."""

    def cls(self, app_name: str, class_name: str) -> Any:
        import modal

        return modal.Cls.from_name(app_name, class_name)

    def function_call(self, call_id: str) -> Any:
        import modal

        return modal.FunctionCall.from_id(call_id)

    def progress_dict(self) -> Any:
        import modal

        return modal.Dict.from_name(PROGRESS_DICT, create_if_missing=True)

    def has_credentials(self) -> bool:
        from modal.config import config

        return bool(config.get("token_id") and config.get("token_secret"))


def no_credentials() -> BackendError:
    return BackendError(
        "no Modal credentials found",
        "Run `modal token new` (or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET).",
    )


class ModalUnavailable(BackendError):
    """Modal could not be asked (network, credentials): a running call is unaffected."""


class ResultExpired(BackendError):
    """Modal no longer holds the result (older than its 7-day retention)."""


@dataclass
class RemoteState:
    """What Modal says about a call right now."""

    status: str  # "running", "completed", "failed", "expired"
    stage: str | None = None
    step: int = 0
    total: int = 0
    result: bytes | None = None
    error: BackendError | None = None


class ModalBackend:
    name = "modal"

    def __init__(self, app_name: str, class_name: str, sdk: Any = None) -> None:
        self.app_name = app_name
        self.class_name = class_name
        self.sdk = sdk or ModalSDK()

    def preflight(self, source: ModelSource) -> str | None:
        """Fail fast, before anything is spent, when no Modal token is configured."""
        if source.is_local_dir:
            raise BackendError(
                f"--model {source.label} is a local directory, which Modal cannot see",
                "Use a preset or a Hugging Face repo id with Modal, or --backend local.",
            )
        if not self.sdk.has_credentials():
            raise no_credentials()
        return None

    def submit(self, request: RenderRequest, source: ModelSource) -> str:
        """Spawn the render and return the call id (the job's handle on Modal)."""
        with self._errors():
            # The container resolves the same label (preset or repo id[@revision]).
            remote = self.sdk.cls(self.app_name, self.class_name)(model=source.label)
            call = remote.generate.spawn(request.to_dict())
            return str(call.object_id)

    def state(self, call_id: str, wait: float = 0.0) -> RemoteState:
        """Poll once: the result if it is ready, else the latest published progress."""
        call = self.sdk.function_call(call_id)
        try:
            with self._errors():
                result = call.get(timeout=wait)
        except TimeoutError:
            return self._progress(call_id)
        except ModalUnavailable:
            raise  # says nothing about the call itself
        except BackendError as exc:
            status = "expired" if isinstance(exc, ResultExpired) else "failed"
            return RemoteState(status=status, error=exc)
        return RemoteState(status="completed", result=result)

    def wait(
        self,
        call_id: str,
        on_progress: ProgressCallback,
        poll_seconds: float = POLL_SECONDS,
        check_stop: Callable[[], None] | None = None,
    ) -> bytes:
        """Follow the call until it finishes; returns the MP4 bytes or raises BackendError.

        `check_stop` runs before every poll and may raise to stop following (a batch
        stopping its workers, a job cancelled from another terminal).
        """
        last: tuple[str | None, int, int] | None = None
        while True:
            if check_stop is not None:
                check_stop()
            state = self.state(call_id, wait=poll_seconds)
            if state.status == "completed" and state.result is not None:
                return state.result
            if state.error is not None:
                raise state.error
            current = (state.stage, state.step, state.total)
            if current != last:
                on_progress(state.stage or "queued", state.step, state.total)
                last = current

    def cancel(self, call_id: str) -> None:
        with self._errors():
            self.sdk.function_call(call_id).cancel()

    def _progress(self, call_id: str) -> RemoteState:
        try:
            entry = self.sdk.progress_dict().get(call_id, None)
        except Exception:  # progress is best effort; the call itself is what matters
            entry = None
        if not isinstance(entry, dict):
            return RemoteState(status="running", stage="queued")
        return RemoteState(
            status="running",
            stage=str(entry.get("stage") or "queued"),
            step=int(entry.get("step") or 0),
            total=int(entry.get("total") or 0),
        )

    def _errors(self) -> _ModalErrors:
        return _ModalErrors(self.app_name)


class _ModalErrors:
    """Turns Modal SDK exceptions into BackendError with a hint; lets TimeoutError pass."""

    def __init__(self, app_name: str) -> None:
        self.app_name = app_name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or kind is TimeoutError or not isinstance(exc, Exception):
            return False
        if isinstance(exc, BackendError):
            return False
        raise explain_modal_error(exc, self.app_name) from exc


def explain_modal_error(exc: Exception, app_name: str) -> BackendError:
    """A Modal SDK exception as a one-line BackendError with what to do next."""
    import modal.exception as me

    explain: list[tuple[type[BaseException], Callable[[], BackendError]]] = [
        (
            me.AuthError,
            lambda: ModalUnavailable(
                "Modal rejected your credentials",
                "Run `modal token new` to create a fresh token.",
            ),
        ),
        (
            me.NotFoundError,
            lambda: BackendError(
                f"the Modal app {app_name!r} is not deployed (or the job is unknown to Modal)",
                "Run `pippa deploy` once, then try again.",
            ),
        ),
        (
            me.OutputExpiredError,
            lambda: ResultExpired(
                "the result expired: Modal keeps results for 7 days",
                "Generate the clip again (its seed is in the history).",
            ),
        ),
        (
            me.FunctionTimeoutError,
            lambda: BackendError(
                "the render ran past the Modal app's timeout",
                "Redeploy with a longer one: pippa deploy --timeout 3600.",
            ),
        ),
        (
            me.ConnectionError,
            lambda: ModalUnavailable("could not reach Modal", "Check your network connection."),
        ),
        (
            OSError,
            lambda: ModalUnavailable("could not reach Modal", "Check your network connection."),
        ),
    ]
    for kind, make in explain:
        if isinstance(exc, kind):
            return make()
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return BackendError(f"the render failed on Modal: {message}", "See `pippa status` for details.")
