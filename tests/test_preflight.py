"""Before anything is spent: the model on Hugging Face, the deployment, the size, the weights.

Hugging Face is a Hub-compatible server on 127.0.0.1 (tests/hub_server.py, via HF_ENDPOINT);
Modal's call objects and Dicts are the stand-in (tests/modal_standin.py). Each refusal
asserts that no call was spawned and no job recorded.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import Result

from pippa_cli import __version__
from pippa_cli.history import Job
from tests.helpers import SMALL, history, invoke
from tests.hub_server import HubServer
from tests.modal_standin import WEIGHTS_COMMIT, ModalStandIn

PROMPT = "a red fox trotting through fresh snow"
SHA = "a" * 40


def generate(*args: str) -> Result:
    return invoke("generate", PROMPT, "--no-enhance", *args)


def jobs() -> list[Job]:
    return history().list()


def assert_nothing_spent(standin: ModalStandIn) -> None:
    assert standin.spawns == []
    assert standin.remote_calls == []  # no weights download either
    assert jobs() == []


def ltx_repo(root: Path, class_name: str = "LTXPipeline") -> Path:
    """The files of a diffusers LTX repo that the checks look at (weights are not needed)."""
    root.mkdir(parents=True)
    (root / "model_index.json").write_text(json.dumps({"_class_name": class_name}))
    (root / "transformer").mkdir()
    (root / "transformer" / "config.json").write_text("{}")
    return root


@pytest.fixture
def served(hub: HubServer, tmp_path: Path) -> HubServer:
    hub.add("someone/ltx-finetune", ltx_repo(tmp_path / "ltx"), SHA, refs=("main", "v2"))
    hub.add("someone/flux", ltx_repo(tmp_path / "flux", "FluxPipeline"), "b" * 40)
    return hub


# --- the model, on Hugging Face -----------------------------------------------------------


def test_a_model_found_on_the_hub_renders(modal_standin: ModalStandIn, served: HubServer):
    result = generate("--model", "someone/ltx-finetune@v2", "-o", "a.mp4", *SMALL)

    assert result.exit_code == 0, result.output
    assert ("GET", "/api/models/someone/ltx-finetune/revision/v2") in served.log
    # Pinned to the commit the app's weights cache holds for v2.
    assert [s.model for s in modal_standin.spawns] == [f"someone/ltx-finetune@{WEIGHTS_COMMIT}"]
    [job] = jobs()
    assert (job.model, job.settings["model_revision"]) == (
        "someone/ltx-finetune@v2",
        WEIGHTS_COMMIT,
    )


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("someone/ltx-finetun", "model someone/ltx-finetun not found on Hugging Face"),
        ("someone/ltx-finetune@v3", "revision v3 of someone/ltx-finetune not found"),
        ("someone/flux", "--model someone/flux is not an LTX-Video or LTX-2 diffusers pipeline"),
    ],
    ids=["repo-missing", "revision-missing", "not-ltx"],
)
@pytest.mark.parametrize("backend", ["modal", "local"])
def test_a_model_the_hub_refutes_is_a_usage_error(
    modal_standin: ModalStandIn, served: HubServer, model: str, expected: str, backend: str
):
    result = generate("--model", model, "--backend", backend, "-o", "a.mp4", *SMALL)

    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert f"Error: {expected}" in result.stderr
    if model == "someone/flux":
        assert "its pipeline is FluxPipeline" in result.stderr
    assert_nothing_spent(modal_standin)
    assert not Path("a.mp4").exists()


def test_an_unreachable_hub_warns_and_goes_on(
    modal_standin: ModalStandIn, monkeypatch: pytest.MonkeyPatch
):
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_HUB_OFFLINE")

    result = generate("--model", "someone/ltx-finetune", "-o", "a.mp4", *SMALL)

    assert result.exit_code == 0, result.output
    assert "Warning: Hugging Face could not be asked" in result.stderr
    assert "--model someone/ltx-finetune not checked" in result.stderr
    assert len(modal_standin.spawns) == 1


def test_presets_are_not_looked_up(modal_standin: ModalStandIn, served: HubServer):
    assert generate("--model", "ltx-video", "-o", "a.mp4", *SMALL).exit_code == 0
    assert served.log == []


# --- local directories ----------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["modal", "local"])
def test_missing_and_foreign_directories_are_usage_errors(
    modal_standin: ModalStandIn, tmp_path: Path, backend: str
):
    foreign = ltx_repo(tmp_path / "sdxl", "StableDiffusionXLPipeline")

    missing = generate("--model", "./no-such-model", "--backend", backend, *SMALL)
    not_ltx = generate("--model", str(foreign), "--backend", backend, *SMALL)

    assert missing.exit_code == 2
    assert "model directory ./no-such-model does not exist" in missing.stderr
    assert not_ltx.exit_code == 2
    assert "StableDiffusionXLPipeline pipeline, not LTX-Video" in not_ltx.stderr
    assert_nothing_spent(modal_standin)


def test_a_local_directory_cannot_go_to_modal(modal_standin: ModalStandIn, tmp_path: Path):
    model = ltx_repo(tmp_path / "mine")

    result = generate("--model", str(model), *SMALL)

    assert result.exit_code == 2
    assert "is a local directory, which Modal cannot see" in result.stderr
    assert_nothing_spent(modal_standin)


# --- the deployment ---------------------------------------------------------------------------


def test_an_app_that_is_not_deployed(modal_standin: ModalStandIn):
    modal_standin.deployed = False

    result = generate(*SMALL)

    assert result.exit_code == 1
    assert "is not deployed" in result.stderr
    assert "pippa deploy" in result.stderr
    assert_nothing_spent(modal_standin)


def test_an_app_without_a_version_record(modal_standin: ModalStandIn):
    modal_standin.deployment = None

    result = generate(*SMALL)

    assert result.exit_code == 1
    assert "has no pippa version record" in result.stderr
    assert "pippa deploy" in result.stderr
    assert_nothing_spent(modal_standin)


def test_an_older_app_that_lacks_a_request_field_is_not_called(modal_standin: ModalStandIn):
    assert modal_standin.deployment is not None
    modal_standin.deployment["pippa_version"] = "0.0.1"
    modal_standin.deployment["request_fields"].remove("vae_tiling")

    result = generate(*SMALL)

    assert result.exit_code == 1
    assert "(pippa 0.0.1) cannot render this request" in result.stderr
    assert "request field(s) vae_tiling" in result.stderr
    assert "pippa deploy" in result.stderr
    assert_nothing_spent(modal_standin)


def test_an_older_app_that_can_render_the_request_renders_with_a_warning(
    modal_standin: ModalStandIn,
):
    assert modal_standin.deployment is not None
    modal_standin.deployment["pippa_version"] = "0.0.1"

    result = generate("-o", "a.mp4", *SMALL)

    assert result.exit_code == 0, result.output
    assert f"deployed by pippa 0.0.1, this is {__version__}" in result.stderr
    assert len(modal_standin.spawns) == 1


# --- sizes --------------------------------------------------------------------------------


def test_the_seeds_range_is_accepted_and_long_clips_decode_in_tiles(
    modal_standin: ModalStandIn,
):
    result = generate("--duration", "10", "--fps", "30", "-o", "long.mp4", "--detach")

    assert result.exit_code == 0, result.output
    [spawn] = modal_standin.spawns
    assert (spawn.request["width"], spawn.request["height"]) == (768, 512)
    assert spawn.request["num_frames"] == 305
    assert spawn.request["vae_tiling"] is True


def test_a_short_clip_decodes_untiled(modal_standin: ModalStandIn):
    assert generate("--duration", "3", "-o", "short.mp4", "--detach").exit_code == 0
    assert modal_standin.spawns[0].request["vae_tiling"] is False


def test_a_size_beyond_the_model_names_the_largest_that_works(modal_standin: ModalStandIn):
    result = generate("--width", "1280", "--height", "704", "--duration", "10")

    assert result.exit_code == 2
    assert "1280x704 at 305 frames (10.2 s) is larger than LTX-Video renders well" in result.stderr
    assert "Largest that works: 8.5 s at 1280x704, or 1184x640 at this length." in result.stderr
    assert "--allow-large" in result.stderr
    assert_nothing_spent(modal_standin)


def test_allow_large_accepts_the_risk(modal_standin: ModalStandIn):
    result = generate(
        "--width", "1280", "--height", "704", "--duration", "10", "--allow-large", "--detach"
    )

    assert result.exit_code == 0, result.output
    assert len(modal_standin.spawns) == 1


def test_a_request_the_deployed_gpu_cannot_hold(modal_standin: ModalStandIn):
    assert modal_standin.deployment is not None
    modal_standin.deployment["gpu"] = "L4"

    result = generate("--model", "ltx-distilled", *SMALL)

    assert result.exit_code == 2
    assert "GB of GPU memory; the Modal app's L4 has 24 GB" in result.stderr
    assert "pippa deploy --gpu H100" in result.stderr
    assert_nothing_spent(modal_standin)


def test_a_request_that_cannot_finish_within_the_deployed_timeout(modal_standin: ModalStandIn):
    assert modal_standin.deployment is not None
    modal_standin.deployment.update(gpu="L40S", timeout_s=300)

    result = generate("--steps", "200", "--duration", "8")

    assert result.exit_code == 2
    assert "past the Modal app's 300 s timeout" in result.stderr
    assert "steps fit" in result.stderr
    assert "pippa deploy --timeout" in result.stderr
    assert_nothing_spent(modal_standin)


# --- weights ------------------------------------------------------------------------------


def test_weights_are_fetched_once_on_a_cpu_before_the_first_render(modal_standin: ModalStandIn):
    modal_standin.weights_cached = False

    result = generate("--model", "ltx-distilled", "-o", "a.mp4", *SMALL)

    assert result.exit_code == 0, result.output
    distilled = "Lightricks/LTX-Video-0.9.7-distilled"  # the preset's exact repo
    assert modal_standin.remote_calls == [("pippa", "download_weights", {"model": distilled})]
    [job] = jobs()  # the render loads, and the job records, the commit fetched
    assert modal_standin.spawns[0].model == f"{distilled}@{WEIGHTS_COMMIT}"
    assert job.settings["model_revision"] == WEIGHTS_COMMIT
    assert "Downloading weights" in result.stderr
    assert len(modal_standin.spawns) == 1


def test_cached_weights_are_not_fetched_again(modal_standin: ModalStandIn):
    assert generate("-o", "a.mp4", *SMALL).exit_code == 0
    assert modal_standin.remote_calls == []
    assert "weights:Lightricks/LTX-Video@a6d59ee37c13c58261aa79027d3e41cd41960925" in (
        modal_standin.deployments.reads
    )


def test_a_failed_download_spends_no_gpu(modal_standin: ModalStandIn):
    from pippa_cli.remote_errors import LOAD, RemoteFailure

    modal_standin.weights_cached = False
    modal_standin.download_outcome = RemoteFailure("OSError", "No space left on device", LOAD)

    result = generate("-o", "a.mp4", *SMALL)

    assert result.exit_code == 1
    assert "could not load Lightricks/LTX-Video@a6d59ee" in result.stderr
    assert "while downloading on Modal" in result.stderr
    assert "No space left on device" in result.stderr
    assert modal_standin.spawns == []
    assert jobs() == []


def test_a_batch_fetches_each_models_weights_once(modal_standin: ModalStandIn, tmp_path: Path):
    modal_standin.weights_cached = False
    prompts = tmp_path / "p.jsonl"
    small = {"duration": 3, "fps": 8, "width": 256, "height": 160, "steps": 4}
    prompts.write_text(
        "\n".join(
            json.dumps({"prompt": f"clip {i}", "model": model, **small})
            for i, model in enumerate(["ltx-video", "ltx-distilled", "ltx-video"])
        )
    )
    clips = tmp_path / "clips"
    clips.mkdir()

    result = invoke(
        "generate", "--from-file", str(prompts), "--output-dir", str(clips), "--no-enhance"
    )

    assert result.exit_code == 0, result.output
    assert sorted(call[2]["model"] for call in modal_standin.remote_calls) == [
        "Lightricks/LTX-Video-0.9.7-distilled",
        "Lightricks/LTX-Video@a6d59ee37c13c58261aa79027d3e41cd41960925",
    ]
    assert len(modal_standin.spawns) == 3


def test_the_token_hf_auth_login_saved_is_sent_and_never_shown(
    modal_standin: ModalStandIn, served: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    token = "hf_saved_by_login_SECRET"
    (tmp_path / "hf-home").mkdir()
    (tmp_path / "hf-home" / "token").write_text(token + "\n")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))

    result = generate("--model", "someone/ltx-finetun", *SMALL)

    assert result.exit_code == 2
    assert served.tokens and set(served.tokens) == {token}
    assert token not in result.output


def test_allow_large_warns_of_what_it_accepts(modal_standin: ModalStandIn):
    assert modal_standin.deployment is not None
    modal_standin.deployment["gpu"] = "L4"

    result = generate("--model", "ltx-distilled", "--allow-large", "--detach", *SMALL)

    assert result.exit_code == 0, result.output
    assert "Warning: rendering anyway (--allow-large): " in result.stderr
    assert "the Modal app's L4 has 24 GB" in result.stderr


def test_each_revision_of_a_model_gets_its_weights(modal_standin: ModalStandIn, tmp_path: Path):
    modal_standin.weights_cached = False
    small = {"duration": 3, "fps": 8, "width": 256, "height": 160, "steps": 4}
    lines = [
        {"prompt": "one", "model": "someone/ltx-finetune@v1", **small},
        {"prompt": "two", "model": "someone/ltx-finetune@v2", **small},
        {"prompt": "three", "model": "ltx-video", **small},
        {"prompt": "four", "model": "Lightricks/LTX-Video", **small},  # main, not the pin
    ]
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("\n".join(json.dumps(line) for line in lines))
    clips = tmp_path / "clips"
    clips.mkdir()

    result = invoke(
        "generate", "--from-file", str(prompts), "--output-dir", str(clips), "--no-enhance"
    )

    assert result.exit_code == 0, result.output
    assert sorted(call[2]["model"] for call in modal_standin.remote_calls) == [
        "Lightricks/LTX-Video",
        "Lightricks/LTX-Video@a6d59ee37c13c58261aa79027d3e41cd41960925",
        "someone/ltx-finetune@v1",
        "someone/ltx-finetune@v2",
    ]


def test_the_local_backend_refuses_a_size_beyond_the_model_at_once(modal_standin: ModalStandIn):
    result = generate(
        "--backend", "local", "--width", "1280", "--height", "704", "--duration", "10"
    )

    assert result.exit_code == 2
    assert "is larger than LTX-Video renders well" in result.stderr
    assert "Connecting to Modal" not in result.stderr
    assert jobs() == []


# --- LTX-2 on the Hub: the family the name says is the pipeline's ---------------------------


def test_an_ltx2_repo_on_the_hub_renders_with_ltx2s_settings(
    modal_standin: ModalStandIn, hub: HubServer, tmp_path: Path
):
    hub.add("someone/ltx2-finetune", ltx_repo(tmp_path / "ltx2", "LTX2Pipeline"), SHA)

    result = generate("--model", "someone/ltx2-finetune", "-o", "a.mp4", "--no-audio", *SMALL)

    assert result.exit_code == 0, result.output
    [spawn] = modal_standin.spawns
    assert spawn.model == f"someone/ltx2-finetune@{WEIGHTS_COMMIT}"
    assert spawn.request["audio"] is False
    assert spawn.request["guidance_terms"]["stg_scale"] == 0.0  # ltx-2's settings
    [job] = jobs()
    assert job.settings["audio"] is False


@pytest.mark.parametrize(
    ("repo", "class_name", "expected"),
    [
        (
            "someone/ltx2-finetune",
            "LTXPipeline",
            "--model someone/ltx2-finetune is an LTX-Video pipeline (LTXPipeline), but its "
            "name says LTX-2",
        ),
        (
            "someone/finetune",
            "LTX2Pipeline",
            "--model someone/finetune is an LTX-2 pipeline (LTX2Pipeline), but its name says "
            "LTX-Video",
        ),
    ],
)
def test_a_hub_repo_whose_name_says_another_family_is_refused(
    modal_standin: ModalStandIn,
    hub: HubServer,
    tmp_path: Path,
    repo: str,
    class_name: str,
    expected: str,
):
    hub.add(repo, ltx_repo(tmp_path / "repo", class_name), SHA)

    result = generate("--model", repo, "-o", "a.mp4", *SMALL)

    assert result.exit_code == 2, result.output
    assert f"Error: {expected}" in result.stderr
    assert "name says what it is" in result.stderr
    assert_nothing_spent(modal_standin)
