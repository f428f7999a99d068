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
    from pippa_cli.modal_app.app import LTX
    from pippa_cli.ltx import RenderRequest

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
