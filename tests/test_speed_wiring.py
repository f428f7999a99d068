"""Where the speed levers are chosen and where they take effect: `pippa deploy` flags for
Modal (kept across redeploys, recorded, carried into the container by the image's
environment, applied by the Worker once the pipeline is placed), PIPPA_* settings for the
local backend. That the levers leave the frames as they were: tests/test_speed.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pippa_cli.deploy import deploy_env
from pippa_cli.deployment import DeployConfig
from pippa_cli.speed import SpeedSettings
from tests.fixtures_ltx import decode_frames, small_args
from tests.helpers import invoke, python_probe

# --- the app: what the container reads back ----------------------------------------------

_APP_PROBE = """
import json, warnings
warnings.simplefilter("ignore")
import pippa_cli.modal_app.app as m
found = {"speed_env": m.SPEED_ENV, "options": m.EXPERIMENTAL_OPTIONS}
try:
    from modal._utils.async_utils import synchronizer
    load = synchronizer._translate_in(m.LTX._get_class_service_function())._load
    cells = dict(zip(load.__code__.co_freevars, (c.cell_contents for c in load.__closure__)))
    found["class_options"] = cells["experimental_options"]
except Exception as exc:  # modal internals moved: report, the test skips that part
    found["error"] = repr(exc)
print(json.dumps(found))
"""


def probe_app(env: dict[str, str]) -> dict[str, Any]:
    return python_probe(_APP_PROBE, env)


def test_the_container_reads_the_levers_from_the_image_alone():
    """In the container only the image's environment is there: the settings it carries
    must give back exactly the levers and the snapshot choice that were deployed."""
    deployed = DeployConfig(
        compile=True, attention="efficient", channels_last=True, gpu_snapshot=True
    )

    found = probe_app(deploy_env(deployed))

    in_container = DeployConfig.from_env(found["speed_env"])
    assert in_container.speed == deployed.speed
    assert in_container.gpu_snapshot
    assert found["options"] == {"enable_gpu_snapshot": True}
    if "error" in found:
        pytest.skip(f"modal does not expose the class's options offline: {found['error']}")
    assert found["class_options"] == {"enable_gpu_snapshot": "True"}


def test_without_gpu_snapshot_the_class_asks_for_none():
    found = probe_app(deploy_env(DeployConfig()))

    assert DeployConfig.from_env(found["speed_env"]) == DeployConfig()
    assert found["options"] is None
    if "error" not in found:
        assert found["class_options"] == {}


# --- the app: the Worker applies them -----------------------------------------------------


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every Worker the Modal class makes, and which of its enter methods placed it."""
    import pippa_cli.modal_app.app as app_module
    from pippa_cli.container import Worker

    made: list[Any] = []

    class Recorded(Worker):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.placed_in: list[str] = []
            made.append(self)

        def to_device(self, need_cuda: bool) -> None:
            was = self.placed
            super().to_device(need_cuda)
            if self.placed and not was:
                self.placed_in.append(sys._getframe(1).f_code.co_name)

    monkeypatch.setattr(app_module, "Worker", Recorded)
    return made


