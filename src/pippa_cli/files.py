"""Files in and out: a file the user named read safely (never a pipe or a device, never
more than a limit), and results written so that a crash or a full disk never leaves a
half-written file behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pippa_cli.text import json_dumps

# Why a file the user named cannot be read (the caller words what to do about it).
MISSING, DIRECTORY, SPECIAL, UNREADABLE, TOO_LARGE = (
    "missing",
    "directory",
    "special",
    "unreadable",
    "too large",
)


class InputFileRefused(Exception):
    def __init__(self, reason: str, problem: str) -> None:
        super().__init__(problem)
        self.reason = reason
        self.problem = problem


def read_input_file(path: Path, limit: int) -> bytes:
    """A file the user named (an image, a clip), read whole: a regular file of at most
    `limit` bytes. A FIFO or a device would block or never end, so they are refused unread."""
    if path.exists() and not path.is_file() and not path.is_dir():
        raise InputFileRefused(SPECIAL, f"{path} is not a regular file")
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise InputFileRefused(MISSING, f"{path} does not exist") from None
    except IsADirectoryError:
        raise InputFileRefused(DIRECTORY, f"{path} is a directory") from None
    except OSError as exc:
        raise InputFileRefused(UNREADABLE, f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputFileRefused(TOO_LARGE, f"{path.name} is larger than {limit // 2**20} MiB")
    return data


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temp file beside `path`, fsync, then rename into place."""
    atomic_write_all([(path, data)])


def atomic_write_all(files: list[tuple[Path, bytes | Callable[[], bytes]]]) -> None:
    """Write every file or none: all of them go to fsynced temp files beside their paths
    first (where a full disk shows), and only then are they renamed into place. On any
    error, nothing written here is left behind (files a rename had already replaced are
    gone: the caller asked for them to be replaced). A callable's bytes are made once the
    files before it are written (a sidecar may record how long that took)."""
    temps: list[tuple[str, Path]] = []
    placed: list[Path] = []
    try:
        for path, data in files:
            temps.append((_write_temp(path, data() if callable(data) else data), path))
        for tmp, path in temps:
            os.replace(tmp, path)
            placed.append(path)
    except BaseException:
        for tmp, _ in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        for path in placed:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise


def _write_temp(path: Path, data: bytes) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def json_bytes(obj: Any) -> bytes:
    """`obj` as a JSON file's bytes: indented, no raw control characters, no secrets."""
    return (json_dumps(obj, indent=2) + "\n").encode("utf-8")


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json_bytes(obj))
