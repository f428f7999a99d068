"""`pippa generate --from-file` and `pippa enhance --from-file`.

Modal runs through the stand-in for its call objects (tests/modal_standin.py); the local
backend runs the real pipeline on the tiny model.
"""

from __future__ import annotations

import functools
import json
import signal
import time
from pathlib import Path

import pytest

from pippa_cli.batch_input import BatchLine, read_lines
from pippa_cli.batch_plan import is_complete, output_name
from pippa_cli.clip_names import text_hash
from tests import helpers
from tests.groq_server import GroqServer, completion_response
from tests.helpers import TINY, history, invoke, sidecar, wait_for, write
from tests.modal_results import remote_raise
from tests.modal_standin import FakeFunctionCall, ModalStandIn, pippa_process

# The batches here render at the tiny model's size (the local one renders with it).
batch = functools.partial(helpers.batch, size=TINY)


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    directory = tmp_path / "clips"
    directory.mkdir()
    return directory


# --- reading lists ------------------------------------------------------------------------


def test_text_list_skips_blank_lines_and_comments(tmp_path: Path):
    source = write(tmp_path / "p.txt", "a red fox\n\n# a comment\n  a blue whale  \n")

    lines, errors = read_lines(str(source))

    assert errors == []
    assert [(line.number, line.prompt) for line in lines] == [(1, "a red fox"), (4, "a blue whale")]


def test_jsonl_lines_carry_overrides_and_bad_lines_are_numbered(tmp_path: Path):
    source = write(
        tmp_path / "shots.jsonl",
        '{"prompt": "a fox", "seed": 7, "duration": 4, "style": "noir", "name": "fox"}\n'
        "not json\n"
        '{"prompt": "a whale", "bogus": 1}\n'
        '{"seed": 3}\n'
        '{"prompt": "x", "seed": "seven"}\n'
        '{"prompt": "x", "steps": true}\n',
    )

    lines, errors = read_lines(str(source))

    assert [(line.number, line.overrides, line.name) for line in lines] == [
        (1, {"seed": 7, "duration": 4, "style": "noir"}, "fox")
    ]
    messages = {e.number: e.message for e in errors}
    assert set(messages) == {2, 3, 4, 5, 6}
    assert "not valid JSON" in messages[2]
    assert "bogus" in messages[3]
    assert "prompt" in messages[4]
    assert "seed" in messages[5] and "steps" in messages[6]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (BatchLine(1, "a red fox"), "001-a-red-fox.mp4"),
        (BatchLine(12, "../../etc/passwd"), "012-etc-passwd.mp4"),
        (BatchLine(3, "a/b\\c d"), "003-a-b-c-d.mp4"),
        # Text with no ASCII form keeps its identity as a hash (tests/test_paths.py).
        (
            BatchLine(4, "Ünïcödé café 東京"),
            f"004-unicode-cafe-{text_hash('Ünïcödé café 東京')}.mp4",
        ),
        (BatchLine(5, "東京"), f"005-clip-{text_hash('東京')}.mp4"),
        (BatchLine(6, "x", name="../../outside"), "outside.mp4"),
        (BatchLine(7, "x", name="/etc/cron.d/evil.mp4"), "etc-cron-d-evil.mp4"),
        (BatchLine(8, "x", name=".."), "clip.mp4"),
    ],
)
def test_output_names_never_leave_the_directory(line: BatchLine, expected: str, tmp_path: Path):
    name = output_name(line)

    assert name == expected
    assert (tmp_path / name).resolve().parent == tmp_path.resolve()


def test_long_prompts_give_short_names():
    name = output_name(BatchLine(9, "word " * 100))

    assert name == "009-word-word-word-word-word-word.mp4"


# --- fan-out on Modal -----------------------------------------------------------------------


