"""pippa's Modal app: LTX-Video on a serverless GPU, reachable only through the Modal SDK.

Deploy with `pippa deploy`. It ships inside pippa as `pippa_cli.modal_app` and is deployed
by module name from a neutral directory, so nothing in the current directory can stand in
for it. Deploy-time settings come from the environment (pippa_cli.deployment.DeployConfig):

    PIPPA_MODAL_APP             app name (default "pippa")
    PIPPA_MODAL_GPU             GPU type (default "H100"; "A100-80GB", "L40S", ... also work)
    PIPPA_MODAL_TIMEOUT         seconds one render may take (default 1800)
    PIPPA_MODAL_SCALEDOWN       seconds an idle container stays warm (default 240)
    PIPPA_MODAL_MAX_CONTAINERS  GPU containers at once (default 4)
    PIPPA_MODAL_CPU, PIPPA_MODAL_MEMORY   cores and MiB requested per GPU container
    PIPPA_MODAL_COMPILE, PIPPA_MODAL_ATTENTION, PIPPA_MODAL_TEXT_ENCODER_OFFLOAD,
    PIPPA_MODAL_CHANNELS_LAST   the speed levers (pippa_cli.speed), "1" for on
    PIPPA_MODAL_GPU_SNAPSHOT    "1": snapshot the pipeline on the GPU (Modal's alpha)

Modal imports this module twice: where `pippa deploy` runs it, and again in every
container, where the deployer's variables are absent. What the container must know when
it runs (the levers, the snapshot choice) is also written into the image's environment.

There is no web endpoint: the seed's public URL let anyone spend its owner's GPU credit.
"""

# No `from __future__ import annotations`: Modal reads the parameter's type at runtime.
import contextlib
from pathlib import Path

import modal
import modal.experimental

from pippa_cli.backends.modal_client import PROGRESS_DICT
from pippa_cli.container import Worker, fetch_weights, fetched_key
from pippa_cli.deployment import DEPLOYMENTS_DICT, DeployConfig

from .pins import PINS

CONFIG = DeployConfig.from_env()
APP_NAME = CONFIG.app_name
GPU = CONFIG.gpu
TIMEOUT_S = CONFIG.timeout_s
SCALEDOWN_S = CONFIG.scaledown_s
CLASS_NAME = "LTX"
CACHE_DIR = "/cache"
# torch.compile's kernels, on the weights Volume: a new container loads what an earlier
# one compiled (speed.use_compile_cache: a folder per torch version below it).
COMPILE_CACHE = f"{CACHE_DIR}/inductor"
# Read again in the container (see above): the image carries them.
SPEED_ENV = CONFIG.speed_env()
# Modal's GPU memory snapshots are an alpha (modal-client issue #4132: restores failing on
# H100s; modal then starts the container without the snapshot): only when asked for.
EXPERIMENTAL_OPTIONS = {"enable_gpu_snapshot": True} if CONFIG.gpu_snapshot else None

image = (
    modal.Image.debian_slim(python_version="3.11")
    # Exactly the versions pippa's tests run the core with (pins.py).
    .pip_install(*PINS)
    # The Volume below is the Hugging Face cache: weights download once, at deploy time.
    .env(
        {
            "HF_HOME": CACHE_DIR,
            "HF_HUB_CACHE": f"{CACHE_DIR}/hub",
            # Modal's own LTX-2 example: parallel chunked downloads from the Hub.
            "HF_XET_HIGH_PERFORMANCE": "1",
        }
    )
    .env(SPEED_ENV)
    # The one generation core, shipped from the installed pippa package.
    .add_local_python_source("pippa_cli")
)

weights = modal.Volume.from_name("pippa-hf-cache", create_if_missing=True)
progress = modal.Dict.from_name(PROGRESS_DICT, create_if_missing=True)
deployments = modal.Dict.from_name(DEPLOYMENTS_DICT, create_if_missing=True)

app = modal.App(APP_NAME, image=image)


