"""The job history: every generation is a row in SQLite before any money is spent.

Many pippa processes may write at once (`xargs -P 8`): WAL mode and a generous busy
timeout keep them from failing with "database is locked" (simonw/llm#789). A file that
cannot be used is reported, never silently replaced, and each cause gets its own advice:
another process holding the lock, a full disk, a read-only file system, permissions, or
a damaged file (only that one is worth moving aside).

A history pippa cannot write (read-only file system, no write permission, full disk) is
still read, through a read-only connection (`immutable` when SQLite cannot even create
its shared-memory file there), so `pippa status` lists it; writes then fail with the cause.

Everything stored passes through `text.visible` (text) or `text.json_dumps` (JSON), so no
raw control or bidi character, and no known secret, is ever written. Rows are read
tolerantly: columns this pippa does not know are ignored, and a row that cannot be read
whole (invalid JSON, a missing value) comes back with `Job.damaged` saying why.

Schema versions (`PRAGMA user_version`): pippa stamps SCHEMA_VERSION when it creates or
first writes a history, through the explicit steps in `_MIGRATIONS` (0 -> 1 only stamps:
version 1 is the schema every earlier pippa wrote). A history from a newer pippa is used
as it is, without a warning: newer versions only add columns, which this pippa ignores on
reading and leaves to their defaults on writing, so there is nothing for the user to do.
Only if the newer schema refuses a write does the error name both versions and suggest an
upgrade.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import shutil
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from pippa_cli.errors import HistoryError, UsageError
from pippa_cli.text import has_undecodable, json_dumps, visible

QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED = (
    "queued",
    "running",
    "completed",
    "failed",
    "cancelled",
)
STATUSES = (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED)
ACTIVE = (QUEUED, RUNNING)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    task_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    stage TEXT,
    original_prompt TEXT NOT NULL,
    enhanced_prompt TEXT,
    output_path TEXT,
    video_path TEXT,
    settings TEXT NOT NULL DEFAULT '{}',
    seed INTEGER,
    model TEXT,
    backend TEXT NOT NULL,
    remote_call_id TEXT,
    timings TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    pid INTEGER,
    host TEXT,
    created_at TEXT NOT NULL,
    completed_at TEXT
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at);
"""
_JSON_FIELDS = ("settings", "timings")
_BUSY_TIMEOUT_S = 60.0
# SQLite counts in signed 64 bits; a larger LIMIT means "all of them".
_MAX_LIMIT = 2**63 - 1
# Below this much free space an I/O error while writing is a full disk.
_NEARLY_FULL_BYTES = 1 << 20
T = TypeVar("T")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Job:
    task_id: str
    status: str
    original_prompt: str
    backend: str
    created_at: str
    progress: int = 0
    stage: str | None = None
    enhanced_prompt: str | None = None
    output_path: str | None = None
    video_path: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    model: str | None = None
    remote_call_id: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    pid: int | None = None
    host: str | None = None
    completed_at: str | None = None
    # What is wrong with the stored row, when it could not be read whole; never stored.
    damaged: str | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def to_json(self) -> dict[str, Any]:
        """The seed's status schema first, then pippa's own fields."""
        data = {
            "task_id": self.task_id,
            "status": self.status,
            "progress": self.progress,
            "video_path": self.video_path,
            "original_prompt": self.original_prompt,
            "enhanced_prompt": self.enhanced_prompt,
            "created_at": self.created_at,
            "completed_at": self.completed_at,
            "stage": self.stage,
            "error": self.error,
            "backend": self.backend,
            "model": self.model,
            "seed": self.seed,
            "remote_call_id": self.remote_call_id,
            "output_path": self.output_path,
            "settings": self.settings,
            "timings": self.timings,
        }
        if self.damaged:
            data["damaged"] = self.damaged
        return data


# The columns pippa stores: every Job field but `damaged`.
_COLUMNS = tuple(f.name for f in fields(Job) if f.name != "damaged")


