"""`pippa generate` refuses bad requests with exit 2 before anything is spent or written.

Each case would otherwise be a cheap, valid local render on the tiny model, so a check that
stopped working shows up as a render (exit 0, a file, a job) rather than passing quietly.
Groq is a local server with a fake key: an enhancement attempt would appear in its log.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from typer.testing import Result

from pippa_cli.backends.local_backend import LocalBackend
from pippa_cli.history import History
from tests.fixtures_ltx import probe, small_args
from tests.groq_server import FAKE_KEY, GroqServer
from tests.helpers import Ran, invoke, sidecar, without_file_capabilities

PROMPT = "a red fox in the snow"


def snapshot(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records any attempt to render; the attempt itself fails."""
    calls: list[object] = []

    def render(self, request, source, on_progress, **kwargs):
        calls.append(request)
        raise AssertionError("rendered a request that should have been refused")

    monkeypatch.setattr(LocalBackend, "render", render)
    return calls


def assert_refused(result: Result | Ran, *expected: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: "), result.stderr
    for text in expected:
        assert text in result.stderr, (text, result.stderr)
    assert FAKE_KEY not in result.stderr


def assert_nothing_happened(groq: GroqServer, renders: list[object]) -> None:
    assert groq.requests == []  # no enhancement call
    assert renders == []
    assert History.open_default().list() == []  # no job recorded


@pytest.mark.parametrize(
    ("prompt", "overrides", "expected"),
    [
        pytest.param("", {}, ["the prompt is empty"], id="empty-prompt"),
        pytest.param("   \n\t ", {}, ["the prompt is empty"], id="blank-prompt"),
        pytest.param(
            "x" * 501, {}, ["501 characters long", "the limit is 500"], id="prompt-too-long"
        ),
        pytest.param("a red\x07 fox", {}, ["control characters"], id="control-char"),
        pytest.param("a red\x1b[31m fox", {}, ["control characters"], id="escape-sequence"),
        pytest.param(
            PROMPT, {"duration": 2}, ["--duration 2 is out of range", "3 to 10"], id="duration-2"
        ),
        pytest.param(
            PROMPT, {"duration": 11}, ["--duration 11 is out of range", "3 to 10"], id="duration-11"
        ),
        pytest.param(PROMPT, {"fps": 7}, ["--fps 7 is out of range", "8 to 60"], id="fps-7"),
        pytest.param(PROMPT, {"fps": 61}, ["--fps 61 is out of range", "8 to 60"], id="fps-61"),
        pytest.param(
            PROMPT,
            {"width": 770},
            ["--width 770 is not a multiple of 32", "768", "800"],
            id="width-770",
        ),
        pytest.param(
            PROMPT,
            {"height": 500},
            ["--height 500 is not a multiple of 32", "480", "512"],
            id="height-500",
        ),
        pytest.param(PROMPT, {"steps": 0}, ["--steps 0 is out of range"], id="steps-0"),
        pytest.param(
            PROMPT, {"model": "nonsense"}, ["unknown model 'nonsense'"], id="model-nonsense"
        ),
        pytest.param(
            PROMPT,
            {"output": "clip.mov"},
            ["clip.mov: pippa writes MP4 files"],
            id="output-clip.mov",
        ),
        pytest.param(
            PROMPT, {"output": "nowhere/clip.mp4"}, ["nowhere does not exist"], id="missing-dir"
        ),
    ],
)
def test_bad_request_is_refused_before_anything_runs(
    prompt: str,
    overrides: dict[str, object],
    expected: list[str],
    tiny_model: Path,
    groq: GroqServer,
    renders: list[object],
):
    work = Path.cwd()
    result = invoke("generate", prompt, *small_args(tiny_model, **overrides))

    assert_refused(result, *expected)
    assert_nothing_happened(groq, renders)
    assert snapshot(work) == []


def test_detach_with_the_local_backend_is_refused(
    tiny_model: Path, groq: GroqServer, renders: list[object]
):
    result = invoke("generate", PROMPT, *small_args(tiny_model), "--detach")

    assert_refused(result, "--detach needs the Modal backend")
    assert_nothing_happened(groq, renders)
    assert snapshot(Path.cwd()) == []


# `pippa ARGS` with any render attempt recorded (and refused), printed as JSON.
REFUSE_RENDERS = textwrap.dedent(
    """
    import json, sys
    from pippa_cli.backends.local_backend import LocalBackend
    from tests.helpers import invoke

    renders = []

    def render(self, request, source, on_progress):
        renders.append(request.prompt)
        raise AssertionError("rendered a request that should have been refused")

    LocalBackend.render = render
    result = invoke(*sys.argv[1:])
    print(json.dumps([result.exit_code, result.stdout, result.stderr, renders]))
    """
)


def test_unwritable_output_directory_is_refused(tiny_model: Path, groq: GroqServer):
    """chmod stops pippa in a child process that permissions apply to, even as root."""
    locked = Path.cwd() / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        args = ["generate", PROMPT, *small_args(tiny_model, output="locked/clip.mp4")]
        child = without_file_capabilities(REFUSE_RENDERS, *args)
    finally:
        locked.chmod(0o700)
    assert child.returncode == 0, child.stderr
    exit_code, stdout, stderr, renders = json.loads(child.stdout)

    assert_refused(Ran(exit_code, stdout, stderr), "is not writable")
    assert_nothing_happened(groq, renders)
    assert snapshot(Path.cwd()) == ["locked"]


def test_unwritable_output_directory_is_refused_even_as_root(
    tiny_model: Path, groq: GroqServer, renders: list[object], monkeypatch: pytest.MonkeyPatch
):
    """The same check where root can write anywhere: the OS says no for this directory."""
    locked = Path.cwd() / "locked"
    locked.mkdir()
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        if Path(path) == locked and mode & os.W_OK:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    result = invoke("generate", PROMPT, *small_args(tiny_model, output="locked/clip.mp4"))

    assert_refused(result, f"directory {locked} is not writable")
    assert_nothing_happened(groq, renders)
    assert snapshot(Path.cwd()) == ["locked"]


@pytest.mark.parametrize("existing", ["clip.mp4", "clip.json"])
def test_existing_output_is_refused_without_overwrite(
    existing: str, tiny_model: Path, groq: GroqServer, renders: list[object]
):
    work = Path.cwd()
    (work / existing).write_bytes(b"someone's earlier work")
    before = snapshot(work)

    result = invoke("generate", PROMPT, *small_args(tiny_model, output="clip.mp4"))

    assert_refused(result, f"{work / existing} already exists", "--overwrite")
    assert_nothing_happened(groq, renders)
    assert snapshot(work) == before
    assert (work / existing).read_bytes() == b"someone's earlier work"


def test_overwrite_replaces_the_existing_output(tiny_model: Path, groq: GroqServer):
    """Also the control for the tests above: this run does call Groq, and the log shows it."""
    work = Path.cwd()
    video = work / "clip.mp4"
    video.write_bytes(b"old clip")
    enhanced = "A red fox pads through deep snow under a pale winter sky."
    groq.answer(enhanced)

    result = invoke(
        "generate", PROMPT, *small_args(tiny_model, output="clip.mp4", seed=4), "--overwrite"
    )

    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{video}\n"
    assert len(groq.requests) == 1
    info = probe(video)
    assert (info.codec, info.frames) == ("h264", 25)
    assert info.metadata["comment"] == enhanced
    saved = sidecar(video)
    assert saved["status"] == "completed"
    assert saved["enhanced_prompt"] == enhanced
    assert snapshot(work) == ["clip.json", "clip.mp4"]
    [job] = History.open_default().list()
    assert job.status == "completed"