@app.cls(
    gpu=GPU,
    timeout=TIMEOUT_S,
    # Keep a warm container a few minutes: back-to-back clips skip the cold start.
    scaledown_window=SCALEDOWN_S,
    # A bound on spend: a large batch queues rather than starting a GPU per clip.
    max_containers=CONFIG.max_containers,
    # The pipeline loads on the CPU before the snapshot: ask for the cores and RAM it needs
    # (Modal's defaults are 0.125 cores and 128 MiB).
    cpu=CONFIG.cpu,
    memory=CONFIG.memory_mib,
    volumes={CACHE_DIR: weights},
    # Snapshot the CPU-loaded pipeline: later cold starts skip most of the loading.
    enable_memory_snapshot=True,
    # ... or, with --gpu-snapshot, the pipeline already on the GPU.
    experimental_options=EXPERIMENTAL_OPTIONS,
)
class LTX:
    model: str = modal.parameter(default="ltx-video")

    @modal.enter(snap=True)
    def load(self) -> None:
        # bf16 for the GPU it will run on; float32 when run in-process (tests, .local()).
        self.worker = Worker(self.model, CONFIG.speed, compile_cache())
        self.worker.load("float32" if modal.is_local() else "bfloat16")
        self.cache_committed = False
        if CONFIG.gpu_snapshot:
            # A GPU memory snapshot has the GPU during this phase: it keeps the pipeline
            # there, levers applied, and a restored container skips the move.
            self.worker.to_device(need_cuda=not modal.is_local())

    @modal.enter(snap=False)
    def to_gpu(self) -> None:
        # In-process (.local()) there is no GPU to insist on. Already there after a GPU
        # snapshot: then this only retries a load that failed before it.
        self.worker.to_device(need_cuda=not modal.is_local())

    @modal.method()
    def generate(self, request: dict) -> bytes:
        """Render one request (pippa_cli.ltx.RenderRequest as a dict); returns the MP4.

        Every failure is raised as pippa_cli.remote_errors.RemoteFailure.
        """
        call_id = modal.current_function_call_id()

        def publish(stage: str, step: int, total: int) -> None:
            if not call_id:  # None under .local(): nobody is polling
                return
            try:
                progress.put(call_id, {"stage": stage, "step": step, "total": total})
            except Exception as exc:  # progress is best effort: never fail a paid render
                print(f"pippa: progress not published: {exc}")

        if self.worker.failure is not None and not modal.is_local():
            # A container that cannot render ends after answering, instead of idling on a
            # billed GPU for the scale-down window; Modal starts a fresh one if needed.
            with contextlib.suppress(Exception):
                modal.experimental.stop_fetching_inputs()
        video = self.worker.render(request, publish)
        if CONFIG.compile and not self.cache_committed and not modal.is_local():
            # The first render compiled: a container's writes to a Volume reach other
            # containers once committed, and the next cold start should find them.
            self.cache_committed = True
            try:
                weights.commit()
            except Exception as exc:  # a cache, never worth failing a paid render for
                print(f"pippa: compiled kernels not committed: {exc}")
        return video


def compile_cache() -> Path:
    """Where compiled kernels are kept: the Volume in a container; in-process (tests,
    .local()) the local backend's folder, as /cache is not there."""
    if modal.is_local():
        from pippa_cli.paths import compile_cache_dir

        return compile_cache_dir()
    return Path(COMPILE_CACHE)


# On a CPU container: fetching weights never bills a GPU.
@app.function(volumes={CACHE_DIR: weights}, timeout=3600, cpu=2.0, memory=4096)
def download_weights(model: str = "ltx-video", hf_token: str | None = None) -> dict:
    """Fetch a model's weights into the cache Volume: only the files the pipeline loads.

    `hf_token`: the user's Hugging Face token, for gated repositories (LTX-2.5). It is
    used for this download only: never stored, logged or returned.
    """
    fetched = fetch_weights(model, token=hf_token)
    weights.commit()
    # Recorded for the client, which then never sends a render for weights not here.
    deployments.put(fetched_key(fetched), fetched)
    return fetched