def test_every_line_becomes_a_job_and_a_clip(modal_standin: ModalStandIn, tmp_path, clips):
    source = write(tmp_path / "p.txt", "a red fox\n# skip me\na red fox\na blue whale\n")

    result = batch(str(source), clips, "--concurrency", "3")

    assert result.exit_code == 0, result.output
    paths = result.stdout.splitlines()
    # Duplicate prompts get distinct names from their line numbers.
    assert sorted(Path(p).name for p in paths) == [
        "001-a-red-fox.mp4",
        "003-a-red-fox.mp4",
        "004-a-blue-whale.mp4",
    ]
    for path in paths:
        assert Path(path).parent == clips.resolve()
        assert is_complete(Path(path))
    assert len(modal_standin.spawns) == 3
    jobs = history().list()
    assert {j.status for j in jobs} == {"completed"} and len(jobs) == 3
    assert "Done 3, failed 0, skipped 0" in result.stderr


def test_jsonl_overrides_reach_the_render(modal_standin: ModalStandIn, tmp_path, clips):
    source = write(
        tmp_path / "shots.jsonl",
        '{"prompt": "a fox", "seed": 7, "fps": 12, "name": "fox"}\n{"prompt": "a whale"}\n',
    )

    result = batch(str(source), clips, "--seed", "99")

    assert result.exit_code == 0, result.output
    requests = {s.request["prompt"]: s.request for s in modal_standin.spawns}
    assert requests["a fox"]["seed"] == 7 and requests["a fox"]["fps"] == 12
    assert requests["a fox"]["num_frames"] == 41  # 3 s at 12 fps = 36 -> 8k+1 = 41
    assert requests["a whale"]["seed"] == 99 and requests["a whale"]["fps"] == 8
    assert (clips / "fox.mp4").is_file() and (clips / "002-a-whale.mp4").is_file()


CUSTOMIZED_LINES = (
    '{"prompt": "a fox", "style": ""}\n'
    '{"prompt": "a whale", "style": "anime"}\n'
    '{"prompt": "a frog", "mood": "eerie"}\n'
)


def test_a_line_customization_wins_and_an_empty_one_clears_the_commands(
    modal_standin: ModalStandIn, tmp_path, clips
):
    source = write(tmp_path / "shots.jsonl", CUSTOMIZED_LINES)

    result = batch(str(source), clips, "--style", "noir")

    assert result.exit_code == 0, result.output
    recorded = {
        s.request["prompt"]: json.loads(s.request["metadata"]["pippa"])["customization"]
        for s in modal_standin.spawns
    }
    assert recorded == {
        "a fox": {},
        "a whale": {"style": "anime"},
        "a frog": {"style": "noir", "mood": "eerie"},
    }


def test_enhance_from_file_merges_a_line_customization_as_generate_does(tmp_path: Path):
    source = write(tmp_path / "ideas.jsonl", CUSTOMIZED_LINES)

    result = invoke("enhance", "--from-file", str(source), "--style", "noir")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "a fox",
        "a whale. Anime style.",
        "a frog. Noir style, eerie mood.",
    ]


def test_stdin_list_and_json_lines_out(modal_standin: ModalStandIn, clips):
    result = batch("-", clips, "--json", input="a red fox\na blue whale\n")

    assert result.exit_code == 0, result.output
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(o["line"] for o in objects) == [1, 2]
    assert {o["status"] for o in objects} == {"completed"}
    assert all(o["task_id"] and Path(o["video_path"]).is_file() for o in objects)


def test_a_bad_line_is_skipped_and_the_exit_code_says_so(
    modal_standin: ModalStandIn, tmp_path, clips
):
    source = write(
        tmp_path / "p.jsonl", '{"prompt": "a fox"}\n{"prompt": "a whale", "width": 70}\n'
    )

    result = batch(str(source), clips)

    assert result.exit_code == 1
    assert "Error: line 2: --width 70 is not a multiple of 32" in result.stderr
    assert [s.request["prompt"] for s in modal_standin.spawns] == ["a fox"]
    assert result.stdout.strip().endswith("001-a-fox.mp4")


