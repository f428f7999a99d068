"""`pippa generate`: a sentence in, the path of a web-ready MP4 out."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pippa_cli.cli import options as o


def generate(
    prompt: Annotated[
        str | None,
        typer.Argument(help="What the video shows. '-' or no argument with a pipe reads stdin."),
    ] = None,
    duration: Annotated[float, typer.Option(help="Seconds of video, 3 to 10.")] = 5.0,
    fps: Annotated[int, typer.Option(help="Frames per second, 8 to 60.")] = 30,
    width: Annotated[int, typer.Option(help="Width in pixels, a multiple of 32.")] = 768,
    height: Annotated[int, typer.Option(help="Height in pixels, a multiple of 32.")] = 512,
    steps: Annotated[
        int | None, typer.Option(help="Denoising steps [default: the model preset's].")
    ] = None,
    guidance: Annotated[
        float | None, typer.Option(help="Guidance scale [default: the model preset's].")
    ] = None,
    negative_prompt: Annotated[
        str | None,
        typer.Option("--negative-prompt", help="What to avoid [default: Lightricks' own]."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Random seed [default: random, always recorded].")
    ] = None,
    model: o.Model = None,
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
    allow_large: Annotated[
        bool,
        typer.Option(
            "--allow-large",
            help="Render a size beyond what the model or the deployed GPU and timeout are "
            "expected to handle (you pay for the attempt).",
        ),
    ] = False,
    no_enhance: Annotated[
        bool, typer.Option("--no-enhance", help="Render the prompt as written.")
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
    style: o.Style = None,
    camera_angle: o.CameraAngle = None,
    lighting: o.Lighting = None,
    movement: o.Movement = None,
    mood: o.Mood = None,
    enhance_model: o.EnhanceModel = None,
    enhance_timeout: o.EnhanceTimeout = None,
    strict: o.Strict = False,
    json_output: o.Json = False,
    quiet: o.Quiet = False,
    debug: o.Debug = False,
) -> None:
    """Render PROMPT as a video and print the MP4's absolute path on stdout.

    Presets for --model: ltx-video (LTX-Video 2B, 50 steps, quality over speed) and
    ltx-distilled (LTX-Video 0.9.7 13B distilled, 8 steps, fastest per clip). Also accepted:
    a Hugging Face repo id (owner/name[@revision]) or a local diffusers directory (local
    backend).
    """
    from pippa_cli.backends import make_backend
    from pippa_cli.cli.context import modal_sdk
    from pippa_cli.customization import Customization
    from pippa_cli.errors import UsageError
    from pippa_cli.generation import Services, run_generation
    from pippa_cli.history import History
    from pippa_cli.output import Output
    from pippa_cli.prompt_input import read_prompt
    from pippa_cli.settings import load_settings
    from pippa_cli.spec import build_spec

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
                "model": model,
            },
            defaults={
                "duration": duration,
                "fps": fps,
                "width": width,
                "height": height,
                "steps": steps,
                "guidance": guidance,
                "negative_prompt": negative_prompt,
                "seed": seed,
                "style": style,
                "camera_angle": camera_angle,
                "lighting": lighting,
                "movement": movement,
                "mood": mood,
                "enhance": not no_enhance,
                "allow_large": allow_large,
            },
        )
        return
    if output_dir is not None:
        raise UsageError("--output-dir goes with --from-file", "Use -o for a single clip.")
    customization = Customization.create(
        style=style, camera_angle=camera_angle, lighting=lighting, movement=movement, mood=mood
    )
    text = read_prompt(prompt, sys.stdin.buffer, sys.stdin.isatty(), command="generate")
    settings = load_settings(
        enhance_model=enhance_model, enhance_timeout=enhance_timeout, backend=backend, model=model
    )
    spec = build_spec(
        prompt=text,
        customization=customization,
        enhance=not no_enhance,
        duration=duration,
        fps=fps,
        width=width,
        height=height,
        steps=steps,
        guidance=guidance,
        negative_prompt=negative_prompt,
        seed=seed,
        model=settings.model,
        backend=settings.backend,
        output=output,
        overwrite=overwrite,
        allow_large=allow_large,
    )
    if detach and spec.backend != "modal":
        # Before the history is opened: a usage error leaves nothing behind.
        raise UsageError("--detach needs the Modal backend", "Drop --detach with --backend local.")
    history = History.open_default(settings.home)
    services = Services(
        settings,
        history,
        make_backend(spec.backend, settings, modal_sdk=modal_sdk()),
        strict=strict,
    )
    outcome = run_generation(spec, services, out, detach=detach, keep_running=keep_running)
    outcome.raise_for_outcome()
    job = outcome.job or history.get(outcome.task_id)
    if json_output:
        out.data_json(job.to_json())
    elif detach:
        out.info(f"Submitted; follow it with: pippa status {job.task_id[:8]} --wait")
        out.data(job.task_id)
    else:
        out.data(job.video_path or "")
