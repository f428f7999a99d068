"""`pippa status` and `pippa cancel`: what is running, what finished, where it went."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pippa_cli.cli import options as o

if TYPE_CHECKING:
    from pippa_cli.backends.modal_client import ModalSDK
    from pippa_cli.history import History, Job
    from pippa_cli.output import Output
    from pippa_cli.settings import Settings

# Spelled out here: importing pippa_cli.history would slow `pippa --help`.
_STATUSES = ("queued", "running", "completed", "failed", "cancelled")


def status(
    task_id: Annotated[
        str | None, typer.Argument(help="A job's id, or any unique prefix of it.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many recent jobs to list.", min=1)] = 20,
    status_filter: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Only jobs with this status: " + ", ".join(_STATUSES) + ".",
            autocompletion=lambda incomplete: [s for s in _STATUSES if s.startswith(incomplete)],
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the job to the end and save its video.")
    ] = False,
    # str, not Path: Path would drop the trailing slash that says "a directory".
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="Where to save the video, or a directory for it [default: as planned].",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output file.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="JSON: one object, or one line per job for a list.")
    ] = False,
    quiet: o.Quiet = False,
    debug: o.Debug = False,
) -> None:
    """Show recent jobs, or one job (asking Modal for its live state).

    A finished Modal job's video is saved to its planned path (or -o) when first seen.
    """
    from pippa_cli.cli.context import modal_sdk
    from pippa_cli.errors import UsageError
    from pippa_cli.history import History
    from pippa_cli.output import Output
    from pippa_cli.settings import load_settings

    out = Output(quiet=quiet, json_mode=json_output)
    settings = load_settings()
    history = History.open_default(settings.home)
    if history.notice:
        out.warn(history.notice)
    if task_id is None:
        if wait or output is not None:
            raise UsageError("--wait and --output need a task id", "pippa status ID --wait")
        if status_filter and status_filter not in _STATUSES:
            raise UsageError(
                f"unknown status {status_filter!r}", "Choose one of: " + ", ".join(_STATUSES)
            )
        _list_jobs(history, out, limit, status_filter)
        return
    job = _show_job(task_id, history, settings, out, wait, output, overwrite, modal_sdk())
    if json_output:
        out.data_json(job.to_json())
    else:
        _print_job(job, out)
    if wait and job.status != "completed":
        raise typer.Exit(1)


def cancel(
    task_id: Annotated[str, typer.Argument(help="A job's id, or any unique prefix of it.")],
    quiet: o.Quiet = False,
    debug: o.Debug = False,
) -> None:
    """Cancel a running job (on Modal, no more GPU time is billed for it)."""
    from pippa_cli.cli.context import modal_sdk
    from pippa_cli.history import History
    from pippa_cli.jobs import cancel_job
    from pippa_cli.output import Output
    from pippa_cli.settings import load_settings

    out = Output(quiet=quiet)
    settings = load_settings()
    history = History.open_default(settings.home)
    job = cancel_job(history.get(task_id), history, settings, modal_sdk())
    out.info(f"Cancelled job {job.task_id}.")
    out.data(job.task_id)


def _show_job(
    task_id: str,
    history: History,
    settings: Settings,
    out: Output,
    wait: bool,
    output: str | None,
    overwrite: bool,
    sdk: ModalSDK | None,
) -> Job:
    from pippa_cli.clip_names import check_output
    from pippa_cli.errors import PippaError
    from pippa_cli.jobs import (
        follow_job,
        mark_if_orphaned,
        modal_backend_for,
        owner_following,
        planned_path,
        refresh,
        watch_owner,
    )
    from pippa_cli.text import has_unsafe_chars

    job = history.get(task_id)
    # For `-o DIR`: the planned name, unless another tool wrote one with control characters.
    planned = Path(job.output_path or "").name
    if not planned or has_unsafe_chars(planned):
        planned = f"{job.task_id}.mp4"
    target = check_output(output, overwrite, file_name=planned) if output is not None else None
    reconcile = _Reconciler(history, out)
    if history.write_problem is not None:
        # Nothing Modal says could be recorded (nor its video saved once): as recorded.
        job = reconcile(job, partial(mark_if_orphaned, job, history))
        if job.active and job.remote_call_id:
            reconcile.warn(history.write_problem.message)
        if wait and job.active:
            raise history.write_problem
        return job
    job = reconcile(
        job,
        partial(
            refresh,
            job,
            history,
            modal_backend_for(job, settings, sdk),
            out,
            output=target,
            overwrite=overwrite,
        ),
    )
    while wait and job.active and not job.damaged:
        backend = modal_backend_for(job, settings, sdk)
        if backend is None and job.remote_call_id and not owner_following(job):
            raise PippaError(  # a backend this pippa does not know (a newer pippa's)
                f"job {job.task_id} runs on backend {job.backend!r}, which this pippa cannot "
                "follow",
                "Use the pippa that started it.",
            )
        if backend is not None and not owner_following(job):
            path = target or planned_path(job)
            outcome = follow_job(job, history, backend, out, path, overwrite=overwrite)
            outcome.raise_for_outcome()
            return outcome.job or history.get(job.task_id)
        job = watch_owner(job, history, out)
    return job


class _Reconciler:
    """Brings jobs up to date in the history; where it can only be read, shows them as
    last recorded instead (and says so once)."""

    def __init__(self, history: History, out: Output) -> None:
        self.history = history
        self.out = out
        self.warned = False

    def __call__(self, job: Job, update: Callable[[], Job]) -> Job:
        from pippa_cli.history import HistoryUnusable

        if job.damaged:
            return job  # nothing is written to a row that cannot be read whole
        try:
            return update()
        except HistoryUnusable as exc:
            if not exc.unwritable:
                raise
            self.warn(exc.message)
            return job

    def warn(self, why: str) -> None:
        if not self.warned:
            self.warned = True
            self.out.warn(f"{why}; jobs are shown as last recorded")


def _list_jobs(history: History, out: Output, limit: int, status_filter: str | None) -> None:
    from pippa_cli.jobs import mark_if_orphaned

    reconcile = _Reconciler(history, out)
    jobs = [
        reconcile(job, partial(mark_if_orphaned, job, history))
        for job in history.list(limit, status_filter)
    ]
    if out.json_mode:
        for job in jobs:
            out.data_json(job.to_json())
        return
    if not jobs:
        out.info('No jobs yet. Start one with: pippa generate "a red fox in snow"')
        return
    rows = [
        (
            job.task_id[:8],
            "damaged" if job.damaged else job.status,
            f"{job.progress}%",
            _age(job.created_at),
            job.original_prompt,
            f"damaged row: {job.damaged}"
            if job.damaged
            else job.video_path or job.error or job.output_path or "",
        )
        for job in jobs
    ]
    header = ("ID", "STATUS", "PROGRESS", "AGE", "PROMPT", "OUTPUT")
    out.table(header, rows, squeeze=("PROMPT", "OUTPUT"))


def _print_job(job: Job, out: Output) -> None:
    from pippa_cli.text import visible

    fields = [
        ("task_id", job.task_id),
        ("status", job.status),
        ("progress", f"{job.progress}%"),
        ("stage", job.stage or ""),
        ("backend", job.backend),
        ("model", job.model or ""),
        ("seed", str(job.seed)),
        ("created_at", job.created_at),
        ("completed_at", job.completed_at or ""),
        ("original_prompt", job.original_prompt),
        ("enhanced_prompt", job.enhanced_prompt or ""),
        ("video_path", job.video_path or ""),
        ("output_path", job.output_path or ""),
        ("remote_call_id", job.remote_call_id or ""),
        ("error", job.error or ""),
        ("damaged", job.damaged or ""),
    ]
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        if value:
            out.data(f"{name.ljust(width)}  {visible(value)}")


def _age(created_at: str) -> str:
    from datetime import datetime, timezone

    try:
        seconds = (datetime.now(timezone.utc) - datetime.fromisoformat(created_at)).total_seconds()
    except (ValueError, TypeError):  # a row another tool wrote (no time zone): unknown
        return "?"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"