def test_strict_submits_nothing_when_a_line_is_bad(modal_standin: ModalStandIn, tmp_path, clips):
    source = write(tmp_path / "p.jsonl", '{"prompt": "a fox"}\n{"prompt": ""}\n')

    result = batch(str(source), clips, "--strict")

    assert result.exit_code == 2
    assert "line 2" in result.stderr and "nothing was submitted" in result.stderr
    assert modal_standin.spawns == []
    assert list(clips.iterdir()) == []
    assert history().list() == []


def test_duplicate_names_are_bad_lines(modal_standin: ModalStandIn, tmp_path, clips):
    source = write(
        tmp_path / "p.jsonl",
        '{"prompt": "a fox", "name": "shot"}\n{"prompt": "a whale", "name": "shot"}\n',
    )

    result = batch(str(source), clips)

    assert result.exit_code == 1
    assert "line 2: output shot.mp4 is also line 1's" in result.stderr
    assert len(modal_standin.spawns) == 1


def test_a_failing_line_never_stops_the_others(modal_standin: ModalStandIn, tmp_path, clips):
    def fail_the_whale(call: FakeFunctionCall, index: int) -> None:
        spawn = next(s for s in modal_standin.spawns if s.call_id == call.object_id)
        if "whale" in spawn.request["prompt"] and index == 1:
            # As modal's client hands it over for an app that did not convert it.
            raise remote_raise(ValueError("CUDA out of memory"))

    modal_standin.on_get.append(fail_the_whale)
    source = write(tmp_path / "p.txt", "a red fox\na blue whale\na green frog\n")

    result = batch(str(source), clips, "--concurrency", "2")

    assert result.exit_code == 1
    assert "line 2: the render ran out of GPU memory on Modal: ValueError: CUDA out of memory" in (
        result.stderr
    )
    assert sorted(Path(p).name for p in result.stdout.splitlines()) == [
        "001-a-red-fox.mp4",
        "003-a-green-frog.mp4",
    ]
    statuses = sorted(j.status for j in history().list())
    assert statuses == ["completed", "completed", "failed"]
    assert "Done 2, failed 1" in result.stderr


def test_rerun_skips_complete_clips_and_keeps_files_it_did_not_finish(
    modal_standin: ModalStandIn, tmp_path, clips
):
    source = write(tmp_path / "p.txt", "a red fox\na blue whale\na green frog\n")
    assert batch(str(source), clips).exit_code == 0
    # A file at a clip's name that no finished pippa run vouches for: a crash between
    # the MP4 and its sidecar, or the user's own file. Either way it is not replaced.
    (clips / "002-a-blue-whale.json").unlink()
    (clips / "003-a-green-frog.mp4").write_bytes(b"the user's own video")
    (clips / "003-a-green-frog.json").unlink()

    again = batch(str(source), clips, "--json")

    assert again.exit_code == 1
    by_line = {o["line"]: o for o in map(json.loads, again.stdout.splitlines())}
    assert by_line[1]["status"] == "skipped"
    assert by_line[1]["video_path"] == str(clips.resolve() / "001-a-red-fox.mp4")
    assert by_line[2]["status"] == by_line[3]["status"] == "invalid"
    assert "not a finished pippa clip" in by_line[3]["error"]
    assert "--overwrite" in again.stderr
    assert len(modal_standin.spawns) == 3  # nothing new was rendered
    assert (clips / "003-a-green-frog.mp4").read_bytes() == b"the user's own video"

    forced = batch(str(source), clips, "--overwrite")

    assert forced.exit_code == 0, forced.output
    assert len(modal_standin.spawns) == 6
    assert all(
        is_complete(clips / name) for name in ("002-a-blue-whale.mp4", "003-a-green-frog.mp4")
    )


def test_text_mode_rerun_prints_skipped_paths_too(modal_standin: ModalStandIn, tmp_path, clips):
    source = write(tmp_path / "p.txt", "a red fox\n")
    first = batch(str(source), clips)

    again = batch(str(source), clips)

    assert again.exit_code == 0
    assert again.stdout == first.stdout == f"{clips.resolve() / '001-a-red-fox.mp4'}\n"
    assert len(modal_standin.spawns) == 1


