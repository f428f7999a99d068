"""Speed levers for a loaded pipeline, none of which changes what a render means.

Each is off unless asked for (`SpeedSettings`): the GPU benchmark (benchmarks/gpu.py)
measures each on and off, and a lever becomes a default only once measured to win.

- `compile`: regional torch.compile of the transformer's repeated blocks (one block
  compiled, reused by all of them: a fraction of a whole-model compile's time). Kernels
  fuse differently, so frames may differ from eager by float rounding, not in content.
- `attention`: a diffusers attention backend that honours LTX's attention mask.
- `text_encoder_offload`: the text encoder (T5-XXL ~9 GB, Gemma ~24 GB in bf16) waits on
  the CPU and visits the GPU only to encode, leaving its memory to the denoising.
- `channels_last`: the VAE's 3D convolutions in channels-last layout.

Heavy imports stay inside the functions: `pippa --help` must not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# pippa's names for the backends that accept LTX's attention mask and ship with torch
# (flash-attn's and sage's refuse a mask: a render would fail on the GPU, after paying).
ATTENTION_BACKENDS = {
    "sdpa": "native",  # torch's scaled_dot_product_attention, choosing its own kernel
    "cudnn": "_native_cudnn",
    "efficient": "_native_efficient",
    "math": "_native_math",
}
# torch has these kernels for CUDA only: on a CPU every attention call would fail.
_CUDA_ONLY = frozenset({"cudnn", "efficient"})


@dataclass(frozen=True)
class SpeedSettings:
    compile: bool = False
    attention: str | None = None  # a key of ATTENTION_BACKENDS; None: diffusers' default
    text_encoder_offload: bool = False
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.attention is not None and self.attention not in ATTENTION_BACKENDS:
            raise ValueError(
                f"attention backend {self.attention!r} is not one of "
                f"{', '.join(ATTENTION_BACKENDS)}"
            )

    @property
    def any(self) -> bool:
        return self != SpeedSettings()


def base_pipelines(pipe: Any) -> Any:
    """The pipeline holding the transformer: a two-stage wrapper's first pipeline."""
    return getattr(pipe, "pipe", pipe)


def apply_speed(pipe: Any, settings: SpeedSettings, device: str) -> None:
    """Apply `settings` to a pipeline already on `device` (in place; once per load)."""
    base = base_pipelines(pipe)
    if settings.attention in _CUDA_ONLY and not device.startswith("cuda"):
        raise ValueError(f"the {settings.attention} attention backend needs a CUDA GPU")
    if settings.attention is not None:
        base.transformer.set_attention_backend(ATTENTION_BACKENDS[settings.attention])
    if settings.channels_last:
        import torch

        base.vae.to(memory_format=torch.channels_last_3d)
    if settings.text_encoder_offload:
        offload_text_encoder(base, device)
    if settings.compile:
        # fullgraph: a graph break inside a block would silently fall back to eager.
        base.transformer.compile_repeated_blocks(fullgraph=True)


def offload_text_encoder(pipe: Any, device: str) -> None:
    """Keep the text encoder on the CPU but while it encodes: it moves to `device` for its
    forward and back once the transformer starts.

    Plain forward hooks, not accelerate's CPU-offload hooks: diffusers' LoRA loader takes
    those for model CPU offload and would turn it on for the whole pipeline.
    """
    import torch

    encoder, transformer = pipe.text_encoder, pipe.transformer
    target = torch.device(device)
    encoder.to("cpu")

    def onload(module: Any, _args: Any) -> None:
        if next(module.parameters()).device.type != target.type:
            module.to(target)

    def offload(_module: Any, _args: Any) -> None:
        if next(encoder.parameters()).device.type != "cpu":
            encoder.to("cpu")

    encoder.register_forward_pre_hook(onload)
    transformer.register_forward_pre_hook(offload)
