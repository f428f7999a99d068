"""The Python front door: `from pippa_cli import generate, enhance`, as the README shows it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pippa_cli
from pippa_cli.enhancement import Enhancement
from pippa_cli.errors import EnhancementError, Interrupted, UsageError
from pippa_cli.history import History, Job
from tests.fixtures_ltx import probe, tiny_model_fixture  # noqa: F401
from tests.groq_server import GroqServer
from tests.modal_standin import ModalStandIn, Script

# A render the Modal stand-in takes (the size Modal checks against the deployed GPU).
SMALL_OPTIONS = dict(duration=3, fps=8, width=256, height=160, steps=4)


def test_the_public_surface_is_sorted_complete_and_lazy():
    assert pippa_cli.__all__ == sorted(pippa_cli.__all__)
    for name in pippa_cli.__all__:
        assert getattr(pippa_cli, name) is not None
    with pytest.raises(AttributeError):
        pippa_cli.render  # noqa: B018
    # Importing the package (every `pippa` start does) loads neither the API nor what it needs.
    code = (
        "import sys, pippa_cli; print(sorted(m for m in sys.modules if m.startswith('pippa_cli')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "['pippa_cli', 'pippa_cli.version']"


def test_enhance_returns_a_typed_result_from_groq(groq: GroqServer):
    groq.answer("A fox in golden light, the camera tracking low.")

    result = pippa_cli.enhance("a red fox", style="cinematic", mood="peaceful")

    assert isinstance(result, Enhancement)
    assert result.enhanced and result.warning is None
    assert result.enhanced_prompt == "A fox in golden light, the camera tracking low."
    assert result.customization == {"style": "cinematic", "mood": "peaceful"}
    user = groq.request_json()["messages"][1]["content"]
    assert "cinematic" in user and "peaceful" in user


def test_enhance_without_a_key_falls_back_or_raises_when_strict():
    result = pippa_cli.enhance("a red fox", lighting="golden hour")
    assert not result.enhanced
    assert result.enhanced_prompt == "a red fox. Golden hour lighting."
    assert result.warning and "GROQ_API_KEY is not set" in result.warning
    with pytest.raises(EnhancementError):
        pippa_cli.enhance("a red fox", strict=True)


def test_a_bad_request_raises_before_anything_is_recorded(clean_env: Path):
    with pytest.raises(UsageError, match="--duration 30 is out of range"):
        pippa_cli.generate("a red fox", duration=30, backend="local")
    with pytest.raises(UsageError, match="not request options: colour"):
        pippa_cli.generate("a red fox", colour="red", backend="local")
    with pytest.raises(UsageError, match="--detach needs the Modal backend"):
        pippa_cli.generate("a red fox", detach=True, backend="local", enhance=False)
    assert not (clean_env / "history.db").exists()


@pytest.mark.slow
def test_generate_renders_locally_and_records_the_job(tiny_model: Path, tmp_path: Path):
    output = tmp_path / "fox.mp4"
    options = dict(width=64, height=64, fps=8, duration=3, steps=2, seed=7)

    job = pippa_cli.generate(
        "a red fox", backend="local", model=str(tiny_model), enhance=False, output=output, **options
    )

    assert isinstance(job, Job)
    assert job.status == "completed" and job.video_path == str(output)
    assert job.seed == 7 and job.settings["steps"] == 2
    assert probe(output).frames == 25
    assert History.open_default().get(job.task_id).video_path == str(output)


def test_nan_is_refused_before_anything_is_spent(modal_standin: ModalStandIn):
    with pytest.raises(UsageError, match="--guidance nan is out of range"):
        pippa_cli.generate("a fox", guidance=float("nan"), enhance=False, modal_sdk=modal_standin)
    assert modal_standin.spawns == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"duration": "4"}, "duration must be int or float, not str"),
        ({"steps": "4"}, "steps must be int, not str"),
        ({"style": 3}, "style must be str, not int"),
        ({"width": 256.0}, "width must be int, not float"),
        ({"seed": True}, "seed must be int, not bool"),
    ],
)
def test_a_wrongly_typed_option_is_a_usage_error(
    options: dict[str, object], message: str, modal_standin: ModalStandIn
):
    with pytest.raises(UsageError, match=message):
        pippa_cli.generate("a fox", enhance=False, modal_sdk=modal_standin, **options)
    assert modal_standin.spawns == []


def test_enhance_refuses_a_wrongly_typed_field():
    with pytest.raises(UsageError, match="style must be str, not int"):
        pippa_cli.enhance("a fox", style=3)  # type: ignore[arg-type]


def test_ctrl_c_raises_interrupted_a_keyboard_interrupt_after_cancelling(
    modal_standin: ModalStandIn,
):
    """`except Exception` in a script must not swallow Ctrl-C; the job on Modal is
    cancelled first (nobody is asked: a library call asks nothing)."""
    modal_standin.script = Script(steps=5, interrupt_at=2)

    with pytest.raises(KeyboardInterrupt) as caught:
        pippa_cli.generate("a fox", enhance=False, modal_sdk=modal_standin, **SMALL_OPTIONS)

    assert isinstance(caught.value, Interrupted)
    assert "no more GPU time is billed" in caught.value.message
    [job] = History.open_default().list()
    assert job.status == "cancelled"
    assert modal_standin.cancelled == [job.remote_call_id]
