"""The job history: every generation is a row in SQLite before any money is spent.

Many pippa processes may write at once (`xargs -P 8`): WAL mode and a generous busy
timeout keep them from failing with "database is locked" (simonw/llm#789). A file that
cannot be read is reported, never silently replaced.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from pippa_cli.errors import HistoryError, UsageError

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

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def to_json(self) -> dict[str, Any]:
        """The seed's status schema first, then pippa's own fields."""
        return {
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


class History:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(
                f"cannot create the history directory {path.parent}: {exc.strerror}",
                "Set PIPPA_HOME to a writable directory.",
            ) from None
        self._run(lambda db: db.executescript(_SCHEMA))

    @classmethod
    def open_default(cls, home: Path | None = None) -> History:
        from pippa_cli.paths import data_dir

        return cls(data_dir(home) / "history.db")

    def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on a fresh connection, retrying while another process holds a lock.

        The busy timeout covers most waits; SQLite still answers "locked" at once in a few
        cases (WAL recovery, a concurrent switch to WAL), so those are retried here.
        Every statement runs in autocommit mode, so a failed one changed nothing.
        """
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        delay = 0.01
        while True:
            try:
                with self._connect() as db:
                    return work(db)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise self._unreadable(exc) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._unreadable(exc) from None
        try:
            db.row_factory = sqlite3.Row
            db.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            db.execute("PRAGMA journal_mode = WAL")  # persistent; cheap once set
            db.execute("PRAGMA synchronous = NORMAL")
            yield db
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise  # _run retries it
            raise self._unreadable(exc) from None
        except sqlite3.DatabaseError as exc:
            raise self._unreadable(exc) from None
        finally:
            db.close()

    def _unreadable(self, exc: sqlite3.Error) -> HistoryError:
        return HistoryError(
            f"the job history {self.path} cannot be used: {exc}",
            "Move the file aside (pippa will start a new one) or restore it from a backup; "
            "pippa never overwrites it.",
        )

    # writes -------------------------------------------------------------------------
    def add(self, job: Job) -> None:
        row = self._row(job)
        names = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        self._run(lambda db: db.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", row))

    def update(self, task_id: str, _only_active: bool = False, **fields: Any) -> None:
        if not fields:
            return
        for name in _JSON_FIELDS:
            if name in fields:
                fields[name] = json.dumps(fields[name], ensure_ascii=False, default=str)
        assignments = ", ".join(f"{k} = :{k}" for k in fields)
        query = f"UPDATE jobs SET {assignments} WHERE task_id = :task_id"
        if _only_active:
            query += f" AND status IN {ACTIVE!r}"
        params = {**fields, "task_id": task_id}
        self._run(lambda db: db.execute(query, params))

    def finish(self, task_id: str, status: str, **fields: Any) -> None:
        """End an active job; a job that already ended (e.g. cancelled) keeps its outcome."""
        self.update(task_id, status=status, completed_at=now_iso(), _only_active=True, **fields)

    # reads --------------------------------------------------------------------------
    def get(self, prefix: str) -> Job:
        """The job whose id starts with `prefix` (like git); UsageError if none or several."""
        prefix = prefix.strip().lower()
        if not prefix:
            raise UsageError("no task id given", "Run `pippa status` to list jobs.")
        rows = self._run(
            lambda db: db.execute(
                "SELECT * FROM jobs WHERE task_id LIKE :p ESCAPE '\\' ORDER BY created_at DESC "
                "LIMIT 6",
                {"p": _escape_like(prefix) + "%"},
            ).fetchall()
        )
        if not rows:
            raise UsageError(f"no job with id {prefix}", "Run `pippa status` to list jobs.")
        if len(rows) > 1:
            ids = ", ".join(r["task_id"][:12] for r in rows[:5])
            raise UsageError(
                f"task id {prefix} is ambiguous ({ids}...)", "Give more characters of the id."
            )
        return self._job(rows[0])

    def list(self, limit: int = 20, status: str | None = None) -> list[Job]:
        query = "SELECT * FROM jobs"
        params: dict[str, Any] = {"limit": limit}
        if status:
            query += " WHERE status = :status"
            params["status"] = status
        query += " ORDER BY created_at DESC, rowid DESC LIMIT :limit"
        rows = self._run(lambda db: db.execute(query, params).fetchall())
        return [self._job(r) for r in rows]

    @staticmethod
    def _row(job: Job) -> dict[str, Any]:
        row = dict(job.__dict__)
        for name in _JSON_FIELDS:
            row[name] = json.dumps(row[name], ensure_ascii=False, default=str)
        return row

    @staticmethod
    def _job(row: sqlite3.Row) -> Job:
        data = dict(row)
        for name in _JSON_FIELDS:
            data[name] = json.loads(data[name] or "{}")
        return Job(**data)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
