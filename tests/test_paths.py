"""Where clips land: -o naming a directory, hostile names, dangling symlinks, --output-dir,
names for text with no ASCII form, and prompt lists that split oddly or never end.

Renders go through the Modal stand-in (tests/modal_standin.py): everything but Modal's call
objects is pippa's real code, and the files are really written.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import Result

import pippa_cli.batch_input as batch_input
from pippa_cli.batch_input import BatchLine, read_lines
from pippa_cli.batch_plan import output_name
from pippa_cli.clip_names import check_output, free_name, slugify
from pippa_cli.customization import Customization
from pippa_cli.errors import UsageError
from pippa_cli.spec import GenerateSpec, build_spec
from tests.fixtures_ltx import small_args
from tests.helpers import SMALL, batch, history, invoke, write
from tests.modal_standin import ModalStandIn, Script

PROMPT = "a red fox in the snow"
NOW = datetime(2024, 5, 6, 7, 8, 9)
DEFAULT_NAME = "a-red-fox-in-the-snow-20240506-070809.mp4"
HEBREW, CJK, EMOJI, ARABIC = "שועל אדום בשלג", "雪の中の赤い狐", "🦊❄️🌲", "ثعلب أحمر في الثلج"


def generate(*args: str) -> Result:
    return invoke("generate", PROMPT, "--no-enhance", *SMALL, *args)


def spec_for(output: str | Path | None, *, prompt: str = PROMPT, overwrite: bool = False):
    return build_spec(
        prompt=prompt,
        customization=Customization.create(),
        enhance=False,
        duration=3,
        fps=8,
        width=256,
        height=160,
        steps=None,
        guidance=None,
        negative_prompt=None,
        seed=1,
        model="ltx-video",
        backend="modal",
        output=output,
        overwrite=overwrite,
        now=NOW,
    )


def refused(result: Result, *expected: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.stdout == ""
    for text in expected:
        assert text in result.stderr, (text, result.stderr)


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "home"
    directory.mkdir()
    monkeypatch.setenv("HOME", str(directory))
    return directory


# --- -o naming a directory ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("spelling", "where"),
    [
        (".", "work"),
        ("./", "work"),
        ("..", "tmp"),
        ("../", "tmp"),
        ("~", "home"),
        ("~/", "home"),
        ("clips", "clips"),
        ("clips/", "clips"),
        ("./clips/../clips", "clips"),
        ("dir.v2", "dir.v2"),  # a directory whose name has a dot is still a directory
    ],
)
def test_o_naming_a_directory_puts_the_default_name_inside_it(
    spelling: str, where: str, home: Path, tmp_path: Path
):
    work = Path.cwd()
    (work / "clips").mkdir()
    (work / "dir.v2").mkdir()
    expected = {"work": work, "tmp": tmp_path, "home": home}.get(where, work / where)

    spec: GenerateSpec = spec_for(spelling)

    assert spec.output == expected / DEFAULT_NAME


@pytest.mark.parametrize("spelling", [".", "clips/", "clips"])
def test_generate_o_directory_writes_inside_it(
    spelling: str, modal_standin: ModalStandIn, standin_mp4: bytes
):
    work = Path.cwd()
    (work / "clips").mkdir()
    inside = work / "clips" if spelling.startswith("clips") else work

    result = generate("-o", spelling)

    assert result.exit_code == 0, result.output
    video = Path(result.stdout.strip())
    assert video.parent == inside
    assert re.fullmatch(r"a-red-fox-in-the-snow-\d{8}-\d{6}\.mp4", video.name)
    assert video.read_bytes() == standin_mp4
    # Nothing beside the directory: no clips.mp4, no ../work.mp4.
    assert not (work / "clips.mp4").exists() and not (work.parent / "work.mp4").exists()


def test_a_local_render_with_o_dot_lands_in_the_working_directory(tiny_model: Path):
    work = Path.cwd()

    result = invoke("generate", PROMPT, "--no-enhance", *small_args(tiny_model), "-o", "./")

    assert result.exit_code == 0, result.output
    video = Path(result.stdout.strip())
    assert video.parent == work and video.name.startswith("a-red-fox-in-the-snow-")
    assert video.read_bytes()[4:8] == b"ftyp"
    assert sorted(p.name for p in work.parent.glob("*.mp4")) == []  # no ../work.mp4


def test_a_taken_default_name_in_the_directory_gets_a_free_variant():
    clips = Path("clips")
    clips.mkdir()
    (clips / DEFAULT_NAME).write_bytes(b"earlier")
    (clips / "a-red-fox-in-the-snow-20240506-070809-2.json").write_text("{}")

    spec = spec_for("clips/")

    assert spec.output == clips.resolve() / "a-red-fox-in-the-snow-20240506-070809-3.mp4"
    assert spec_for("clips/", overwrite=True).output == clips.resolve() / DEFAULT_NAME


@pytest.mark.parametrize("spelling", ["missing/", "./missing/", "~/missing/", "a/b/"])
def test_a_missing_directory_with_a_slash_is_refused(
    spelling: str, home: Path, modal_standin: ModalStandIn
):
    result = generate("-o", spelling)

    refused(result, "directory", "does not exist")
    assert modal_standin.spawns == []
    assert files(Path.cwd()) == [] and files(home) == []  # no missing.mp4 either


def test_a_file_spelled_as_a_directory_is_refused():
    Path("notes.mp4").write_text("mine")

    with pytest.raises(UsageError, match=r"notes\.mp4 is not a directory"):
        spec_for("notes.mp4/")
    assert Path("notes.mp4").read_text() == "mine"


def test_o_root_is_inside_root_or_a_clear_refusal():
    # Nothing is written: build_spec only decides the path.
    if os.access("/", os.W_OK | os.X_OK):
        assert spec_for("/").output == Path("/") / DEFAULT_NAME
    else:
        with pytest.raises(UsageError, match="directory / is not writable"):
            spec_for("/")
    # A Path is a file pippa chose; "/" as one is a directory, not a crash.
    with pytest.raises(UsageError, match="is a directory"):
        check_output(Path("/"), overwrite=False)


def test_an_empty_o_is_refused(modal_standin: ModalStandIn):
    refused(generate("-o", ""), "-o is empty")
    assert modal_standin.spawns == []


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("clip\n.mp4", "clip\\n.mp4"),
        ("clip\x1b[31m.mp4", "clip\\x1b[31m.mp4"),
        ("clip\t.mp4", "clip\\t.mp4"),
        ("clip\u202egnp.mp4", "clip\\u202egnp.mp4"),
        ("dir\n/", "dir\\n/"),
        ("clip\u200b.mp4", "clip\\u200b.mp4"),  # invisible: two names that look the same
        ("clip\U000e0041.mp4", "clip\\U000e0041.mp4"),
    ],
)
def test_control_characters_in_o_are_refused(name: str, shown: str, modal_standin: ModalStandIn):
    if name.endswith("/"):
        Path(name).mkdir()

    result = generate("-o", name)

    refused(result, "control characters", shown)
    assert "\x1b" not in result.stderr and "\u202e" not in result.stderr
    assert "\u200b" not in result.stderr and "\U000e0041" not in result.stderr
    assert modal_standin.spawns == []
    assert not any(p.is_file() for p in Path.cwd().rglob("*"))


@pytest.mark.parametrize("extra", [[], ["--detach"], ["--overwrite"]])
def test_o_dash_is_refused_not_written_as_a_file(extra: list[str], modal_standin: ModalStandIn):
    """`-` means stdout to every Unix tool; pippa writes files and prints their path."""
    result = generate("-o", "-", *extra)

    refused(result, "-o - (stdout) is not supported", "-o ./-")
    assert modal_standin.spawns == []
    assert not any(Path.cwd().iterdir())  # no `-.mp4`, no `-.json`


# --- dangling symlinks -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "target"),
    [("clip.mp4", None), ("clip.json", None), ("clip.mp4", b"keep me"), ("clip.json", b"mine")],
)
def test_a_symlink_at_the_output_is_refused_and_overwrite_replaces_the_link(
    link: str, target: bytes | None, tmp_path: Path, modal_standin: ModalStandIn
):
    pointee = tmp_path / "pointee"
    if target is not None:
        pointee.write_bytes(target)
    os.symlink(pointee, link)

    result = generate("-o", "clip.mp4")

    refused(result, "already exists" if target else "is a broken symlink", "--overwrite")
    assert os.readlink(link) == str(pointee)
    assert modal_standin.spawns == []

    again = generate("-o", "clip.mp4", "--overwrite")

    assert again.exit_code == 0, again.output
    # The link itself was replaced; where it pointed is untouched (or still absent).
    assert not Path(link).is_symlink()
    assert (pointee.read_bytes() if pointee.exists() else None) == target
    assert Path("clip.mp4").read_bytes()[4:8] == b"ftyp"


def test_free_name_steps_over_dangling_symlinks(tmp_path: Path):
    os.symlink(tmp_path / "gone", "clip.mp4")
    os.symlink(tmp_path / "gone", "clip-2.json")

    assert free_name(Path("clip.mp4")) == Path("clip-3.mp4")
    # The default name in a directory does the same.
    os.symlink(tmp_path / "gone", DEFAULT_NAME)
    assert spec_for(".").output.name == "a-red-fox-in-the-snow-20240506-070809-2.mp4"


# --- pippa status ID -o --------------------------------------------------------------------


def detach(*args: str) -> str:
    result = invoke("generate", "a storm at sea", "--no-enhance", "--detach", *SMALL, *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


@pytest.mark.parametrize("spelling", ["clips/", "clips"])
def test_status_o_directory_saves_the_planned_name_inside_it(
    spelling: str, modal_standin: ModalStandIn, standin_mp4: bytes
):
    modal_standin.script = Script(steps=0)
    task_id = detach("-o", "planned.mp4")
    Path("clips").mkdir()
    assert invoke("status", task_id).exit_code == 0  # still queued

    result = invoke("status", task_id, "-o", spelling)

    assert result.exit_code == 0, result.output
    target = Path("clips", "planned.mp4").resolve()
    assert target.read_bytes() == standin_mp4
    assert not Path("planned.mp4").exists() and not Path("clips.mp4").exists()
    assert history().get(task_id).video_path == str(target)


def test_status_o_refuses_a_missing_directory_and_control_characters(
    modal_standin: ModalStandIn,
):
    task_id = detach("-o", "planned.mp4")

    refused(invoke("status", task_id, "-o", "missing/"), "missing does not exist")
    refused(invoke("status", task_id, "-o", "x\x1b]0;pwned\x07.mp4"), "control characters")
    refused(invoke("status", task_id, "-o", "-"), "-o - (stdout) is not supported")
    assert not Path("-.mp4").exists()
    assert not Path("missing").exists() and not Path("missing.mp4").exists()


# --- --output-dir --------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["new", "new/", "deep/er/new", "~/new"])
def test_a_missing_output_dir_is_created(
    spelling: str, home: Path, tmp_path: Path, modal_standin: ModalStandIn
):
    source = write(tmp_path / "p.txt", "a red fox\na blue whale\n")

    result = batch(source, spelling)

    assert result.exit_code == 0, result.output
    directory = Path(spelling.rstrip("/")).expanduser().resolve()
    assert files(directory) == [
        "001-a-red-fox.json",
        "001-a-red-fox.mp4",
        "002-a-blue-whale.json",
        "002-a-blue-whale.mp4",
    ]
    assert [Path(p).parent for p in result.stdout.splitlines()] == [directory, directory]


def test_an_output_dir_that_is_a_file_is_refused(tmp_path: Path, modal_standin: ModalStandIn):
    source = write(tmp_path / "p.txt", "a red fox\n")
    Path("taken").write_text("mine")

    refused(batch(source, "taken"), "taken is a file")
    refused(batch(source, "taken/sub"), "taken is a file")
    assert Path("taken").read_text() == "mine"
    assert modal_standin.spawns == []


@pytest.mark.parametrize("name", ["out\nput", "out\x1b[2J", "out\tput", "out\u202eput"])
def test_control_characters_in_output_dir_are_refused(
    name: str, tmp_path: Path, modal_standin: ModalStandIn
):
    source = write(tmp_path / "p.txt", "a red fox\n")

    refused(batch(source, name), "--output-dir", "control characters")
    assert files(Path.cwd()) == []
    assert modal_standin.spawns == []


@pytest.mark.parametrize(
    ("text", "extra"),
    [
        ('{"prompt": "a red fox", "fps": 999}\n', ()),  # every line bad
        ('{"prompt": "a red fox"}\n{"prompt": "x", "fps": 999}\n', ("--strict",)),
        ("", ()),  # no prompts at all
        ('{"prompt": "a red fox"}\n{"prompt": "a fox", "name": "001-a-red-fox"}\n', ("--strict",)),
    ],
)
def test_no_output_dir_is_created_for_a_run_that_ends_in_exit_2(
    text: str, extra: tuple[str, ...], tmp_path: Path, modal_standin: ModalStandIn
):
    source = write(tmp_path / "p.jsonl", text)

    result = batch(source, "deep/new", *extra)

    assert result.exit_code == 2, result.output
    assert files(Path.cwd()) == []
    assert modal_standin.spawns == []
    # Once the list is fixed, the same run makes the directory.
    fixed = batch(write(source, '{"prompt": "a red fox"}\n'), "deep/new", *extra)
    assert fixed.exit_code == 0, fixed.output
    assert files(Path("deep/new")) == ["001-a-red-fox.json", "001-a-red-fox.mp4"]


# --- names for text with no ASCII form ------------------------------------------------------


@pytest.mark.parametrize("text", [HEBREW, CJK, EMOJI, ARABIC])
def test_text_with_no_ascii_form_keeps_its_identity(text: str):
    slug = slugify(text)

    assert re.fullmatch(r"clip-[0-9a-f]{8}", slug), slug
    assert slugify(text) == slug
    # Another text of the same script gets another name.
    assert slugify(text + text[0]) != slug


def test_no_ascii_slugs_are_all_different_and_stable_across_runs():
    texts = [HEBREW, CJK, EMOJI, ARABIC, "שועל", "狐", "🦊"]
    here = [slugify(t) for t in texts]
    code = "import json, sys; from pippa_cli.clip_names import slugify; print(json.dumps("
    code += "[slugify(t) for t in json.loads(sys.stdin.read())]))"
    # Another interpreter, another hash seed: the names must not depend on it.
    other = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )

    assert len(set(here)) == len(texts)
    assert json.loads(other.stdout) == here


def test_mixed_text_keeps_its_ascii_words():
    assert re.fullmatch(r"a-fox-in-tokyo-[0-9a-f]{8}", slugify("a fox in Tokyo 東京"))
    assert slugify("a fox in 東京") != slugify("a fox in 大阪")
    # Accents are not lost (they decompose to base letters): no hash needed.
    assert slugify("Café crème au lait") == "cafe-creme-au-lait"
    assert slugify("a red fox!") == "a-red-fox"


@pytest.mark.parametrize(
    ("line", "pattern"),
    [
        (BatchLine(1, HEBREW), r"001-clip-[0-9a-f]{8}\.mp4"),
        (BatchLine(12, CJK), r"012-clip-[0-9a-f]{8}\.mp4"),
        (BatchLine(3, "x", name=f"{EMOJI}.mp4"), r"clip-[0-9a-f]{8}\.mp4"),
        (BatchLine(4, "x", name=ARABIC), r"clip-[0-9a-f]{8}\.mp4"),
        (BatchLine(5, "x", name="../../狐/etc"), r"etc-[0-9a-f]{8}\.mp4"),
    ],
)
def test_batch_names_for_non_ascii_text(line: BatchLine, pattern: str):
    assert re.fullmatch(pattern, output_name(line))


def test_two_non_ascii_jsonl_names_do_not_collide(tmp_path: Path, modal_standin: ModalStandIn):
    source = write(
        tmp_path / "p.jsonl",
        json.dumps({"prompt": "a red fox", "name": "שועל"})
        + "\n"
        + json.dumps({"prompt": "a blue whale", "name": "לוויתן"})
        + "\n",
    )

    result = batch(source, "clips")

    assert result.exit_code == 0, result.output
    names = [Path(p).name for p in result.stdout.splitlines()]
    assert len(set(names)) == 2 and all(n.startswith("clip-") for n in names)


def test_a_reordered_non_ascii_list_does_not_skip_the_wrong_clip(
    tmp_path: Path, modal_standin: ModalStandIn
):
    first = batch(write(tmp_path / "p.txt", f"{CJK}\n{HEBREW}\n"), "clips")
    assert first.exit_code == 0, first.output
    assert len(modal_standin.spawns) == 2

    rerun = batch(write(tmp_path / "p.txt", f"{HEBREW}\n{CJK}\n"), "clips")

    assert rerun.exit_code == 0, rerun.output
    # Both lines are new clips (line 1 is now another prompt), not "already complete".
    assert len(modal_standin.spawns) == 4
    assert "skipped 0" in rerun.stderr
    same = batch(write(tmp_path / "p.txt", f"{HEBREW}\n{CJK}\n"), "clips")
    assert "skipped 2" in same.stderr and len(modal_standin.spawns) == 4


def test_the_single_clip_default_name_keeps_identity_too(modal_standin: ModalStandIn):
    names = []
    for prompt in (CJK, HEBREW):
        result = invoke("generate", prompt, "--no-enhance", *SMALL)
        assert result.exit_code == 0, result.output
        names.append(Path(result.stdout.strip()).name)

    assert all(re.fullmatch(r"clip-[0-9a-f]{8}-\d{8}-\d{6}\.mp4", n) for n in names), names
    assert names[0][:13] != names[1][:13]


# --- prompt lists: line splitting and size ---------------------------------------------------

SEPARATORS = ["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c", "\x1d", "\x1e"]


def test_only_newlines_split_a_jsonl_list(tmp_path: Path):
    prompts = [f"a fox{c}in the snow" for c in SEPARATORS]
    rows = [json.dumps({"prompt": p}) for p in prompts]  # escaped (\\u2028, \\f, ...)
    # JSON allows these raw inside a string.
    raw = [f"a whale{c}at sea" for c in ("\u2028", "\u2029", "\x85")]
    rows += [json.dumps({"prompt": p}, ensure_ascii=False) for p in raw]
    assert "\u2028" in rows[len(SEPARATORS)]  # really raw
    rows.append('{"prompt": "broken"')
    rows.append(json.dumps({"prompt": "the last one"}))
    source = tmp_path / "p.jsonl"
    source.write_bytes(("\r\n".join(rows[:3]) + "\n" + "\n".join(rows[3:]) + "\n").encode())

    lines, errors = read_lines(str(source))

    assert [line.prompt for line in lines] == [*prompts, *raw, "the last one"]
    assert [line.number for line in lines] == [*range(1, len(rows) - 1), len(rows)]
    assert [error.number for error in errors] == [len(rows) - 1]


def test_raw_separators_in_a_text_list_stay_on_their_line(tmp_path: Path):
    text = "".join(f"fox {i}{c}more\n" for i, c in enumerate(SEPARATORS)) + "the end\n"
    source = tmp_path / "p.txt"
    source.write_bytes(text.encode())

    lines, errors = read_lines(str(source))

    assert errors == []
    assert [line.number for line in lines] == list(range(1, len(SEPARATORS) + 2))
    assert lines[-1].prompt == "the end"


def test_a_later_bad_line_is_reported_with_its_own_number(
    tmp_path: Path, modal_standin: ModalStandIn
):
    rows = [json.dumps({"prompt": f"fox {c}"}, ensure_ascii=False) for c in SEPARATORS[:3]]
    rows += [json.dumps({"prompt": f"fox {c}"}) for c in SEPARATORS[3:]]
    rows.append(json.dumps({"prompt": "a red fox", "fps": 999}))
    source = write(tmp_path / "p.jsonl", "\n".join(rows) + "\n")

    result = batch(source, "clips", "--strict")

    refused(result, f"line {len(rows)}: --fps 999")
    reported = [int(n) for n in re.findall(r"^Error: line (\d+):", result.stderr, re.M)]
    # U+2028/2029 are fine in a prompt; the controls are refused, each on its own line.
    assert reported == [3, 4, 5, 6, 7, 8, len(rows)]


def test_a_list_over_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(batch_input, "MAX_LIST_BYTES", 64)
    exact = write(tmp_path / "exact.txt", "a red fox\n" * 6 + "abc\n")
    assert exact.stat().st_size == 64
    assert len(read_lines(str(exact))[0]) == 7

    over = write(tmp_path / "over.txt", "a red fox\n" * 6 + "abcd\n")
    with pytest.raises(UsageError, match="larger than") as caught:
        read_lines(str(over))
    assert "Split it" in (caught.value.hint or "")
    with pytest.raises(UsageError, match="stdin is larger than"):
        monkeypatch.setattr(sys, "stdin", _Stdin(b"a red fox\n" * 7))
        read_lines("-")


class _Stdin:
    def __init__(self, data: bytes) -> None:
        import io

        self.buffer = io.BytesIO(data)

    def isatty(self) -> bool:
        return False


def _limit_memory() -> None:
    # Without the cap, an endless input would grow until this stops it (MemoryError,
    # exit 1) instead of exhausting the machine.
    resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))


@pytest.mark.parametrize("how", ["yes-on-stdin", "dev-zero"])
def test_an_endless_list_ends_with_exit_2(how: str):
    command = [sys.executable, "-m", "pippa_cli", "generate", "--no-enhance", "--from-file"]
    feeder = None
    if how == "yes-on-stdin":
        feeder = subprocess.Popen(["yes", "a red fox"], stdout=subprocess.PIPE)
        stdin = feeder.stdout
        command.append("-")
    else:
        stdin = subprocess.DEVNULL
        command.append("/dev/zero")
    child = subprocess.Popen(
        command,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_limit_memory,
    )
    if feeder is not None:
        assert feeder.stdout is not None
        feeder.stdout.close()  # the child holds the pipe now
    try:
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
        if feeder is not None:
            feeder.kill()
            feeder.wait()

    assert child.returncode == 2, err
    assert out == ""
    assert "larger than 16 MiB" in err and "Split it" in err
