"""Options shared by several commands (declared once, reused as type aliases).

The request options (size, sampling, model, customization...) are not here: they come
from the option table (request_options.py, cli/request_flags.py).
"""

from __future__ import annotations

import os
from typing import Annotated

import typer


class _State:
    debug = False


state = _State()


def debug_enabled() -> bool:
    return state.debug or os.environ.get("PIPPA_DEBUG", "").lower() in {"1", "true", "yes", "on"}


def _set_debug(value: bool) -> bool:
    if value:
        state.debug = True
    return value


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
Backend = Annotated[
    str | None,
    typer.Option(
        help="Where to render: modal or local [env: PIPPA_BACKEND; default: modal].",
        autocompletion=lambda incomplete: [
            b for b in ("modal", "local") if b.startswith(incomplete)
        ],
    ),
]
