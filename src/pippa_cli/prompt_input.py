"""Reading and validating the user's prompt (argument, `-`, or piped stdin)."""

from __future__ import annotations

from typing import BinaryIO

from pippa_cli.errors import UsageError
from pippa_cli.text import fold_whitespace, has_control_chars, has_undecodable, strip_controls

# The seed's limit on user prompts.
MAX_PROMPT_CHARS = 500
# stdin is read up to this much: a prompt is at most 500 characters, with generous room
# for whitespace (which is folded); more means the wrong thing was piped in.
MAX_STDIN_BYTES = 64 * 1024


def validate_prompt(text: str, *, where: str = "the prompt") -> str:
    """Return the prompt with whitespace folded, or raise UsageError saying what is wrong."""
    if has_control_chars(text):
        raise UsageError(
            f"{where} contains control characters",
            "Remove them; newlines and tabs are fine.",
        )
    if has_undecodable(text):
        raise UsageError(f"{where} is not valid UTF-8", "Convert it to UTF-8, e.g. with iconv.")
    # Bidi controls mean nothing to a video model and could disguise the prompt when shown.
    prompt = fold_whitespace(strip_controls(text))
    if not prompt:
        raise UsageError(f"{where} is empty", "Describe the video in a sentence.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise UsageError(
            f"{where} is {len(prompt)} characters long; the limit is {MAX_PROMPT_CHARS}",
            "Shorten it: pippa's enhancement adds the cinematic detail for you.",
        )
    return prompt


def read_prompt(
    argument: str | None, stdin: BinaryIO, stdin_is_tty: bool, command: str = "enhance"
) -> str:
    """The prompt from the argument, or from stdin for `-` or no argument with a pipe."""
    if argument is not None and argument != "-":
        return validate_prompt(argument)
    if argument is None and stdin_is_tty:
        raise UsageError(
            "no prompt given",
            f'Pass it as an argument (pippa {command} "a red fox") or pipe it in.',
        )
    data = stdin.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        raise UsageError(
            f"stdin holds more than {MAX_STDIN_BYTES // 1024} KiB; a prompt is at most "
            f"{MAX_PROMPT_CHARS} characters",
            "Pipe in one prompt; for a list use --from-file.",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"stdin is not valid UTF-8 (byte {exc.start})",
            "Convert the input to UTF-8, e.g. with iconv.",
        ) from None
    if not text.strip():
        raise UsageError("stdin is empty", "Pipe a prompt in, or pass it as an argument.")
    return validate_prompt(text.removeprefix("\ufeff"), where="the prompt on stdin")
