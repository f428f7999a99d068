"""LTX-2.5's weights are gated on Hugging Face: the user's token reaches the download on
Modal (and nowhere else), and a refusal is said before any container starts.

The Hub is tests/hub_server.py (a real HTTP server, asked with httpx as in use); Modal is
the stand-in (tests/modal_standin.py): only a live Modal call needs one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pippa_cli.presets import PRESETS
from pippa_cli.remote_errors import GATED, LOAD, RemoteFailure, as_error, from_exception
from tests.helpers import SMALL, history, invoke
from tests.hub_server import GATED_TOKEN as TOKEN
from tests.hub_server import HubServer
from tests.modal_standin import WEIGHTS_COMMIT, ModalStandIn

LTX2 = PRESETS["ltx-2"]


def test_the_token_goes_to_the_download_and_nowhere_else(
    modal_standin: ModalStandIn, gated_hub: HubServer, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    modal_standin.weights_cached = False

    result = invoke(
        "generate",
        "a drummer in the rain",
        "--no-enhance",
        "--model",
        "ltx-2",
        "-o",
        "a.mp4",
        *SMALL,
    )

    assert result.exit_code == 0, result.output
    wanted = {"model": f"{LTX2.repo_id}@{LTX2.revision}", "hf_token": TOKEN}
    assert modal_standin.remote_calls == [("pippa", "download_weights", wanted)]
    assert TOKEN in gated_hub.tokens  # the access check asked with it
    # Nowhere in what pippa shows or keeps.
    assert TOKEN not in result.stdout + result.stderr
    [job] = history().list()
    assert TOKEN not in json.dumps(job.settings)
    [sidecar] = Path.cwd().glob("*.json")
    assert TOKEN not in sidecar.read_text()
    assert TOKEN not in Path("a.mp4").read_bytes().decode("latin-1")
    # The render loads the commit the download fetched.
    assert [s.model for s in modal_standin.spawns] == [f"{LTX2.repo_id}@{WEIGHTS_COMMIT}"]


def test_a_gated_model_without_access_is_refused_before_any_container(
    modal_standin: ModalStandIn, gated_hub: HubServer, monkeypatch: pytest.MonkeyPatch
):
    modal_standin.weights_cached = False
    for token in (None, "hf_someoneElsesToken"):
        if token:
            monkeypatch.setenv("HF_TOKEN", token)

        result = invoke(
            "generate", "a drummer in the rain", "--no-enhance", "--model", "ltx-2", *SMALL
        )

        assert result.exit_code == 2, result.output
        assert "Lightricks/LTX-2.5-Diffusers's files to you: the repository is gated" in (
            result.stderr
        )
        assert "https://huggingface.co/Lightricks/LTX-2.5-Diffusers" in result.stderr
        assert "HF_TOKEN" in result.stderr
        assert modal_standin.remote_calls == [] and modal_standin.spawns == []
        assert history().list() == []


def test_cached_weights_need_no_token_and_no_hub(modal_standin: ModalStandIn, hub: HubServer):
    result = invoke(
        "generate", "a drummer", "--no-enhance", "--model", "ltx-2", "-o", "a.mp4", *SMALL
    )

    assert result.exit_code == 0, result.output
    assert modal_standin.remote_calls == []
    assert hub.log == []  # the weights are on Modal already: nothing to ask


def test_an_app_deployed_before_tokens_is_not_sent_one(
    modal_standin: ModalStandIn, monkeypatch: pytest.MonkeyPatch
):
    """Its download_weights takes no token: sending one would fail every download."""
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert modal_standin.deployment is not None
    del modal_standin.deployment["download_token"]
    modal_standin.weights_cached = False

    result = invoke("generate", "a fox", "--no-enhance", "-o", "a.mp4", *SMALL)

    assert result.exit_code == 0, result.output
    [(_, _, arguments)] = modal_standin.remote_calls
    assert arguments == {"model": "Lightricks/LTX-Video@a6d59ee37c13c58261aa79027d3e41cd41960925"}


def test_a_gated_refusal_in_the_container_is_explained():
    class GatedRepoError(OSError):  # huggingface_hub's, as the container meets it
        pass

    message = (
        "401 Client Error. Cannot access gated repo for url https://huggingface.co/"
        "Lightricks/LTX-2.5-Diffusers/resolve/main/model_index.json."
    )
    for exc in (GatedRepoError(message), OSError(message)):  # diffusers may re-raise it
        failure = from_exception(exc, LOAD)
        assert failure.category == GATED
        error = as_error(failure, f"{LTX2.repo_id}@{LTX2.revision}", "while downloading on Modal")
        assert error.message == (
            "Hugging Face refused Lightricks/LTX-2.5-Diffusers's files while downloading on "
            "Modal: the repository is gated"
        )
        assert "https://huggingface.co/Lightricks/LTX-2.5-Diffusers" in (error.hint or "")
    other = from_exception(OSError("No space left on device"), LOAD)
    assert other.category == LOAD
    assert RemoteFailure("x", "y").category != GATED
