"""Renders that could not be saved where asked (a full disk, a read-only mount): their
bytes are kept aside until `pippa status ID` saves them, then deleted.

A kept render is `<dir>/<task_id>.mp4` in the first of `paths.unsaved_dirs` that takes
it, written atomically, so a file found there is always whole.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from pippa_cli.files import atomic_write
from pippa_cli.paths import unsaved_dirs

# The stage of a job whose render waits to be saved (its status stays running).
UNSAVED = "unsaved"


def keep(data: Path, task_id: str, video: bytes) -> Path | None:
    """Keep `video` for job `task_id`; where it went, or None when no place took it."""
    for folder in unsaved_dirs(data):
        path = folder / f"{task_id}.mp4"
        try:
            _make_private_dir(folder)
            atomic_write(path, video)
        except OSError:
            continue
        return path
    return None


def find(data: Path, task_id: str) -> Path | None:
    """The kept render of job `task_id`, if there is one."""
    for folder in unsaved_dirs(data):
        path = folder / f"{task_id}.mp4"
        if path.is_file():
            return path
    return None


def discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _make_private_dir(folder: Path) -> None:
    """Create `folder` for this user only; refuse one another user made or a symlink (the
    temp dir is shared)."""
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700, parents=True)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        raise PermissionError(f"{folder} is not a directory of this user's")
