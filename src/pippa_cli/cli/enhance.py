"""`pippa enhance`: a short idea in, a cinematic video prompt out."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from pippa_cli.cli import options as o
from pippa_cli.cli.request_flags import request_flags
from pippa_cli.request_options import AUDIO, CUSTOMIZATION, MODEL, GivenOptions

if TYPE_CHECKING:
    from pippa_cli.customization import Customization
    from pippa_cli.output import Output
    from pippa_cli.settings import Settings


# --model and --no-audio say what the prompt is for: a model that renders sound (ltx-2)
# gets a prompt that describes it.
@request_flags(after={"prompt": CUSTOMIZATION, "enhance_timeout": (MODEL, AUDIO)})
def enhance(
    prompt: Annotated[
        str | None,
        typer.Argument(help="The idea to enhance. '-' or no argument with a pipe reads stdin."),
    ] = None,
    enhance_model: o.EnhanceModel = None,
    temperature: o.Temperature = None,
    max_tokens: o.MaxTokens = None,
    enhance_timeout: o.EnhanceTimeout = None,
    strict: o.Strict = False,
    from_file: Annotated[
        str | None,
        typer.Option(
            "--from-file",
            help="Enhance a list: one prompt a line (or JSON Lines); '-' reads stdin. "
            "Prints one enhanced prompt a line, in input order.",
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(help="With --from-file: requests to Groq at once.", min=1, max=32)
    ] = 4,
    json_output: o.Json = False,
    quiet: o.Quiet = False,
    debug: o.Debug = False,
    *,
    request: GivenOptions,
) -> None:
    """Rewrite PROMPT as a detailed, cinematic video prompt and print it on stdout.

    With a model that renders sound (--model ltx-2) the prompt describes the sound too,
    unless --no-audio. Without GROQ_API_KEY, or when Groq fails, prints your prompt with the
    customization as plain phrases and a warning on stderr (exit 0); --strict makes that an
    error.
    """
    from pippa_cli.api import enhance as enhance_text
    from pippa_cli.errors import UsageError
    from pippa_cli.output import Output
    from pippa_cli.prompt_input import read_prompt
    from pippa_cli.settings import load_settings

    out = Output(quiet=quiet, json_mode=json_output)
    customization = request.customization()
    settings = load_settings(
        enhance_model=enhance_model,
        enhance_temperature=temperature,
        enhance_max_tokens=max_tokens,
        enhance_timeout=enhance_timeout,
        **request.settings_overrides(),
    )
    request = request.with_settings(settings)
    if from_file is not None:
        if prompt is not None:
            raise UsageError("give either a PROMPT or --from-file, not both")
        _enhance_list(out, from_file, request, settings, strict, concurrency)
        return
    text = read_prompt(prompt, sys.stdin.buffer, sys.stdin.isatty())
    result = enhance_text(
        text,
        strict=strict,
        settings=settings,
        model=request.get(MODEL),
        audio=request.get(AUDIO) is not False,
        **customization.as_dict(),
    )
    if result.warning:
        out.warn(result.warning)
    if json_output:
        out.data_json(result.to_json())
    else:
        out.data(result.enhanced_prompt)


def _enhance_list(
    out: Output,
    source: str,
    command: GivenOptions,
    settings: Settings,
    strict: bool,
    concurrency: int,
) -> None:
    """`--from-file`: each line's enhanced prompt, in input order; bad lines reported."""
    from pippa_cli.batch_input import LineError, read_lines
    from pippa_cli.enhancement import enhance_lines
    from pippa_cli.errors import PippaError, UsageError
    from pippa_cli.prompt_input import validate_prompt
    from pippa_cli.spec import has_sound

    lines, errors = read_lines(source)
    work: list[tuple[int, str, Customization, bool]] = []
    for line in lines:
        try:
            # The rule a generate batch follows: a field the line names wins ("" clears it);
            # other JSONL fields don't apply. A line's model and audio say whether its
            # prompt describes sound.
            prompt = validate_prompt(line.prompt)
            options = command.merged(line.overrides)
            work.append((line.number, prompt, options.customization(), has_sound(options)))
        except PippaError as exc:
            errors.append(LineError(line.number, exc.message))
    for error in sorted(errors, key=lambda e: e.number):
        out.error(f"line {error.number}: {error.message}")
    if errors and strict:
        raise UsageError(f"{len(errors)} bad line(s); nothing was sent (--strict)")
    failed = bool(errors)
    # A reader that went away (`| head -1`) wants no more: stop sending requests.
    results = enhance_lines(
        work, settings, strict=strict, concurrency=concurrency, stop=lambda: out.stdout_closed
    )
    for number, result in results:
        if isinstance(result, PippaError):
            out.error(f"line {number}: {result.message}", result.hint)
            failed = True
            continue
        if result.warning:
            out.warn_once(result.warning, f"line {number}")
        if out.json_mode:
            out.data_json({"line": number, **result.to_json()})
        else:
            out.data(result.enhanced_prompt)
    if failed:
        raise typer.Exit(1)
