"""Following a job that this command did not start, and bringing its record up to date
with reality: Modal's live state, another pippa process's record, or a dead process.

    refresh       one look (pippa status): save a finished video, mark an orphan failed
    follow_job    pippa status ID --wait on a Modal job: follow its call, save the video
    watch_owner   pippa status ID --wait on a job another pippa process is running
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pippa_cli.history import FAILED, History, Job
from pippa_cli.unsaved import UNSAVED
from pippa_cli.unsaved import discard as discard_unsaved
from pippa_cli.unsaved import find as find_unsaved

if TYPE_CHECKING:
    from pippa_cli.backends.modal_backend import ModalBackend
    from pippa_cli.backends.modal_client import ModalSDK
    from pippa_cli.outcome import Outcome
    from pippa_cli.output import Output
    from pippa_cli.settings import Settings


def process_gone(job: Job) -> bool:
    """True when the job's pippa process is known to have died (same host only)."""
    if job.pid is None or job.host != socket.gethostname():
        return False
    if job.pid <= 0:  # not a process: os.kill would signal a process group (or all)
        return True
    # Only a pid that no longer exists counts: a live job must never be marked failed, even
    # when pippa runs inside another program. (A reused pid keeps a dead job "running"
    # until that process ends: the milder mistake.)
    try:
        os.kill(job.pid, 0)
    except (ProcessLookupError, OverflowError):  # too large for a pid_t: no process has it
        return True
    except PermissionError:
        return False
    return _is_zombie(job.pid)


