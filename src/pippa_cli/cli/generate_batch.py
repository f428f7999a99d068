"""`pippa generate --from-file`: the batch half of the generate command."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from pippa_cli.output import Output

if TYPE_CHECKING:
    from pippa_cli.backends.modal_client import ModalSDK
    from pippa_cli.batch_input import LineError
    from pippa_cli.batch_plan import Planned
    from pippa_cli.history import History, Job
    from pippa_cli.request_options import GivenOptions
    from pippa_cli.settings import Settings


def generate_batch(
    out: Output,
    *,
    source: str,
    prompt: str | None,
    output: str | None,
    output_dir: str | None,
    concurrency: int,
    overwrite: bool,
    detach: bool,
    strict: bool,
    keep_running: bool,
    settings_overrides: dict[str, Any],
    defaults: GivenOptions,
) -> None:
    from pippa_cli.backends import make_backend
    from pippa_cli.batch import LineResult, run_batch
    from pippa_cli.batch_input import list_directory, read_lines
    from pippa_cli.batch_plan import plan
    from pippa_cli.cli.context import modal_sdk
    from pippa_cli.errors import UsageError
    from pippa_cli.generation import Services
    from pippa_cli.history import History
    from pippa_cli.presets import resolve_model
    from pippa_cli.settings import load_settings
    from pippa_cli.spec import GenerateSpec

    if prompt is not None:
        raise UsageError("give either a PROMPT or --from-file, not both")
    if output is not None:
        raise UsageError("-o names one clip; with --from-file use --output-dir")
    if detach:
        raise UsageError("--detach is for one clip; a batch follows its jobs to the end")
    directory = check_output_dir(output_dir)
    settings = load_settings(**settings_overrides, **defaults.settings_overrides())
    sdk = modal_sdk()
    backend = make_backend(settings.backend, settings, modal_sdk=sdk)
    lines, errors = read_lines(source)
    defaults = defaults.with_settings(settings)
    try:
        default_model = resolve_model(settings.model)
    except ValueError as exc:
        raise UsageError(str(exc), "Run `pippa generate --help` to see the presets.") from None
    shown: set[str] = set()

    def say(stage: str) -> None:
        from pippa_cli.progress import STAGE_LABELS

        out.info(STAGE_LABELS.get(stage, stage) + "...")

    def warn(warnings: list[str]) -> None:
        for warning in warnings:
            if warning not in shown:
                shown.add(warning)
                out.warn(warning)

    # Credentials, the deployment and the like end the whole batch here, before anything
    # is spent.
    warn(backend.preflight_model(default_model, say))
    if backend.remote:
        limit = backend.capacity()
        if limit and concurrency > limit:
            out.warn(
                f"--concurrency {concurrency}, but the Modal app runs at most {limit} GPU "
                f"containers: the rest queue (pippa deploy --max-containers {concurrency})"
            )

    def check(spec: GenerateSpec) -> None:
        # Model-level checks run once per model (the backend keeps their outcome); the
        # size checks run for every line. An image's note is shown once, like a warning.
        warn([*backend.preflight(spec, say), *spec.notes])

    # The plan checks paths inside the directory, so a missing one is made now and taken
    # back if the run ends before anything renders (a bad list leaves no trace).
    created = make_dir(directory)
    try:
        planned, bad = plan(
            lines,
            defaults,
            directory,
            backend=settings.backend,
            overwrite=overwrite,
            check=check,
            image_dir=list_directory(source),
        )
        errors = sorted(errors + bad, key=lambda e: e.number)
        hinted: set[str] = set()
        for error in errors:
            hint = error.hint if error.hint not in hinted else None  # each hint once
            out.error(f"line {error.number}: {error.message}", hint)
            hinted.add(error.hint or "")
        if errors and strict:
            raise UsageError(
                f"{len(errors)} bad line(s); nothing was submitted (--strict)",
                "Fix the lines above, or drop --strict to skip them.",
            )
        if not planned:
            raise UsageError("no valid lines to render", "Fix the lines above.")
        if out.json_mode:
            for error in errors:
                out.data_json({"line": error.number, "status": "invalid", "error": error.message})
        # Weights for every model the batch uses, once each, before any GPU starts.
        for item in planned:
            if not item.skip:  # once per model and revision (the backend remembers)
                item.spec = dataclasses.replace(
                    item.spec, model=backend.prepare(item.spec.model, say)
                )
    except BaseException:
        remove_dirs(created)
        raise
    if created:
        out.info(f"Created {directory}")

    def emit(result: LineResult) -> None:
        if out.json_mode:
            out.data_json(result.to_json())
        elif result.status in ("completed", "skipped") and result.video_path:
            out.data(result.video_path)

    history = History.open_default(settings.home)
    planned, unsaved = _save_kept(planned, history, settings, out, sdk)
    for error in unsaved:
        out.error(f"line {error.number}: {error.message}", error.hint)
    errors += unsaved
    summary = run_batch(
        planned,
        Services(settings, history, backend, strict=strict),
        out,
        concurrency=concurrency,
        keep_running=keep_running,
        emit=emit,
        interactive=sys.stdin.isatty() and out.err.is_terminal,
    )
    done, failed = summary.count("completed"), summary.count("failed")
    skipped, cancelled = summary.count("skipped"), summary.count("cancelled")
    not_saved = summary.count("unsaved")
    running = summary.left_running
    if not out.quiet:
        out.err.print(
            f"Done {done}, failed {failed + len(errors)}, skipped {skipped} (already complete), "
            f"cancelled {cancelled}"
            + (f", left running on Modal {len(running)}" if running else "")
            + (f", rendered but not saved {not_saved} (see above)" if not_saved else "")
            + f"; {summary.seconds:.1f} s wall, {summary.gpu_seconds:.1f} s render",
            markup=False,
            highlight=False,
        )
        if running:
            for task_id in running:
                out.info(f"Left running on Modal: pippa status {task_id[:8]} --wait")
    if summary.interrupted:
        raise typer.Exit(130)
    if errors or not summary.ok:
        raise typer.Exit(1)


def _save_kept(
    planned: list[Planned],
    history: History,
    settings: Settings,
    out: Output,
    sdk: ModalSDK | None,
) -> tuple[list[Planned], list[LineError]]:
    """Clips an earlier run rendered but could not save (a full disk) are saved now, from
    the kept copy or from Modal, rather than rendered and paid for again."""
    from pippa_cli.batch_input import LineError
    from pippa_cli.errors import PippaError
    from pippa_cli.jobs import modal_backend_for, refresh
    from pippa_cli.unsaved import UNSAVED

    waiting: dict[str, Job] = {}
    for job in history.list(limit=100_000, status="running"):  # newest first
        if job.stage == UNSAVED and job.output_path:
            waiting.setdefault(job.output_path, job)
    remaining: list[Planned] = []
    errors: list[LineError] = []
    for item in planned:
        kept = waiting.get(str(item.spec.output))
        if item.skip or kept is None:
            remaining.append(item)
            continue
        try:
            backend = modal_backend_for(kept, settings, sdk)
            job = refresh(kept, history, backend, out, output=item.spec.output, overwrite=True)
        except PippaError as exc:  # still no room: never render it again meanwhile
            errors.append(LineError(item.line.number, exc.message, exc.hint))
            continue
        item.skip = job.status == "completed"
        if item.skip or not job.active:
            remaining.append(item)  # saved now; or its render is gone: render it again
        else:
            errors.append(LineError(item.line.number, job.error or "not saved yet"))
    return remaining, errors


def check_output_dir(text: str | None) -> Path:
    """The absolute --output-dir (cwd without one), which may not exist yet: it must be a
    directory, or a path one can be made at."""
    from pippa_cli.errors import UsageError
    from pippa_cli.text import has_unsafe_chars, visible

    if text is None:
        return Path.cwd()
    if not text:
        raise UsageError("--output-dir is empty", "Name a directory, e.g. --output-dir clips.")
    if has_unsafe_chars(text):
        raise UsageError(
            f"--output-dir {visible(text)} contains control characters",
            "Pick a name without newlines, tabs, escapes or bidi characters.",
        )
    given = Path(text).expanduser()
    # The nearest part that exists must be a directory pippa may create things in.
    existing = given
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        kind = "a file" if existing.is_file() else "not a directory"
        raise UsageError(f"--output-dir: {existing} is {kind}", "Pick a directory.")
    if existing != given and not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(
            f"cannot create --output-dir {given}: {existing} is not writable",
            "Pick another directory.",
        )
    return given.resolve()


def make_dir(directory: Path) -> list[Path]:
    """`mkdir -p directory`; returns the directories it created, deepest first."""
    from pippa_cli.errors import UsageError

    missing: list[Path] = []
    part = directory
    while not os.path.lexists(part):
        missing.append(part)
        part = part.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create --output-dir {directory}: {exc.strerror}", "Pick another directory."
        ) from None
    return missing


def remove_dirs(created: list[Path]) -> None:
    """Take back the directories make_dir created, if nothing was put in them."""
    for directory in created:
        with contextlib.suppress(OSError):
            directory.rmdir()
