"""What runs inside the Modal container, apart from Modal's own wiring (modal_app/app.py).

- The pipeline loads once per container from the weights cache only: a render never
  downloads (weights arrive at deploy time, `fetch_weights`, on a CPU container).
- A load failure does not crash the container (Modal would restart it in a loop, billing
  the GPU each time): it is kept and every call gets it as its answer.
- A GPU container without CUDA refuses at once rather than render on the CPU for the
  whole timeout.
- Every failure leaves as a `RemoteFailure` (remote_errors.py).
- A request's Hub LoRA downloads at render time into the same cache (ltx_lora.py), before
  any denoising: it is small, and a LoRA per request needs no `pippa deploy --download`.
- An LTX-2 model too large to sit whole on the GPU with room for a render takes turns on
  it (diffusers' model CPU offload: `needs_offload`).
- The speed levers chosen at deploy time (speed.py) apply once the pipeline is placed;
  compiled kernels are kept in `compile_cache` (on the weights Volume).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pippa_cli.ltx import ProgressCallback, RenderRequest, generate_mp4, load_pipeline
from pippa_cli.presets import LTX_2, UPSAMPLER_FOLDER, ModelSource, Preset, resolve_model
from pippa_cli.remote_errors import (
    LOAD,
    NO_CUDA,
    REQUEST,
    UNFIT,
    WEIGHTS_MISSING,
    RemoteFailure,
    from_exception,
    reported_as,
)
from pippa_cli.speed import SpeedSettings


def weights_key(
    location: str,
    revision: str | None,
    upsampler: str | None = None,
    upsampler_revision: str | None = None,
) -> str:
    """The key under which the deployments Dict records a model's cached weights (with
    its latent upsampler's, for a two-stage model: both must be there)."""
    key = f"weights:{location}@{revision or 'main'}"
    return f"{key}+{upsampler}@{upsampler_revision or 'main'}" if upsampler else key


class Worker:
    """One container's pipeline, or the reason it has none."""

    def __init__(
        self, model: str, speed: SpeedSettings | None = None, compile_cache: Path | None = None
    ) -> None:
        self.model = model
        self.speed = speed or SpeedSettings()
        self.compile_cache = compile_cache
        self.pipe: Any = None
        self.failure: RemoteFailure | None = None
        self.dtype = "bfloat16"
        self.preset: Preset | None = None
        self.placed = False  # on the GPU (or taking turns on it), levers applied

    def load(self, dtype: str) -> None:
        """Load on the CPU (before a memory snapshot); keep the failure if it fails."""
        self.dtype = dtype
        self.pipe, self.failure, self.placed = None, None, False
        try:
            with reported_as(REQUEST):
                source = resolve_model(self.model)
            self.preset = source.defaults
            with reported_as(LOAD):
                if not source.is_local_dir:
                    _require_cached(source)
                self.pipe = load_pipeline(source, "cpu", dtype, local_files_only=True)
        except RemoteFailure as failure:
            self.failure = failure

    def to_device(self, need_cuda: bool) -> None:
        """Move to the GPU and apply the speed levers; without CUDA on a GPU container,
        every call is refused. Once placed, a second call changes nothing."""
        import torch

        if need_cuda and not torch.cuda.is_available():
            self.pipe = None
            self.failure = RemoteFailure(
                "NoCUDA",
                f"torch {torch.__version__} sees no CUDA device in a GPU container",
                NO_CUDA,
            )
            return
        if self.failure is not None and self.failure.category in (LOAD, WEIGHTS_MISSING, NO_CUDA):
            # A failure kept in a memory snapshot would outlive its cause (weights fetched
            # since; no CUDA while a GPU snapshot was taken): try again after a restore.
            self.load(self.dtype)
        if self.pipe is None or self.placed:
            return
        try:
            with reported_as(LOAD):
                self._place(torch.cuda.is_available())
        except RemoteFailure as failure:  # every Exception arrives as one
            self.pipe, self.failure = None, failure

    def _place(self, cuda: bool) -> None:
        """On the GPU whole, or taking turns on it; then the levers (on the CPU it stays
        on in-process: .local(), the tests)."""
        import torch

        from pippa_cli.speed import apply_speed, use_compile_cache

        if cuda:
            gpu_bytes = torch.cuda.get_device_properties(0).total_memory
            if self.preset is not None and needs_offload(self.preset, gpu_bytes):
                # Model CPU offload already moves the text encoder: apply_speed leaves it.
                self.pipe.enable_model_cpu_offload()
            else:
                self.pipe.to("cuda")
        if self.speed.compile and self.compile_cache is not None:
            use_compile_cache(self.compile_cache)
        apply_speed(self.pipe, self.speed, "cuda" if cuda else "cpu")
        self.placed = True

    def render(self, request: dict[str, Any], on_progress: ProgressCallback) -> bytes:
        if self.failure is not None:
            raise self.failure
        with reported_as(REQUEST):
            parsed = RenderRequest.from_dict(request)
        from pippa_cli.ltx_lora import LoraMisfit

        try:
            return generate_mp4(self.pipe, parsed, on_progress)
        except LoraMisfit as exc:  # found before any denoising
            raise from_exception(exc, UNFIT) from None
        except Exception as exc:
            raise from_exception(exc) from None


