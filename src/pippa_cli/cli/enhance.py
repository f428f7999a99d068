"""`pippa enhance`: a short idea in, a cinematic video prompt out."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pippa_cli.cli import options as o


def enhance(
    prompt: Annotated[
        str | None,
        typer.Argument(help="The idea to enhance. '-' or no argument with a pipe reads stdin."),
    ] = None,
    style: o.Style = None,
    camera_angle: o.CameraAngle = None,
    lighting: o.Lighting = None,
    movement: o.Movement = None,
    mood: o.Mood = None,
    enhance_model: o.EnhanceModel = None,
    temperature: o.Temperature = None,
    max_tokens: o.MaxTokens = None,
    enhance_timeout: o.EnhanceTimeout = None,
    strict: o.Strict = False,
    json_output: o.Json = False,
    quiet: o.Quiet = False,
    debug: o.Debug = False,
) -> None:
    """Rewrite PROMPT as a detailed, cinematic video prompt and print it on stdout.

    Without GROQ_API_KEY, or when Groq fails, prints your prompt with the customization as
    plain phrases and a warning on stderr (exit 0); --strict makes that an error.
    """
    from pippa_cli.customization import Customization
    from pippa_cli.enhance import enhance_prompt
    from pippa_cli.output import Output
    from pippa_cli.prompt_input import read_prompt
    from pippa_cli.settings import load_settings

    out = Output(quiet=quiet, json_mode=json_output)
    customization = Customization.create(
        style=style, camera_angle=camera_angle, lighting=lighting, movement=movement, mood=mood
    )
    text = read_prompt(prompt, sys.stdin.buffer, sys.stdin.isatty())
    settings = load_settings(
        enhance_model=enhance_model,
        enhance_temperature=temperature,
        enhance_max_tokens=max_tokens,
        enhance_timeout=enhance_timeout,
    )
    result = enhance_prompt(text, customization, settings, strict=strict)
    if result.warning:
        out.warn(result.warning)
    if json_output:
        out.data_json(result.to_json())
    else:
        out.data(result.enhanced_prompt)
