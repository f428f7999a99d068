"""A prompt list checked and planned before anything is spent: each line's request, its
output file in the batch's directory, and whether a rerun may skip it (a clip an earlier
run completed, whole).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pippa_cli.batch_input import BatchLine, LineError
from pippa_cli.clip_names import sidecar_path, slugify
from pippa_cli.errors import PippaError, UsageError
from pippa_cli.mp4 import check_structure
from pippa_cli.request_options import GivenOptions
from pippa_cli.spec import GenerateSpec, spec_from


@dataclass
class Planned:
    line: BatchLine
    spec: GenerateSpec
    skip: bool = False


def plan(
    lines: list[BatchLine],
    defaults: GivenOptions,
    output_dir: Path,
    *,
    backend: str,
    overwrite: bool,
    check: Callable[[GenerateSpec], None] | None = None,
    image_dir: Path | None = None,
) -> tuple[list[Planned], list[LineError]]:
    """Validate every line into a spec with its output path; decide what a rerun skips.

    `defaults` are the command's options (the model filled in from the settings); each
    line's own replace them. A line's own `image`, `extend` and `lora` paths are relative to
    `image_dir` (the list's directory); the command's to the working directory."""
    planned: list[Planned] = []
    errors: list[LineError] = []
    taken: dict[Path, int] = {}
    width = max(3, len(str(max((line.number for line in lines), default=0))))
    for line in lines:
        try:
            path = output_dir / output_name(line, width)
            if path in taken:
                raise UsageError(f"output {path.name} is also line {taken[path]}'s")
            leftover = path.exists() or sidecar_path(path).exists()
            # Files no finished pippa run vouches for are the user's; a damaged clip of ours
            # (its sidecar says completed) is rendered again.
            if not overwrite and leftover and _finished_sidecar(path) is None:
                raise UsageError(
                    f"{path.name} exists but is not a finished pippa clip",
                    "Move it away, or pass --overwrite to replace it.",
                )
            spec = _line_spec(line, defaults, path, backend, image_dir)
            if check is not None:
                check(spec)
        except PippaError as exc:
            errors.append(LineError(line.number, exc.message, exc.hint))
            continue
        taken[path] = line.number
        planned.append(Planned(line, spec, skip=not overwrite and is_complete(path)))
    return planned, errors


def output_name(line: BatchLine, width: int = 3) -> str:
    """`NNN-slug.mp4` from the line number and prompt (or the line's own name).

    The slug keeps only ASCII letters, digits and dashes, so no name can leave the
    output directory, whatever it says; text with no ASCII form (Hebrew, CJK, emoji)
    keeps its identity as a hash (`clip-1a2b3c4d`), so two such lines never share a name.
    """
    if line.name is not None:
        stem = slugify(line.name.removesuffix(".mp4"), max_words=12, max_chars=80)
        return f"{stem}.mp4"
    return f"{line.number:0{width}d}-{slugify(line.prompt)}.mp4"


def is_complete(path: Path) -> bool:
    """A clip from an earlier run: a sidecar saying it completed, and an MP4 that is whole
    (its boxes tile the file) and as long as the sidecar recorded. The sidecar alone is
    not trusted: a disk that filled up, or a copy cut short, leaves a damaged clip."""
    recorded = _finished_sidecar(path)
    if recorded is None:
        return False
    try:
        size = path.stat().st_size
    except OSError:
        return False
    expected = recorded.get("video_bytes")
    if expected is not None and expected != size:
        return False
    return check_structure(path) is None


def _finished_sidecar(path: Path) -> dict[str, Any] | None:
    """The sidecar of `path` when it says a pippa run finished the clip (so pippa may
    replace a damaged one), else None."""
    try:
        data = json.loads(sidecar_path(path).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("status") == "completed" else None


def _line_spec(
    line: BatchLine, defaults: GivenOptions, path: Path, backend: str, image_dir: Path | None
) -> GenerateSpec:
    return spec_from(
        line.prompt,
        defaults.merged(line.overrides),
        backend=backend,
        output=path,
        # Resume is decided above; an incomplete leftover is rendered again.
        overwrite=True,
        image_dir=image_dir if "image" in line.overrides else None,
        extend_dir=image_dir if "extend" in line.overrides else None,
        lora_dir=image_dir if "lora" in line.overrides else None,
    )