def test_a_prompt_starting_with_a_brace_is_text(tmp_path: Path):
    source = write(tmp_path / "p.txt", "{sic} a fox\na whale\n")

    lines, errors = read_lines(str(source))

    assert errors == []
    assert [line.prompt for line in lines] == ["{sic} a fox", "a whale"]


def test_missing_credentials_end_the_batch_before_planning(
    modal_standin: ModalStandIn, tmp_path, clips
):
    modal_standin.credentials = False
    source = write(tmp_path / "p.txt", "a red fox\na blue whale\n")

    result = batch(str(source), clips)

    assert result.exit_code == 1
    assert result.stderr.count("Error:") == 1
    assert "no Modal credentials found" in result.stderr and "modal token new" in result.stderr
    assert modal_standin.spawns == [] and history().list() == []


def test_a_markup_like_prompt_is_plain_text(modal_standin: ModalStandIn, clips):
    result = batch("-", clips, "--json", input="a fox [/] in [red]snow\n")

    assert result.exit_code == 0, result.output
    assert modal_standin.spawns[0].request["prompt"] == "a fox [/] in [red]snow"
    listing = invoke("status")
    assert listing.exit_code == 0, listing.output
    assert "a fox [/] in [red]snow" in listing.stdout


def test_batch_refuses_single_clip_options(modal_standin: ModalStandIn, tmp_path, clips):
    source = write(tmp_path / "p.txt", "a fox\n")

    assert batch(str(source), clips, "-o", "x.mp4").exit_code == 2
    assert batch(str(source), clips, "--detach").exit_code == 2
    assert invoke("generate", "a fox", "--from-file", str(source)).exit_code == 2
    a_file = invoke("generate", "--from-file", str(source), "--output-dir", str(source))
    assert a_file.exit_code == 2
    assert invoke("generate", "--from-file", str(tmp_path / "none.txt")).exit_code == 2
    assert modal_standin.spawns == []


def test_ctrl_c_stops_the_batch_and_cancels_jobs_in_flight(tmp_path: Path, clips: Path):
    source = write(tmp_path / "p.txt", "".join(f"clip {i}\n" for i in range(6)))
    record = tmp_path / "record.json"
    child = pippa_process(
        "generate",
        "--from-file",
        str(source),
        "--output-dir",
        str(clips),
        "--no-enhance",
        "--concurrency",
        "2",
        record=record,
    )
    try:
        wait_for(
            lambda: len([j for j in history().list() if j.remote_call_id]) == 2,
            "the batch with two jobs in flight",
            proc=child,
        )
        child.send_signal(signal.SIGINT)
        stdout, stderr = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()

    assert child.returncode == 130, stderr
    assert stdout == ""
    assert "Traceback" not in stderr
    assert "cancelled 6" in stderr
    done = json.loads(record.read_text())
    assert len(done["spawns"]) == 2  # nothing more was submitted after Ctrl-C
    assert sorted(done["cancelled"]) == sorted(done["spawns"])
    jobs = history().list()
    assert len(jobs) == 2 and {j.status for j in jobs} == {"cancelled"}


# --- the local backend, end to end --------------------------------------------------------


