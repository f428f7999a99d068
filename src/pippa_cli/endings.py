"""However a job's work stops (Ctrl-C, a signal, `pippa cancel`, an error), its record says
so, and the caller gets the Outcome: `settle` is the one place that decides which.

A render Modal holds is never marked failed for trouble on this side (Modal unreachable,
a crash here, a history that cannot follow): the job is left running and findable.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from pippa_cli.clip_files import VideoNotSaved
from pippa_cli.errors import BackendError, HistoryError, Interrupted, PippaError
from pippa_cli.history import CANCELLED, FAILED, Job
from pippa_cli.outcome import Ending, Outcome
from pippa_cli.recording import CancelRequested, JobRecorder
from pippa_cli.signals import Terminated

if TYPE_CHECKING:
    from pippa_cli.backends.base import Backend


class CancelledElsewhere(PippaError):
    """`pippa cancel` from another terminal cancelled this job (only this one)."""

    exit_code = 130


def settle(exc: BaseException, record: JobRecorder, backend: Backend) -> Outcome:
    """Record how the job ended on `exc` and return that as an Outcome.

    Anything but an Exception, Ctrl-C, a signal or a cancel mark (SystemExit, ...) is the
    caller's: it is re-raised."""
    if isinstance(exc, CancelRequested):
        return _cancelled_elsewhere(record, backend)
    if isinstance(exc, VideoNotSaved):
        return _unsaved(exc, record)  # save_video has recorded what became of the render
    if isinstance(exc, HistoryError):
        return _history_failed(exc, record)
    if isinstance(exc, KeyboardInterrupt | Terminated):
        return _interrupted(record, backend, terminated=isinstance(exc, Terminated))
    if isinstance(exc, PippaError):
        return _failed(exc, record)
    if isinstance(exc, Exception):
        return _crashed(exc, record)
    raise exc


def _outcome(
    ending: Ending, record: JobRecorder, error: BaseException, interrupted: bool = False
) -> Outcome:
    job: Job | None
    try:
        job = record.history.get(record.task_id)
    except HistoryError:  # the history may be what failed; the outcome stands on its own
        job = None
    return Outcome(ending, record.task_id, job, error, interrupted)


def _unsaved(exc: VideoNotSaved, record: JobRecorder) -> Outcome:
    outcome = _outcome(Ending.FAILED, record, exc)
    if outcome.job is not None and outcome.job.active:
        return Outcome(Ending.UNSAVED, record.task_id, outcome.job, exc)
    return outcome


def _crashed(exc: Exception, record: JobRecorder) -> Outcome:
    """An unexpected error; a render Modal holds is kept findable rather than failed."""
    job = record.history.get(record.task_id)
    if job.remote_call_id:
        record.let_go()
        error = BackendError(
            f"could not finish job {job.task_id}: {type(exc).__name__}: {exc}",
            "Modal keeps the render for 7 days: "
            f"pippa status {job.task_id[:8]} --wait -o PATH saves it elsewhere.",
        )
        error.__cause__ = exc
        return _outcome(Ending.LEFT_RUNNING, record, error)
    record.fail(f"{type(exc).__name__}: {exc}")
    return _outcome(Ending.FAILED, record, exc)


def _history_failed(exc: HistoryError, record: JobRecorder) -> Outcome:
    """The history cannot follow the job (its disk filled up): say what became of it,
    from what this process knows; the history may not even be readable."""
    if record.call_id:
        error = HistoryError(
            f"{exc.message}; job {record.task_id} goes on on Modal",
            f"{exc.hint} Then: pippa status {record.task_id[:8]} --wait",
        )
        error.__cause__ = exc
        return _outcome(Ending.LEFT_RUNNING, record, error)
    with contextlib.suppress(HistoryError):
        record.fail(exc.message)
    return _outcome(Ending.FAILED, record, exc)


def _cancelled_elsewhere(record: JobRecorder, backend: Backend) -> Outcome:
    job = record.history.get(record.task_id)
    if job.remote_call_id:
        with contextlib.suppress(BackendError):  # `pippa cancel` has cancelled it already
            backend.cancel(job.remote_call_id)
    error = CancelledElsewhere(f"job {job.task_id} was cancelled (pippa cancel); nothing was saved")
    return _outcome(Ending.CANCELLED, record, error)


def _failed(exc: PippaError, record: JobRecorder) -> Outcome:
    """Record a failure, unless Modal merely could not be asked about a call it holds."""
    from pippa_cli.backends.modal_client import ModalUnavailable, ResultExpired

    job = record.history.get(record.task_id)
    if job.status == CANCELLED:  # cancelled from elsewhere; the call then failed
        cancelled = CancelledElsewhere(f"job {job.task_id} was cancelled; nothing was saved")
        cancelled.__cause__ = exc
        return _outcome(Ending.CANCELLED, record, cancelled)
    if isinstance(exc, ModalUnavailable) and job.remote_call_id:
        record.let_go()
        error = BackendError(
            f"{exc.message}; job {job.task_id} keeps running on Modal",
            f"{exc.hint} Then: pippa status {job.task_id[:8]} --wait",
        )
        error.__cause__ = exc
        return _outcome(Ending.LEFT_RUNNING, record, error)
    record.fail(("expired: " if isinstance(exc, ResultExpired) else "") + exc.message)
    return _outcome(Ending.FAILED, record, exc)


def _interrupted(record: JobRecorder, backend: Backend, terminated: bool) -> Outcome:
    job = record.history.get(record.task_id)
    remote = job.remote_call_id
    hint_wait = f"Run `pippa status {job.task_id[:8]} --wait` to fetch the video when it is done."
    if remote and (terminated or record.keep_running):
        record.let_go()
        error = Interrupted(
            f"stopped following job {job.task_id}; it keeps running on Modal", hint_wait
        )
        return _outcome(Ending.LEFT_RUNNING, record, error, interrupted=True)
    if remote:
        try:
            backend.cancel(remote)
        except BackendError as exc:
            record.let_go()
            error = Interrupted(
                f"could not cancel job {job.task_id} on Modal: {exc.message}",
                f"Retry with `pippa cancel {job.task_id[:8]}`.",
            )
            return _outcome(Ending.LEFT_RUNNING, record, error, interrupted=True)
        record.finish(CANCELLED, "cancelled by user")
        error = Interrupted(
            f"cancelled job {job.task_id} on Modal; no more GPU time is billed for it", None
        )
        return _outcome(Ending.CANCELLED, record, error, interrupted=True)
    reason = "interrupted (terminated)" if terminated else "cancelled by user"
    record.finish(FAILED if terminated else CANCELLED, reason)
    error = Interrupted(f"job {job.task_id} {reason}; nothing was saved", None)
    return _outcome(Ending.CANCELLED, record, error, interrupted=True)
