"""The real Modal app module: its class renders through `.local()`, and it exposes no URL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_ltx import probe, tiny_model_fixture  # noqa: F401
from tests.helpers import call_modal_local, python_probe

ROOT = Path(__file__).resolve().parent.parent


def _registered(app: Any, name: str) -> Any:
    """App.registered_* are deprecated in modal 1.6 (going in 1.7); fall back to the state."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return getattr(app, f"registered_{name}")
        except AttributeError:
            return getattr(app._local_state, name)


@pytest.mark.slow
def test_generate_local_returns_a_valid_mp4(tiny_model: Path, tmp_path: Path):
    from pippa_cli.ltx import RenderRequest
    from pippa_cli.modal_app.app import LTX

    request = RenderRequest(
        prompt="a red fox in the snow",
        negative_prompt="blurry",
        width=96,
        height=64,
        num_frames=17,
        fps=8,
        steps=2,
        guidance=3.0,
        seed=9,
        metadata={"title": "a red fox", "comment": "a red fox in the snow", "pippa": '{"a": 1}'},
    )
    with warnings.catch_warnings():
        # "executing locally and will not have access to the mounted Volume": expected.
        warnings.simplefilter("ignore", UserWarning)
        data = LTX(model=str(tiny_model)).generate.local(request.to_dict())

    assert isinstance(data, bytes)
    video = tmp_path / "remote.mp4"
    video.write_bytes(data)
    info = probe(video)
    assert info.codec == "h264"
    assert info.pix_fmt == "yuv420p"
    assert (info.width, info.height) == (96, 64)
    assert info.frames == 17
    assert info.fps == 8
    assert info.faststart
    assert info.metadata["title"] == "a red fox"
    assert info.metadata["comment"] == "a red fox in the snow"
    assert info.metadata["pippa"] == '{"a": 1}'


def test_app_has_no_web_endpoint():
    import pippa_cli.modal_app.app as module

    assert _registered(module.app, "web_endpoints") == []
    functions = _registered(module.app, "functions")
    assert set(functions) >= {"download_weights"}
    for name, function in functions.items():
        assert not function._is_web_endpoint(), name
    methods = module.LTX._get_partial_functions()
    assert "generate" in methods
    for name, method in methods.items():
        assert not method._is_web_endpoint(), name
    # Nor any web decorator the introspection above might not see.
    source = (ROOT / "src" / "pippa_cli" / "modal_app" / "app.py").read_text(encoding="utf-8")
    assert not re.search(
        r"@(?:modal\.)?(?:fastapi_endpoint|web_endpoint|asgi_app|wsgi_app|web_server)", source
    )


def test_download_weights_is_a_modal_function():
    import modal

    import pippa_cli.modal_app.app as module

    assert isinstance(module.download_weights, modal.Function)
    assert "download_weights" in _registered(module.app, "functions")


_GPU_PROBE = """
import json, warnings
warnings.simplefilter("ignore")
import pippa_cli.modal_app.app as m
found = {"GPU": m.GPU}
try:
    found["gpus"] = m.LTX._get_class_service_function()._spec_.gpus
except Exception as exc:  # modal internals moved: report, the test skips that part
    found["error"] = repr(exc)
print(json.dumps(found))
"""


