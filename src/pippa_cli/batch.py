"""Batch generation: a prompt list fanned out across Modal's GPUs, resumable.

Every line becomes a normal job in the history. Up to `concurrency` jobs (enhancement and
GPU alike) are in flight at once; the local backend renders one after another on its one
GPU. A rerun skips clips that are already complete; a failed line never stops the others.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pippa_cli.batch_input import BatchLine, LineError
from pippa_cli.clip_files import VideoNotSaved
from pippa_cli.errors import PippaError, UsageError
from pippa_cli.generation import Services, execute_job
from pippa_cli.history import Job
from pippa_cli.interruption import InterruptPolicy
from pippa_cli.mp4 import check_structure
from pippa_cli.outcome import Ending, Outcome
from pippa_cli.output import BatchProgress, Output
from pippa_cli.request_options import GivenOptions
from pippa_cli.signals import Terminated, signals_as_exceptions
from pippa_cli.spec import GenerateSpec, sidecar_path, slugify, spec_from


@dataclass
class Planned:
    line: BatchLine
    spec: GenerateSpec
    skip: bool = False


@dataclass
class LineResult:
    line: int
    # An outcome's ending (`outcome.Ending`: "running" is left on Modal, "unsaved" rendered
    # but kept aside as the disk was full), or "skipped" (complete from an earlier run),
    # "invalid" (a bad line).
    status: str
    video_path: str | None = None
    error: str | None = None
    job: Job | None = None
    stops_batch: bool = False  # Ctrl-C, not a `pippa cancel` of this one job
    # The line as the display shows it when it failed.
    shown_error: str | None = None

    @classmethod
    def of(cls, line: int, outcome: Outcome) -> LineResult:
        job = outcome.job
        if outcome.ending is Ending.COMPLETED:
            return cls(line, outcome.ending.value, job.video_path if job else None, job=job)
        error = outcome.error
        # An unexpected exception is reported with its type; its text is the line's error.
        shown = outcome.message if isinstance(error, PippaError) else f"{outcome.message}: {error}"
        return cls(
            line,
            outcome.ending.value,
            error=outcome.message if isinstance(error, PippaError) else str(error),
            job=job,
            stops_batch=outcome.interrupted,
            shown_error=shown,
        )

    def to_json(self) -> dict[str, Any]:
        data = self.job.to_json() if self.job else {}
        data.update({"line": self.line, "status": self.status})
        if self.video_path:
            data["video_path"] = self.video_path
        if self.error:
            data["error"] = self.error
        return data


@dataclass
class Summary:
    results: list[LineResult] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def gpu_seconds(self) -> float:
        total = 0.0
        for r in self.results:
            if r.job is not None:
                total += r.job.timings.get("render_s", 0.0) + r.job.timings.get("remote_s", 0.0)
        return total

    @property
    def left_running(self) -> list[str]:
        return [r.job.task_id for r in self.results if r.status == Ending.LEFT_RUNNING and r.job]

    @property
    def ok(self) -> bool:
        return all(r.status in ("completed", "skipped") for r in self.results)


def plan(
    lines: list[BatchLine],
    defaults: GivenOptions,
    output_dir: Path,
    *,
    backend: str,
    overwrite: bool,
    check: Callable[[GenerateSpec], None] | None = None,
) -> tuple[list[Planned], list[LineError]]:
    """Validate every line into a spec with its output path; decide what a rerun skips.

    `defaults` are the command's options (the model filled in from the settings); each
    line's own replace them."""
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
            spec = _line_spec(line, defaults, path, backend)
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


def _line_spec(line: BatchLine, defaults: GivenOptions, path: Path, backend: str) -> GenerateSpec:
    return spec_from(
        line.prompt,
        defaults.merged(line.overrides),
        backend=backend,
        output=path,
        # Resume is decided above; an incomplete leftover is rendered again.
        overwrite=True,
    )


def run_batch(
    planned: list[Planned],
    services: Services,
    out: Output,
    *,
    concurrency: int,
    keep_running: bool,
    emit: Callable[[LineResult], None],
    interactive: bool = False,
) -> Summary:
    """Render every planned line; `emit` gets each result as it finishes."""
    summary = Summary()
    started = time.monotonic()
    todo = [p for p in planned if not p.skip]
    lock = threading.Lock()

    def record(result: LineResult) -> None:
        with lock:
            summary.results.append(result)
            emit(result)

    for p in planned:
        if p.skip:
            record(LineResult(p.line.number, "skipped", video_path=str(p.spec.output)))

    with BatchProgress(out, total=len(todo)) as display:

        def ask(question: str) -> bool:
            return out.confirm(question, default=True, pause=display.pause)

        # One answer for every job in flight: the flag, or the user's at Ctrl-C.
        asks = interactive and not out.json_mode
        policy = InterruptPolicy(keep_running, ask=ask if asks else None)

        def work(item: Planned) -> LineResult:
            if policy.stopping():
                return LineResult(item.line.number, "cancelled", error="not started")
            line_progress = display.line(item)
            try:
                outcome = execute_job(item.spec, services, line_progress, policy)
            except PippaError as exc:  # before the job was recorded (the history failed)
                display.error(item, exc.message)
                return LineResult(item.line.number, "failed", error=exc.message)
            except Exception as exc:  # one bad job must not stop the others
                display.error(item, f"unexpected {type(exc).__name__}: {exc}")
                return LineResult(item.line.number, "failed", error=str(exc))
            finally:
                display.done(line_progress)
            result = LineResult.of(item.line.number, outcome)
            if isinstance(outcome.error, VideoNotSaved):
                display.error(item, f"{outcome.error.message}. {outcome.error.hint}")
            elif outcome.ending is Ending.FAILED:
                display.error(item, result.shown_error or "")
            return result

        def on_interrupt(terminated: bool) -> None:
            if terminated:  # nobody to ask: jobs on Modal keep running, as for one clip
                policy.terminated()
            else:
                policy.keeps_running("the jobs in flight")

        try:
            with signals_as_exceptions():  # SIGTERM/SIGHUP end a batch like Ctrl-C
                if services.backend.remote:
                    _fan_out(todo, work, record, policy.stop, concurrency, on_interrupt)
                else:
                    # One GPU: one clip at a time, in this thread so Ctrl-C reaches it.
                    for item in todo:
                        result = work(item)
                        record(result)
                        if result.stops_batch:
                            summary.interrupted = True
                            break
        except (KeyboardInterrupt, Terminated):
            summary.interrupted = True
    done = {r.line for r in summary.results}
    for item in todo:
        if item.line.number not in done:
            summary.results.append(LineResult(item.line.number, "cancelled", error="not started"))
    summary.results.sort(key=lambda r: r.line)
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


def _fan_out(
    todo: list[Planned],
    work: Callable[[Planned], LineResult],
    record: Callable[[LineResult], None],
    stop: threading.Event,
    concurrency: int,
    on_interrupt: Callable[[bool], None],
) -> None:
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="pippa-batch")
    pending: set[Future[LineResult]] = {pool.submit(work, item) for item in todo}
    try:
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                record(future.result())
    except (KeyboardInterrupt, Terminated) as exc:
        # Stop submitting; running workers see `stop` and cancel (or keep) their jobs.
        try:
            on_interrupt(isinstance(exc, Terminated))
        finally:
            stop.set()
        for future in pending:
            future.cancel()
        for future in pending:
            if not future.cancelled():
                record(future.result())
        raise
    finally:
        stop.set()  # whatever happened above, no worker may go on following its call
        pool.shutdown(wait=True, cancel_futures=True)
