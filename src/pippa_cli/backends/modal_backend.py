"""Render on Modal: spawn a call on the deployed app, follow its progress, fetch the MP4.

The Modal SDK is reached only through the `sdk` it is given (backends/modal_client.py's
`ModalSDK` unless a caller passes a stand-in); Modal's exceptions are read there too.
One class over 300 lines: the checks, the weights and the call's life share its state (the
deployment record read once, when Modal last answered).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from pippa_cli.backends.modal_client import (
    ModalErrors,
    ModalSDK,
    ModalUnavailable,
    ResultExpired,
    call_error,
    no_credentials,
)
from pippa_cli.errors import BackendError, UsageError
from pippa_cli.ltx import ProgressCallback, RenderRequest
from pippa_cli.presets import ModelSource
from pippa_cli.remote_errors import RemoteFailure, as_error
from pippa_cli.signals import interrupts_held
from pippa_cli.version import __version__

if TYPE_CHECKING:
    from pippa_cli.backends.base import CheckStop, OnSubmitted, Report
    from pippa_cli.deployment import Deployment
    from pippa_cli.spec import GenerateSpec

T = TypeVar("T")
POLL_SECONDS = 1.0
# How long pippa waits for Modal to answer at all (doctor, generate, status, deploy).
CONNECT_TIMEOUT_S = 10.0
# A poll after this long without an answer checks reachability (bounded) first.
RECHECK_S = 30.0

# The errors it raises are defined with the client (modal_client.py), importable from here.
__all__ = ["ModalBackend", "ModalUnavailable", "RemoteState", "ResultExpired", "bounded"]


def bounded(work: Callable[[], T], what: str, seconds: float | None = None) -> T:
    """`work()` (a Modal RPC), or ModalUnavailable once `seconds` pass without an answer.

    Modal's client retries an unreachable server for one to three minutes and has no
    setting to shorten that; pippa gives up after CONNECT_TIMEOUT_S and says so.
    """
    from pippa_cli.deadline import DeadlineExceeded, call_with_deadline

    limit = CONNECT_TIMEOUT_S if seconds is None else seconds
    try:
        return call_with_deadline(work, limit, name="pippa-modal")
    except DeadlineExceeded:
        # The abandoned RPC is torn down when the process exits; asyncio would log that as
        # an "unhandled exception during shutdown" with a traceback the user never asked for.
        import logging

        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        raise ModalUnavailable(
            f"could not reach Modal within {limit:g} s ({what})",
            "Check your network connection (pippa doctor checks it too), then retry.",
        ) from None


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
    """The Backend protocol (base.py) on Modal, plus following a call made earlier
    (`wait`, `state`: `pippa status --wait`) and the deployed app's record."""

    name = "modal"
    remote = True

    def __init__(self, app_name: str, class_name: str, sdk: ModalSDK | None = None) -> None:
        self.app_name = app_name
        self.class_name = class_name
        self.sdk = sdk if sdk is not None else ModalSDK()
        self._deployment: Deployment | None = None
        self._checked: dict[str, tuple[list[str], BackendError | None]] = {}
        self._prepared: dict[str, ModelSource] = {}
        self._last_contact = -RECHECK_S

    # --- before anything is spent ---------------------------------------------------------

    def preflight_model(self, source: ModelSource, report: Report | None = None) -> list[str]:
        """Everything about a model that can be checked for free; warnings to show.

        Raises UsageError (exit 2) for a model that cannot be rendered here, BackendError
        when Modal is not set up. Checked once per model (a batch asks per line).
        """
        if source.label in self._checked:
            warnings, error = self._checked[source.label]
            if error is not None:
                raise error
            return warnings
        try:
            warnings = self._check_model(source, report)
        except BackendError as exc:
            if not isinstance(exc, ModalUnavailable):
                self._checked[source.label] = ([], exc)
            raise
        self._checked[source.label] = (warnings, None)
        return warnings

    def preflight(self, spec: GenerateSpec, report: Report | None = None) -> list[str]:
        """preflight_model, then: does this request fit the deployed GPU and timeout?"""
        from pippa_cli.limits import accepted_risks, check_request

        warnings = list(self.preflight_model(spec.model, report))
        deployment = self.deployment(report)
        preset, gpu, timeout = spec.model.defaults, deployment.gpu, deployment.timeout_s
        if spec.allow_large:
            return warnings + accepted_risks(preset, spec.size, gpu, timeout)
        warning = check_request(preset, spec.size, gpu, timeout)
        return warnings + ([warning] if warning else [])

    def _check_model(self, source: ModelSource, report: Report | None) -> list[str]:
        from pippa_cli.hub import check_model

        if source.is_local_dir:
            raise UsageError(
                f"--model {source.label} is a local directory, which Modal cannot see",
                "Use a preset or a Hugging Face repo id with Modal, or --backend local.",
            )
        if not self.sdk.has_credentials():
            raise no_credentials()
        warning = check_model(source, report)
        warnings = [warning] if warning else []
        deployment = self.deployment(report)
        reason = deployment.cannot_render(RenderRequest.field_names())
        if reason is not None:
            raise BackendError(
                f"the deployed Modal app {self.app_name!r} (pippa {deployment.pippa_version}) "
                f"cannot render this request: {reason}",
                "Update it to this pippa: pippa deploy",
            )
        if deployment.pippa_version != __version__:
            warnings.append(
                f"the Modal app {self.app_name!r} was deployed by pippa "
                f"{deployment.pippa_version}, this is {__version__}: run `pippa deploy` to "
                "update it (it can render this request meanwhile)"
            )
        return warnings

    def capacity(self) -> int | None:
        """The deployed app's GPU container limit: more calls queue on Modal."""
        return self.deployment().max_containers or None

    def deployment(self, report: Report | None = None) -> Deployment:
        """The deployed app's record (version, GPU, timeout), read once: no container starts."""
        from pippa_cli.deployment import Deployment, app_key

        if self._deployment is not None:
            return self._deployment
        if report:
            report("connecting")

        def ask() -> object:
            with self._errors():
                self.sdk.lookup(self.app_name, self.class_name)
                return self.sdk.deployments_dict().get(app_key(self.app_name), None)

        deployment = Deployment.from_record(self._ask(ask, "connecting to Modal"))
        if deployment is None:
            raise BackendError(
                f"the Modal app {self.app_name!r} has no pippa version record (deployed by an "
                "older pippa, or by hand)",
                "Deploy it with this pippa: pippa deploy",
            )
        self._deployment = deployment
        return deployment

    def prepare(self, source: ModelSource, report: Report | None = None) -> ModelSource:
        """Make sure the model's weights are in the app's cache (fetched once, on a CPU
        container, so a render never downloads on a billed GPU); returns the source pinned
        to the exact commit there, which the render then loads and the job records."""
        from pippa_cli.container import weights_key

        key = weights_key(
            source.location, source.revision, source.upsampler, source.upsampler_revision
        )
        if key in self._prepared:
            return self._prepared[key]

        def cached() -> object:
            with self._errors():
                return self.sdk.deployments_dict().get(key, None)

        record = self._ask(cached, "reading the weights cache")
        if not isinstance(record, dict):
            from pippa_cli.hub import check_access

            # A gated model (LTX-2.5) refused to this user is said here, not by a container.
            check_access(source)
            if report:
                report("downloading")
            record = self.download(source.remote_label)
        pinned = source.pinned(
            str(record.get("commit") or "") or None,
            str(record.get("upsampler_commit") or "") or None,
        )
        self._prepared[key] = pinned
        return pinned

    def download(self, model: str) -> dict[str, str]:
        """Run the app's download_weights on a CPU container (minutes for a large model).

        The user's Hugging Face token goes along when there is one (gated repositories such
        as LTX-2.5 need it) and the app takes it; it is an argument of this call only.
        """
        from pippa_cli.hub import hub_token

        arguments = {"model": model}
        token = hub_token()
        if token and self.deployment().download_token:
            arguments["hf_token"] = token
        try:
            with self._errors():
                fetched = self.sdk.function(self.app_name, "download_weights").remote(**arguments)
        except RemoteFailure as failure:
            raise as_error(failure, model, "while downloading on Modal") from None
        return dict(fetched)

    # --- a render --------------------------------------------------------------------------

    def render(
        self,
        request: RenderRequest,
        source: ModelSource,
        on_progress: ProgressCallback,
        *,
        on_submitted: OnSubmitted | None = None,
        check_stop: CheckStop | None = None,
    ) -> bytes:
        """Spawn the call (its id to `on_submitted`, Ctrl-C held), follow it to the end."""
        if check_stop is not None:
            check_stop()  # stopped meanwhile (a batch): spawn nothing more
        call_id = self._submit(request, source, on_submitted)
        return self.wait(call_id, on_progress, check_stop=check_stop)

    def submit(self, request: RenderRequest, source: ModelSource, on_submitted: OnSubmitted) -> str:
        """Spawn the call, hand its id to `on_submitted` (Ctrl-C held), return (--detach)."""
        return self._submit(request, source, on_submitted)

    def _submit(
        self, request: RenderRequest, source: ModelSource, on_submitted: OnSubmitted | None
    ) -> str:
        # Once Modal has the call, its id must reach the caller's record before Ctrl-C acts.
        with interrupts_held():
            call_id = self.spawn(request, source)
            if on_submitted is not None:
                on_submitted(call_id)
        return call_id

    def spawn(self, request: RenderRequest, source: ModelSource) -> str:
        """Spawn the render and return the call id (the job's handle on Modal)."""
        with self._errors():
            # The exact repo and commit: what this client means, whatever the app's presets.
            remote = self.sdk.cls(self.app_name, self.class_name)(model=source.remote_label)
            call = remote.generate.spawn(request.to_dict())
            return str(call.object_id)

    def state(self, call_id: str, wait: float = 0.0) -> RemoteState:
        """Poll once: the result if it is ready, else the latest published progress.

        A failed state only for what is known to be the call's own end (`call_error`),
        never "still running"; anything else means Modal could not be asked
        (ModalUnavailable, raised): the job stays recoverable.
        """
        self._ensure_reachable()
        call = self.sdk.function_call(call_id)
        try:
            # Not bounded: a finished clip's bytes may take minutes on a slow link, and
            # Modal was reachable a moment ago (a lost network ends in Modal's own error).
            result = call.get(timeout=wait)
            self._last_contact = time.monotonic()
        except TimeoutError as exc:
            if _is_pending(exc):
                self._last_contact = time.monotonic()  # Modal answered: not ready yet
                return self._progress(call_id)
            return self._ended(exc)
        except BaseException as exc:
            # Modal's InputCancellation is a BaseException; Ctrl-C and signals pass on.
            if not isinstance(exc, Exception) and type(exc).__name__ != "InputCancellation":
                raise
            return self._ended(exc)
        return RemoteState(status="completed", result=result)

    def wait(
        self,
        call_id: str,
        on_progress: ProgressCallback,
        poll_seconds: float = POLL_SECONDS,
        check_stop: CheckStop | None = None,
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
        def stop() -> None:
            with self._errors():
                self.sdk.function_call(call_id).cancel()

        self._ask(stop, "cancelling the job")

    def _ended(self, exc: BaseException) -> RemoteState:
        """The state for what `get` raised; raises ModalUnavailable if Modal was not asked."""
        error = call_error(exc, self.app_name)
        if isinstance(error, ModalUnavailable):
            raise error from exc
        status = "expired" if isinstance(error, ResultExpired) else "failed"
        return RemoteState(status=status, error=error)

    def _ask(self, work: Callable[[], T], what: str) -> T:
        """A bounded Modal RPC (`bounded`); an answer means Modal is reachable for now."""
        answer = bounded(work, what)
        self._last_contact = time.monotonic()
        return answer

    def _ensure_reachable(self) -> None:
        """Within CONNECT_TIMEOUT_S, make sure Modal answers at all, unless it answered
        within the last RECHECK_S (a generate has just read the deployment record)."""
        if time.monotonic() - self._last_contact < RECHECK_S:
            return

        def probe() -> None:
            try:
                self.sdk.lookup(self.app_name, self.class_name)
            except Exception as exc:
                error = call_error(exc, self.app_name)
                if isinstance(error, ModalUnavailable):
                    raise error from exc
                # NotFoundError and the like: Modal answered; the call will say more.

        self._ask(probe, "connecting to Modal")

    def _progress(self, call_id: str) -> RemoteState:
        try:
            entry = bounded(lambda: self.sdk.progress_dict().get(call_id, None), "progress")
        except Exception:  # progress is best effort; the call itself is what matters
            entry = None
        if not isinstance(entry, dict):
            return RemoteState(status="running", stage="queued")
        try:
            step, total = int(entry.get("step") or 0), int(entry.get("total") or 0)
        except (TypeError, ValueError, OverflowError):  # a garbled entry: no step shown
            step = total = 0
        return RemoteState(
            status="running", stage=str(entry.get("stage") or "queued"), step=step, total=total
        )

    def _errors(self) -> ModalErrors:
        return ModalErrors(self.app_name)


def _is_pending(exc: TimeoutError) -> bool:
    """`FunctionCall.get(timeout=...)` raises a bare builtin TimeoutError while no output is
    ready. A TimeoutError raised remotely carries its message and Modal's remote traceback."""
    return not exc.args and not hasattr(exc, "__line_cache__")
