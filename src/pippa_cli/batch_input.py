"""Reading a prompt list for batch runs: plain text (one prompt a line) or JSON Lines.

Text: blank lines and `#` comments are skipped. JSON Lines: one object a line with
`prompt` and any per-line override of the command's options (a repeatable one, `image` or `lora`,
as a string or a list of strings; its paths are relative to the list's directory). Every
line is checked before anything is submitted; a bad line is reported with its number.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pippa_cli.errors import UsageError
from pippa_cli.request_options import BATCH_OPTIONS, BY_NAME

# A list longer than this is refused rather than read into memory (`--from-file /dev/zero`,
# `yes | pippa ...` would otherwise never end); 16 MiB is some 100,000 long prompts.
MAX_LIST_BYTES = 16 * 1024 * 1024

# Per-line overrides a JSONL object may carry (plus `prompt` and `name`): the option
# table's batch options, with the JSON types each accepts.
OVERRIDES: dict[str, tuple[type, ...]] = {o.name: o.json_types for o in BATCH_OPTIONS}
_ALIASES = {
    **{o.name.replace("_", "-"): o.name for o in BATCH_OPTIONS if "_" in o.name},
    "output": "name",
    "output_name": "name",
}


@dataclass
class BatchLine:
    number: int
    prompt: str
    overrides: dict[str, Any] = field(default_factory=dict)
    name: str | None = None


@dataclass
class LineError:
    number: int
    message: str
    hint: str | None = None


def read_lines(source: str) -> tuple[list[BatchLine], list[LineError]]:
    """Parse `source` (a path, or '-' for stdin) into lines and per-line errors."""
    raw = _read_source(source)
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{_label(source)} is not valid UTF-8 (byte {exc.start})",
            "Convert it to UTF-8, e.g. with iconv.",
        ) from None
    # Only \n ends a line (\r\n too): str.splitlines() would also split at U+2028, form
    # feed and the like, which JSON allows inside a string, and shift every line number.
    rows = [(n, line.strip()) for n, line in enumerate(_split_lines(text), start=1)]
    rows = [(n, line) for n, line in rows if line and not line.startswith("#")]
    if not rows:
        raise UsageError(f"{_label(source)} has no prompts", "One prompt a line, or JSON Lines.")
    jsonl = source.lower().endswith((".jsonl", ".ndjson")) or _is_json_object(rows[0][1])
    lines: list[BatchLine] = []
    errors: list[LineError] = []
    for number, line in rows:
        try:
            lines.append(_parse_json_line(number, line) if jsonl else BatchLine(number, line))
        except ValueError as exc:
            errors.append(LineError(number, str(exc)))
    return lines, errors


def list_directory(source: str) -> Path:
    """Where a list's relative paths (a line's `image`, `lora`) start: the list file's directory,
    or the working directory for stdin."""
    if source == "-":
        return Path.cwd()
    return Path(source).expanduser().absolute().parent


def _is_json_object(line: str) -> bool:
    """Whether a first line makes the list JSON Lines (a prompt may start with '{')."""
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line starts no new one
    return [line.removesuffix("\r") for line in lines]


def _read_source(source: str) -> bytes:
    if source == "-":
        if sys.stdin.isatty():
            raise UsageError(
                "--from-file - reads stdin, but stdin is a terminal", "Pipe a list in."
            )
        raw = sys.stdin.buffer.read(MAX_LIST_BYTES + 1)
    else:
        path = Path(source).expanduser()
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_LIST_BYTES + 1)
        except FileNotFoundError:
            raise UsageError(
                f"{path} does not exist", "Check the path given to --from-file."
            ) from None
        except OSError as exc:
            raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > MAX_LIST_BYTES:
        raise UsageError(
            f"{_label(source)} is larger than {MAX_LIST_BYTES // 2**20} MiB, the limit for a "
            "prompt list",
            "Split it into smaller lists and run them one after another.",
        )
    return raw


def _label(source: str) -> str:
    return "stdin" if source == "-" else source


def _parse_json_line(number: int, line: str) -> BatchLine:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise ValueError('expected a JSON object with a "prompt"')
    obj = {_ALIASES.get(k, k): v for k, v in obj.items()}
    prompt = obj.pop("prompt", None)
    if not isinstance(prompt, str):
        raise ValueError('missing "prompt" (a string)')
    name = obj.pop("name", None)
    if name is not None and not isinstance(name, str):
        raise ValueError('"name" must be a string')
    unknown = sorted(set(obj) - set(OVERRIDES))
    if unknown:
        raise ValueError(
            f"unknown field(s) {', '.join(unknown)}; allowed: prompt, name, " + ", ".join(OVERRIDES)
        )
    for key, value in obj.items():
        if not BY_NAME[key].accepts(value):
            raise ValueError(f'"{key}" has the wrong type ({type(value).__name__})')
    return BatchLine(number, prompt, obj, name)
