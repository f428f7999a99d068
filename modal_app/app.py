"""pippa's Modal app: LTX-Video on a serverless GPU, reachable only through the Modal SDK.

Deploy with `pippa deploy` (or `modal deploy -m modal_app.app`). Deploy-time settings come
from the environment so the same file serves every user:

    PIPPA_MODAL_APP        app name (default "pippa")
    PIPPA_MODAL_GPU        GPU type (default "H100"; "A100-80GB", "L40S", ... also work)
    PIPPA_MODAL_TIMEOUT    seconds one render may take (default 1800)
    PIPPA_MODAL_SCALEDOWN  seconds an idle container stays warm (default 240)

There is no web endpoint: the seed's public URL let anyone spend its owner's GPU credit.
"""

import os

import modal

from pippa_cli.backends.modal_backend import PROGRESS_DICT

APP_NAME = os.environ.get("PIPPA_MODAL_APP", "pippa")
GPU = os.environ.get("PIPPA_MODAL_GPU", "H100")
TIMEOUT_S = int(os.environ.get("PIPPA_MODAL_TIMEOUT", "1800"))
SCALEDOWN_S = int(os.environ.get("PIPPA_MODAL_SCALEDOWN", "240"))
CLASS_NAME = "LTX"
CACHE_DIR = "/cache"

# Pinned to the versions pippa's tests run the core with, so a redeploy renders the same.
image = (
    modal.Image.debian_slim(python_version="3.11")
    .pip_install(
        "torch==2.13.0",
        "diffusers==0.42.1",
        "transformers==5.23.0",
        "accelerate==1.15.0",
        "sentencepiece==0.2.3",
        "av==18.1.0",
        "numpy>=2,<3",
        "huggingface_hub[hf_xet]==2.4.0",
    )
    # The Volume below is the Hugging Face cache: weights download once, not per container.
    .env({"HF_HOME": CACHE_DIR, "HF_HUB_CACHE": f"{CACHE_DIR}/hub"})
    # The one generation core, shipped from the installed pippa package.
    .add_local_python_source("pippa_cli")
)

weights = modal.Volume.from_name("pippa-hf-cache", create_if_missing=True)
progress = modal.Dict.from_name(PROGRESS_DICT, create_if_missing=True)

app = modal.App(APP_NAME, image=image)


@app.cls(
    gpu=GPU,
    timeout=TIMEOUT_S,
    # Keep a warm container a few minutes: back-to-back clips skip the cold start.
    scaledown_window=SCALEDOWN_S,
    volumes={CACHE_DIR: weights},
    # Snapshot the CPU-loaded pipeline: later cold starts skip most of the loading.
    enable_memory_snapshot=True,
)
class LTX:
    model: str = modal.parameter(default="ltx-video")

    @modal.enter(snap=True)
    def load(self) -> None:
        from pippa_cli.ltx import load_pipeline
        from pippa_cli.presets import resolve_model

        # bf16 for the GPU it will run on; float32 when run in-process (tests, .local()).
        dtype = "float32" if modal.is_local() else "bfloat16"
        self.pipe = load_pipeline(resolve_model(self.model), device="cpu", dtype=dtype)

    @modal.enter(snap=False)
    def to_gpu(self) -> None:
        import torch

        if torch.cuda.is_available():
            self.pipe.to("cuda")

    @modal.method()
    def generate(self, request: dict) -> bytes:
        """Render one request (pippa_cli.ltx.RenderRequest as a dict); returns the MP4."""
        from pippa_cli.ltx import RenderRequest, generate_mp4

        call_id = modal.current_function_call_id()

        def publish(stage: str, step: int, total: int) -> None:
            if not call_id:  # None under .local(): nobody is polling
                return
            try:
                progress.put(call_id, {"stage": stage, "step": step, "total": total})
            except Exception as exc:  # progress is best effort: never fail a paid render
                print(f"pippa: progress not published: {exc}")

        return generate_mp4(self.pipe, RenderRequest.from_dict(request), publish)


@app.function(volumes={CACHE_DIR: weights}, timeout=3600)
def download_weights(model: str = "ltx-video") -> str:
    """Fetch a model's weights into the cache Volume ahead of the first render."""
    from huggingface_hub import snapshot_download

    from pippa_cli.presets import resolve_model

    source = resolve_model(model)
    path = snapshot_download(source.location, revision=source.revision)
    weights.commit()
    return path