def _is_zombie(pid: int) -> bool:
    """An ended process its parent has not reaped yet (Linux; elsewhere: unknown)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # "pid (command) state ...": the command may contain spaces or parentheses.
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def owner_following(job: Job) -> bool:
    """The pippa process that started the job still runs here (and so keeps its record)."""
    return (
        job.pid is not None
        and job.pid != os.getpid()
        and job.host == socket.gethostname()
        and not process_gone(job)
    )


def mark_if_orphaned(job: Job, history: History) -> Job:
    """A job whose process is gone and that Modal does not hold is failed, not running;
    one whose render is kept aside (`unsaved`) waits for `pippa status` to save it."""
    if not job.active or job.remote_call_id:
        return job
    waiting = job.stage == UNSAVED
    if not waiting and not process_gone(job):
        return job
    if find_unsaved(history.path.parent, job.task_id) is not None:
        return job
    if waiting:  # someone deleted the kept render
        reason = f"{job.error or 'the video could not be saved'}; the kept render is gone"
    else:
        reason = "interrupted: the pippa process running it ended"
        if job.backend == "modal":
            reason += " before the job reached Modal (no GPU time was spent)"
    history.finish(job.task_id, FAILED, error=reason)
    return history.get(job.task_id)


def refresh(
    job: Job,
    history: History,
    backend: ModalBackend | None,
    out: Output,
    *,
    output: Path | None = None,
    overwrite: bool = False,
) -> Job:
    """Save a render kept aside after a failed save; else ask Modal about an active remote
    job and save its video if it has finished.

    A job whose own process is still following it is left to that process, so the video
    is saved once. When Modal cannot be asked, the job is shown as last recorded.
    """
    from pippa_cli.backends.modal_client import ModalUnavailable

    job = mark_if_orphaned(job, history)
    if not job.active or owner_following(job):
        return job
    kept = find_unsaved(history.path.parent, job.task_id)
    if kept is not None:
        return _save_kept(job, kept, history, out, output or planned_path(job), overwrite)
    if not job.remote_call_id or backend is None:
        return job
    if not backend.sdk.has_credentials():
        out.warn("no Modal credentials, so this is the job as last recorded (modal token new)")
        return job
    try:
        state = backend.state(job.remote_call_id)
    except ModalUnavailable as exc:
        out.warn(f"{exc.message}, so this is the job as last recorded")
        return job
    if state.status == "running":
        from pippa_cli.progress import percent_for

        history.update(
            job.task_id,
            stage=state.stage,
            progress=percent_for(state.stage or "queued", state.step, state.total),
        )
    elif state.status == "completed" and state.result is not None:
        from pippa_cli.clip_files import save_video
        from pippa_cli.output import StageProgress

        with StageProgress(out) as progress:
            save_video(
                history,
                job,
                state.result,
                output or planned_path(job),
                progress,
                overwrite=overwrite,
                timings=dict(job.timings),
                started=None,
            )
    elif state.error is not None:
        prefix = "expired: " if state.status == "expired" else ""
        history.finish(job.task_id, FAILED, error=prefix + state.error.message)
    return history.get(job.task_id)


def _save_kept(
    job: Job, kept: Path, history: History, out: Output, target: Path, overwrite: bool
) -> Job:
    """Save the render a failed save kept aside (no Modal needed), then delete the copy."""
    from pippa_cli.clip_files import save_video
    from pippa_cli.errors import PippaError
    from pippa_cli.output import StageProgress

    try:
        data = kept.read_bytes()
    except OSError as exc:
        raise PippaError(
            f"could not read the kept render {kept}: {exc.strerror or exc}",
            f"Copy it by hand to where the video belongs, or fix that and run pippa status "
            f"{job.task_id[:8]} again.",
        ) from None
    # This process saves it now: others leave it alone (a crash leaves the copy in place).
    history.update(job.task_id, pid=os.getpid(), host=socket.gethostname())
    with StageProgress(out) as progress:
        save_video(
            history,
            job,
            data,
            target,
            progress,
            overwrite=overwrite,
            timings=dict(job.timings),
            started=None,
            kept=kept,
        )
    try:
        discard_unsaved(kept)
    except OSError as exc:
        out.warn(f"saved the video, but could not delete the kept copy {kept}: {exc.strerror}")
    return history.get(job.task_id)


def follow_job(
    job: Job, history: History, backend: ModalBackend, out: Output, output: Path, *, overwrite: bool
) -> Outcome:
    """`pippa status ID --wait`: follow a Modal job to the end and save its video. Ctrl-C
    stops following; the job keeps running on Modal."""
    from pippa_cli.clip_files import save_video
    from pippa_cli.endings import settle
    from pippa_cli.outcome import Ending, Outcome
    from pippa_cli.output import StageProgress
    from pippa_cli.recording import JobRecorder
    from pippa_cli.signals import signals_as_exceptions

    assert job.remote_call_id
    record = JobRecorder(history, job.task_id, timings=dict(job.timings))
    record.call_id = job.remote_call_id
    record.take_over()
    started = time.monotonic()
    with StageProgress(out) as progress, signals_as_exceptions():
        try:
            try:
                with record.timed("remote_s"):
                    data = backend.wait(
                        job.remote_call_id, record.reporter(progress), check_stop=record.check_stop
                    )
            except KeyboardInterrupt:
                record.keep_running = True
                raise
            save_video(
                history,
                history.get(job.task_id),
                data,
                output,
                progress,
                overwrite=overwrite,
                timings=record.timings,
                started=started,
            )
        except BaseException as exc:
            progress.abandon()
            return settle(exc, record, backend)
    return Outcome(Ending.COMPLETED, job.task_id, history.get(job.task_id))


def watch_owner(job: Job, history: History, out: Output) -> Job:
    """Follow a job another pippa process is running, from the history it keeps.

    Returns when the job ends, or when its process has gone and left a Modal call to fetch.
    """
    from pippa_cli.output import StageProgress
    from pippa_cli.progress import steps_done

    with StageProgress(out) as progress:
        while job.active and not (job.remote_call_id and not owner_following(job)):
            if job.stage == "denoising":
                total = int(job.settings.get("steps") or 0)
                progress.step("denoising", steps_done(job.progress, total), total)
            elif job.stage:
                progress.stage(job.stage)
            time.sleep(0.5)
            job = mark_if_orphaned(history.get(job.task_id), history)
    return job


def planned_path(job: Job) -> Path:
    """Where the job's video was meant to go. The history is text another tool may have
    written: a path with control characters is never written to."""
    from pippa_cli.errors import UsageError
    from pippa_cli.text import has_unsafe_chars

    if not job.output_path:
        return Path(f"{job.task_id}.mp4")
    if has_unsafe_chars(job.output_path):
        raise UsageError(
            f"job {job.task_id}'s planned output path has control characters",
            f"Save it elsewhere: pippa status {job.task_id[:8]} --wait -o PATH",
        )
    return Path(job.output_path)


def modal_backend_for(
    job: Job, settings: Settings, sdk: ModalSDK | None = None
) -> ModalBackend | None:
    """The Modal backend for a job that lives on Modal (None for local jobs); `sdk`: what
    it talks to (the real Modal SDK by default)."""
    if job.backend != "modal" or not job.remote_call_id:
        return None
    from pippa_cli.backends.modal_backend import ModalBackend

    return ModalBackend(settings.modal_app, settings.modal_class, sdk=sdk)


def cancel_job(job: Job, history: History, settings: Settings, sdk: ModalSDK | None = None) -> Job:
    """Cancel an active job: its Modal call at once; the process running it stops at its
    next progress report or poll, when it sees the job marked cancelled (a batch's other
    jobs go on)."""
    from pippa_cli.errors import PippaError
    from pippa_cli.history import CANCELLED

    job = mark_if_orphaned(job, history)
    if not job.active:
        raise PippaError(
            f"job {job.task_id} is already {job.status}", "Nothing to cancel; see pippa status."
        )
    backend = modal_backend_for(job, settings, sdk)
    if backend is not None and job.remote_call_id:
        backend.cancel(job.remote_call_id)
    history.finish(job.task_id, CANCELLED, error="cancelled with pippa cancel")
    job = history.get(job.task_id)
    if job.status != CANCELLED:  # it ended on its own meanwhile
        raise PippaError(f"job {job.task_id} {job.status} before it could be cancelled")
    return job
