"""The job history: every generation is a row in SQLite before any money is spent.

Many pippa processes may write at once (`xargs -P 8`): WAL mode and a generous busy
timeout keep them from failing with "database is locked" (simonw/llm#789). A file that
cannot be used is reported, never silently replaced, with the cause and its advice
(history_problems.py).

A history pippa cannot write (read-only file system, no write permission, full disk) is
still read, through a read-only connection (`immutable` when SQLite cannot even create
its shared-memory file there), so `pippa status` lists it; writes then fail with the cause.
What is stored is made safe, and rows are read tolerantly, in history_rows.py; the Job
itself and its statuses are job_record.py (imported from here too). Over 300 lines only
by its schema and those imports: what is left is the one store.

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
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from pippa_cli.errors import UsageError
from pippa_cli.history_problems import HistoryUnusable, directory_problem, is_busy, sqlite_problem
from pippa_cli.history_rows import decode_text, job_from_row, job_to_row, stored
from pippa_cli.job_record import (
    ACTIVE,
    CANCELLED,
    COMPLETED,
    FAILED,
    QUEUED,
    RUNNING,
    STATUSES,
    Job,
    new_job,
    now_iso,
)

# Job, its statuses and HistoryUnusable live in their own modules; callers that store jobs
# import them from here with the History.
__all__ = [
    "ACTIVE",
    "CANCELLED",
    "COMPLETED",
    "FAILED",
    "QUEUED",
    "RUNNING",
    "SCHEMA_VERSION",
    "STATUSES",
    "History",
    "HistoryUnusable",
    "Job",
    "new_job",
    "now_iso",
]

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
_BUSY_TIMEOUT_S = 60.0
# SQLite counts in signed 64 bits; a larger LIMIT means "all of them".
_MAX_LIMIT = 2**63 - 1
T = TypeVar("T")


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
            problem = directory_problem(exc, path)
            if not problem.unwritable:
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
                if not is_busy(exc) or time.monotonic() > deadline:
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
            # as \xff and `stored` never writes back raw.
            db.text_factory = decode_text
            db.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            db.execute("PRAGMA synchronous = NORMAL")
            yield db
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                raise  # _run retries it
            raise self._problem(exc) from None
        except sqlite3.DatabaseError as exc:
            raise self._problem(exc) from None
        finally:
            db.close()

    def _problem(self, exc: sqlite3.Error) -> HistoryUnusable:
        return sqlite_problem(
            exc,
            self.path,
            version=self.version,
            known_version=SCHEMA_VERSION,
            busy_timeout_s=_BUSY_TIMEOUT_S,
        )

    # writes -------------------------------------------------------------------------
    def add(self, job: Job) -> None:
        row = job_to_row(job)
        names = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        self._write(lambda db: db.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", row))

    def update(self, task_id: str, _only_active: bool = False, **fields: Any) -> None:
        if not fields:
            return
        fields = {name: stored(name, value) for name, value in fields.items()}
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
        return job_from_row(rows[0])

    def list(self, limit: int = 20, status: str | None = None) -> list[Job]:
        query = "SELECT * FROM jobs"
        params: dict[str, Any] = {"limit": min(limit, _MAX_LIMIT)}
        if status:
            query += " WHERE status = :status"
            params["status"] = status
        query += " ORDER BY created_at DESC, rowid DESC LIMIT :limit"
        return [job_from_row(r) for r in self._read(query, params)]

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


def _user_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _has_jobs_table(db: sqlite3.Connection) -> bool:
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'"
    return db.execute(query).fetchone() is not None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
