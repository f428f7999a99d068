"""The Modal SDK as pippa uses it: the one client module that imports `modal`.

Everything pippa asks of Modal goes through `ModalSDK`; a caller that wants another one (a
test's stand-in, a benchmark's timed fake) passes it in (`ModalBackend(..., sdk=...)`,
`make_backend(..., modal_sdk=...)`, the CLI's `Runtime`). Everything Modal raises is read
here as pippa's errors:

    ModalUnavailable   Modal could not be asked (network, credentials): a call is unaffected
    ResultExpired      Modal no longer holds a call's result (its 7-day retention)
    BackendError       anything else: how the call itself ended, with what to do next

`modal` is imported inside the functions: `pippa --help` and local renders never load it.
(The Modal app, modal_app/app.py, imports it too: that code runs on Modal.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from pippa_cli.errors import BackendError
from pippa_cli.remote_errors import RENDER, RemoteFailure, as_error, categorize, from_exception

# Shared with the Modal app: the container publishes progress here, keyed by call id.
PROGRESS_DICT = "pippa-progress"


class ModalSDK:
    """The entry points of the Modal SDK that pippa uses (a stand-in has the same methods)."""

    def cls(self, app_name: str, class_name: str) -> Any:
        import modal

        return modal.Cls.from_name(app_name, class_name)

    def lookup(self, app_name: str, class_name: str) -> None:
        """Raises modal.exception.NotFoundError unless the app is deployed."""
        self.cls(app_name, class_name).hydrate()

    def function(self, app_name: str, name: str) -> Any:
        import modal

        return modal.Function.from_name(app_name, name)

    def function_call(self, call_id: str) -> Any:
        import modal

        return modal.FunctionCall.from_id(call_id)

    def progress_dict(self) -> Any:
        import modal

        return modal.Dict.from_name(PROGRESS_DICT, create_if_missing=True)

    def deployments_dict(self) -> Any:
        import modal

        from pippa_cli.deployment import DEPLOYMENTS_DICT

        return modal.Dict.from_name(DEPLOYMENTS_DICT, create_if_missing=True)

    def has_credentials(self) -> bool:
        from modal.config import config

        from pippa_cli.redaction import register

        secret = config.get("token_secret")
        register(secret)  # from ~/.modal.toml, not the environment: never shown either
        return bool(config.get("token_id") and secret)


# --- Modal's exceptions, read as pippa's errors ---------------------------------------------


class ModalUnavailable(BackendError):
    """Modal could not be asked (network, credentials): a running call is unaffected."""


class ResultExpired(BackendError):
    """Modal no longer holds the result (older than its 7-day retention)."""


def no_credentials() -> BackendError:
    return BackendError(
        "no Modal credentials found",
        "Run `modal token new` (or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET).",
    )


LookupFailure = Literal["not deployed", "rejected", "unreachable", "other"]


def lookup_failure(exc: BaseException) -> LookupFailure:
    """What an app lookup's exception says (for `pippa doctor`): the app is not deployed,
    the token was rejected, Modal could not be reached, or something else."""
    import modal.exception as me

    if isinstance(exc, me.NotFoundError):
        return "not deployed"
    if isinstance(exc, me.AuthError):
        return "rejected"
    if isinstance(exc, TimeoutError | OSError | me.ConnectionError):
        return "unreachable"
    return "other"


def call_error(exc: BaseException, app_name: str, model: str | None = None) -> BackendError:
    """What a call's `get` raised, as the user should read it: the call's own end
    (BackendError), or ModalUnavailable when Modal could not be asked."""
    if not _is_call_outcome(exc):
        return _unavailable(exc)
    if _is_modal_error(exc):
        return explain_modal_error(exc, app_name)
    # RemoteFailure, or a builtin or foreign exception from an app that did not convert it
    # (an older pippa): still the call's failure, never "could not reach Modal".
    return as_error(from_exception(exc), model)


class ModalErrors:
    """Turns Modal SDK exceptions into BackendError with a hint; lets TimeoutError and
    RemoteFailure pass (the caller decides what they mean)."""

    def __init__(self, app_name: str) -> None:
        self.app_name = app_name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc is None or not isinstance(exc, Exception):
            return False
        if isinstance(exc, BackendError | RemoteFailure | TimeoutError):
            return False
        raise call_error(exc, self.app_name) from exc


def explain_modal_error(exc: BaseException, app_name: str) -> BackendError:
    """A Modal SDK exception as a one-line BackendError with what to do next."""
    import modal.exception as me

    if _is_transport(exc) and not isinstance(exc, me.AuthError):
        return ModalUnavailable("could not reach Modal", "Check your network connection.")
    explain_by_kind: list[tuple[type[BaseException], Callable[[], BackendError]]] = [
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
            me.InputCancellation,
            lambda: BackendError("the call was cancelled on Modal", "Nothing was rendered."),
        ),
    ]
    for kind, make in explain_by_kind:
        if isinstance(exc, kind):
            return make()
    if isinstance(exc, me.RemoteError) and not str(exc).strip():
        # What Modal answers for a call that was cancelled (a terminated input).
        return BackendError("the call was cancelled on Modal", "Nothing was saved.")
    failure = _undeserializable(exc)
    if failure is not None:
        return as_error(failure)
    message = _first_line(exc) or type(exc).__name__
    return BackendError(f"the render failed on Modal: {message}", "See `pippa status` for details.")


def _is_transport(exc: BaseException) -> bool:
    """Modal's own "could not talk to the server" errors (grpclib's leak through unwrapped)."""
    import modal.exception as me

    return isinstance(exc, me.ConnectionError | me.AuthError) or type(exc).__module__.startswith(
        "grpclib"
    )


def _is_call_outcome(exc: BaseException) -> bool:
    """Whether `exc` is how the call itself ended, as opposed to trouble asking about it.

    Only these: pippa's own RemoteFailure; Modal's terminal answers for a call (timed out,
    failed inside Modal, cancelled, expired, unknown); a remote exception that Modal could
    not rebuild; or any exception carrying Modal's remote traceback (an app that did not
    convert its errors). Everything else (a gRPC error after retries, a dropped download
    of the result) means "could not ask": the job stays recoverable, never wrongly failed.
    """
    import modal.exception as me

    if isinstance(exc, RemoteFailure) or hasattr(exc, "__line_cache__"):
        return True
    terminal = (
        me.FunctionTimeoutError,
        me.InternalFailure,
        me.RemoteError,
        me.OutputExpiredError,
        me.NotFoundError,
        me.InputCancellation,
    )
    return isinstance(exc, terminal) or _undeserializable(exc) is not None


def _unavailable(exc: BaseException) -> ModalUnavailable:
    if _is_transport(exc):
        error = explain_modal_error(exc, "")
        if isinstance(error, ModalUnavailable):
            return error
    return ModalUnavailable(
        f"could not ask Modal ({type(exc).__name__}: {_first_line(exc)})",
        "Check your network connection, then retry.",
    )


def _is_modal_error(exc: BaseException) -> bool:
    import modal.exception as me

    return isinstance(exc, me.Error | me.InputCancellation)


def _undeserializable(exc: BaseException) -> RemoteFailure | None:
    """Modal's ExecutionError for a remote exception whose class this machine lacks: the
    original is only in the remote traceback's last line."""
    import modal.exception as me

    text = str(exc)
    if not isinstance(exc, me.ExecutionError) or "Could not deserialize remote" not in text:
        return None
    remote = text.split("remote traceback:", 1)[-1]
    # The traceback ends with "module.Class: message", the message possibly on more lines.
    heads = list(_EXCEPTION_LINE.finditer(remote))
    if not heads:
        return RemoteFailure("RemoteError", _first_line(exc), RENDER, text)
    last = heads[-1]
    kind = last.group(1).rsplit(".", 1)[-1]
    message = " ".join((last.group(2) + remote[last.end() :]).split())
    return RemoteFailure(kind, message, categorize(kind, message), text)


_EXCEPTION_LINE = re.compile(
    r"^([A-Za-z_][\w.]*(?:Error|Exception|Failure|Warning|Exit)): ?(.*)$", re.M
)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else ""
