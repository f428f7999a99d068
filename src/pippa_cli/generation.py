"""One generation, end to end: prompt -> enhancement -> backend -> MP4 + sidecar -> history.

The job is written to the history before anything is spent, and updated at every step
(remote call id the moment it is known), so a paid-for render can always be found again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pippa_cli import __version__
from pippa_cli.errors import BackendError, HistoryError, PippaError, UsageError
from pippa_cli.files import atomic_write_all, json_bytes
from pippa_cli.history import (
    CANCELLED,
    COMPLETED,
    FAILED,
    RUNNING,
    History,
    Job,
    new_job,
    now_iso,
)
from pippa_cli.ltx import RenderRequest
from pippa_cli.output import Output
from pippa_cli.progress import StageProgress
from pippa_cli.signals import Terminated, signals_as_exceptions
from pippa_cli.spec import GenerateSpec, free_name, sidecar_path
from pippa_cli.text import json_dumps, strip_controls
from pippa_cli.unsaved import UNSAVED

if TYPE_CHECKING:
    from pippa_cli.backends.base import Backend
    from pippa_cli.backends.modal_backend import ModalBackend
    from pippa_cli.batch import BatchProgress as BatchDisplay
    from pippa_cli.settings import Settings

# Overall progress (0-100) at each stage; denoising fills the space between.
_PERCENT = {
    "enhance": 2,
    "queued": 5,
    "loading": 5,
    "denoising": 5,
    "decoding": 92,
    "encoding": 95,
    "saving": 98,
}
_DENOISE_SPAN = 87
# How often progress is written to the history (other terminals read it).
_PERSIST_EVERY_S = 1.0


def percent_for(stage: str, step: int, total: int) -> int:
    """Overall progress of a job (0-100) from the stage it is in."""
    if stage == "denoising" and total:
        return _PERCENT["denoising"] + int(_DENOISE_SPAN * step / total)
    return _PERCENT.get(stage, 0)


def steps_done(percent: int, total: int) -> int:
    """The denoising step a recorded overall progress stands for (inverse of percent_for)."""
    start = _PERCENT["denoising"]
    return max(0, min(total, (percent - start) * total // _DENOISE_SPAN))


class Interrupted(PippaError):
    """The user stopped the command (Ctrl-C) or the process was asked to end."""

    exit_code = 130


class CancelledElsewhere(Interrupted):
    """`pippa cancel` from another terminal cancelled this job (only this one)."""


class _CancelRequested(BaseException):
    """`pippa cancel` marked the job cancelled: stop, and never keep a Modal call running."""


def run_generation(
    spec: GenerateSpec,
    settings: Settings,
    out: Output,
    history: History,
    backend: Backend,
    *,
    strict: bool = False,
    detach: bool = False,
    keep_running: bool = False,
) -> Job:
    if detach and not backend.remote:
        raise UsageError("--detach needs the Modal backend", "Drop --detach with --backend local.")
    with StageProgress(out) as progress, signals_as_exceptions():
        # Everything that can be checked for free, then the weights, before the job starts.
        for warning in backend.preflight(spec, progress.stage):
            progress.warn(warning)
        spec = dataclasses.replace(spec, model=backend.prepare(spec.model, progress.stage))
        return execute_job(
            spec,
            settings,
            out,
            history,
            backend,
            progress,
            strict=strict,
            detach=detach,
            keep_running=keep_running,
            interactive=True,
        )


def execute_job(
    spec: GenerateSpec,
    settings: Settings,
    out: Output,
    history: History,
    backend: Backend,
    progress: StageProgress,
    *,
    strict: bool = False,
    detach: bool = False,
    keep_running: bool | Callable[[], bool] = False,
    interactive: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> Job:
    """One job after preflight: record, enhance, render, save; the history follows along.

    Ctrl-C (or `should_stop` turning true, for batch workers) cancels a Modal job unless
    `keep_running` (a batch passes a callable: its user answers once for all jobs);
    `interactive` lets a terminal user choose. `pippa cancel` from another
    terminal is noticed at the next progress report or poll.
    """
    job = new_job(
        spec.prompt,
        spec.backend,
        output_path=str(spec.output),
        settings=spec.settings(),
        seed=spec.seed,
        model=spec.model.label,
    )
    tracker = _Tracker(history, job.task_id)
    started = time.monotonic()
    tracker.should_stop = should_stop
    history.add(job)
    # Straight after the record exists: no way out leaves it queued forever.
    with _recording_outcome(history, tracker, backend):
        if interactive and not detach and not out.json_mode:
            progress.note(f"Job {job.task_id} ({backend.name}, seed {spec.seed})")
        enhanced = _enhance(spec, settings, progress, strict, tracker)
        request = render_request(spec, job.task_id, enhanced)
        if not backend.remote:
            tracker.progress(status=RUNNING, stage="loading")
        t = time.monotonic()
        followed_from = [t]

        def submitted(call_id: str) -> None:
            # Ctrl-C is held until this returns: the call's id reaches the record first.
            _record_call(tracker, backend, call_id)
            tracker.timings["submit_s"] = round(time.monotonic() - t, 3)
            followed_from[0] = time.monotonic()

        try:
            if detach:
                tracker.check_stop()  # cancelled meanwhile: submit nothing
                backend.submit(request, spec.model, submitted)
            else:
                data = backend.render(
                    request,
                    spec.model,
                    tracker.reporter(progress),
                    on_submitted=submitted,
                    check_stop=tracker.check_stop,
                )
        except KeyboardInterrupt:
            if backend.remote:  # its call may be running: keep it or cancel it
                _decide_keep(tracker, keep_running, interactive, progress, out)
            raise
        if detach:
            tracker.let_go()
            return history.get(job.task_id)
        span = "remote_s" if backend.remote else "render_s"
        tracker.timings[span] = round(time.monotonic() - followed_from[0], 3)
        save_video(
            history,
            history.get(job.task_id),
            data,
            spec.output,
            progress,
            overwrite=spec.overwrite,
            timings=tracker.timings,
            started=started,
        )
    return history.get(job.task_id)


def follow_job(
    job: Job,
    history: History,
    backend: ModalBackend,
    out: Output,
    output: Path,
    *,
    overwrite: bool,
    keep_running: bool = True,
) -> Job:
    """`pippa status ID --wait`: follow a Modal job to the end and save its video."""
    assert job.remote_call_id
    tracker = _Tracker(history, job.task_id, timings=dict(job.timings))
    tracker.call_id = job.remote_call_id
    tracker.take_over()
    started = time.monotonic()
    with (
        StageProgress(out) as progress,
        signals_as_exceptions(),
        _recording_outcome(history, tracker, backend),
    ):
        data = _follow(backend, job.remote_call_id, tracker, progress, out, keep_running, True)
        save_video(
            history,
            history.get(job.task_id),
            data,
            output,
            progress,
            overwrite=overwrite,
            timings=tracker.timings,
            started=started,
        )
    return history.get(job.task_id)


def render_request(spec: GenerateSpec, task_id: str, prompt: str) -> RenderRequest:
    settings = spec.settings()
    # Tags are read by other programs: no controls (a NUL ends an MP4 comment early), no
    # escape sequences, no bidi tricks, no secrets.
    title, comment = strip_controls(spec.prompt), strip_controls(prompt)
    tags = {
        "title": title,
        "comment": comment,
        "pippa": json_dumps(
            {
                "task_id": task_id,
                "original_prompt": title,
                "enhanced_prompt": comment,
                "pippa_version": __version__,
                **settings,
            }
        ),
    }
    return RenderRequest(
        prompt=prompt,
        negative_prompt=spec.negative_prompt,
        width=spec.width,
        height=spec.height,
        num_frames=spec.num_frames,
        fps=spec.fps,
        steps=spec.steps,
        guidance=spec.guidance,
        seed=spec.seed,
        timesteps=spec.timesteps,
        decode_timestep=spec.model.defaults.decode_timestep,
        decode_noise_scale=spec.model.defaults.decode_noise_scale,
        vae_tiling=spec.vae_tiling,
        metadata=tags,
    )


class VideoNotSaved(PippaError):
    """The render could not be written where asked; the job's record says what became of
    it (kept aside and still running, or lost and failed)."""


# What to do about a file system's refusal, before saving the kept render again.
_FIXES = {
    errno.ENOSPC: "free some space",
    errno.EDQUOT: "free some space",
    errno.EFBIG: "lift the file-size limit",
    errno.EROFS: "make the file system writable",
    errno.EACCES: "make the directory writable",
    errno.EPERM: "make the directory writable",
    errno.ENOENT: "create the directory again",
    errno.ENOTDIR: "create the directory again",
}


def save_video(
    history: History,
    job: Job,
    data: bytes,
    path: Path,
    progress: StageProgress,
    *,
    overwrite: bool,
    timings: dict[str, float],
    started: float | None,
    kept: Path | None = None,
) -> None:
    """Write the MP4 and its sidecar (both or neither), then mark the job completed.

    When the file system refuses (a full disk, a quota, a read-only mount), the render is
    kept aside and the job stays running with stage `unsaved` for `pippa status` to save;
    `kept`: where it already is (then it is not copied again).
    """
    progress.stage("saving")
    # lexists: a dangling symlink made meanwhile is taken too, never silently replaced.
    if not overwrite and (os.path.lexists(path) or os.path.lexists(sidecar_path(path))):
        # Something took the name while we rendered: keep both rather than lose either.
        path = free_name(path)
        progress.note(f"Output name was taken meanwhile; saving as {path.name}")
    t = time.monotonic()
    done: dict[str, Any] = {
        "status": COMPLETED,
        "video_path": str(path),
        "progress": 100,
        "stage": "saved",
        "error": None,
    }

    def described() -> bytes:
        done["timings"] = {**timings, "save_s": round(time.monotonic() - t, 3)}
        if started is not None:
            done["timings"]["total_s"] = round(time.monotonic() - started, 3)
        done["completed_at"] = now_iso()
        finished = dataclasses.replace(job, **done)
        return json_bytes(sidecar(finished, video_bytes=len(data)))

    try:
        # The MP4 first; the sidecar says it is whole, so it comes only after.
        atomic_write_all([(path, data), (sidecar_path(path), described)])
    except OSError as exc:
        raise _not_saved(history, job, data, path, exc, kept) from None
    for name, value in done.items():
        setattr(job, name, value)
    try:
        history.update(job.task_id, **done)
    except HistoryError as exc:
        raise HistoryError(
            f"saved the video to {path}, but the job history could not record it: {exc.message}",
            f"The clip and its sidecar are complete. {exc.hint}",
        ) from exc


def _not_saved(
    history: History, job: Job, data: bytes, path: Path, exc: OSError, kept: Path | None
) -> VideoNotSaved:
    """Keep the render aside and record that it waits to be saved (or that it is lost)."""
    from pippa_cli.unsaved import keep

    message = f"could not save the video to {path}: {exc.strerror or exc}"
    then = f"{_FIXES.get(exc.errno or 0, 'fix that')}, then: pippa status {job.task_id[:8]}"
    then += " --wait -o PATH"
    kept = kept or keep(history.path.parent, job.task_id, data)
    # Not failed: the render exists. No pid: no other process should think it orphaned.
    waiting: dict[str, Any] = {"_only_active": True, "stage": UNSAVED, "pid": None}
    # The history may sit on the same full disk: the kept file (found by task id) and the
    # Modal call are what recovery needs, so a record that cannot follow stops nothing.
    with contextlib.suppress(HistoryError):
        if kept is not None:
            hint = f"The render is kept at {kept}; {then}"
            history.update(job.task_id, error=f"{message}; {hint}", **waiting)
        elif job.remote_call_id:
            hint = f"The render could not be kept here either; Modal keeps it for 7 days: {then}"
            history.update(job.task_id, error=message, **waiting)
        else:
            hint = "The render could not be kept anywhere else either, so it is lost; "
            hint += f"{_FIXES.get(exc.errno or 0, 'fix that')} and render it again."
            history.finish(job.task_id, FAILED, error=f"{message}; the render is lost")
    return VideoNotSaved(message, hint)


def sidecar(job: Job, *, video_bytes: int | None = None) -> dict[str, Any]:
    """The JSON file beside a clip: the job, with prompts and error free of controls (other
    programs print them), and the clip's size so a rerun can tell it was cut short."""
    data = job.to_json()
    for name in ("original_prompt", "enhanced_prompt", "error"):
        if isinstance(data.get(name), str):
            data[name] = strip_controls(data[name])
    data["pippa_version"] = __version__
    if video_bytes is not None:
        data["video_bytes"] = video_bytes
    return data


