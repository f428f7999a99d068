"""Options shared by several commands (declared once, reused as type aliases)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Annotated

import typer

from pippa_cli.customization import KNOWN_VALUES


class _State:
    debug = False


state = _State()


def debug_enabled() -> bool:
    return state.debug or os.environ.get("PIPPA_DEBUG", "").lower() in {"1", "true", "yes", "on"}


def _set_debug(value: bool) -> bool:
    if value:
        state.debug = True
    return value


def _completer(field: str) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        return [v for v in KNOWN_VALUES[field] if v.startswith(incomplete.lower())]

    return complete


def _custom_help(what: str, field: str) -> str:
    examples = ", ".join(KNOWN_VALUES[field])
    return f"{what}: {examples}, or any short text."


Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="Only errors on stderr: no progress or warnings.")
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
Debug = Annotated[
    bool,
    typer.Option(
        "--debug",
        help="Show full tracebacks (also PIPPA_DEBUG=1).",
        callback=_set_debug,
        is_eager=True,
    ),
]
Style = Annotated[
    str | None,
    typer.Option(help=_custom_help("Visual style", "style"), autocompletion=_completer("style")),
]
CameraAngle = Annotated[
    str | None,
    typer.Option(
        "--camera-angle",
        help=_custom_help("Camera angle", "camera_angle"),
        autocompletion=_completer("camera_angle"),
    ),
]
Lighting = Annotated[
    str | None,
    typer.Option(help=_custom_help("Lighting", "lighting"), autocompletion=_completer("lighting")),
]
Movement = Annotated[
    str | None,
    typer.Option(
        help=_custom_help("Motion or camera movement", "movement"),
        autocompletion=_completer("movement"),
    ),
]
Mood = Annotated[
    str | None,
    typer.Option(help=_custom_help("Mood", "mood"), autocompletion=_completer("mood")),
]
EnhanceModel = Annotated[
    str | None,
    typer.Option(
        "--enhance-model",
        help="Groq model for enhancement [env: PIPPA_ENHANCE_MODEL; "
        "default: meta-llama/llama-4-scout-17b-16e-instruct].",
    ),
]
Temperature = Annotated[
    float | None,
    typer.Option(help="Sampling temperature [env: PIPPA_ENHANCE_TEMPERATURE; default: 0.7]."),
]
MaxTokens = Annotated[
    int | None,
    typer.Option(
        "--max-tokens", help="Most tokens in the answer [env: PIPPA_ENHANCE_MAX_TOKENS; 500]."
    ),
]
EnhanceTimeout = Annotated[
    float | None,
    typer.Option(
        "--enhance-timeout",
        help="Seconds to wait for Groq, retries included [env: PIPPA_ENHANCE_TIMEOUT; 20].",
    ),
]
Strict = Annotated[
    bool,
    typer.Option("--strict", help="Fail (exit 1) instead of falling back when Groq fails."),
]
Model = Annotated[
    str | None,
    typer.Option(
        help="Preset (ltx-video, ltx-distilled), Hugging Face repo id, or local diffusers "
        "directory [env: PIPPA_MODEL; default: ltx-video].",
    ),
]
Backend = Annotated[
    str | None,
    typer.Option(
        help="Where to render: modal or local [env: PIPPA_BACKEND; default: modal].",
        autocompletion=lambda incomplete: [
            b for b in ("modal", "local") if b.startswith(incomplete)
        ],
    ),
]
