"""Why the job history cannot be used, and the advice for each cause.

Each cause gets its own advice: another process holding the lock, a full disk, a read-only
file system, permissions, or a damaged file (only that one is worth moving aside). SQLite
reports a read-only mount and a full disk alike, so the file system is asked which it is.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from pathlib import Path

from pippa_cli.errors import HistoryError

# Below this much free space an I/O error while writing is a full disk.
_NEARLY_FULL_BYTES = 1 << 20

# Why the history cannot be used: each cause has its own advice.
BUSY, FULL, READ_ONLY, PERMISSION, CORRUPT, NEWER, OTHER = (
    "busy",
    "full",
    "read-only",
    "permission",
    "corrupt",
    "newer",
    "other",
)
# Causes that still let the history be read.
_UNWRITABLE = (FULL, READ_ONLY, PERMISSION)


class HistoryUnusable(HistoryError):
    """A HistoryError that knows its cause (BUSY, FULL, READ_ONLY, ...)."""

    def __init__(self, cause: str, message: str, hint: str) -> None:
        super().__init__(message, hint)
        self.cause = cause

    @property
    def unwritable(self) -> bool:
        """The history can still be read (and shown as recorded); it cannot be changed."""
        return self.cause in _UNWRITABLE


def sqlite_problem(
    exc: sqlite3.Error, path: Path, *, version: int, known_version: int, busy_timeout_s: float
) -> HistoryUnusable:
    """What SQLite's `exc` means for the history at `path`, whose schema version is
    `version` (this pippa knows `known_version`), with the advice for its cause."""
    cause = _cause(exc, path)
    if cause == OTHER and isinstance(exc, sqlite3.IntegrityError) and version > known_version:
        cause = NEWER
    what = {
        BUSY: f"is locked: another pippa process has held it for over {busy_timeout_s:g} s",
        FULL: "cannot be written: the disk holding it is full",
        READ_ONLY: "cannot be written: it is on a read-only file system",
        PERMISSION: (
            "cannot be written: permission denied"
            if os.access(path, os.R_OK)
            else "cannot be read: permission denied"
        ),
        CORRUPT: f"is damaged: {exc}",
        NEWER: (
            f"was written by a newer pippa (schema version {version}; this pippa "
            f"knows {known_version}) and refuses this change: {exc}"
        ),
    }.get(cause, f"cannot be used: {exc}")
    return HistoryUnusable(
        cause,
        f"the job history {path} {what}",
        _HINTS[cause].format(path=path, dir=path.parent),
    )


def directory_problem(exc: OSError, path: Path) -> HistoryUnusable:
    """Why the directory of the history at `path` could not be created, with advice."""
    cause = _os_cause(exc, path)
    return HistoryUnusable(
        cause,
        f"cannot create the history directory {path.parent}: {exc.strerror}",
        _HINTS.get(cause, "Set PIPPA_HOME to a writable directory.").format(
            path=path, dir=path.parent
        ),
    )


_HINTS = {
    BUSY: (
        "Wait for the other pippa process to finish, or stop it; every pippa with the same "
        "PIPPA_HOME ({dir}) shares this history."
    ),
    FULL: "Free some space on that disk (or set PIPPA_HOME to another one); the jobs "
    "already recorded are intact.",
    READ_ONLY: (
        "Listing jobs still works; to start or change jobs, set PIPPA_HOME to a writable directory."
    ),
    PERMISSION: "Check the owner and permissions of {path} and of {dir}.",
    CORRUPT: (
        "Move the file aside (pippa will start a new one) or restore it from a backup; "
        "pippa never overwrites it."
    ),
    NEWER: "Upgrade pippa, or set PIPPA_HOME to a directory of its own for this version.",
    OTHER: "pippa has not changed the file; check it and the disk holding it.",
}


def _cause(exc: sqlite3.Error, path: Path) -> str:
    """Why SQLite failed, from its error code (its message where there is none) and the
    state of the file system: a read-only mount and a full disk look alike to SQLite."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    message = str(exc).lower()
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or (
        isinstance(exc, sqlite3.OperationalError) and is_busy(exc)
    ):
        return BUSY
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or any(
        words in message for words in ("not a database", "malformed", "corrupt")
    ):
        return CORRUPT
    if name == "SQLITE_FULL" or "is full" in message:
        return FULL
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_PERM")) or (
        any(words in message for words in ("readonly", "unable to open", "i/o error"))
    ):
        return _file_system_cause(path)
    return OTHER


def _os_cause(exc: OSError, path: Path) -> str:
    if exc.errno == errno.ENOSPC:
        return FULL
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return _file_system_cause(path)
    return OTHER


def _file_system_cause(path: Path) -> str:
    """Read-only mount, full disk or permissions, whichever the file system shows."""
    where = _nearest_existing(path)
    try:
        if os.statvfs(where).f_flag & os.ST_RDONLY:
            return READ_ONLY
        if shutil.disk_usage(where).free < _NEARLY_FULL_BYTES:
            return FULL
    except OSError:
        return OTHER
    directory = where if where.is_dir() else where.parent
    if not os.access(directory, os.W_OK | os.X_OK) or (
        path.exists() and not os.access(path, os.R_OK | os.W_OK)
    ):
        return PERMISSION
    return OTHER


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return path


def is_busy(exc: sqlite3.OperationalError) -> bool:
    """SQLite's answer while another process holds a lock: worth waiting for."""
    message = str(exc).lower()
    return "locked" in message or "busy" in message
