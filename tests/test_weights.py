"""Weights arrive at deploy time, only the files the pipeline loads; renders never download.

`fetch_weights` (what the app's CPU download function runs) and the container's `Worker`
run in a child process against a Hub-compatible server on 127.0.0.1 (huggingface_hub reads
HF_ENDPOINT once, at import), with a fresh cache standing in for the app's Volume.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.hub_server import HubServer

SHA = "c" * 40

_IN_THE_APP = """
import json, sys
from pippa_cli.container import Worker, fetch_weights

fetched = fetch_weights("someone/tiny-ltx")
# The Hub goes away: from now on only the cache (the app's Volume) is there.
print("FETCHED", json.dumps(fetched), flush=True)
sys.stdin.readline()
cached = Worker("someone/tiny-ltx")
cached.load("float32")
missing = Worker("someone/never-fetched")
missing.load("float32")
print("LOADED", json.dumps({
    "cached_ok": cached.pipe is not None and cached.failure is None,
    "missing": [missing.failure.category, missing.failure.message],
}))
"""


def test_fetch_takes_only_the_pipeline_files_and_renders_load_from_the_cache(
    hub: HubServer, tiny_model: Path, tmp_path: Path
):
    repo = tmp_path / "repo"
    shutil.copytree(tiny_model, repo)
    # Like Lightricks' repos: a large single-file checkpoint beside the diffusers folders.
    (repo / "ltx-video-2b-v0.9.safetensors").write_bytes(b"\0" * 4_000_000)
    hub.add("someone/tiny-ltx", repo, SHA)
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HUB_CACHE": str(tmp_path / "volume"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    env.pop("HF_HUB_OFFLINE", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", _IN_THE_APP],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    first = proc.stdout.readline()
    assert first.startswith("FETCHED"), proc.stderr.read() if proc.stderr else ""
    fetched = json.loads(first.split(" ", 1)[1])
    downloaded = hub.downloaded()
    hub.stop()  # renders must not need it
    hub.log.clear()
    out, err = proc.communicate("go\n", timeout=120)

    assert proc.returncode == 0, err
    assert fetched == {"location": "someone/tiny-ltx", "revision": "main", "commit": SHA}
    assert any(path.endswith("/transformer/config.json") for path in downloaded)
    assert not any("ltx-video-2b-v0.9.safetensors" in path for path in downloaded)
    loaded = json.loads(out.split("LOADED ", 1)[1])
    assert loaded["cached_ok"] is True
    assert loaded["missing"] == [
        "weights_missing",
        "someone/never-fetched@main has not been downloaded",
    ]
