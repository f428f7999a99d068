"""LoRAs for the LTX core: loaded for one render as adapters, unloaded after it.

ltx.py calls this only for a request with LoRAs. Each is loaded as a peft adapter and
scaled with `set_adapters`; nothing is fused into the weights (fusing and unfusing leaves
the model measurably off its original weights), and `unload_lora_weights` runs after the
render however it ends, so one warm container serves requests with different LoRAs, or
none, each as if it were the first.

diffusers checks little: a LoRA made for another model family loads silently as nothing,
and one whose keys only partly match loads with a warning. So every key is checked
against the transformer's own layers (name and shape) before anything loads, and the
adapter is checked to have landed after: `LoraMisfit` (before any denoising) otherwise.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

MAX_PROBLEMS_SHOWN = 3


class LoraMisfit(ValueError):
    """A LoRA that does not fit the model (another family, another size, no LoRA keys)."""


@dataclass(frozen=True)
class LoraWeights:
    """One LoRA of a request: a file's bytes, or a Hub repo the container fetches."""

    scale: float  # 0 .. 2
    # A local file's safetensors bytes; not in the repr (megabytes in a log line).
    data: bytes | None = field(default=None, repr=False)
    name: str | None = None  # the file's name, for messages
    repo: str | None = None
    revision: str | None = None  # a commit, when the client could ask the Hub
    weight_name: str | None = None


_FIELDS = frozenset({"scale", "data", "name", "repo", "revision", "weight_name"})


def loras_from_dicts(items: Iterable[Any]) -> tuple[LoraWeights, ...]:
    """The request's LoRAs from their dicts (RenderRequest.to_dict); ValueError if one has
    unknown fields, both or neither of bytes and a repo, or a scale outside 0..2."""
    from pippa_cli.lora_refs import MAX_SCALE, MIN_SCALE
    from pippa_cli.ltx import request_items

    loras = []
    for where, item in request_items(items, "loras", "LoRA", _FIELDS):
        scale = item["scale"]
        if isinstance(scale, bool) or not isinstance(scale, int | float):
            raise ValueError(f"{where}: scale {scale!r} is not a number")
        if not (math.isfinite(scale) and MIN_SCALE <= scale <= MAX_SCALE):
            raise ValueError(f"{where}: scale {scale} is outside {MIN_SCALE:g}..{MAX_SCALE:g}")
        for key in ("name", "repo", "revision", "weight_name"):
            if item[key] is not None and not isinstance(item[key], str):
                raise ValueError(f"{where}: {key} is a string, not {type(item[key]).__name__}")
        if item["data"] is not None and not isinstance(item["data"], bytes):
            raise ValueError(f"{where}: data is bytes, not {type(item['data']).__name__}")
        if (item["data"] is None) == (item["repo"] is None):
            raise ValueError(f"{where} needs either data (a file's bytes) or a repo, not both")
        loras.append(LoraWeights(**{**item, "scale": float(scale)}))
    return tuple(loras)


@contextmanager
def applied_loras(pipe: Any, loras: Sequence[LoraWeights]) -> Iterator[None]:
    """`pipe` with `loras` loaded and scaled for the block; unloaded when it ends, however
    it ends. LoraMisfit (nothing denoised yet) for one that does not fit the model."""
    names: list[str] = []
    try:
        for number, lora in enumerate(loras, 1):
            state = _state_dict(pipe, lora)
            _check_fit(pipe, state, _label(lora))
            name = f"pippa_lora_{number}"
            with warnings.catch_warnings():
                # peft's notice that a second adapter joins the first: what is meant here.
                warnings.filterwarnings("ignore", "Already found a `peft_config`")
                pipe.load_lora_weights(state, adapter_name=name)
            if name not in pipe.get_list_adapters().get("transformer", []):
                raise LoraMisfit(f"{_label(lora)} loaded as nothing: no layer of the model took it")
            names.append(name)
        if names:
            pipe.set_adapters(names, [lora.scale for lora in loras])
        yield
    finally:
        if loras:
            pipe.unload_lora_weights()


def _label(lora: LoraWeights) -> str:
    if lora.repo is None:
        return lora.name or "the LoRA file"
    return lora.repo + (f":{lora.weight_name}" if lora.weight_name else "")


def _state_dict(pipe: Any, lora: LoraWeights) -> dict[str, Any]:
    """The LoRA's tensors with diffusers' keys (the Lightricks/ComfyUI format converted)."""
    if lora.data is not None:
        from safetensors import SafetensorError
        from safetensors.torch import load

        try:
            tensors = load(lora.data)
        except (SafetensorError, ValueError) as exc:
            raise LoraMisfit(f"{_label(lora)} is not a safetensors file: {exc}") from None
        state: dict[str, Any] = pipe.lora_state_dict(tensors)
        return state
    # On Modal this downloads into the weights Volume's Hugging Face cache, before any
    # GPU work: LoRAs are tens to hundreds of MB, seconds to fetch.
    fetched: dict[str, Any] = pipe.lora_state_dict(
        lora.repo, weight_name=lora.weight_name, revision=lora.revision
    )
    return fetched


def _check_fit(pipe: Any, state: dict[str, Any], label: str) -> None:
    """LoraMisfit unless every key names a layer of the transformer with matching shapes."""
    problems = lora_misfit(pipe.transformer, state)
    if not state:
        problems = ["it holds no LoRA weights"]
    if problems:
        shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
        more = len(problems) - MAX_PROBLEMS_SHOWN
        raise LoraMisfit(
            f"{label} does not fit this model: {shown}"
            + (f" (and {more} more)" if more > 0 else "")
        )


def lora_misfit(transformer: Any, state: dict[str, Any]) -> list[str]:
    """What in `state` (diffusers keys: transformer.<layer>.lora_A.weight, ...) does not
    fit `transformer`: keys for no transformer, layers it does not have, wrong shapes."""
    modules = dict(transformer.named_modules())
    problems = []
    for key, tensor in sorted(state.items()):  # the same report on every run
        if not key.startswith("transformer."):
            problems.append(
                f"{key} is not a key of the transformer (pippa applies transformer LoRAs)"
            )
            continue
        name, _, part = key[len("transformer.") :].partition(".lora_")
        module = modules.get(name)
        if module is None or not hasattr(module, "in_features"):
            problems.append(f"the model has no layer {name}")
            continue
        if part.startswith("A"):
            want = (tensor.shape[0], module.in_features)
        elif part.startswith("B"):
            want = (module.out_features, tensor.shape[1])
        else:
            continue
        if tuple(tensor.shape) != want:
            problems.append(f"{name} is {tuple(tensor.shape)} in the LoRA, {want} in the model")
    return problems