def new_job(original_prompt: str, backend: str, **fields: Any) -> Job:
    return Job(
        task_id=str(uuid.uuid4()),
        status=QUEUED,
        original_prompt=original_prompt,
        backend=backend,
        created_at=now_iso(),
        pid=os.getpid(),
        host=socket.gethostname(),
        **fields,
    )


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


def _migrate_0_to_1(db: sqlite3.Connection) -> None:
    """Version 1 is the schema every unversioned pippa wrote: nothing to change."""


# _MIGRATIONS[n] takes a history from version n to n + 1.
_MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_migrate_0_to_1,)
SCHEMA_VERSION = len(_MIGRATIONS)


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        # Set when the history can only be read: the error every write raises.
        self.write_problem: HistoryUnusable | None = None
        # Something a reader should know (recent changes that could not be read).
        self.notice: str | None = None
        self.version = 0
        self._uri: str | None = None  # a read-only connection's URI, once needed
        self._absent = False  # read-only and there is no history yet: no jobs
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            cause = _os_cause(exc, path)
            problem = HistoryUnusable(
                cause,
                f"cannot create the history directory {path.parent}: {exc.strerror}",
                _HINTS.get(cause, "Set PIPPA_HOME to a writable directory.").format(
                    path=path, dir=path.parent
                ),
            )
            if cause not in _UNWRITABLE:
                raise problem from None
            self.write_problem, self._absent = problem, True
            return
        try:
            self.version = self._run(self._prepare)
        except HistoryUnusable as problem:
            if not problem.unwritable:
                raise
            self._open_read_only(problem)

    @classmethod
    def open_default(cls, home: Path | None = None) -> History:
        from pippa_cli.paths import data_dir

        return cls(data_dir(home) / "history.db")

    @property
    def read_only(self) -> bool:
        return self.write_problem is not None

    @property
    def is_newer(self) -> bool:
        """Written by a newer pippa, whose schema this one knows only in part."""
        return self.version > SCHEMA_VERSION

    def _prepare(self, db: sqlite3.Connection) -> int:
        """Create the table if need be, switch to WAL and bring the version up to date."""
        db.execute("PRAGMA journal_mode = WAL")  # persistent; cheap once set
        db.executescript(_SCHEMA)
        version = _user_version(db)
        while version < SCHEMA_VERSION:
            # One step per transaction; another process may have taken it meanwhile.
            db.execute("BEGIN IMMEDIATE")
            try:
                if _user_version(db) == version:
                    _MIGRATIONS[version](db)
                    db.execute(f"PRAGMA user_version = {version + 1}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            version = _user_version(db)
        return version

    def _read_only_uris(self) -> tuple[str, str]:
        """`mode=ro`, and `immutable` for when SQLite cannot even create its -shm file."""
        location = "file:" + quote(os.fspath(self.path))
        return location + "?mode=ro", location + "?mode=ro&immutable=1"

    def _open_read_only(self, problem: HistoryUnusable) -> None:
        """Read what cannot be written: `mode=ro`, or `immutable` when SQLite cannot create
        its -shm file there (then a -wal another process left unmerged cannot be read)."""
        self.write_problem = problem
        if not self.path.is_file():
            self._absent = True
            return
        read_only, immutable = self._read_only_uris()
        self._uri = read_only
        try:
            self.version = self._run(_user_version)
        except HistoryUnusable as again:
            if not again.unwritable:
                raise
            self._uri = immutable
            self.version = self._run(_user_version)
            wal = self.path.with_name(self.path.name + "-wal")
            if wal.is_file() and wal.stat().st_size > 0:
                self.notice = (
                    f"the most recent changes to the job history (in {wal}) cannot be read "
                    "here; jobs are shown as last merged"
                )
        if not self._run(_has_jobs_table):
            self._absent = True

    def _run(self, work: Callable[[sqlite3.Connection], T], uri: str | None = None) -> T:
        """Run `work` on a fresh connection, retrying while another process holds a lock.

        The busy timeout covers most waits; SQLite still answers "locked" at once in a few
        cases (WAL recovery, a concurrent switch to WAL), so those are retried here.
        Every statement runs in autocommit mode, so a failed one changed nothing.
        """
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        delay = 0.01
        while True:
            try:
                with self._connect(uri) as db:
                    return work(db)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise self._problem(exc) from None
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.5)

    @contextmanager
    def _connect(self, uri: str | None = None) -> Iterator[sqlite3.Connection]:
        uri = uri or self._uri
        try:
            db = sqlite3.connect(
                uri or self.path,
                uri=uri is not None,
                timeout=_BUSY_TIMEOUT_S,
                isolation_level=None,
            )
        except sqlite3.Error as exc:
            raise self._problem(exc) from None
        try:
            db.row_factory = sqlite3.Row
            # Another tool may have stored bytes that are not UTF-8: one such cell must not
            # hide the whole history. The bytes survive as surrogates, which `visible` shows
            # as \xff and `_stored` never writes back raw.
            db.text_factory = _decode_text
            db.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            db.execute("PRAGMA synchronous = NORMAL")
            yield db
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise  # _run retries it
            raise self._problem(exc) from None
        except sqlite3.DatabaseError as exc:
            raise self._problem(exc) from None
        finally:
            db.close()

    def _problem(self, exc: sqlite3.Error) -> HistoryUnusable:
        cause = _cause(exc, self.path)
        if cause == OTHER and isinstance(exc, sqlite3.IntegrityError) and self.is_newer:
            cause = NEWER
        what = {
            BUSY: f"is locked: another pippa process has held it for over {_BUSY_TIMEOUT_S:g} s",
            FULL: "cannot be written: the disk holding it is full",
            READ_ONLY: "cannot be written: it is on a read-only file system",
            PERMISSION: (
                "cannot be written: permission denied"
                if os.access(self.path, os.R_OK)
                else "cannot be read: permission denied"
            ),
            CORRUPT: f"is damaged: {exc}",
            NEWER: (
                f"was written by a newer pippa (schema version {self.version}; this pippa "
                f"knows {SCHEMA_VERSION}) and refuses this change: {exc}"
            ),
        }.get(cause, f"cannot be used: {exc}")
        return HistoryUnusable(
            cause,
            f"the job history {self.path} {what}",
            _HINTS[cause].format(path=self.path, dir=self.path.parent),
        )

    # writes -------------------------------------------------------------------------
    def add(self, job: Job) -> None:
        row = self._row(job)
        names = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        self._write(lambda db: db.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", row))

    def update(self, task_id: str, _only_active: bool = False, **fields: Any) -> None:
        if not fields:
            return
        fields = {name: _stored(name, value) for name, value in fields.items()}
        assignments = ", ".join(f"{k} = :{k}" for k in fields)
        query = f"UPDATE jobs SET {assignments} WHERE task_id = :task_id"
        if _only_active:
            query += f" AND status IN {ACTIVE!r}"
        params = {**fields, "task_id": task_id}
        self._write(lambda db: db.execute(query, params))

    def finish(self, task_id: str, status: str, **fields: Any) -> None:
        """End an active job; a job that already ended (e.g. cancelled) keeps its outcome."""
        self.update(task_id, status=status, completed_at=now_iso(), _only_active=True, **fields)

    def _write(self, work: Callable[[sqlite3.Connection], Any]) -> None:
        if self.write_problem is not None:
            problem = self.write_problem
            raise HistoryUnusable(problem.cause, problem.message, problem.hint or "")
        self._run(work)

    # reads --------------------------------------------------------------------------
    def get(self, prefix: str) -> Job:
        """The job whose id starts with `prefix` (like git); UsageError if none or several."""
        prefix = prefix.strip().lower()
        if not prefix:
            raise UsageError("no task id given", "Run `pippa status` to list jobs.")
        rows = self._read(
            "SELECT * FROM jobs WHERE task_id LIKE :p ESCAPE '\\' ORDER BY created_at DESC LIMIT 6",
            {"p": _escape_like(prefix) + "%"},
        )
        if not rows:
            raise UsageError(f"no job with id {prefix}", "Run `pippa status` to list jobs.")
        if len(rows) > 1:
            ids = ", ".join(str(r["task_id"])[:12] for r in rows[:5])
            raise UsageError(
                f"task id {prefix} is ambiguous ({ids}...)", "Give more characters of the id."
            )
        return self._job(rows[0])

    def list(self, limit: int = 20, status: str | None = None) -> list[Job]:
        query = "SELECT * FROM jobs"
        params: dict[str, Any] = {"limit": min(limit, _MAX_LIMIT)}
        if status:
            query += " WHERE status = :status"
            params["status"] = status
        query += " ORDER BY created_at DESC, rowid DESC LIMIT :limit"
        return [self._job(r) for r in self._read(query, params)]

    # builtins.list: `list` is a method name in this class.
    def _read(self, query: str, params: dict[str, Any]) -> builtins.list[sqlite3.Row]:
        if self._absent:
            return []
        try:
            return self._run(lambda db: db.execute(query, params).fetchall())
        except HistoryUnusable as problem:
            # The disk filled up since the history was opened (a WAL read needs room for
            # its -shm file): reading goes on read-only, as for a read-only mount.
            if not problem.unwritable or self._uri is not None:
                raise
        read_only, immutable = self._read_only_uris()
        try:
            return self._run(lambda db: db.execute(query, params).fetchall(), read_only)
        except HistoryUnusable:
            return self._run(lambda db: db.execute(query, params).fetchall(), immutable)

    @staticmethod
    def _row(job: Job) -> dict[str, Any]:
        return {name: _stored(name, getattr(job, name)) for name in _COLUMNS}

    @staticmethod
    def _job(row: sqlite3.Row) -> Job:
        """A Job from whatever the row holds; what cannot be read is named in `damaged`."""
        data = {name: value for name, value in dict(row).items() if name in _COLUMNS}
        damage: list[str] = []
        for spec in fields(Job):
            name = spec.name
            if name == "damaged":
                continue
            value = data.get(name)
            if name in _JSON_FIELDS:
                data[name], problem = _json_object(value)
            elif name in _REQUIRED_TEXT:
                data[name], problem = _text(value, required=True)
            elif name in _INTEGERS:
                data[name], problem = _integer(value, required=name == "progress")
            else:
                data[name], problem = _text(value, required=False)
            if problem:
                damage.append(f"{name} {problem}")
        task_id = data.get("task_id")
        if isinstance(task_id, str) and has_undecodable(task_id):
            # Its row could not be addressed again (SQLite takes UTF-8 only): read-only.
            damage.append("task_id is not valid UTF-8")
        return Job(**data, damaged="; ".join(damage) or None)


_REQUIRED_TEXT = ("task_id", "status", "original_prompt", "backend", "created_at")
_INTEGERS = ("progress", "seed", "pid")


def _stored(name: str, value: Any) -> Any:
    """`value` as the history stores it: text made visible-safe, JSON made safe."""
    if name in _JSON_FIELDS:
        return json_dumps(value)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        return visible(value, multiline=True)
    return value


def _json_object(value: Any) -> tuple[dict[str, Any], str | None]:
    if value is None:
        return {}, None
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return {}, "is not valid JSON"
    if not isinstance(parsed, dict):
        return {}, "is not a JSON object"
    return parsed, None


def _text(value: Any, *, required: bool) -> tuple[Any, str | None]:
    if value is None:
        return ("", "is missing") if required else (None, None)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace"), "is not text"
    return (value if isinstance(value, str) else str(value)), None


def _integer(value: Any, *, required: bool) -> tuple[int | None, str | None]:
    if isinstance(value, int) and not isinstance(value, bool):
        return value, None
    if value is None:
        return (0, "is missing") if required else (None, None)
    return (0 if required else None), f"is not a number ({str(value)[:20]!r})"


def _decode_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _user_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _has_jobs_table(db: sqlite3.Connection) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'"
    return db.execute(query).fetchone() is not None


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
        isinstance(exc, sqlite3.OperationalError) and _is_busy(exc)
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


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
