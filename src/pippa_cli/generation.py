"""One generation, read top to bottom: record -> enhance -> render -> save.

The job is written to the history before anything is spent, and updated at every step
(the Modal call id the moment it is known), so a paid-for render can always be found again.
How a job that does not complete is recorded is `endings.settle`'s business; this module
returns every ending as an `Outcome`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pippa_cli.clip_files import save_video
from pippa_cli.endings import settle
from pippa_cli.errors import UsageError
from pippa_cli.history import RUNNING, History, new_job
from pippa_cli.interruption import InterruptPolicy
from pippa_cli.outcome import Ending, Outcome
from pippa_cli.output import Output, StageProgress
from pippa_cli.progress import ProgressSink, percent_for
from pippa_cli.recording import JobRecorder
from pippa_cli.render_request import render_request
from pippa_cli.signals import signals_as_exceptions

if TYPE_CHECKING:
    from pippa_cli.backends.base import Backend
    from pippa_cli.ltx import RenderRequest
    from pippa_cli.settings import Settings
    from pippa_cli.spec import GenerateSpec


@dataclass(frozen=True)
class Services:
    """What every job of one command shares."""

    settings: Settings
    history: History
    backend: Backend
    # Fail (rather than fall back to the plain prompt) when Groq fails.
    strict: bool = False


def run_generation(
    spec: GenerateSpec,
    services: Services,
    out: Output,
    *,
    detach: bool = False,
    keep_running: bool = False,
) -> Outcome:
    """`pippa generate` for one clip: preflight, then the job, with its live display."""
    backend = services.backend
    if detach and not backend.remote:
        raise UsageError("--detach needs the Modal backend", "Drop --detach with --backend local.")
    with StageProgress(out) as progress, signals_as_exceptions():
        # Everything that can be checked for free, then the weights, before the job starts.
        for warning in [*backend.preflight(spec, progress.stage), *spec.notes]:
            progress.warn(warning)
        spec = dataclasses.replace(spec, model=backend.prepare(spec.model, progress.stage))

        def ask(question: str) -> bool:
            return out.confirm(question, default=True, pause=progress.pause)

        policy = InterruptPolicy(keep_running, ask=None if out.json_mode else ask)
        announce = not detach and not out.json_mode
        outcome = execute_job(spec, services, progress, policy, detach=detach, announce=announce)
        if not outcome.ok:
            progress.abandon()  # the stage it stopped in stays unfinished on screen
        return outcome


def execute_job(
    spec: GenerateSpec,
    services: Services,
    progress: ProgressSink,
    policy: InterruptPolicy,
    *,
    detach: bool = False,
    announce: bool = False,
) -> Outcome:
    """One job after preflight; `pippa cancel` from another terminal is noticed at the
    next progress report or poll, a stopping batch through `policy`."""
    history, backend = services.history, services.backend
    # 1. The record, before anything is spent.
    job = new_job(
        spec.prompt,
        spec.backend,
        output_path=str(spec.output),
        settings=spec.settings(),
        seed=spec.seed,
        model=spec.model.label,
    )
    history.add(job)
    record = JobRecorder(history, job.task_id, should_stop=policy.stopping)
    started = time.monotonic()
    try:
        if announce:
            progress.note(f"Job {job.task_id} ({backend.name}, seed {spec.seed})")
        # 2. The prompt, enhanced unless asked not to.
        prompt = _enhance(spec, services, progress, record)
        # 3. The render: here, or on Modal (submitted, its call id recorded, followed).
        request = render_request(spec, job.task_id, prompt)
        data = _render(request, spec, backend, record, progress, policy, follow=not detach)
        if data is None:  # --detach: submitted and recorded; `pippa status` takes it on
            record.let_go()
            return Outcome(Ending.DETACHED, job.task_id, history.get(job.task_id))
        # 4. The clip and its sidecar on disk; the job completed.
        save_video(
            history,
            history.get(job.task_id),
            data,
            spec.output,
            progress,
            overwrite=spec.overwrite,
            timings=record.timings,
            started=started,
        )
    except BaseException as exc:
        return settle(exc, record, backend)
    return Outcome(Ending.COMPLETED, job.task_id, history.get(job.task_id))


def _enhance(
    spec: GenerateSpec, services: Services, progress: ProgressSink, record: JobRecorder
) -> str:
    prompt = spec.prompt
    if spec.enhance:
        from pippa_cli.enhancement import ImagePlacement, enhance_prompt

        progress.stage("enhance")
        images = ImagePlacement.of((image.frame for image in spec.images), spec.num_frames)
        with record.timed("enhance_s"):
            result = enhance_prompt(
                spec.prompt,
                spec.customization,
                services.settings,
                strict=services.strict,
                images=images,
                sound=spec.sound,
            )
        if result.warning:
            progress.warn(result.warning)
        prompt = result.enhanced_prompt
    record.progress(enhanced_prompt=prompt, progress=percent_for("enhance", 0, 0))
    return prompt


def _render(
    request: RenderRequest,
    spec: GenerateSpec,
    backend: Backend,
    record: JobRecorder,
    progress: ProgressSink,
    policy: InterruptPolicy,
    *,
    follow: bool,
) -> bytes | None:
    """The MP4's bytes (None when not following a submitted call), with the time it took."""
    on_progress = record.reporter(progress)
    if not backend.remote:
        record.progress(status=RUNNING, stage="loading")
        with record.timed("render_s"):
            return backend.render(request, spec.model, on_progress, check_stop=record.check_stop)
    started = time.monotonic()
    submitted: float | None = None

    def on_submitted(call_id: str) -> None:  # runs with Ctrl-C held
        nonlocal submitted
        record.record_call(call_id, backend.cancel)
        submitted = time.monotonic()

    def submit_timed() -> None:
        # Recorded once the submission is over (a Ctrl-C held during it has not struck):
        # at the first check after it, or when it returns.
        if submitted is not None and "submit_s" not in record.timings:
            record.timings["submit_s"] = round(submitted - started, 3)

    def check_stop() -> None:
        submit_timed()
        record.check_stop()

    try:
        if not follow:
            record.check_stop()
            backend.submit(request, spec.model, on_submitted)
            submit_timed()
            return None
        data = backend.render(
            request, spec.model, on_progress, on_submitted=on_submitted, check_stop=check_stop
        )
    except KeyboardInterrupt:
        if record.call_id:  # a paid call exists: keep it running, or cancel it
            record.keep_running = policy.keeps_running()
        raise
    submit_timed()
    record.timings["remote_s"] = round(time.monotonic() - (submitted or started), 3)
    return data
