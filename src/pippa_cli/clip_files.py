"""A finished render on disk: the MP4 and its JSON sidecar, written both or neither.

When the file system refuses (a full disk, a quota, a read-only mount), the render is kept
aside (`unsaved`) and the job stays running for `pippa status` to save, so a paid-for clip
is never lost to a full disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import time
from pathlib import Path
from typing import Any

from pippa_cli.clip_names import free_name, sidecar_path
from pippa_cli.errors import HistoryError, PippaError
from pippa_cli.files import atomic_write_all, json_bytes
from pippa_cli.history import COMPLETED, FAILED, History, Job, now_iso
from pippa_cli.progress import ProgressSink
from pippa_cli.text import strip_controls
from pippa_cli.unsaved import UNSAVED
from pippa_cli.version import __version__


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
    progress: ProgressSink,
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