def _enhance(
    spec: GenerateSpec,
    settings: Settings,
    progress: StageProgress,
    strict: bool,
    tracker: _Tracker,
) -> str:
    if not spec.enhance:
        prompt = spec.prompt
    else:
        from pippa_cli.enhance import enhance_prompt

        progress.stage("enhance")
        t = time.monotonic()
        result = enhance_prompt(spec.prompt, spec.customization, settings, strict=strict)
        tracker.timings["enhance_s"] = round(time.monotonic() - t, 3)
        if result.warning:
            progress.warn(result.warning)
        prompt = result.enhanced_prompt
    tracker.progress(enhanced_prompt=prompt, progress=_PERCENT["enhance"])
    return prompt


def _record_call(tracker: _Tracker, backend: Backend, call_id: str) -> None:
    """The call id reaches the record, or the call is cancelled: a paid render nobody
    could find again is the one thing that must not happen."""
    try:
        tracker.update(status=RUNNING, stage="queued", remote_call_id=call_id)
        tracker.call_id = call_id
    except HistoryError as exc:
        try:
            backend.cancel(call_id)
            fate = "so it was cancelled (nothing more is billed)"
        except BackendError:
            fate = f"and cancelling it failed too: cancel it in Modal's dashboard ({call_id})"
        raise HistoryError(
            f"{exc.message}; the job's Modal call could not be recorded, {fate}", exc.hint
        ) from exc


