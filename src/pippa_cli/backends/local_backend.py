"""Render in this process on the local GPU (or, slowly, the CPU) with the shared core."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from pippa_cli.errors import BackendError, UsageError
from pippa_cli.install_hint import local_extra_hint
from pippa_cli.ltx import ProgressCallback, RenderRequest, generate_mp4, load_pipeline
from pippa_cli.presets import ModelSource
from pippa_cli.speed import SpeedSettings

if TYPE_CHECKING:
    from pippa_cli.backends.base import CheckStop, OnSubmitted
    from pippa_cli.spec import GenerateSpec


class LocalBackend:
    """The Backend protocol (base.py) in this process: no call ids, one render at a time."""

    name = "local"
    remote = False
    # One pipeline per process (and speed settings): a batch renders many clips with one load.
    _pipelines: ClassVar[dict[tuple[str, str | None, SpeedSettings], Any]] = {}

    def __init__(self, speed: SpeedSettings | None = None) -> None:
        self.speed = speed or SpeedSettings()

    def capacity(self) -> int | None:
        return 1  # one GPU (or the CPU): renders take turns

    def preflight_model(
        self, source: ModelSource, report: Callable[[str], None] | None = None
    ) -> list[str]:
        """Check the local stack and the model before anything runs; warnings to show."""
        from pippa_cli.hub import check_model

        try:
            import av  # noqa: F401
            import diffusers  # noqa: F401
            import torch
        except ImportError as exc:
            raise BackendError(f"local rendering needs {exc.name}", local_extra_hint()) from None
        cuda = torch.cuda.is_available()
        problem = self.speed.problem(cuda)
        if problem:
            raise UsageError(
                f"PIPPA_ATTENTION={self.speed.attention}: {problem}",
                "Unset PIPPA_ATTENTION, or choose sdpa or math, on this machine.",
            )
        warnings = [] if cuda else [_cpu_warning()]
        if self._key(source) not in self._pipelines:  # loaded: it exists
            warning = check_model(source, report)
            if warning:
                warnings.append(warning)
        return warnings

    def preflight(
        self, spec: GenerateSpec, report: Callable[[str], None] | None = None
    ) -> list[str]:
        from pippa_cli.limits import accepted_risks

        risks = accepted_risks(spec.model.defaults, spec.size) if spec.allow_large else []
        return self.preflight_model(spec.model, report) + risks

    def prepare(
        self, source: ModelSource, report: Callable[[str], None] | None = None
    ) -> ModelSource:
        """Nothing ahead of time: the first render loads (and if need be downloads) it."""
        return source

    def render(
        self,
        request: RenderRequest,
        source: ModelSource,
        on_progress: ProgressCallback,
        *,
        on_submitted: OnSubmitted | None = None,
        check_stop: CheckStop | None = None,
    ) -> bytes:
        """Load the pipeline (once per process) and render; `check_stop` runs at every
        progress report. `on_submitted` is never called: there is no remote call."""

        def report(stage: str, step: int, total: int) -> None:
            on_progress(stage, step, total)
            if check_stop is not None:
                check_stop()

        key = self._key(source)
        pipe = self._pipelines.get(key)
        if pipe is None:
            report("loading", 0, 1)
            try:
                pipe = load_pipeline(source)
                self._speed_up(pipe)
            except (OSError, ValueError) as exc:
                from pippa_cli.remote_errors import GATED, categorize, gated_error

                if categorize(type(exc).__name__, str(exc)) == GATED:
                    raise BackendError(*gated_error(source.remote_label, "here")) from None
                raise BackendError(
                    f"could not load model {source.label}: {_first_line(exc)}",
                    "Check the name or directory; hub models need network access the first "
                    "time (they are cached afterwards).",
                ) from None
            self._pipelines[key] = pipe
        from pippa_cli.ltx_lora import LoraMisfit

        try:
            return generate_mp4(pipe, request, report)
        except LoraMisfit as exc:  # found before any denoising
            raise UsageError(
                f"--lora: {exc}", "Use a LoRA trained for this model (its family and size)."
            ) from None

    def _key(self, source: ModelSource) -> tuple[str, str | None, SpeedSettings]:
        return (source.location, source.revision, self.speed)

    def _speed_up(self, pipe: Any) -> None:
        """The levers of the settings, on the device the pipeline was loaded for (ValueError
        for one this machine cannot run: preflight refused it already)."""
        if not self.speed.any:
            return
        from pippa_cli.paths import compile_cache_dir
        from pippa_cli.speed import apply_speed, use_compile_cache

        if self.speed.compile:
            use_compile_cache(compile_cache_dir())
        apply_speed(pipe, self.speed, base_device(pipe))

    def submit(self, request: RenderRequest, source: ModelSource, on_submitted: OnSubmitted) -> str:
        """Nothing to detach from: the render would run in this process."""
        raise UsageError("--detach needs the Modal backend", "Drop --detach with --backend local.")

    def cancel(self, call_id: str) -> None:
        """A local render has no call id; Ctrl-C or `pippa cancel` stops it (check_stop)."""
        raise BackendError(f"no remote call {call_id!r}: local renders run in this process")


def base_device(pipe: Any) -> str:
    """The device the pipeline's transformer is on: cuda or cpu."""
    from pippa_cli.ltx_two_stage import base_pipeline

    return str(base_pipeline(pipe).transformer.device.type)


def _cpu_warning() -> str:
    return "no CUDA GPU found: rendering on the CPU, which is very slow for real models"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