def render_local(model: Path, config: DeployConfig, monkeypatch: pytest.MonkeyPatch) -> bytes:
    import pippa_cli.modal_app.app as app_module
    from tests.test_speed import ltx_request

    monkeypatch.setattr(app_module, "CONFIG", config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no Volume in-process: expected
        data = app_module.LTX(model=str(model)).generate.local(ltx_request().to_dict())
    assert isinstance(data, bytes)
    return data


def frames_of(data: bytes, path: Path) -> np.ndarray:
    path.write_bytes(data)
    return decode_frames(path)


def test_the_modal_class_applies_the_deployed_levers(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: list[Any]
):
    from diffusers.models.attention_dispatch import (
        AttentionBackendName,
        _AttentionBackendRegistry,
    )

    monkeypatch.setattr(_AttentionBackendRegistry, "_active_backend", AttentionBackendName.NATIVE)
    plain = render_local(tiny_model, DeployConfig(), monkeypatch)
    levers = DeployConfig(attention="sdpa", text_encoder_offload=True, channels_last=True)

    fast = render_local(tiny_model, levers, monkeypatch)

    first, worker = workers
    assert first.speed == SpeedSettings() and first.placed_in == ["to_gpu"]
    assert worker.speed == levers.speed and worker.placed_in == ["to_gpu"]
    pipe = worker.pipe
    assert pipe.text_encoder._forward_pre_hooks and pipe.transformer._forward_pre_hooks
    processors = [m.processor for m in pipe.transformer.modules() if hasattr(m, "processor")]
    assert {p._attention_backend for p in processors} == {AttentionBackendName.NATIVE}
    assert not first.pipe.text_encoder._forward_pre_hooks
    assert np.array_equal(frames_of(fast, tmp_path / "a.mp4"), frames_of(plain, tmp_path / "b.mp4"))


def test_with_gpu_snapshots_the_pipeline_is_placed_before_the_snapshot(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch, workers: list[Any]
):
    render_local(tiny_model, DeployConfig(gpu_snapshot=True, channels_last=True), monkeypatch)

    [worker] = workers
    assert worker.placed_in == ["load"]  # the enter(snap=True) method, not to_gpu


def test_the_first_compiled_render_commits_its_kernels_to_the_volume(
    monkeypatch: pytest.MonkeyPatch,
):
    import modal

    import pippa_cli.modal_app.app as app_module

    commits: list[str] = []

    class Volume:
        def commit(self) -> None:
            commits.append("commit")
            if len(commits) > 1:
                raise RuntimeError("Modal unreachable")

    class Worker:
        failure = None

        def render(self, request: dict[str, Any], publish: Any) -> bytes:
            return b"mp4"

    monkeypatch.setattr(modal, "is_local", lambda: False)
    monkeypatch.setattr(app_module, "weights", Volume())
    generate = app_module.LTX._get_partial_functions()["generate"]._get_raw_f()
    container: Any = type("Container", (), {})()
    container.worker, container.cache_committed = Worker(), False

    monkeypatch.setattr(app_module, "CONFIG", DeployConfig())
    assert generate(container, {}) == b"mp4" and commits == []  # nothing compiled

    monkeypatch.setattr(app_module, "CONFIG", DeployConfig(compile=True))
    assert [generate(container, {}) for _ in range(3)] == [b"mp4"] * 3
    assert commits == ["commit"]  # once per container
    container.cache_committed = False
    assert generate(container, {}) == b"mp4"  # a failed commit fails no render


def test_the_compile_cache_is_on_the_volume_in_a_container(monkeypatch: pytest.MonkeyPatch):
    import modal

    import pippa_cli.modal_app.app as app_module

    monkeypatch.setattr(modal, "is_local", lambda: False)
    assert app_module.compile_cache() == Path("/cache/inductor")
    monkeypatch.setattr(modal, "is_local", lambda: True)
    assert app_module.compile_cache() == Path(os.environ["PIPPA_HOME"]) / "cache" / "inductor"


@pytest.fixture
def no_compile(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """compile_repeated_blocks recorded, not run (compiling takes a minute on a CPU; that it
    works: tests/test_speed.py); TorchInductor's variables restored after the test."""
    from diffusers.models.modeling_utils import ModelMixin

    compiled: list[Any] = []
    monkeypatch.setattr(ModelMixin, "compile_repeated_blocks", lambda self: compiled.append(self))
    for name in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"):
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)
    return compiled


def test_the_worker_compiles_with_its_cache(
    tiny_model: Path, tmp_path: Path, no_compile: list[Any]
):
    import torch

    from pippa_cli.container import Worker

    worker = Worker(str(tiny_model), SpeedSettings(compile=True), compile_cache=tmp_path)
    worker.load("float32")
    worker.to_device(need_cuda=False)
    worker.to_device(need_cuda=False)  # after a restore: nothing twice

    assert no_compile == [worker.pipe.transformer]
    folder = tmp_path / f"torch-{torch.__version__}"
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(folder)
    assert os.environ["TRITON_CACHE_DIR"] == str(folder / "triton")
    assert torch._inductor.config.fx_graph_cache
    assert torch._functorch.config.enable_autograd_cache


_CACHE_AFTER_DIFFUSERS = """
import os, sys
from pathlib import Path
import diffusers  # what the container has imported by the time it places the pipeline
before = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
from pippa_cli.speed import use_compile_cache
print(before)
print(use_compile_cache(Path(sys.argv[1])))
print(os.environ["TORCHINDUCTOR_CACHE_DIR"])
"""


@pytest.mark.slow
def test_the_kept_compile_cache_wins_over_the_default_importing_diffusers_sets(tmp_path: Path):
    """A fresh process (a new container): importing diffusers writes torch's default cache
    folder into the environment; the Volume's cache must still be the one used, while a
    folder the user set stays theirs."""
    import torch

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")
    }
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1] / "src")
    command = [sys.executable, "-c", _CACHE_AFTER_DIFFUSERS, str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    default, chosen, used = done.stdout.split()
    folder = str(tmp_path / f"torch-{torch.__version__}")
    assert default != folder  # torch's own, already set
    assert chosen == used == folder
    mine = str(tmp_path / "mine")
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**env, "TORCHINDUCTOR_CACHE_DIR": mine},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[1:] == [mine, mine]


