"""`--lora SOURCE[=SCALE]` as the user writes it: a local file or a Hugging Face repo.

    style.safetensors                 a local file (any path ending in .safetensors)
    owner/name                        a repo's one LoRA file (diffusers' own name, or its
                                      only .safetensors)
    owner/name:dir/file.safetensors   a repo's file by name
    owner/name@v1.0[:file]            at a branch, tag or commit (like --model's @revision)
    ...=0.8                           this LoRA's scale (else --lora-scale's)

A repo id is OWNER/NAME with Hugging Face's characters; `a/b:c.safetensors` is read as a
repo's file, so a local path of that shape is written `./a/b:c.safetensors`. No file is
opened and nothing is asked here: lora_input.py does that.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from pippa_cli.errors import UsageError
from pippa_cli.presets import _REPO_ID, _REVISION
from pippa_cli.text import has_unsafe_chars, visible

FLAG = "--lora"
SYNTAX_HINT = (
    "Write a local FILE.safetensors or OWNER/NAME[@REVISION][:FILE.safetensors], "
    "optionally =SCALE, e.g. style.safetensors=0.8 or owner/ltx-paper-style."
)
# Beyond 2 a LoRA swamps the model it adapts (diffusers' own examples stay within 0..1.5).
MIN_SCALE, MAX_SCALE = 0.0, 2.0
SUFFIX = ".safetensors"
_SCALE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_HUB = re.compile(r"^(?P<repo>[^@:]+)(?:@(?P<revision>[^:]+))?(?::(?P<file>.+))?$")


@dataclass(frozen=True)
class LoraRef:
    """One --lora value, parsed: nothing about the file or the repo is known yet."""

    text: str  # as given, for messages
    path: str | None  # a local file (relative paths are resolved when read)
    repo: str | None  # a Hugging Face repo id
    revision: str | None  # of the repo, as given
    weight_name: str | None  # the file in the repo, as given
    scale: float | None  # None: --lora-scale's


def parse_lora(text: str) -> LoraRef:
    """`text` split into its source and scale; UsageError for what is plainly wrong."""
    if has_unsafe_chars(text):
        raise UsageError(
            f"{FLAG} {visible(text)} contains control characters",
            "Rename the file without newlines, tabs, escapes or bidi characters.",
        )
    source, scale = text.strip(), None
    head, equals, tail = source.rpartition("=")
    if equals and _SCALE.fullmatch(tail.strip()):
        source, scale = head.strip(), float(tail)
        check_scale(scale, f"{FLAG} {text}")
    if not source:
        raise UsageError(f"{FLAG} {text!r} names no LoRA", SYNTAX_HINT)
    if ":" not in source and source.lower().endswith(SUFFIX):
        return LoraRef(text, source, None, None, None, scale)
    hub = _HUB.match(source)
    if hub and _is_repo(hub["repo"]):
        revision, weight_name = hub["revision"], hub["file"]
        if revision is not None and not _REVISION.match(revision):
            raise UsageError(f"{FLAG} {text}: {revision!r} is not a revision", SYNTAX_HINT)
        if weight_name is not None and not weight_name.lower().endswith(SUFFIX):
            raise UsageError(
                f"{FLAG} {text}: {weight_name} is not a .safetensors file",
                "pippa loads LoRAs in safetensors format only (a pickle could run code).",
            )
        return LoraRef(text, None, hub["repo"], revision, weight_name, scale)
    if source.lower().endswith(SUFFIX):
        return LoraRef(text, source, None, None, None, scale)
    raise UsageError(
        f"{FLAG} {text} is neither a .safetensors file nor a Hugging Face repo id", SYNTAX_HINT
    )


def check_scale(scale: float, where: str) -> float:
    """`scale` if it is in MIN_SCALE..MAX_SCALE, else UsageError naming `where`."""
    if not (math.isfinite(scale) and MIN_SCALE <= scale <= MAX_SCALE):
        raise UsageError(
            f"{where}: scale {scale:g} is out of range",
            f"Choose {MIN_SCALE:g} to {MAX_SCALE:g}: 0 leaves the model as it is, 1 applies "
            "the LoRA as trained.",
        )
    return scale


def _is_repo(text: str) -> bool:
    """OWNER/NAME with the Hub's characters (a local `./x` or `a/b/c` is no repo id)."""
    return bool(_REPO_ID.match(text)) and ".." not in text and not text.endswith(SUFFIX)
