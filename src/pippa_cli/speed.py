"""Speed levers for a loaded pipeline, none of which changes what a render means.

Each is off unless asked for (`SpeedSettings`): the GPU benchmark (benchmarks/gpu.py)
measures each on and off, and a lever becomes a default only once measured to win.

- `compile`: regional torch.compile of the transformer's repeated blocks (one block
  compiled, reused by all of them: a fraction of a whole-model compile's time). Kernels
  fuse differently, so frames may differ from eager by float rounding, not in content.
  A LoRA (ltx_lora.py loads it per render as peft layers inside the blocks) makes torch
  compile the blocks again for it, and its unloading returns to the first compilation.
  diffusers' way around that recompile, `enable_lora_hotswap` before the first LoRA and
  compiling after it, assumes a LoRA is always loaded: pippa renders without one too, so
  it is not used; the recompile costs time, never correctness (tests/test_speed.py).
- `attention`: a diffusers attention backend that honours LTX's attention mask.
- `text_encoder_offload`: the text encoder (T5-XXL ~9 GB, Gemma ~24 GB in bf16) waits on
  the CPU and visits the GPU only to encode, leaving its memory to the denoising.
- `channels_last`: the VAE's 3D convolutions in channels-last layout.

The tests (tests/test_speed.py) render the tiny models of both families, one and two
stages, with each lever and without: the same frames and sound bit for bit, within 1/255
for `compile`.

Heavy imports stay inside the functions: `pippa --help` must not import torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
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
CUDA_ONLY = frozenset({"cudnn", "efficient"})


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

    def problem(self, cuda: bool) -> str | None:
        """Why these settings cannot work on this machine (None if they can)."""
        if self.attention in CUDA_ONLY and not cuda:
            return f"the {self.attention} attention backend needs a CUDA GPU"
        return None


def apply_speed(pipe: Any, settings: SpeedSettings, device: str) -> None:
    """Apply `settings` to a pipeline already placed for `device` (in place; once per
    load): on it whole, or taking turns on it (diffusers' model CPU offload).

    Under model CPU offload the text encoder already visits the GPU only while it runs:
    `text_encoder_offload` is then left to it (two sets of hooks would fight over it).
    """
    from pippa_cli.ltx_two_stage import base_pipeline

    base = base_pipeline(pipe)
    problem = settings.problem(device.startswith("cuda"))
    if problem:
        raise ValueError(problem)
    if settings.attention is not None:
        base.transformer.set_attention_backend(ATTENTION_BACKENDS[settings.attention])
    if settings.channels_last:
        import torch

        base.vae.to(memory_format=torch.channels_last_3d)
    if settings.text_encoder_offload and not takes_turns(base):
        offload_text_encoder(base, device)
    if settings.compile:
        # Not fullgraph: past torch's recompile limit (a warm container sees many clip
        # sizes, and each LoRA changes the blocks) fullgraph would fail the render after
        # paying for it; without it the block runs eagerly instead. The tiny models'
        # blocks compile without a graph break (tests/test_speed.py).
        base.transformer.compile_repeated_blocks()


def takes_turns(pipe: Any) -> bool:
    """Whether `pipe` is under diffusers' model CPU offload (accelerate's hooks)."""
    return any(
        hasattr(getattr(pipe, name, None), "_hf_hook") for name in ("text_encoder", "transformer")
    )


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


def use_compile_cache(root: Path) -> Path:
    """Keep TorchInductor's compiled kernels under `root`, in a folder of this torch
    version's, with its FX graph and autograd caches on: a later process (a new Modal
    container, the next local run) loads what an earlier one compiled instead of
    compiling again. A TORCHINDUCTOR_CACHE_DIR set by the user wins; torch's own default
    does not (importing diffusers writes it into the environment: torch's cache_dir()
    does, so it is there by the time this runs). Returns the folder."""
    import torch

    folder = root / f"torch-{torch.__version__}"
    current = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if current is None or _is_torch_default(current):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    # Triton's own kernels beside them (inductor bundles most into its cache too).
    os.environ.setdefault(
        "TRITON_CACHE_DIR", str(Path(os.environ["TORCHINDUCTOR_CACHE_DIR"]) / "triton")
    )
    import torch._functorch.config
    import torch._inductor.config

    torch._inductor.config.fx_graph_cache = True
    torch._functorch.config.enable_autograd_cache = True
    return Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])


def _is_torch_default(cache_dir: str) -> bool:
    """Whether `cache_dir` is the inductor cache torch picks when none is set."""
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:  # an older torch: it does not write its default back
        return False
    return os.path.abspath(cache_dir) == os.path.abspath(default_cache_dir())
