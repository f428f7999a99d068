"""`pippa deploy`: checks first, then `python -m modal deploy -m pippa_cli.modal_app.app`.

The `modal deploy` child process is replaced (it needs Modal's servers), and so are Modal's
Dicts (the stand-in); the command, directory and environment handed to it are checked
against what the app reads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

import pippa_cli
import pippa_cli.deploy
from pippa_cli.deploy import MODAL_APP_MODULE, deploy_command, deploy_env
from pippa_cli.deployment import DeployConfig
from pippa_cli.errors import UsageError
from pippa_cli.settings import Settings
from pippa_cli.speed import SpeedSettings
from tests.helpers import invoke

REPO_ROOT = Path(__file__).resolve().parent.parent


def deploy(*args: str) -> Result:
    return invoke("deploy", *args)


@pytest.fixture
def modal_credentials(monkeypatch: pytest.MonkeyPatch, modal_standin: Any) -> None:
    """Credentials; Modal's Dicts (the deployment record) are the stand-in's."""
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test-token")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-test-secret")


class FakeRun:
    """Stands in for subprocess.run of `modal deploy`; records what it was asked to run."""

    def __init__(self, returncode: int = 0) -> None:
        self.returncode = returncode
        self.calls: list[tuple[list[str], dict[str, Any]]] = []
        self.stderr: Any = None  # sys.stderr as the command saw it

    def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
        self.calls.append((command, kwargs))
        self.stderr = sys.stderr
        return subprocess.CompletedProcess(command, self.returncode)


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch) -> FakeRun:
    run = FakeRun()
    monkeypatch.setattr(pippa_cli.deploy, "subprocess", types.SimpleNamespace(run=run))
    return run


# --- refused before anything runs -----------------------------------------------------------


def test_no_credentials(fake_run: FakeRun):
    result = deploy()

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: no Modal credentials found")
    assert "modal token new" in result.stderr
    assert fake_run.calls == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gpu", ""], "is not a GPU type"),
        (["--gpu", "H 100"], "is not a GPU type"),
        (["--timeout", "10"], "--timeout 10 is out of range"),
        (["--timeout", "100000"], "--timeout 100000 is out of range"),
        (["--scaledown", "1"], "--scaledown 1 is out of range"),
        (["--download", "not a model"], "unknown model"),
        (["--max-containers", "0"], "--max-containers 0 is out of range"),
        (["--cpu", "0.1"], "--cpu 0.1 is out of range"),
        (["--memory", "100"], "--memory 100 is out of range"),
    ],
)
def test_bad_options_are_usage_errors(
    modal_credentials: None, fake_run: FakeRun, args: list[str], message: str
):
    result = deploy(*args)

    assert result.exit_code == 2
    assert message in result.stderr
    assert fake_run.calls == []


def test_bad_option_wins_over_missing_credentials(fake_run: FakeRun):
    assert deploy("--timeout", "5").exit_code == 2


# --- the command and its environment ----------------------------------------------------------


def test_deploy_command():
    command = deploy_command("pippa")

    module = "pippa_cli.modal_app.app"
    assert command[:7] == [sys.executable, "-m", "modal", "deploy", "-m", module, "--name"]
    assert command[7] == "pippa"
    assert command[8:] == ["--tag", f"pippa-{pippa_cli.__version__}"]
    assert module == MODAL_APP_MODULE


def test_deploy_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SOMETHING_ELSE", "kept")

    env = deploy_env(DeployConfig("my-pippa", " A100-80GB ", 3600, 60, 2, 8.0, 65536))

    assert env["PIPPA_MODAL_APP"] == "my-pippa"
    assert env["PIPPA_MODAL_GPU"] == "A100-80GB"
    assert env["PIPPA_MODAL_TIMEOUT"] == "3600"
    assert env["PIPPA_MODAL_SCALEDOWN"] == "60"
    assert env["PIPPA_MODAL_MAX_CONTAINERS"] == "2"
    assert env["PIPPA_MODAL_CPU"] == "8"
    assert env["PIPPA_MODAL_MEMORY"] == "65536"
    assert env["SOMETHING_ELSE"] == "kept"  # modal deploy still sees the token, PATH, ...
    with pytest.raises(UsageError):
        deploy_env(DeployConfig("x", "H100", 59, 60))


# --- running it --------------------------------------------------------------------------------


def test_deploy_runs_modal_deploy(modal_credentials: None, fake_run: FakeRun):
    result = deploy("--gpu", "L40S", "--timeout", "900", "--scaledown", "30")

    assert result.exit_code == 0, result.output
    assert result.stdout == "pippa\n"
    assert "Deployed" in result.stderr
    [(command, kwargs)] = fake_run.calls
    assert command == deploy_command("pippa")
    env = kwargs["env"]
    assert env["PIPPA_MODAL_GPU"] == "L40S"
    assert env["PIPPA_MODAL_TIMEOUT"] == "900"
    assert env["PIPPA_MODAL_SCALEDOWN"] == "30"
    assert env["MODAL_TOKEN_ID"] == "ak-test-token"
    assert kwargs["stdout"] is fake_run.stderr  # modal's own output stays off stdout
    assert kwargs["check"] is False


def test_app_name_option_and_environment(
    modal_credentials: None, fake_run: FakeRun, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PIPPA_MODAL_APP", "from-env")

    assert deploy().stdout == "from-env\n"
    result = deploy("--app-name", "from-flag")

    assert result.exit_code == 0, result.output
    assert result.stdout == "from-flag\n"
    assert [kwargs["env"]["PIPPA_MODAL_APP"] for _, kwargs in fake_run.calls] == [
        "from-env",
        "from-flag",
    ]
    assert fake_run.calls[1][0][fake_run.calls[1][0].index("--name") + 1] == "from-flag"


def test_failed_modal_deploy(modal_credentials: None, fake_run: FakeRun):
    fake_run.returncode = 1

    result = deploy()

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Error: modal deploy failed (exit 1)" in result.stderr
    assert "Traceback" not in result.output


# --- the app it deploys ---------------------------------------------------------------------------

READ_APP = (
    "import pippa_cli.modal_app as p, pippa_cli.modal_app.app as a; "
    "print(p.__file__); print(a.app.name, a.GPU, a.TIMEOUT_S, a.SCALEDOWN_S, a.CLASS_NAME)"
)


def import_modal_app(env: dict[str, str]) -> list[str]:
    """Import modal_app.app the way `modal deploy -m` does: in a fresh process, from anywhere."""
    proc = subprocess.run(
        [sys.executable, "-c", READ_APP],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=Path.cwd(),  # a temp dir: the import must come from the installed package
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_modal_app_is_installed_with_default_settings():
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    location, settings = import_modal_app(env)

    assert Path(location).name == "__init__.py"
    assert Path(location).parent.name == "modal_app"
    assert not Path.cwd().joinpath("modal_app").exists()
    assert settings.split() == ["pippa", "H100", "1800", "240", "LTX"]
    # ... the app and class pippa's own settings look up by default.
    defaults = Settings()
    assert (defaults.modal_app, defaults.modal_class) == ("pippa", "LTX")


def test_modal_app_reads_what_deploy_sets():
    env = deploy_env(DeployConfig("my-pippa", "A100-80GB", 3600, 60))
    env.pop("PYTHONPATH", None)

    _, settings = import_modal_app(env)

    assert settings.split() == ["my-pippa", "A100-80GB", "3600", "60", "LTX"]


def test_deploy_runs_from_an_empty_directory_and_records_the_deployment(
    modal_credentials: None, fake_run: FakeRun, modal_standin: Any
):
    Path("modal_app").mkdir()  # the user's own project: it must not matter
    result = deploy("--gpu", "A100-80GB", "--timeout", "900", "--max-containers", "2")

    assert result.exit_code == 0, result.output
    [(command, kwargs)] = fake_run.calls
    assert command == deploy_command("pippa")
    neutral = Path(kwargs["cwd"])
    assert neutral != Path.cwd()
    assert not neutral.exists()  # made for the deploy, removed after
    assert kwargs["env"]["PIPPA_MODAL_MAX_CONTAINERS"] == "2"
    assert kwargs["env"]["PYTHONSAFEPATH"] == "1"
    record = modal_standin.deployments.data["app:pippa"]
    assert record["pippa_version"] == pippa_cli.__version__
    assert (record["gpu"], record["timeout_s"], record["max_containers"]) == ("A100-80GB", 900, 2)
    assert "vae_tiling" in record["request_fields"]


def test_a_failed_deploy_records_nothing(
    modal_credentials: None, fake_run: FakeRun, modal_standin: Any
):
    fake_run.returncode = 1

    assert deploy().exit_code == 1
    assert "app:pippa" not in modal_standin.deployments.data


def test_download_runs_on_the_apps_cpu_function(
    modal_credentials: None, fake_run: FakeRun, modal_standin: Any
):
    result = deploy("--download", "ltx-distilled")

    assert result.exit_code == 0, result.output
    # The exact repo this pippa means by the preset (the app resolves no preset names).
    model = "Lightricks/LTX-Video-0.9.7-distilled"
    assert modal_standin.remote_calls == [("pippa", "download_weights", {"model": model})]
    assert "at commit" in result.stderr


def test_a_redeploy_keeps_the_last_settings_unless_told(
    modal_credentials: None, fake_run: FakeRun, modal_standin: Any
):
    assert deploy("--gpu", "A100-80GB", "--timeout", "3600", "--max-containers", "2").exit_code == 0

    again = deploy("--download", "ltx-video")  # what an error's hint may tell a user to run
    faster = deploy("--timeout", "900")

    assert again.exit_code == 0 and faster.exit_code == 0
    envs = [kwargs["env"] for _, kwargs in fake_run.calls]
    assert [(e["PIPPA_MODAL_GPU"], e["PIPPA_MODAL_TIMEOUT"]) for e in envs] == [
        ("A100-80GB", "3600"),
        ("A100-80GB", "3600"),
        ("A100-80GB", "900"),
    ]
    assert envs[1]["PIPPA_MODAL_MAX_CONTAINERS"] == "2"
    assert "Deployed pippa: A100-80GB, 900 s per render" in faster.stderr


def test_a_gated_download_without_access_is_refused_before_deploying(
    modal_credentials: None, fake_run: FakeRun, modal_standin: Any, gated_hub: Any
):
    result = deploy("--download", "ltx-2")

    assert result.exit_code == 2, result.output
    assert "the repository is gated" in result.stderr
    assert "HF_TOKEN" in result.stderr
    assert fake_run.calls == [] and modal_standin.remote_calls == []


def test_a_gated_download_with_access_sends_the_token(
    modal_credentials: None,
    fake_run: FakeRun,
    modal_standin: Any,
    gated_hub: Any,
    monkeypatch: pytest.MonkeyPatch,
):
    from tests.hub_server import GATED_TOKEN as TOKEN

    monkeypatch.setenv("HF_TOKEN", TOKEN)

    result = deploy("--download", "ltx-2")

    assert result.exit_code == 0, result.output
    [(_, name, arguments)] = modal_standin.remote_calls
    assert (name, arguments["hf_token"]) == ("download_weights", TOKEN)
    assert TOKEN not in result.stdout + result.stderr


LEVERS = ["--compile", "--attention", "cudnn", "--text-encoder-offload", "--channels-last"]


# --- the speed levers (speed.py) and GPU snapshots -------------------------------------------


def test_the_flags_reach_modal_deploy_and_the_record(
    modal_credentials: None, fake_run: FakeRun, modal_standin: Any
):
    result = invoke("deploy", *LEVERS, "--gpu-snapshot")

    assert result.exit_code == 0, result.output
    [(_, kwargs)] = fake_run.calls
    env = kwargs["env"]
    assert env["PIPPA_MODAL_COMPILE"] == "1"
    assert env["PIPPA_MODAL_ATTENTION"] == "cudnn"
    assert env["PIPPA_MODAL_TEXT_ENCODER_OFFLOAD"] == "1"
    assert env["PIPPA_MODAL_CHANNELS_LAST"] == "1"
    assert env["PIPPA_MODAL_GPU_SNAPSHOT"] == "1"
    record = modal_standin.deployments.data["app:pippa"]
    assert {k: record[k] for k in ("compile", "attention", "gpu_snapshot")} == {
        "compile": True,
        "attention": "cudnn",
        "gpu_snapshot": True,
    }
    assert record["text_encoder_offload"] is True and record["channels_last"] is True
    assert (
        "240 s warm; compile, attention cudnn, text_encoder_offload, channels_last; "
        "GPU snapshots." in result.stderr
    )


def test_by_default_every_lever_is_off(
    modal_credentials: None, fake_run: FakeRun, modal_standin: Any
):
    result = invoke("deploy")

    assert result.exit_code == 0, result.output
    env = fake_run.calls[0][1]["env"]
    assert [env[f"PIPPA_MODAL_{name}"] for name in ("COMPILE", "TEXT_ENCODER_OFFLOAD")] == [
        "0",
        "0",
    ]
    assert env["PIPPA_MODAL_ATTENTION"] == "" and env["PIPPA_MODAL_GPU_SNAPSHOT"] == "0"
    assert "240 s warm." in result.stderr


def test_a_redeploy_keeps_the_levers_unless_told(
    modal_credentials: None, fake_run: FakeRun, modal_standin: Any
):
    assert invoke("deploy", *LEVERS, "--gpu-snapshot").exit_code == 0
    assert invoke("deploy", "--timeout", "900").exit_code == 0
    assert invoke("deploy", "--no-compile", "--attention", "default").exit_code == 0
    assert invoke("deploy", "--no-gpu-snapshot", "--no-channels-last").exit_code == 0

    envs = [kwargs["env"] for _, kwargs in fake_run.calls]
    seen = [
        (e["PIPPA_MODAL_COMPILE"], e["PIPPA_MODAL_ATTENTION"], e["PIPPA_MODAL_GPU_SNAPSHOT"])
        for e in envs
    ]
    assert seen == [("1", "cudnn", "1"), ("1", "cudnn", "1"), ("0", "", "1"), ("0", "", "0")]
    assert [e["PIPPA_MODAL_CHANNELS_LAST"] for e in envs] == ["1", "1", "1", "0"]
    assert envs[3]["PIPPA_MODAL_TEXT_ENCODER_OFFLOAD"] == "1"  # never told otherwise


@pytest.mark.parametrize("name", ["flash", "sage", "Default", " sdpa"])
def test_an_unknown_attention_backend_is_refused_before_deploying(
    modal_credentials: None, fake_run: FakeRun, name: str
):
    result = invoke("deploy", "--attention", name)

    assert result.exit_code == 2
    assert f"--attention {name!r} is not an attention backend" in result.stderr
    assert "sdpa, cudnn, efficient, math, or default" in result.stderr
    assert fake_run.calls == []


def test_a_record_this_pippa_cannot_read_gives_the_defaults():
    record = {"compile": "yes", "attention": "flash", "channels_last": 1, "gpu_snapshot": None}

    config = DeployConfig().updated(record, {})

    assert config == DeployConfig()
    assert DeployConfig().updated({"compile": True, "attention": "math"}, {}).speed == (
        SpeedSettings(compile=True, attention="math")
    )