def _follow(
    backend: ModalBackend,
    call_id: str,
    tracker: _Tracker,
    progress: StageProgress,
    out: Output,
    keep_running: bool | Callable[[], bool],
    interactive: bool,
) -> bytes:
    t = time.monotonic()
    try:
        data = backend.wait(call_id, tracker.reporter(progress), check_stop=tracker.check_stop)
    except KeyboardInterrupt:
        _decide_keep(tracker, keep_running, interactive, progress, out)
        raise
    tracker.timings["remote_s"] = round(time.monotonic() - t, 3)
    return data


def _decide_keep(
    tracker: _Tracker,
    keep_running: bool | Callable[[], bool],
    interactive: bool,
    progress: StageProgress,
    out: Output,
) -> None:
    """After Ctrl-C: keep the Modal call running (flag, batch answer, or user) or cancel."""
    keep = keep_running() if callable(keep_running) else keep_running
    tracker.keep_running = keep or (
        interactive and not out.json_mode and ask_keep_running(progress, out)
    )


def ask_keep_running(
    progress: StageProgress | BatchDisplay, out: Output, jobs: str = "the job"
) -> bool:
    """Interactive Ctrl-C: cancel (default) or leave the job(s) running on Modal."""
    if not (sys.stdin.isatty() and out.err.is_terminal):
        return False
    from rich.prompt import Confirm

    try:
        progress.pause()
        return not Confirm.ask(
            f"Cancel {jobs} on Modal? (no: keep running, fetch later with pippa status)",
            console=out.err,
            default=True,
        )
    except (KeyboardInterrupt, EOFError):
        return False


