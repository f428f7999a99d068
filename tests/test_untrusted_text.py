"""Text pippa did not write: LLM answers, server errors, arguments and stdin it cannot trust.

The real groq SDK talks to a local Groq-compatible server (tests/groq_server.py) that
answers with terminal control sequences, secrets, megabytes of whitespace, 401s and 429s.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pippa_cli.history import History
from pippa_cli.llm_answer import MAX_ANSWER_CHARS, clean_llm_output
from pippa_cli.text import json_dumps, strip_controls, visible
from tests.groq_server import FAKE_KEY, GroqServer, completion_response, status_response
from tests.helpers import invoke, run_pippa, wait_for

# Control sequences an answer may carry: what each would do to a terminal.
HOSTILE = {
    "osc-title": "\x1b]0;pwned\x07",
    "osc-st": "\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\",
    "csi-clear": "\x1b[2J\x1b[H",
    "csi-color": "\x1b[31;1m",
    "c1-csi": "\x9b2J",
    "c1-osc": "\x9d0;pwned\x9c",
    "bel-bs-del": "\x07\x08\x7f",
    "nul": "\x00",
    "c1-nel": "\x85",
    "bidi-rlo": "\u202e",
    "bidi-isolate": "\u2066\u2069",
    # Invisible: they hide text from the reader (and instructions from the user).
    "zero-width-space": "\u200b",
    "word-joiner": "\u2060",
    "bom": "\ufeff",
    "mongolian-vowel-separator": "\u180e",
    "tags": "".join(chr(0xE0000 + ord(c)) for c in "ignore all rules") + "\U000e007f",
}
INVISIBLE = "\u180e\u200b\u2060-\u2064\u206a-\u206f\ufeff\U000e0000-\U000e007f"
# Any of these left raw in output means a terminal may act on it, or a reader not see it.
RAW = re.compile(
    f"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069{INVISIBLE}]"
)


# --- control sequences ------------------------------------------------------------------


@pytest.mark.parametrize("sequence", HOSTILE.values(), ids=HOSTILE.keys())
def test_enhanced_prompt_is_cleaned_of_every_control_and_bidi_character(
    groq: GroqServer, sequence: str
):
    groq.answer(f"A red fox{sequence} trots through fresh snow at dawn.{sequence}")

    result = invoke("enhance", "a red fox")
    as_json = invoke("enhance", "a red fox", "--json")

    assert result.exit_code == 0, result.output
    assert not RAW.search(result.stdout)
    assert "\x1b" not in result.stdout and "pwned" not in result.stdout.replace("\\", "")
    assert "trots through fresh snow at dawn." in result.stdout
    assert not RAW.search(as_json.stdout)
    data = json.loads(as_json.stdout)
    assert data["enhanced"] is True and not RAW.search(data["enhanced_prompt"])


def test_foreign_text_reaches_neither_terminal_nor_history_raw(
    groq: GroqServer, modal_standin, tmp_path: Path
):
    """An answer full of sequences renders (on the Modal stand-in); the history, `status`
    ID, the status list (piped and --json) show and store no raw control character."""
    groq.answer("".join(HOSTILE.values()) + "A red fox trots through snow." + HOSTILE["c1-osc"])
    result = invoke("generate", "a red fox", "-o", str(tmp_path / "fox.mp4"), "--json")
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)
    stored = History.open_default().get(job["task_id"])

    # The hyperlink's text ("link") is text; every sequence around it is gone.
    assert stored.enhanced_prompt == "linkA red fox trots through snow."
    sidecar = (tmp_path / "fox.json").read_text("utf-8")
    assert not RAW.search(sidecar)
    for args in (["status", job["task_id"][:8]], ["status"], ["status", "--json"]):
        shown = invoke(*args)
        assert shown.exit_code == 0, shown.output
        assert not RAW.search(shown.stdout), args


def test_remote_error_with_control_sequences_is_shown_escaped(
    modal_standin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """An error message from Modal (the container's exception) is foreign text: the
    `Error:` line shows its escape sequences as text, and `pippa status` does too."""
    from tests.modal_results import remote_raise
    from tests.modal_standin import Script

    message = "CUDA \x1b]0;pwned\x07error\x1b[2J \u202egnp.exe\x9b31m"
    modal_standin.script = Script(steps=1, outcome=remote_raise(RuntimeError(message)))

    result = invoke("generate", "a fox", "--no-enhance", "-o", str(tmp_path / "f.mp4"))

    assert result.exit_code == 1
    assert not RAW.search(result.stderr)
    assert "\\x1b]0;pwned\\x07error" in result.stderr  # shown, not acted on
    assert "\\u202egnp.exe" in result.stderr
    for args in (["status"], ["status", "--json"]):
        assert not RAW.search(invoke(*args).stdout)


def test_visible_and_json_dumps_leave_nothing_a_terminal_acts_on():
    text = "".join(HOSTILE.values()) + "\udcff\u2028"
    assert not RAW.search(visible(text)) and "\n" not in visible("a\nb")
    assert visible("a\nb", multiline=True) == "a\nb"
    assert "\\xff" in visible(text)  # an undecodable byte from a file name
    dumped = json_dumps({"x": text})
    assert not RAW.search(dumped) and "\u2028" not in dumped
    assert json.loads(dumped)["x"].startswith("\x1b]0;pwned")  # still the same data
    assert not RAW.search(strip_controls(text)) and "pwned" not in strip_controls(text)


# --- secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "echo",
    [
        f"Authorization: Bearer {FAKE_KEY}",
        f"api_key={FAKE_KEY}",
        "key gsk_" + "A1b2C3d4" * 6,  # another Groq key, recognised by its shape
    ],
)
def test_an_answer_quoting_a_key_never_shows_or_stores_it(
    groq: GroqServer, echo: str, tmp_path: Path, modal_standin
):
    secret = echo.split()[-1].split("=")[-1]
    groq.answer(f"A red fox trots through snow. {echo}")

    shown = invoke("enhance", "a red fox", "--json")
    made = invoke("generate", "a red fox", "-o", str(tmp_path / "fox.mp4"))

    assert shown.exit_code == 0 and made.exit_code == 0, made.output
    assert secret not in shown.output and "[redacted]" in shown.stdout
    stored = [tmp_path / "fox.json", *Path(os.environ["PIPPA_HOME"]).rglob("*")]
    for path in [*stored, tmp_path / "fox.mp4"]:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_doctor_never_echoes_a_key_from_an_error_body(
    groq: GroqServer, monkeypatch: pytest.MonkeyPatch
):
    """A server error body that quotes the Authorization header (cut at 160 characters by
    doctor: the key is redacted before the cut, so no prefix of it shows either)."""
    # The SDK's message starts "Error code: 418 - {'error': {'message': '": the key
    # then straddles character 160.
    body = json.dumps({"error": {"message": "x" * 86 + f" Authorization: Bearer {FAKE_KEY}"}})
    from werkzeug import Response

    groq.server.expect_request("/openai/v1/models").respond_with_handler(
        lambda _request: Response(body, status=418, content_type="application/json")
    )

    result = invoke("doctor", "--json")

    assert FAKE_KEY[:8] not in result.output
    assert "[redacted]" in result.output


# --- the cost of cleaning -----------------------------------------------------------------


def test_an_answer_too_long_or_one_endless_word_is_not_a_prompt(groq: GroqServer):
    for answer in ("fox" * 34_000, " \n" * (MAX_ANSWER_CHARS // 2 + 10), "a" * 5_000):
        groq.clear()
        groq.answer(answer)
        result = invoke("enhance", "a red fox", "--json")
        data = json.loads(result.stdout)
        assert data["enhanced"] is False, answer[:20]
        assert data["enhanced_prompt"] == "a red fox"
        assert "not a prompt" in data["warning"]


def test_the_deadline_covers_cleaning_the_answer(groq: GroqServer, monkeypatch: pytest.MonkeyPatch):
    import pippa_cli.groq_client as groq_client

    release = threading.Event()
    original = groq_client.clean_llm_output

    def slow_clean(text: str, max_words: int) -> str:
        release.wait(30)
        return original(text, max_words)

    monkeypatch.setattr(groq_client, "clean_llm_output", slow_clean)
    groq.answer("A red fox trots through snow.")
    try:
        result = invoke("enhance", "a red fox", "--enhance-timeout", "0.5", "--json")
    finally:
        release.set()

    data = json.loads(result.stdout)
    assert data["enhanced"] is False
    assert "did not answer within 0.5 s" in data["warning"]


@pytest.mark.parametrize(
    "answer",
    [
        " \t" * 15_000 + "\n",  # whitespace runs without a paragraph break
        "the" + " " * 30_000 + "x",  # a label's words with whitespace between
        "#" + " " * 30_000 + "a",  # a heading that never ends
        '"' * 30_000,  # nested quotes
        "```" + " " * 30_000,
    ],
    ids=["whitespace", "label", "heading", "quotes", "fence"],
)
def test_cleaning_is_linear_in_the_answer(answer: str):
    """Each of these took minutes with the old patterns (quadratic backtracking); here a
    generous bound only catches a return of that (figures: benchmarks/clean_answer.py)."""
    from pippa_cli.deadline import call_with_deadline
    from pippa_cli.llm_answer import NotAPrompt

    def clean() -> None:
        with contextlib.suppress(NotAPrompt):
            clean_llm_output(answer)

    call_with_deadline(clean, 20)


# --- arguments and stdin ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        [b"enhance", b"fox \xff"],
        [b"enhance", b"a fox", b"--style", b"\xe9pique"],
        [b"generate", b"a fox", b"-o", b"clip\xff.mp4"],
        [b"generate", b"--from-file", b"list\xfe.txt"],
    ],
    ids=["prompt", "option", "output", "from-file"],
)
def test_an_argument_that_is_not_utf8_is_a_usage_error(groq: GroqServer, args: list[bytes]):
    groq.answer("A fox.")
    result = run_pippa(*args)

    assert result.returncode == 2, result.stderr
    assert result.stdout == b""
    assert b"is not valid UTF-8" in result.stderr
    assert b"Traceback" not in result.stderr
    assert groq.requests == []
    assert not Path(os.environ["PIPPA_HOME"]).exists()  # nothing was started


@pytest.mark.parametrize("command", ["enhance", "generate"])
def test_endless_stdin_is_refused_after_what_a_prompt_can_be(command: str):
    producer = subprocess.Popen(["yes", "a red fox"], stdout=subprocess.PIPE)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pippa_cli", command, "-"],
            stdin=producer.stdout,
            capture_output=True,
            timeout=60,
            env=os.environ.copy(),
        )
    finally:
        producer.kill()
        producer.wait()
    assert result.returncode == 2
    assert b"stdin holds more than 64 KiB" in result.stderr


def test_stdin_of_zeros_or_one_huge_line_is_refused():
    with open("/dev/zero", "rb") as zeros:
        result = subprocess.run(
            [sys.executable, "-m", "pippa_cli", "enhance"],
            stdin=zeros,
            capture_output=True,
            timeout=60,
            env=os.environ.copy(),
        )
    assert result.returncode == 2
    assert run_pippa("enhance", input=b"fox " * 20_000).returncode == 2


def test_generate_without_a_prompt_names_generate_in_its_hint():
    result = run_pippa("generate")  # stdin is not a terminal here: an empty pipe
    tty = invoke("generate")  # CliRunner's stdin: not a tty either; check the hint text
    assert result.returncode == 2 and tty.exit_code == 2
    import io

    from pippa_cli.errors import UsageError
    from pippa_cli.prompt_input import read_prompt

    with pytest.raises(UsageError) as raised:
        read_prompt(None, io.BytesIO(), True, command="generate")
    assert "pippa generate" in (raised.value.hint or "")


# --- Groq's answers: deadline, rejected key, rate limits ----------------------------------


def test_after_the_deadline_the_abandoned_request_stops_retrying(
    groq: GroqServer, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PIPPA_ENHANCE_RETRIES", "10")
    slow_500 = status_response(500, {"retry-after-ms": "300"})

    def answer(request):
        time.sleep(0.2)
        return slow_500(request)

    groq.respond(answer)
    before = set(threading.enumerate())
    result = invoke("enhance", "a red fox", "--enhance-timeout", "0.5", "--json")
    assert "did not answer within 0.5 s" in json.loads(result.stdout)["warning"]
    sent = len(groq.requests)

    # The abandoned worker ends (its 10 retries would go on for seconds, then end too):
    # every request it was ever going to send has been sent.
    wait_for(
        lambda: not [t for t in threading.enumerate() if t not in before],
        "the abandoned Groq worker thread ending",
    )

    assert len(groq.requests) <= sent + 1  # at most the one already in flight


def test_from_file_stops_at_a_rejected_key(groq: GroqServer, tmp_path: Path):
    groq.answer_status(401)
    ideas = tmp_path / "ideas.txt"
    ideas.write_text("".join(f"idea {i}\n" for i in range(40)))

    result = invoke("enhance", "--from-file", str(ideas), "--concurrency", "4")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"idea {i}" for i in range(40)]
    assert len(groq.requests) <= 4  # the ones already in flight when the 401 came
    assert "rejected the API key" in result.stderr


def test_from_file_backs_off_on_rate_limits(groq: GroqServer, tmp_path: Path):
    groq.answer_status(429, {"retry-after-ms": "50"})
    ideas = tmp_path / "ideas.txt"
    ideas.write_text("".join(f"idea {i}\n" for i in range(40)))

    result = invoke("enhance", "--from-file", str(ideas), "--enhance-timeout", "30")

    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 40
    assert len(groq.requests) <= 8  # not 40 lines x 3 attempts
    assert "rate limit" in result.stderr


def test_a_rate_limit_that_clears_lets_the_list_go_on(groq: GroqServer, tmp_path: Path):
    limited = status_response(429, {"retry-after-ms": "20"})
    groq.respond(limited, completion_response("A fox runs through snow at dawn."))
    ideas = tmp_path / "ideas.txt"
    ideas.write_text("".join(f"idea {i}\n" for i in range(6)))

    result = invoke("enhance", "--from-file", str(ideas), "--concurrency", "1")

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["A fox runs through snow at dawn."] * 6


@pytest.mark.parametrize("key", ["gsk_abc\ndef1234567", "gsk_clé1234567890", "gsk_abc def1234567"])
def test_a_malformed_key_is_reported_as_such_and_sends_nothing(
    groq: GroqServer, monkeypatch: pytest.MonkeyPatch, key: str
):
    monkeypatch.setenv("GROQ_API_KEY", key)
    groq.answer("A fox.")

    result = invoke("enhance", "a red fox", "--json")
    doctor = invoke("doctor", "--json")

    assert json.loads(result.stdout)["warning"].startswith(
        "prompt not enhanced: GROQ_API_KEY is malformed"
    )
    assert groq.requests == []
    groq_check = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "groq")
    assert groq_check["status"] == "error" and "malformed" in groq_check["message"]
    for output in (result.output, doctor.output):
        assert key not in output and key.split()[0] not in output.replace("[redacted]", "")


@pytest.mark.parametrize("value", ["noir\u202e", "\u2066warm\u2069 light", "film\u200f"])
def test_user_prompt_and_customization_lose_bidi_controls(value: str, tmp_path: Path):
    """A user's own text may carry bidi controls too (pasted): they never reach the model,
    the sidecar or the history."""
    result = invoke("enhance", "a fox\u202e", "--style", value, "--json")
    data = json.loads(result.stdout)
    assert not RAW.search(json.dumps(data, ensure_ascii=False))
    assert data["original_prompt"] == "a fox"
    assert not RAW.search(data["customization"]["style"])


# --- invisible characters -------------------------------------------------------------

INVISIBLES = {
    "zero-width-space": ("\u200b", "\\u200b"),
    "word-joiner": ("\u2060", "\\u2060"),
    "bom-inside": ("\ufeff", "\\ufeff"),
    "mongolian-vowel-separator": ("\u180e", "\\u180e"),
    "tag-a": ("\U000e0041", "\\U000e0041"),
    "cancel-tag": ("\U000e007f", "\\U000e007f"),
}


@pytest.mark.parametrize(("char", "escaped"), INVISIBLES.values(), ids=INVISIBLES.keys())
def test_invisible_characters_are_removed_or_shown(char: str, escaped: str):
    text = f"a red{char} fox{char}"

    assert strip_controls(text) == "a red fox"
    assert visible(text) == f"a red{escaped} fox{escaped}"
    dumped = json_dumps({"prompt": text})
    assert char not in dumped and not RAW.search(dumped)
    assert json.loads(dumped) == {"prompt": text}  # the same data, spelled safely


@pytest.mark.parametrize(
    "text",
    [
        "a family \U0001f468\u200d\U0001f469\u200d\U0001f467 in the snow",  # ZWJ sequence
        "\U0001f3f3\ufe0f\u200d\U0001f308 flag",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian: ZWNJ inside a word
        "\u0915\u094d\u200d\u0937",  # Devanagari: ZWJ picks a half form
    ],
    ids=["family", "rainbow-flag", "persian", "devanagari"],
)
def test_joiners_that_scripts_and_emoji_need_are_kept(text: str, groq: GroqServer):
    assert strip_controls(text) == text
    assert visible(text) == text
    assert json.loads(json_dumps(text)) == text and "\\u200" not in json_dumps(text)
    groq.answer(f"A quiet scene: {text}, at dawn.")
    assert text in json.loads(invoke("enhance", "a fox", "--json").stdout)["enhanced_prompt"]


SPLITTERS = {
    "zero-width-space": "\u200b",
    "word-joiner": "\u2060",
    "bom": "\ufeff",
    "tags": "\U000e0041\U000e0042",
    "escape": "\x1b[0m",
}


@pytest.mark.parametrize("splitter", SPLITTERS.values(), ids=SPLITTERS.keys())
def test_a_key_split_by_invisible_characters_is_redacted(
    groq: GroqServer, splitter: str, tmp_path: Path, modal_standin
):
    """Shown with the splitter escaped, or stored with it removed, the key would be whole."""
    split_key = FAKE_KEY[:9] + splitter + FAKE_KEY[9:]
    groq.answer(f"A red fox trots through snow. Use {split_key} now.")

    shown = invoke("enhance", "a red fox")
    made = invoke("generate", "a red fox", "-o", str(tmp_path / "fox.mp4"))

    assert shown.exit_code == 0 and made.exit_code == 0, made.output
    assert shown.stdout == "A red fox trots through snow. Use [redacted] now.\n"
    assert FAKE_KEY[9:] not in visible(f"error: {split_key}")
    assert FAKE_KEY[9:] not in json_dumps({"error": split_key})
    stored = [tmp_path / "fox.json", *Path(os.environ["PIPPA_HOME"]).rglob("*")]
    for path in [*stored, tmp_path / "fox.mp4"]:
        if path.is_file():
            assert FAKE_KEY[9:].encode() not in path.read_bytes(), path


# --- live progress: stage names from Modal or another tool's history row ---------------

# What a stage name may carry: terminal codes, and rich markup (literal text to show).
STAGES = {
    "osc-blink": ("\x1b]0;pwned\x07[blink]x[/blink]\u202e", "[blink]x[/blink]"),
    "c1-style": ("\x9b2J[bold red]boo[/]\u2066", "[bold red]boo[/]"),
    "link-clear": ("[link=http://evil]click[/link]\x1b[2J\u200b", "[link=http://evil]click[/link]"),
}
NEVER_RAW = ("\x1b]0;pwned", "\x1b[2J", "\x9b", "\x07", "\u202e", "\u2066", "\u200b", "\x1b]8;")


def _live_output():
    import io

    from rich.console import Console

    from pippa_cli.output import Output

    buffer = io.StringIO()
    out = Output(quiet=False, json_mode=False)
    out.err = Console(file=buffer, force_terminal=True, width=200)  # a live display
    assert out.live
    return out, buffer


def _assert_shown_not_acted_on(rendered: str, literal: str) -> None:
    for raw in NEVER_RAW:
        assert raw not in rendered, raw
    assert literal in rendered  # markup shown as text, not applied
    assert "\x1b[5m" not in rendered  # no blink


@pytest.mark.parametrize("how", ["stage", "detail", "step"])
@pytest.mark.parametrize(("stage", "literal"), STAGES.values(), ids=STAGES.keys())
def test_a_foreign_stage_name_is_shown_as_text_in_live_progress(stage: str, literal: str, how: str):
    from pippa_cli.output import StageProgress

    out, buffer = _live_output()
    with StageProgress(out) as progress:
        if how == "stage":
            progress.stage(stage)
        elif how == "detail":
            progress.stage("downloading", detail=stage)
        else:
            progress.step(stage, 1, 4)

    _assert_shown_not_acted_on(buffer.getvalue(), literal)


@pytest.mark.parametrize("how", ["stage", "step"])
@pytest.mark.parametrize(("stage", "literal"), STAGES.values(), ids=STAGES.keys())
def test_a_foreign_stage_name_is_shown_as_text_in_a_batch_line(stage: str, literal: str, how: str):
    from types import SimpleNamespace

    from pippa_cli.batch_input import BatchLine
    from pippa_cli.output import BatchProgress

    out, buffer = _live_output()
    with BatchProgress(out, total=1) as batch:
        line = batch.line(SimpleNamespace(line=BatchLine(3, "a red fox")))  # type: ignore[arg-type]
        if how == "stage":
            line.stage(stage)
        else:
            line.step(stage, 1, 4)

    _assert_shown_not_acted_on(buffer.getvalue(), literal)


# --- the second adversarial pass --------------------------------------------------------


def test_a_key_only_in_dotenv_is_redacted_even_without_enhancement(modal_standin, tmp_path):
    """A key of any shape, read from ./.env, echoed by a Modal error: never shown or stored."""
    from tests.modal_results import remote_raise
    from tests.modal_standin import Script

    key = "sk-groqlike-NOTGSKSHAPE-998877"
    Path(".env").write_text(f"GROQ_API_KEY={key}\n")
    modal_standin.script = Script(steps=1, outcome=remote_raise(RuntimeError(f"bad key {key}")))

    result = invoke("generate", "a fox", "--no-enhance", "-o", str(tmp_path / "f.mp4"), "--debug")

    assert result.exit_code == 1
    assert key not in result.output and "[redacted]" in result.stderr
    for path in Path(os.environ["PIPPA_HOME"]).rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    "class_name", ["Foo\nok: rendered /tmp/fox.mp4", "Foo\r\nError: fake", "Foo\x1b[2K\rok"]
)
def test_foreign_text_cannot_forge_a_line_of_its_own(tmp_path: Path, class_name: str):
    """A local model directory's model_index.json names the class in the error line: one
    line, with the newline shown as \\n."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "model_index.json").write_text(json.dumps({"_class_name": class_name}))

    result = invoke("generate", "a fox", "--backend", "local", "--model", str(model))

    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("Error: ") and len(lines) == 2  # the error and its hint
    assert not RAW.search(result.stderr)


@pytest.mark.parametrize(
    "entry",
    [{"stage": "denoising", "step": "abc", "total": 2}, {"step": float("inf")}, {"total": [1]}],
)
def test_a_garbled_progress_entry_does_not_fail_a_render(modal_standin, tmp_path, entry):
    from tests.modal_standin import Script

    modal_standin.script = Script(steps=2)

    def garble(call, index: int) -> None:
        modal_standin.progress.put(call.object_id, entry)

    modal_standin.on_get.append(garble)
    result = invoke("generate", "a fox", "--no-enhance", "-o", str(tmp_path / "f.mp4"))

    assert result.exit_code == 0, result.output
    assert (tmp_path / "f.mp4").is_file()


@pytest.mark.parametrize(
    ("field", "value"),
    [("timeout_s", float("inf")), ("max_containers", float("inf")), ("timeout_s", "abc")],
)
def test_a_hand_edited_deployment_record_does_not_crash(modal_standin, tmp_path, field, value):
    from pippa_cli.deployment import DeployConfig

    assert modal_standin.deployment is not None
    modal_standin.deployment[field] = value

    result = invoke("generate", "a fox", "--no-enhance", "-o", str(tmp_path / "f.mp4"))
    doctor = invoke("doctor", "--json")

    assert "unexpected" not in result.output + doctor.output
    assert result.exit_code in (0, 1) and "Traceback" not in result.output
    # Redeploying takes the defaults for what the record holds that it cannot read.
    assert (
        DeployConfig().updated(modal_standin.deployment, {}) == DeployConfig().updated({}, {})
        or field == "gpu"
    )
