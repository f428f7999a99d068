"""LTX-2's weights at deploy time: only what the pipeline loads (not its prompt enhancer),
the two-stage preset's upsampler folder too, and a token for the gated repository that
goes to the Hub and nowhere else (the pattern of test_weights.py: a child process against
a Hub-compatible server on 127.0.0.1, huggingface_hub reading HF_ENDPOINT at import)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from pippa_cli.presets import PRESETS
from tests.hub_server import HubServer

SHA = "d" * 40
TOKEN = "hf_not_a_real_token_but_secret"
REPO = PRESETS["ltx-2-hd"].repo_id

_IN_THE_APP = f"""
import json, sys
from pippa_cli.container import Worker, fetch_weights

label = "{REPO}@{SHA}+{REPO}@{SHA}"
print("FETCHED", json.dumps(fetch_weights(label, token="{TOKEN}")), flush=True)
sys.stdin.readline()  # the Hub goes away: from now on only the cache is there
worker = Worker(label)
worker.load("float32")
print("LOADED", type(worker.pipe).__name__, worker.failure, flush=True)
"""


def test_ltx2_fetches_what_it_loads_with_the_token(
    hub: HubServer, tiny_ltx2_hd: Path, tmp_path: Path
):
    repo = tmp_path / "repo"
    shutil.copytree(tiny_ltx2_hd, repo)
    # LTX-2.5's repository also holds a ~10 GB prompt enhancer that pippa never uses.
    index = json.loads((repo / "model_index.json").read_text())
    index["prompt_enhancer"] = ["transformers", "Gemma3ForConditionalGeneration"]
    (repo / "model_index.json").write_text(json.dumps(index))
    shutil.copytree(repo / "text_encoder", repo / "prompt_enhancer")
    hub.add(REPO, repo, SHA)
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
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("FETCHED"), proc.stderr.read() if proc.stderr else ""
    fetched = json.loads(first.split(" ", 1)[1])
    hub.stop()
    out, err = proc.communicate("go\n", timeout=120)

    assert proc.returncode == 0, err
    # It loads from the cache alone, without what was skipped.
    assert "LOADED LTX2TwoStage None" in out
    assert fetched["commit"] == SHA and fetched["upsampler_commit"] == SHA
    downloaded = hub.downloaded()
    assert any(p.endswith("/transformer/config.json") for p in downloaded)
    assert any(p.endswith("/vocoder/config.json") for p in downloaded)
    assert any(p.endswith("/latent_upsampler/config.json") for p in downloaded)
    assert not any("/prompt_enhancer/" in p for p in downloaded), downloaded
    assert hub.tokens and set(hub.tokens) == {TOKEN}  # every request carried it
    assert TOKEN not in first + out + err  # and nothing printed it