@contextmanager
def _recording_outcome(history: History, tracker: _Tracker, backend: Backend) -> Iterator[None]:
    """However a job's work ends (Ctrl-C, a signal, an error), its record says so."""
    try:
        try:
            yield
        except _CancelRequested:
            _cancelled_elsewhere(history, tracker, backend)
        except VideoNotSaved:
            raise  # save_video has recorded what became of the render
        except HistoryError as exc:
            _history_failed(exc, tracker)
        except (KeyboardInterrupt, Terminated) as exc:
            _interrupted(history, tracker, backend, isinstance(exc, Terminated))
        except PippaError as exc:
            _failed(exc, history, tracker)
        except Exception as exc:
            _crashed(exc, history, tracker)
    except PippaError as exc:
        exc.task_id = tracker.task_id
        raise


def _crashed(exc: Exception, history: History, tracker: _Tracker) -> NoReturn:
    """An unexpected error; a render Modal holds is kept findable rather than failed."""
    job = history.get(tracker.task_id)
    if job.remote_call_id:
        tracker.let_go()
        raise BackendError(
            f"could not finish job {job.task_id}: {type(exc).__name__}: {exc}",
            "Modal keeps the render for 7 days: "
            f"pippa status {job.task_id[:8]} --wait -o PATH saves it elsewhere.",
        ) from exc
    tracker.fail(f"{type(exc).__name__}: {exc}")
    raise exc


def _history_failed(exc: HistoryError, tracker: _Tracker) -> NoReturn:
    """The history cannot follow the job (its disk filled up): say what became of it,
    from what this process knows; the history may not even be readable."""
    if tracker.call_id:
        raise HistoryError(
            f"{exc.message}; job {tracker.task_id} goes on on Modal",
            f"{exc.hint} Then: pippa status {tracker.task_id[:8]} --wait",
        ) from exc
    with contextlib.suppress(HistoryError):
        tracker.fail(exc.message)
    raise exc


def _cancelled_elsewhere(history: History, tracker: _Tracker, backend: Backend) -> NoReturn:
    job = history.get(tracker.task_id)
    if job.remote_call_id:
        with contextlib.suppress(BackendError):  # `pippa cancel` has cancelled it already
            backend.cancel(job.remote_call_id)
    raise CancelledElsewhere(f"job {job.task_id} was cancelled (pippa cancel); nothing was saved")


