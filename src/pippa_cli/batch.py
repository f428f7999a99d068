"""Batch generation: a planned prompt list (batch_plan.py) fanned out across Modal's GPUs.

Every line becomes a normal job in the history. Up to `concurrency` jobs (enhancement and
GPU alike) are in flight at once; the local backend renders one after another on its one
GPU. A rerun skips clips that are already complete; a failed line never stops the others.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from pippa_cli.batch_plan import Planned
from pippa_cli.clip_files import VideoNotSaved
from pippa_cli.errors import PippaError
from pippa_cli.generation import Services, execute_job
from pippa_cli.history import Job
from pippa_cli.interruption import InterruptPolicy
from pippa_cli.outcome import Ending, Outcome
from pippa_cli.output import BatchProgress, Output
from pippa_cli.signals import Terminated, signals_as_exceptions


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
        if not outcome.expected:
            # A crash: shown with its type; the line's result is the error's text alone.
            error = str(outcome.error)
            shown = f"{outcome.message}: {error}"
            return cls(line, outcome.ending.value, error=error, shown_error=shown)
        return cls(
            line,
            outcome.ending.value,
            error=outcome.message,
            job=job,
            stops_batch=outcome.interrupted,
            shown_error=outcome.message,
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