def test_local_batch_renders_three_lines_with_the_tiny_model(tiny_model: Path, tmp_path, clips):
    source = write(
        tmp_path / "p.jsonl",
        '{"prompt": "a red fox", "seed": 1}\n'
        '{"prompt": "a blue whale", "seed": 2, "name": "whale"}\n'
        '{"prompt": "a green frog", "seed": 3, "fps": 12}\n',
    )

    result = batch(str(source), clips, "--backend", "local", "--model", str(tiny_model))

    assert result.exit_code == 0, result.output
    names = [Path(p).name for p in result.stdout.splitlines()]
    assert names == ["001-a-red-fox.mp4", "whale.mp4", "003-a-green-frog.mp4"]
    import av

    with av.open(str(clips / "003-a-green-frog.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == 12
        assert sum(1 for _ in container.decode(stream)) == 41
    saved = sidecar(clips / "whale.mp4")
    assert saved["seed"] == 2 and saved["status"] == "completed"


# --- enhance --from-file -------------------------------------------------------------------


def test_enhance_from_file_keeps_input_order(groq: GroqServer, tmp_path: Path):
    def echo(request):
        user = json.loads(request.get_data())["messages"][1]["content"]
        idea = user.splitlines()[0].removeprefix("Idea: ")
        time.sleep(0.05 * (8 - int(idea.split()[-1])))  # early lines answer last
        return completion_response(f"A slow shot of {idea} at dawn.")(request)

    groq.respond(echo)
    source = write(tmp_path / "ideas.txt", "".join(f"idea {i}\n" for i in range(8)))

    result = invoke("enhance", "--from-file", str(source), "--concurrency", "4")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"A slow shot of idea {i} at dawn." for i in range(8)]
    assert len(groq.requests) == 8


def test_enhance_from_file_reports_bad_lines_and_falls_back(tmp_path: Path):
    source = write(tmp_path / "ideas.jsonl", '{"prompt": "a fox", "mood": "eerie"}\n{"x": 1}\n')

    result = invoke("enhance", "--from-file", str(source), "--style", "noir", "--json")

    assert result.exit_code == 1
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert objects == [
        {
            "line": 1,
            "original_prompt": "a fox",
            "enhanced_prompt": "a fox. Noir style, eerie mood.",
            "enhanced": False,
            "model": "meta-llama/llama-4-scout-17b-16e-instruct",
            "customization": {"style": "noir", "mood": "eerie"},
            "warning": objects[0]["warning"],
        }
    ]
    assert "Error: line 2" in result.stderr


def test_a_warning_every_line_shares_is_shown_once(tmp_path: Path):
    source = write(tmp_path / "ideas.txt", "a fox\na whale\na frog\n")

    result = invoke("enhance", "--from-file", str(source))

    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["a fox", "a whale", "a frog"]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings == [
        "Warning: line 1: prompt not enhanced: GROQ_API_KEY is not set; using your prompt as "
        "written (not repeated for later lines)"
    ]


def test_nan_in_a_jsonl_line_is_that_line_s_error(modal_standin: ModalStandIn, tmp_path: Path):
    """Python's json reads NaN: it is out of every range, reported per line before
    anything renders."""
    source = write(
        tmp_path / "list.jsonl",
        '{"prompt": "a fox", "guidance": NaN}\n{"prompt": "an owl", "duration": NaN}\n',
    )

    result = batch(source, tmp_path / "clips")

    assert result.exit_code == 2, result.stderr
    assert "line 1: --guidance nan is out of range" in result.stderr
    assert "line 2: --duration nan is out of range" in result.stderr
    assert "unexpected" not in result.stderr
    assert modal_standin.spawns == []


def test_json_line_of_an_unexpected_crash_is_line_status_and_error(
    modal_standin: ModalStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A job whose work raised an unexpected exception before Modal had a call: its JSON
    line says the line, the status and the error, as for any crash; the others go on."""
    from pippa_cli.history import History

    original = History.update

    def update(self: History, task_id: str, **fields: object) -> None:
        if "enhanced_prompt" in fields and self.get(task_id).original_prompt == "crash two":
            raise RuntimeError("unexpected in update")
        original(self, task_id, **fields)

    monkeypatch.setattr(History, "update", update)
    source = write(tmp_path / "list.txt", "ok one\ncrash two\n")

    result = batch(source, tmp_path / "clips", "--json")

    assert result.exit_code == 1, result.stderr
    lines = {d["line"]: d for d in map(json.loads, result.stdout.splitlines())}
    assert lines[2] == {"line": 2, "status": "failed", "error": "unexpected in update"}
    assert lines[1]["status"] == "completed"
    assert "Error: line 2: unexpected RuntimeError: unexpected in update" in result.stderr