def needs_offload(preset: Preset, gpu_bytes: int) -> bool:
    """Whether `preset`'s model must take turns on a GPU of `gpu_bytes` (diffusers' model
    CPU offload: each model on the GPU only while it runs, so the Gemma text encoder and
    the transformer are never there together) rather than sit there whole.

    LTX-2's 22B transformer and its Gemma encoder come to ~66 GB in bf16: on an 80 GB GPU
    they would leave too little for the activations of a long clip, while an H200 holds
    them with room to spare. The rule is limits.offloaded's, so that the client's memory
    and time estimates assume what the container does. LTX-Video always sits whole.
    """
    from pippa_cli.limits import offloaded

    return offloaded(preset, gpu_bytes / 2**30)


def _require_cached(source: ModelSource) -> None:
    """A hub model must be in the cache already: say so plainly rather than as a
    diffusers 'cannot find the requested files' deep in the load."""
    from huggingface_hub import try_to_load_from_cache

    wanted = [(source.location, "model_index.json", source.revision)]
    if source.upsampler:
        config = f"{UPSAMPLER_FOLDER}/config.json"
        wanted.append((source.upsampler, config, source.upsampler_revision))
    for repo, file, revision in wanted:
        found = try_to_load_from_cache(repo, file, revision=revision)
        if not isinstance(found, str):
            raise RemoteFailure(
                "WeightsMissing",
                f"{repo}@{revision or 'main'} has not been downloaded",
                WEIGHTS_MISSING,
            )


def fetch_weights(model: str, token: str | None = None) -> dict[str, str]:
    """Download the files the pipeline loads (not the whole repository) into the cache.

    Returns what was fetched: location, revision asked for, and the exact commit; for a
    two-stage model also its upsampler's (only its `latent_upsampler/` folder: the
    pipeline's own VAE is used). LTX-2 skips the optional components pippa never loads
    (ltx2.SKIPPED_COMPONENTS: its ~10 GB prompt enhancer among them). `token`, a Hugging
    Face token for gated repositories (LTX-2.5), goes to the downloads and nowhere else.
    """
    from diffusers import DiffusionPipeline

    with reported_as(REQUEST):
        source = resolve_model(model)
        if source.is_local_dir:
            raise ValueError(f"{model} is a local directory: nothing to download")
    skipped: dict[str, None] = {}
    downloader: Any = DiffusionPipeline
    if source.defaults.family == LTX_2:
        from diffusers import LTX2Pipeline

        from pippa_cli.ltx2 import SKIPPED_COMPONENTS

        skipped = dict.fromkeys(SKIPPED_COMPONENTS)
        # Through the pipeline's own class: DiffusionPipeline.download reads the optional
        # components from itself (none), so it would fetch the skipped ones all the same.
        downloader = LTX2Pipeline
    with reported_as(LOAD):
        path = downloader.download(
            source.location, revision=source.revision, token=token, **skipped
        )
    fetched = {
        "location": source.location,
        "revision": source.revision or "main",
        "commit": Path(path).name,
    }
    if source.upsampler:
        from huggingface_hub import snapshot_download

        with reported_as(LOAD):
            upsampler = snapshot_download(
                source.upsampler,
                revision=source.upsampler_revision,
                allow_patterns=[f"{UPSAMPLER_FOLDER}/*"],
                token=token,
            )
        fetched["upsampler"] = source.upsampler
        fetched["upsampler_revision"] = source.upsampler_revision or "main"
        fetched["upsampler_commit"] = Path(upsampler).name
    return fetched


def fetched_key(fetched: dict[str, str]) -> str:
    """The weights_key of what fetch_weights fetched."""
    return weights_key(
        fetched["location"],
        fetched["revision"],
        fetched.get("upsampler"),
        fetched.get("upsampler_revision"),
    )