@pytest.mark.parametrize(("env_value", "expected"), [(None, "H100"), ("L40S", "L40S")])
def test_gpu_comes_from_pippa_modal_gpu(env_value: str | None, expected: str):
    env = os.environ.copy()
    if env_value is not None:
        env["PIPPA_MODAL_GPU"] = env_value
    proc = subprocess.run(
        [sys.executable, "-c", _GPU_PROBE],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["GPU"] == expected
    if "error" in found:
        pytest.skip(f"modal does not expose the class's GPU offline: {found['error']}")
    assert found["gpus"] == expected


# --- failures in the container come back in pippa's own form --------------------------------


def _request(**overrides: Any) -> dict[str, Any]:
    from pippa_cli.ltx import RenderRequest

    base = RenderRequest(
        prompt="a red fox in the snow",
        negative_prompt="",
        width=64,
        height=64,
        num_frames=9,
        fps=8,
        steps=1,
        guidance=3.0,
        seed=1,
    ).to_dict()
    base.update(overrides)
    return base


def test_a_model_never_downloaded_fails_every_call_without_crashing(tmp_path: Path):
    from pippa_cli.remote_errors import WEIGHTS_MISSING, RemoteFailure

    first, second = call_modal_local("someone/never-downloaded", _request(), _request())

    for outcome in (first, second):  # the container lives on and answers each call
        assert isinstance(outcome, RemoteFailure)
        assert outcome.category == WEIGHTS_MISSING
        assert "someone/never-downloaded@main has not been downloaded" in outcome.message


def test_a_broken_checkpoint_is_a_load_failure(tiny_model: Path, tmp_path: Path):
    import shutil

    from pippa_cli.remote_errors import LOAD, RemoteFailure

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    for weights in (broken / "transformer").glob("*.safetensors"):
        weights.write_bytes(b"not a safetensors file")

    [outcome] = call_modal_local(str(broken), _request())

    assert isinstance(outcome, RemoteFailure)
    assert outcome.category == LOAD
    assert outcome.kind and outcome.message
    assert "Traceback" in outcome.traceback


@pytest.mark.slow
def test_a_render_failure_and_a_foreign_request(tiny_model: Path):
    from pippa_cli.remote_errors import RENDER, REQUEST, RemoteFailure

    odd_size, newer_client, fine = call_modal_local(
        str(tiny_model),
        _request(width=100),  # diffusers: not a multiple of 32
        _request(image_bytes="...", lora="owner/style"),  # fields this app does not know
        _request(),
    )

    assert isinstance(odd_size, RemoteFailure) and odd_size.category == RENDER
    assert odd_size.kind == "ValueError" and "32" in odd_size.message
    assert isinstance(newer_client, RemoteFailure) and newer_client.category == REQUEST
    assert "unknown request field(s) image_bytes, lora" in newer_client.message
    assert isinstance(fine, bytes)  # the container still renders after both


def test_a_gpu_container_without_cuda_refuses(tiny_model: Path, monkeypatch: pytest.MonkeyPatch):
    """As deployed (not .local()): no CUDA device means no render at all, at once."""
    import modal

    import pippa_cli.container
    from pippa_cli.remote_errors import NO_CUDA, RemoteFailure

    monkeypatch.setattr(modal, "is_local", lambda: False)
    rendered: list[Any] = []
    monkeypatch.setattr(pippa_cli.container, "generate_mp4", lambda *a: rendered.append(a))

    [outcome] = call_modal_local(str(tiny_model), _request())

    assert isinstance(outcome, RemoteFailure)
    assert outcome.category == NO_CUDA
    assert "no CUDA device" in outcome.message
    assert rendered == []


def test_a_failure_kept_in_a_snapshot_is_retried_after_restore(tiny_model: Path, tmp_path: Path):
    """Weights fetched after a failed load must not stay unusable in a memory snapshot."""
    import shutil

    from pippa_cli.container import Worker
    from pippa_cli.remote_errors import LOAD

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    saved = {p: p.read_bytes() for p in (model / "transformer").glob("*.safetensors")}
    for path in saved:
        path.write_bytes(b"half-written")
    worker = Worker(str(model))
    worker.load("float32")  # before the snapshot
    assert worker.failure is not None and worker.failure.category == LOAD
    for path, data in saved.items():
        path.write_bytes(data)

    worker.to_device(need_cuda=False)  # after a restore

    assert worker.failure is None
    assert worker.pipe is not None


_SPEC_PROBE = """
import json, warnings
warnings.simplefilter("ignore")
import pippa_cli.modal_app.app as m
found = {}
try:
    service = m.LTX._get_class_service_function()
    found["cpu"], found["memory"] = service._spec_.cpu, service._spec_.memory
    from modal._utils.async_utils import synchronizer
    load = synchronizer._translate_in(service)._load
    cells = dict(zip(load.__code__.co_freevars, (c.cell_contents for c in load.__closure__)))
    found["max_containers"] = cells["autoscaler_settings"].max_containers
except Exception as exc:  # modal internals moved: report, the test skips that part
    found["error"] = repr(exc)
print(json.dumps(found))
"""


def test_containers_are_bounded_and_sized_from_the_deploy_settings():
    env = {
        **os.environ,
        "PIPPA_MODAL_MAX_CONTAINERS": "3",
        "PIPPA_MODAL_CPU": "6",
        "PIPPA_MODAL_MEMORY": "49152",
    }
    found = python_probe(_SPEC_PROBE, env)
    if "error" in found:
        pytest.skip(f"modal does not expose the class's settings offline: {found['error']}")
    assert found == {"cpu": 6.0, "memory": 49152, "max_containers": 3}
