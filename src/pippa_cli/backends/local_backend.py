"""Render in this process on the local GPU (or, slowly, the CPU) with the shared core."""

from __future__ import annotations

from typing import Any, ClassVar

from pippa_cli.errors import BackendError
from pippa_cli.ltx import ProgressCallback, RenderRequest, generate_mp4, load_pipeline
from pippa_cli.presets import ModelSource

_NEEDS_EXTRA = "Install the local extra: pip install 'pippa-cli[local]' (torch first for CUDA)."


class LocalBackend:
    name = "local"
    # One pipeline per process: a batch renders many clips with one load.
    _pipelines: ClassVar[dict[tuple[str, str | None], Any]] = {}

    def preflight(self, source: ModelSource) -> str | None:
        """Check the local stack before anything runs; returns a warning, if any."""
        try:
            import av  # noqa: F401
            import diffusers  # noqa: F401
            import torch
        except ImportError as exc:
            raise BackendError(f"local rendering needs {exc.name}", _NEEDS_EXTRA) from None
        return None if torch.cuda.is_available() else _cpu_warning()

    def render(
        self, request: RenderRequest, source: ModelSource, on_progress: ProgressCallback
    ) -> bytes:
        key = (source.location, source.revision)
        pipe = self._pipelines.get(key)
        if pipe is None:
            on_progress("loading", 0, 1)
            try:
                pipe = load_pipeline(source)
            except (OSError, ValueError) as exc:
                raise BackendError(
                    f"could not load model {source.label}: {_first_line(exc)}",
                    "Check the name or directory; hub models need network access the first "
                    "time (they are cached afterwards).",
                ) from None
            self._pipelines[key] = pipe
        return generate_mp4(pipe, request, on_progress)


def _cpu_warning() -> str:
    return "no CUDA GPU found: rendering on the CPU, which is very slow for real models"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