# --- the local backend ----------------------------------------------------------------------


def test_a_bad_local_attention_setting_is_a_usage_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PIPPA_ATTENTION", "flash")

    result = invoke("generate", "a fox", "--backend", "local", "--no-enhance")

    assert result.exit_code == 2
    assert "invalid setting attention" in result.stderr and "PIPPA_ATTENTION" in result.stderr
    assert "one of sdpa, cudnn, efficient, math, default" in result.stderr


@pytest.mark.parametrize("value", ["default", "", "sdpa"])
def test_the_local_attention_setting_takes_what_deploy_takes(
    monkeypatch: pytest.MonkeyPatch, value: str
):
    from pippa_cli.settings import Settings

    monkeypatch.setenv("PIPPA_ATTENTION", value)

    assert Settings().speed.attention == (value if value == "sdpa" else None)


def test_a_cuda_only_attention_without_cuda_is_refused_before_loading(
    monkeypatch: pytest.MonkeyPatch, hub: Any
):
    import torch

    from pippa_cli.backends.local_backend import LocalBackend

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(LocalBackend, "_pipelines", {})
    monkeypatch.setenv("PIPPA_ATTENTION", "cudnn")

    result = invoke(
        "generate", "a fox", "--backend", "local", "--model", "ltx-video", "--no-enhance"
    )

    assert result.exit_code == 2, result.output
    assert "PIPPA_ATTENTION=cudnn: the cudnn attention backend needs a CUDA GPU" in result.stderr
    assert LocalBackend._pipelines == {}
    assert hub.log == []  # not even the model's existence asked


def test_the_local_backend_applies_the_settings(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_compile: list[Any]
):
    from pippa_cli.backends.local_backend import LocalBackend

    monkeypatch.setattr(LocalBackend, "_pipelines", {})
    outputs = {}
    for name, env in {
        "plain": {},
        "levers": {
            "PIPPA_COMPILE": "1",
            "PIPPA_ATTENTION": "sdpa",
            "PIPPA_TEXT_ENCODER_OFFLOAD": "true",
            "PIPPA_CHANNELS_LAST": "1",
        },
    }.items():
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        outputs[name] = tmp_path / f"{name}.mp4"
        args = small_args(tiny_model, seed=7, output=str(outputs[name]))
        result = invoke("generate", "a paper boat", *args, "--no-enhance")
        assert result.exit_code == 0, result.stderr

    plain, levers = LocalBackend._pipelines.values()  # one load for each set of levers
    assert no_compile == [levers.transformer]
    assert levers.text_encoder._forward_pre_hooks and not plain.text_encoder._forward_pre_hooks
    home = Path(os.environ["PIPPA_HOME"])
    assert Path(os.environ["TORCHINDUCTOR_CACHE_DIR"]).parent == home / "cache" / "inductor"
    assert np.array_equal(decode_frames(outputs["plain"]), decode_frames(outputs["levers"]))
