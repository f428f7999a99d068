"""`pippa generate`: a sentence in, the path of a web-ready MP4 out."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pippa_cli.cli import options as o
from pippa_cli.cli.request_flags import request_flags
from pippa_cli.request_options import CUSTOMIZATION, RENDER, SWITCHES, GivenOptions


@request_flags(after={"prompt": RENDER, "overwrite": SWITCHES, "keep_running": CUSTOMIZATION})
def generate(
    prompt: Annotated[
        str | None,
        typer.Argument(help="What the video shows. '-' or no argument with a pipe reads stdin."),
    ] = None,
    backend: o.Backend = None,
    # str, not Path: Path would drop the trailing slash that says "a directory".
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="MP4 to write, or a directory to put it in [default: named from the prompt "
            "and time].",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output file.")
    ] = False,
    detach: Annotated[
        bool,
        typer.Option("--detach", help="Submit to Modal, print the task id and return at once."),
    ] = False,
    from_file: Annotated[
        str | None,
        typer.Option(
            "--from-file",
            help="Render a list: a text file (one prompt a line) or JSON Lines with per-line "
            "options; '-' reads stdin.",
        ),
    ] = None,
    output_dir: Annotated[
        str | None,
        typer.Option(
            "--output-dir",
            help="With --from-file: where the clips go, created if missing [default: .].",
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(help="With --from-file: jobs in flight at once (Modal).", min=1, max=64)
    ] = 4,
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running", help="On Ctrl-C, leave the Modal job running instead of cancelling."
        ),
    ] = False,
    enhance_model: o.EnhanceModel = None,
    enhance_timeout: o.EnhanceTimeout = None,
    strict: o.Strict = False,
    json_output: o.Json = False,
    quiet: o.Quiet = False,
    debug: o.Debug = False,
    *,
    request: GivenOptions,
) -> None:
    """Render PROMPT as a video and print the MP4's absolute path on stdout.

    Presets for --model: ltx-video (LTX-Video 2B, 50 steps, quality over speed),
    ltx-distilled (LTX-Video 0.9.7 13B distilled, 8 steps, fastest per clip), ltx-hd
    (the 13B distilled in Lightricks' two-stage recipe, 1216x704), and with sound ltx-2
    (LTX-2.5 22B distilled, 24 fps; --no-audio: video only) and ltx-2-hd (its two-stage
    recipe, 1536x1024). Also accepted:
    a Hugging Face repo id (owner/name[@revision]) or a local diffusers directory (local
    backend).
    """
    from pippa_cli.api import generate as generate_clip
    from pippa_cli.cli.context import modal_sdk
    from pippa_cli.errors import UsageError
    from pippa_cli.output import Output
    from pippa_cli.prompt_input import read_prompt
    from pippa_cli.settings import load_settings

    out = Output(quiet=quiet, json_mode=json_output)
    if from_file is not None:
        from pippa_cli.cli.generate_batch import generate_batch

        generate_batch(
            out,
            source=from_file,
            prompt=prompt,
            output=output,
            output_dir=output_dir,
            concurrency=concurrency,
            overwrite=overwrite,
            detach=detach,
            strict=strict,
            keep_running=keep_running,
            settings_overrides={
                "enhance_model": enhance_model,
                "enhance_timeout": enhance_timeout,
                "backend": backend,
            },
            defaults=request,
        )
        return
    if output_dir is not None:
        raise UsageError("--output-dir goes with --from-file", "Use -o for a single clip.")
    request.customization()  # a bad flag is reported before the prompt is read
    text = read_prompt(prompt, sys.stdin.buffer, sys.stdin.isatty(), command="generate")
    settings = load_settings(
        enhance_model=enhance_model,
        enhance_timeout=enhance_timeout,
        backend=backend,
        **request.settings_overrides(),
    )
    job = generate_clip(
        text,
        output=output,
        overwrite=overwrite,
        detach=detach,
        keep_running=keep_running,
        strict=strict,
        settings=settings,
        out=out,
        modal_sdk=modal_sdk(),
        **request.as_dict(),
    )
    if json_output:
        out.data_json(job.to_json())
    elif detach:
        out.info(f"Submitted; follow it with: pippa status {job.task_id[:8]} --wait")
        out.data(job.task_id)
    else:
        out.data(job.video_path or "")