def _failed(exc: PippaError, history: History, tracker: _Tracker) -> NoReturn:
    """Record a failure, unless Modal merely could not be asked about a call it holds."""
    from pippa_cli.backends.modal_backend import ModalUnavailable, ResultExpired

    job = history.get(tracker.task_id)
    if job.status == CANCELLED:  # cancelled from elsewhere; the call then failed
        raise CancelledElsewhere(f"job {job.task_id} was cancelled; nothing was saved") from exc
    if isinstance(exc, ModalUnavailable) and job.remote_call_id:
        tracker.let_go()
        raise BackendError(
            f"{exc.message}; job {job.task_id} keeps running on Modal",
            f"{exc.hint} Then: pippa status {job.task_id[:8]} --wait",
        ) from exc
    tracker.fail(("expired: " if isinstance(exc, ResultExpired) else "") + exc.message)
    raise exc


def _interrupted(
    history: History,
    tracker: _Tracker,
    backend: Backend,
    terminated: bool,
) -> None:
    job = history.get(tracker.task_id)
    remote = job.remote_call_id
    hint_wait = f"Run `pippa status {job.task_id[:8]} --wait` to fetch the video when it is done."
    if remote and (terminated or tracker.keep_running):
        tracker.let_go()
        raise Interrupted(
            f"stopped following job {job.task_id}; it keeps running on Modal", hint_wait
        )
    if remote:
        try:
            backend.cancel(remote)
        except BackendError as exc:
            tracker.let_go()
            raise Interrupted(
                f"could not cancel job {job.task_id} on Modal: {exc.message}",
                f"Retry with `pippa cancel {job.task_id[:8]}`.",
            ) from None
        history.finish(job.task_id, CANCELLED, error="cancelled by user", timings=tracker.timings)
        raise Interrupted(
            f"cancelled job {job.task_id} on Modal; no more GPU time is billed for it", None
        )
    reason = "interrupted (terminated)" if terminated else "cancelled by user"
    status = FAILED if terminated else CANCELLED
    history.finish(job.task_id, status, error=reason, timings=tracker.timings)
    raise Interrupted(f"job {job.task_id} {reason}; nothing was saved", None)


class _Tracker:
    """Keeps the job's history row in step with what is happening (throttled)."""

    def __init__(self, history: History, task_id: str, timings: dict[str, float] | None = None):
        self.history = history
        self.task_id = task_id
        self.timings: dict[str, float] = timings or {}
        self.keep_running = False
        self.call_id: str | None = None  # the Modal call, once the record holds it
        self.should_stop: Callable[[], bool] | None = None
        self._pending: dict[str, Any] = {}
        self._last_write = 0.0
        self._last_cancel_check = 0.0

    def check_stop(self) -> None:
        """Raise if the batch is stopping (like Ctrl-C) or `pippa cancel` marked the job."""
        if self.should_stop is not None and self.should_stop():
            raise KeyboardInterrupt
        now = time.monotonic()
        if now - self._last_cancel_check >= _PERSIST_EVERY_S:
            self._last_cancel_check = now
            if self.history.get(self.task_id).status == CANCELLED:
                raise _CancelRequested

    def update(self, **fields: Any) -> None:
        self.history.update(self.task_id, **fields)

    def progress(self, **fields: Any) -> None:
        """A progress note (stage, percentage): if the history cannot take it (a disk that
        filled up during the render), the render goes on; its outcome is written later."""
        try:
            self.history.update(self.task_id, **fields)
        except HistoryError:
            self._pending.update(fields)

    def let_go(self) -> None:
        """This process stops following a job that stays active (on Modal): save what it
        knows and drop its pid, so `pippa status` may fetch the job from now on."""
        self.history.update(self.task_id, **self._pending, timings=self.timings, pid=None)
        self._pending = {}

    def take_over(self) -> None:
        """This process follows the job now (`status --wait`): others leave it alone."""
        self.history.update(self.task_id, pid=os.getpid(), host=socket.gethostname())

    def fail(self, message: str) -> None:
        self.history.finish(self.task_id, FAILED, error=message, timings=self.timings)

    def reporter(self, progress: StageProgress) -> Any:
        def report(stage: str, step: int, total: int) -> None:
            if stage == "denoising" and total:
                progress.step(stage, step, total)
            else:
                progress.stage(stage)
            percent = percent_for(stage, step, total)
            self._pending.update(stage=stage, progress=percent)
            now = time.monotonic()
            if now - self._last_write >= _PERSIST_EVERY_S:
                pending, self._pending = self._pending, {}
                self._last_write = now
                self.progress(**pending)
            self.check_stop()

        return report
