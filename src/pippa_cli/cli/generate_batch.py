"""`pippa generate --from-file`: the batch half of the generate command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from pippa_cli.output import Output


def generate_batch(
    out: Output,
    *,
    source: str,
    prompt: str | None,
    output: Path | None,
    output_dir: Path | None,
    concurrency: int,
    overwrite: bool,
    detach: bool,
    strict: bool,
    keep_running: bool,
    settings_overrides: dict[str, Any],
    defaults: dict[str, Any],
) -> None:
    from pippa_cli.backends import make_backend
    from pippa_cli.batch import LineResult, plan, run_batch
    from pippa_cli.batch_input import read_lines
    from pippa_cli.errors import UsageError
    from pippa_cli.history import History
    from pippa_cli.settings import load_settings
    from pippa_cli.spec import GenerateSpec

    if prompt is not None:
        raise UsageError("give either a PROMPT or --from-file, not both")
    if output is not None:
        raise UsageError("-o names one clip; with --from-file use --output-dir")
    if detach:
        raise UsageError("--detach is for one clip; a batch follows its jobs to the end")
    directory = (output_dir or Path.cwd()).expanduser().resolve()
    if not directory.is_dir():
        raise UsageError(f"--output-dir {directory} does not exist", "Create it first.")
    settings = load_settings(**settings_overrides)
    backend = make_backend(settings.backend, settings)
    lines, errors = read_lines(source)
    defaults = {**defaults, "model": settings.model, "backend": settings.backend}
    checked: dict[str, str | None] = {}

    def check(spec: GenerateSpec) -> None:
        # Preflight each distinct model once (credentials, local directories on Modal...).
        if spec.model.label not in checked:
            checked[spec.model.label] = backend.preflight(spec.model)
            if checked[spec.model.label]:
                out.warn(checked[spec.model.label] or "")

    planned, bad = plan(lines, defaults, directory, overwrite=overwrite, check=check)
    errors = sorted(errors + bad, key=lambda e: e.number)
    for error in errors:
        out.error(f"line {error.number}: {error.message}")
    if errors and strict:
        raise UsageError(
            f"{len(errors)} bad line(s); nothing was submitted (--strict)",
            "Fix the lines above, or drop --strict to skip them.",
        )
    if not planned:
        raise UsageError("no valid lines to render", "Fix the lines above.")

    def emit(result: LineResult) -> None:
        if out.json_mode:
            out.data_json(result.to_json())
        elif result.status == "completed" and result.video_path:
            out.data(result.video_path)

    if out.json_mode:
        for error in errors:
            out.data_json({"line": error.number, "status": "invalid", "error": error.message})
    history = History.open_default(settings.home)
    summary = run_batch(
        planned,
        settings,
        out,
        history,
        backend,
        concurrency=concurrency,
        strict=strict,
        keep_running=keep_running,
        emit=emit,
    )
    if out.json_mode:
        for result in summary.results:
            if result.status == "skipped":
                out.data_json(result.to_json())
    done, failed = summary.count("completed"), summary.count("failed")
    skipped, cancelled = summary.count("skipped"), summary.count("cancelled")
    if not out.quiet:
        out.err.print(
            f"Done {done}, failed {failed + len(errors)}, skipped {skipped} (already complete), "
            f"cancelled {cancelled}; {summary.seconds:.1f} s wall, "
            f"{summary.gpu_seconds:.1f} s render",
            markup=False,
            highlight=False,
        )
    if summary.interrupted:
        raise typer.Exit(130)
    if errors or not summary.ok:
        raise typer.Exit(1)
