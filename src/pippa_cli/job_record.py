"""The record of one job: its fields, its statuses, and a new one as a command starts it.

The history (history.py) stores one Job per generation; the rest of pippa passes these
values around and reads them, without needing the store.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED = (
    "queued",
    "running",
    "completed",
    "failed",
    "cancelled",
)
STATUSES = (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED)
ACTIVE = (QUEUED, RUNNING)


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
