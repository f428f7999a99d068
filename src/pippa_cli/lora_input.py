"""The user's LoRAs, checked before anything is spent: local files read, Hub repos asked.

A local file must exist, be at most MAX_BYTES and be a safetensors file (its header is
read, not its tensors); it is hashed, so the record says exactly which file styled the
clip. Its bytes are read again only when the render request is made (`LoraInput.weights`),
and checked against that hash: a batch of many lines with one large LoRA holds no copies,
and a file changed in between is refused rather than rendered unrecorded. A Hub LoRA is
checked by lora_hub.py (once per repo, revision and file in a process) and pinned to its
commit. Whether a LoRA fits the model is known only once the model is loaded: ltx_lora.py.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pippa_cli.errors import UsageError
from pippa_cli.lora_refs import FLAG, SYNTAX_HINT, LoraRef, check_scale, parse_lora

if TYPE_CHECKING:
    from pippa_cli.lora_hub import HubLora
    from pippa_cli.ltx_lora import LoraWeights

# Local files travel to Modal inside the request. A rank-128 LoRA of the 13B transformer
# is about 1.3 GB in bf16; larger is no LoRA pippa expects, and would sit in memory on
# both sides (a LoRA that large belongs on the Hub, which the container downloads from).
MAX_BYTES = 2 * 2**30
_CHUNK = 2**20
_checked: dict[tuple[str, ...], HubLora] = {}


@dataclass(frozen=True)
class LoraInput:
    """One LoRA, checked: what the records keep and where the render gets its weights."""

    text: str  # as given, for messages
    scale: float
    file: str | None = None  # a local file, as given
    path: Path | None = field(default=None, repr=False)  # ... resolved
    sha256: str | None = None  # ... of its bytes
    repo: str | None = None  # a Hub repo id
    revision: str | None = None  # ... as given
    commit: str | None = None  # ... as the Hub said (None: not checked)
    weight_name: str | None = None  # the file in the repo (None: diffusers' choice)
    note: str | None = None  # the Hub could not be asked

    def record(self) -> dict[str, Any]:
        """For the sidecar, the history and the MP4 tag: enough to reproduce the clip."""
        if self.repo is None:
            return {"file": self.file, "sha256": self.sha256, "scale": self.scale}
        return {
            "repo": self.repo,
            "weight_name": self.weight_name,
            "revision": self.revision or "main",
            "commit": self.commit,
            "scale": self.scale,
        }

    def weights(self) -> LoraWeights:
        """What the render loads: a local file's bytes (checked against the hash taken
        when it was checked), or the repo pinned to its commit."""
        from pippa_cli.ltx_lora import LoraWeights

        if self.path is None:
            assert self.repo is not None
            revision = self.commit or self.revision
            return LoraWeights(
                self.scale, repo=self.repo, revision=revision, weight_name=self.weight_name
            )
        data = _read(self.text, self.path)
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise UsageError(
                f"{FLAG} {self.text}: {self.path.name} changed after it was checked",
                "Leave LoRA files alone while pippa renders with them, and run again.",
            )
        return LoraWeights(self.scale, data=data, name=self.path.name)


def load_loras(
    texts: Sequence[str], *, scale: float, directory: Path | None = None
) -> tuple[LoraInput, ...]:
    """Every --lora value parsed and checked; UsageError (naming the value) for the first
    problem. `scale` is --lora-scale's, for those without their own. Relative paths are
    read from `directory` (a JSON Lines list's), else the working directory."""
    check_scale(scale, "--lora-scale")
    return tuple(_check(parse_lora(text), scale, directory) for text in texts)


def _check(ref: LoraRef, default_scale: float, directory: Path | None) -> LoraInput:
    scale = default_scale if ref.scale is None else ref.scale
    if ref.repo is not None:
        hub = _ask_hub(ref.repo, ref.revision, ref.weight_name)
        return LoraInput(
            ref.text,
            scale,
            repo=ref.repo,
            revision=ref.revision,
            commit=hub.commit,
            weight_name=hub.weight_name,
            note=hub.warning,
        )
    assert ref.path is not None
    path = ((directory or Path.cwd()) / Path(ref.path).expanduser()).absolute()
    return LoraInput(ref.text, scale, file=ref.path, path=path, sha256=_hash(ref.text, path))


def _ask_hub(repo: str, revision: str | None, weight_name: str | None) -> HubLora:
    """lora_hub.check_lora, asked once per endpoint, repo, revision and file."""
    from pippa_cli.hub import hub_endpoint
    from pippa_cli.lora_hub import check_lora

    key = (hub_endpoint(), repo, revision or "", weight_name or "")
    if key not in _checked:
        found = check_lora(repo, revision, weight_name)
        if found.warning is not None:
            return found  # asked again next time: the Hub may answer then
        _checked[key] = found
    return _checked[key]


def _refuse(text: str, problem: str, hint: str | None = None) -> UsageError:
    return UsageError(f"{FLAG} {text}: {problem}", hint)


def _hash(text: str, path: Path) -> str:
    """The SHA-256 of a local LoRA file that exists, is not too large and is safetensors."""
    digest = hashlib.sha256()
    try:
        # A FIFO or a device would block or never end: only regular files are read.
        if path.exists() and not path.is_file() and not path.is_dir():
            raise _refuse(text, f"{path} is not a regular file", "Name a .safetensors file.")
        with path.open("rb") as handle:
            size = path.stat().st_size
            if size > MAX_BYTES:
                raise _refuse(
                    text,
                    f"{path.name} is larger than {MAX_BYTES // 2**30} GiB",
                    "Put it on Hugging Face and give its repo id: the container downloads it.",
                )
            head = handle.read(8)
            _check_header(text, path, handle, head, size)
            digest.update(head)
            handle.seek(8)
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
    except FileNotFoundError:
        raise _refuse(text, f"{path} does not exist", f"Check the path. {SYNTAX_HINT}") from None
    except IsADirectoryError:
        raise _refuse(text, f"{path} is a directory", "Name a .safetensors file.") from None
    except OSError as exc:
        raise _refuse(text, f"cannot read {path}: {exc.strerror or exc}") from None
    return digest.hexdigest()


def _check_header(text: str, path: Path, handle: Any, head: bytes, size: int) -> None:
    """A safetensors file starts with its header's length and a JSON header naming at
    least one tensor; anything else is refused here rather than on a GPU."""
    not_it = _refuse(
        text, f"{path.name} is not a safetensors file", "Give a LoRA in safetensors format."
    )
    if len(head) < 8:
        raise not_it
    (length,) = struct.unpack("<Q", head)
    if not 2 <= length <= min(size - 8, 100 * 2**20):
        raise not_it
    try:
        header = json.loads(handle.read(length))
    except (ValueError, UnicodeDecodeError):
        raise not_it from None
    if not isinstance(header, dict) or not any(k != "__metadata__" for k in header):
        raise _refuse(text, f"{path.name} holds no tensors", "Give a LoRA in safetensors format.")


def _read(text: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _refuse(text, f"cannot read {path}: {exc.strerror or exc}") from None
