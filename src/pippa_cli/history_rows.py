"""How a Job is stored as a row of the history, and read back whatever the row holds.

Everything stored passes through `text.visible` (text) or `text.json_dumps` (JSON), so no
raw control or bidi character, and no known secret, is ever written. Rows are read
tolerantly: columns this pippa does not know are ignored, and a row that cannot be read
whole (invalid JSON, a missing value) comes back with `Job.damaged` saying why.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import fields
from typing import Any

from pippa_cli.job_record import Job
from pippa_cli.text import has_undecodable, json_dumps, visible

_JSON_FIELDS = ("settings", "timings")
# The columns pippa stores: every Job field but `damaged`.
_COLUMNS = tuple(f.name for f in fields(Job) if f.name != "damaged")
_REQUIRED_TEXT = ("task_id", "status", "original_prompt", "backend", "created_at")
_INTEGERS = ("progress", "seed", "pid")


def job_to_row(job: Job) -> dict[str, Any]:
    """The row that stores `job`: every column, each value as `stored` makes it."""
    return {name: stored(name, getattr(job, name)) for name in _COLUMNS}


def job_from_row(row: sqlite3.Row) -> Job:
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


def stored(name: str, value: Any) -> Any:
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


def decode_text(raw: bytes) -> str:
    """SQLite's text as str; bytes that are not UTF-8 survive as surrogates."""
    return raw.decode("utf-8", "surrogateescape")
