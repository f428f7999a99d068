"""`pippa enhance` end to end: the real groq SDK against a local Groq-compatible server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pippa_cli.enhancement import SYSTEM_PROMPT
from pippa_cli.llm_answer import clean_llm_output
from tests.groq_server import (
    DEFAULT_MODEL,
    FAKE_KEY,
    GroqServer,
    completion_response,
    status_response,
)
from tests.helpers import invoke, run_pippa

ENHANCED = (
    "A red fox trots across a snowy meadow at dawn, its breath curling in the cold air. "
    "The camera tracks low beside it as golden light spills over the ridge."
)
FAST_RETRY = {"retry-after-ms": "1"}  # the SDK waits 1 ms before retrying


def warning_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


# --- success ------------------------------------------------------------------------


def test_success_prints_only_the_enhanced_prompt_and_sends_the_right_request(groq: GroqServer):
    groq.answer(ENHANCED)

    result = invoke(
        "enhance",
        "a red fox in the snow",
        "--style", "cinematic",
        "--camera-angle", "low angle",
        "--lighting", "golden hour",
        "--movement", "tracking",
        "--mood", "peaceful",
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    assert result.stdout == ENHANCED + "\n"
    assert result.stderr == ""
    assert len(groq.requests) == 1
    request = groq.requests[0]
    assert request.headers["Authorization"] == f"Bearer {FAKE_KEY}"
    body = groq.request_json()
    assert body["model"] == "meta-llama/llama-4-scout-17b-16e-instruct"
    assert body["temperature"] == 0.7
    assert body["max_tokens"] == 500
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert user["role"] == "user"
    wanted = ["a red fox in the snow", "cinematic", "low angle", "golden hour", "tracking"]
    for text in [*wanted, "peaceful"]:
        assert text in user["content"]


def test_flags_for_temperature_and_max_tokens_reach_groq(groq: GroqServer):
    groq.answer(ENHANCED)

    result = invoke("enhance", "a red fox", "--temperature", "0.2", "--max-tokens", "300")

    assert result.exit_code == 0, result.stderr
    body = groq.request_json()
    assert (body["temperature"], body["max_tokens"]) == (0.2, 300)


def test_answer_is_cleaned_of_preamble_label_quotes_and_notes(groq: GroqServer):
    groq.answer(
        "Sure! Here's an enhanced video prompt for your idea:\n\n"
        f'**Enhanced prompt:** "{ENHANCED}"\n\n'
        "Note: I kept the fox as the only subject and added a tracking shot."
    )

    result = invoke("enhance", "a red fox in the snow")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == ENHANCED + "\n"


# --- clean_llm_output ---------------------------------------------------------------

FOX = "A red fox trots across a snowy meadow at dawn, its breath curling in the cold air."


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(FOX, id="already-clean"),
        pytest.param(f"Here is your enhanced prompt:\n\n{FOX}", id="preamble-paragraph"),
        pytest.param(f"Sure! Here's the rewritten prompt: {FOX}", id="preamble-same-line"),
        pytest.param(f"Certainly, here is a cinematic prompt for you:\n{FOX}", id="certainly"),
        pytest.param(f"**Enhanced Prompt:**\n\n{FOX}", id="bold-label"),
        pytest.param(f"**Enhanced prompt:** {FOX}", id="bold-label-inline"),
        pytest.param(f"### Video Prompt:\n{FOX}", id="markdown-heading-label"),
        pytest.param(f"Prompt: {FOX}", id="bare-label"),
        pytest.param(f"```\n{FOX}\n```", id="code-fence"),
        pytest.param(f"```text\n{FOX}\n```", id="code-fence-with-language"),
        pytest.param(f'"{FOX}"', id="double-quotes"),
        pytest.param(f"“{FOX}”", id="curly-quotes"),
        pytest.param(f"> {FOX}", id="blockquote"),
        pytest.param(f"{FOX}\n\nNote: I kept the original subject.", id="trailing-note"),
        pytest.param(f"{FOX}\n\n(Note: about 20 words.)", id="trailing-parenthesised-note"),
        pytest.param(f"{FOX}\n\nI hope this helps! Let me know.", id="sign-off"),
        pytest.param(f"{FOX}\n\nThis prompt keeps the fox and adds light.", id="explanation"),
        pytest.param(f"Here’s the enhanced prompt: {FOX}", id="curly-apostrophe-preamble"),
        pytest.param(f"## Enhanced Video Prompt\n\n{FOX}", id="markdown-title"),
        pytest.param(f"# Snowy Dawn\n{FOX}", id="markdown-title-no-blank-line"),
        pytest.param(f"**Snowy Dawn**\n\n{FOX}", id="bold-title"),
        pytest.param(f"{FOX}\n\n---\n\nNote: kept the subject.", id="rule-then-note"),
        pytest.param(f"{FOX}\n\nWord count: 15", id="word-count"),
        pytest.param(
            f'Here is the prompt:\n\n"{FOX}"\n\nFeel free to adjust the lighting.',
            id="everything-at-once",
        ),
        pytest.param(
            f"Sure! Here’s your enhanced prompt:\n\n**Snowy Dawn**\n\n“{FOX}”\n\n"
            "---\n\n(Word count: 15)",
            id="everything-at-once-markdown",
        ),
    ],
)
def test_clean_llm_output_leaves_the_prompt_alone(answer: str):
    assert clean_llm_output(answer) == FOX


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("# A red fox at dawn", "A red fox at dawn"),
        ("**A red fox trots across the snow**", "A red fox trots across the snow"),
        ("## A red fox trots across the snow.\nThe camera follows.",
         "A red fox trots across the snow. The camera follows."),
    ],
)  # fmt: skip
def test_clean_llm_output_keeps_a_heading_that_is_the_prompt_itself(answer: str, expected: str):
    assert clean_llm_output(answer) == expected


def test_clean_llm_output_joins_paragraphs_and_folds_whitespace():
    answer = (
        "A red fox trots across   a snowy meadow.\n\n"
        "The camera tracks\nlow beside it as light spills over the ridge."
    )

    assert clean_llm_output(answer) == (
        "A red fox trots across a snowy meadow. "
        "The camera tracks low beside it as light spills over the ridge."
    )


@pytest.mark.parametrize(
    "answer",
    [
        'A neon sign that reads "OPEN" flickers above a rain-soaked diner door.',
        '"OPEN" glows on a neon sign while a second sign beside it reads "CLOSED"',
        "A chalkboard reading 'Fresh Bread' leans against a bakery window.",
    ],
)
def test_clean_llm_output_keeps_quoted_text_inside_the_prompt(answer: str):
    assert clean_llm_output(answer) == answer


def test_clean_llm_output_strips_wrapping_quotes_but_keeps_inner_ones():
    inner = "A neon sign that reads 'OPEN' flickers above a rain-soaked diner door."

    assert clean_llm_output(f'"{inner}"') == inner
    assert clean_llm_output(f"“{inner}”") == inner


def test_clean_llm_output_cuts_an_overlong_answer_at_a_sentence_end():
    sentence = "The fox pauses and looks back slowly."  # 7 words
    answer = " ".join([sentence] * 30)  # 210 words

    cleaned = clean_llm_output(answer)

    assert len(cleaned.split()) == 175  # 25 whole sentences: the most within 180 words
    assert cleaned.endswith("slowly.")
    assert answer.startswith(cleaned)


def test_clean_llm_output_keeps_an_answer_just_over_150_words():
    answer = " ".join(["The fox pauses and looks back slowly."] * 24)  # 168 words

    assert clean_llm_output(answer) == answer


@pytest.mark.parametrize("answer", ["", "   \n\n ", "Here is your enhanced prompt:", "```\n```"])
def test_clean_llm_output_of_nothing_is_empty(answer: str):
    assert clean_llm_output(answer) == ""


# --- retries and fallbacks ----------------------------------------------------------


def test_rate_limit_is_retried_by_the_sdk_then_succeeds(groq: GroqServer):
    groq.respond(status_response(429, {"retry-after": "0"}), completion_response(ENHANCED))

    result = invoke("enhance", "a red fox")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == ENHANCED + "\n"
    assert result.stderr == ""
    assert len(groq.requests) == 2
    assert groq.requests[1].headers["x-stainless-retry-count"] == "1"


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_persistent_server_error_falls_back_after_the_configured_retries(
    groq: GroqServer, monkeypatch: pytest.MonkeyPatch, retries: int
):
    monkeypatch.setenv("PIPPA_ENHANCE_RETRIES", str(retries))
    groq.answer_status(500, FAST_RETRY)

    result = invoke("enhance", "a red fox", "--style", "cinematic")

    assert result.exit_code == 0
    assert result.stdout == "a red fox. Cinematic style.\n"
    lines = warning_lines(result.stderr)
    assert len(lines) == 1
    assert lines[0].startswith("Warning: prompt not enhanced: Groq answered with HTTP 500")
    assert lines[0].endswith("using your prompt as written")
    assert len(groq.requests) == retries + 1


def test_server_error_warning_says_how_often_it_retried(
    groq: GroqServer, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PIPPA_ENHANCE_RETRIES", "2")
    groq.answer_status(503, FAST_RETRY)

    result = invoke("enhance", "a red fox")

    assert "HTTP 503 after 2 retries;" in result.stderr


def test_server_error_warning_after_one_retry(groq: GroqServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PIPPA_ENHANCE_RETRIES", "1")
    groq.answer_status(502, FAST_RETRY)

    result = invoke("enhance", "a red fox")

    assert "HTTP 502 after 1 retry;" in result.stderr


def test_server_error_warning_without_retries(groq: GroqServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PIPPA_ENHANCE_RETRIES", "0")
    groq.answer_status(500)

    result = invoke("enhance", "a red fox")

    assert "HTTP 500; using your prompt as written" in result.stderr


def test_rejected_key_falls_back_without_retrying(groq: GroqServer):
    groq.answer_status(401)

    result = invoke("enhance", "a red fox", "--mood", "eerie", "--lighting", "moonlight")

    assert result.exit_code == 0
    assert result.stdout == "a red fox. Moonlight lighting, eerie mood.\n"
    lines = warning_lines(result.stderr)
    assert len(lines) == 1
    assert lines[0].startswith("Warning:")
    assert "rejected the API key" in lines[0]
    assert len(groq.requests) == 1


def test_unknown_model_falls_back_naming_the_model(groq: GroqServer):
    groq.answer_status(404)

    result = invoke("enhance", "a red fox", "--enhance-model", "no-such-model")

    assert result.exit_code == 0
    assert result.stdout == "a red fox\n"
    assert "does not serve model 'no-such-model'" in result.stderr


def test_hung_server_is_abandoned_at_the_timeout(groq: GroqServer, monkeypatch: pytest.MonkeyPatch):
    # No retries: the abandoned SDK thread must not send requests into later tests.
    monkeypatch.setenv("PIPPA_ENHANCE_RETRIES", "0")
    groq.answer_after(60)  # holds the request: only giving up on it ends the command

    result = invoke("enhance", "a red fox", "--style", "noir", "--enhance-timeout", "0.5")

    # pippa is done while Groq still holds its request: it gave up, it did not wait.
    assert len(groq.arrivals) == 1 and groq.requests == []
    assert result.exit_code == 0
    assert result.stdout == "a red fox. Noir style.\n"
    lines = warning_lines(result.stderr)
    assert len(lines) == 1
    assert lines[0].startswith("Warning:")
    assert "did not answer within 0.5 s" in lines[0]


def test_timeout_covers_the_sdk_retries_too(groq: GroqServer, monkeypatch: pytest.MonkeyPatch):
    """--enhance-timeout bounds the whole call: the SDK's retries (five tries of 0.5 s and
    the backoff between them, at least 0.5 + 1 + 2 + 4 s here) would take far longer."""
    monkeypatch.setenv("PIPPA_ENHANCE_RETRIES", "4")
    groq.answer_after(60)  # holds the first request; the retries would time out too

    proc = run_pippa("enhance", "a red fox", "--enhance-timeout", "0.5")
    ended = time.monotonic()

    # Timed from the request reaching Groq, so the child's start-up (slow on a loaded
    # machine) is not counted: 0.5 s and an exit, against 10 s of retries and backoff.
    assert groq.requests == [] and len(groq.arrivals) == 1
    took = ended - groq.arrivals[0]
    assert took < 5, f"gave up {took:.1f} s after the request; the retries take over 7 s"
    assert proc.returncode == 0
    assert proc.stdout == b"a red fox\n"
    assert b"did not answer within 0.5 s" in proc.stderr


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="not-json"),
        pytest.param(b"{}", id="no-choices"),
        pytest.param(b'{"choices": []}', id="empty-choices"),
        pytest.param(b"[]", id="a-list"),
    ],
)
def test_malformed_answer_falls_back(groq: GroqServer, body: bytes):
    groq.answer_raw(body)

    result = invoke("enhance", "a red fox", "--camera-angle", "aerial")

    assert result.exit_code == 0
    assert result.stdout == "a red fox. Aerial shot.\n"
    lines = warning_lines(result.stderr)
    assert len(lines) == 1
    assert lines[0] == (
        "Warning: prompt not enhanced: Groq returned a malformed answer; "
        "using your prompt as written"
    )


@pytest.mark.parametrize("content", ["", None, "   \n ", "Here is your enhanced prompt:"], ids=repr)
def test_empty_answer_falls_back(groq: GroqServer, content: str | None):
    groq.answer(content)

    result = invoke("enhance", "a red fox!", "--movement", "slow-motion")

    assert result.exit_code == 0
    assert result.stdout == "a red fox! Slow-motion footage.\n"
    lines = warning_lines(result.stderr)
    assert len(lines) == 1
    assert lines[0].startswith("Warning: prompt not enhanced: Groq returned an empty answer")


@pytest.mark.parametrize("key", [None, "", "   "], ids=["unset", "empty", "blank"])
def test_no_key_falls_back_without_contacting_groq(
    groq: GroqServer, monkeypatch: pytest.MonkeyPatch, key: str | None
):
    if key is None:
        monkeypatch.delenv("GROQ_API_KEY")
    else:
        monkeypatch.setenv("GROQ_API_KEY", key)
    groq.answer(ENHANCED)

    result = invoke("enhance", "a red fox", "--style", "anime")

    assert result.exit_code == 0
    assert result.stdout == "a red fox. Anime style.\n"
    lines = warning_lines(result.stderr)
    assert len(lines) == 1
    assert lines[0].startswith("Warning:")
    assert "GROQ_API_KEY is not set" in lines[0]
    assert groq.requests == []


# --- --strict -----------------------------------------------------------------------


def _no_key(groq: GroqServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GROQ_API_KEY")


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        pytest.param(lambda g, m: g.answer_status(500, FAST_RETRY), "HTTP 500", id="500"),
        pytest.param(lambda g, m: g.answer_status(401), "rejected the API key", id="401"),
        pytest.param(lambda g, m: g.answer(""), "empty answer", id="empty"),
        pytest.param(lambda g, m: g.answer_raw(b"{oops"), "malformed answer", id="malformed"),
        pytest.param(_no_key, "GROQ_API_KEY is not set", id="no-key"),
    ],
)
def test_strict_turns_a_fallback_into_an_error(
    groq: GroqServer, monkeypatch: pytest.MonkeyPatch, setup, reason: str
):
    monkeypatch.setenv("PIPPA_ENHANCE_RETRIES", "1")
    setup(groq, monkeypatch)

    result = invoke("enhance", "a red fox", "--style", "cinematic", "--strict")

    assert result.exit_code == 1
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert first.startswith("Error: prompt not enhanced: ")
    assert reason in first
    assert "Warning" not in result.stderr
    assert "Traceback" not in result.stderr


def test_strict_timeout_is_an_error(groq: GroqServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PIPPA_ENHANCE_RETRIES", "0")
    groq.answer_after(10)

    result = invoke("enhance", "a red fox", "--strict", "--enhance-timeout", "0.5")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: prompt not enhanced: Groq did not answer within 0.5 s")


def test_strict_success_is_unchanged(groq: GroqServer):
    groq.answer(ENHANCED)

    result = invoke("enhance", "a red fox", "--strict")

    assert result.exit_code == 0
    assert result.stdout == ENHANCED + "\n"


# --- --json -------------------------------------------------------------------------


def test_json_on_success(groq: GroqServer):
    groq.answer(ENHANCED)

    result = invoke("enhance", "a red fox", "--style", "cinematic", "--mood", "epic", "--json")

    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\n") == 1
    assert json.loads(result.stdout) == {
        "original_prompt": "a red fox",
        "enhanced_prompt": ENHANCED,
        "enhanced": True,
        "model": DEFAULT_MODEL,
        "customization": {"style": "cinematic", "mood": "epic"},
    }


def test_json_on_fallback_carries_the_warning(groq: GroqServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PIPPA_ENHANCE_RETRIES", "0")
    groq.answer_status(500)

    result = invoke(
        "enhance", "a red fox", "--style", "cinematic", "--json", "--enhance-model", "m-1"
    )

    assert result.exit_code == 0
    assert result.stdout.count("\n") == 1
    data = json.loads(result.stdout)
    assert data == {
        "original_prompt": "a red fox",
        "enhanced_prompt": "a red fox. Cinematic style.",
        "enhanced": False,
        "model": "m-1",
        "customization": {"style": "cinematic"},
        "warning": data["warning"],
    }
    assert data["warning"].startswith("prompt not enhanced: Groq answered with HTTP 500")


# --- configuration: flags > environment > .env --------------------------------------


@pytest.mark.parametrize(
    ("dotenv", "env", "flag", "expected"),
    [
        (None, None, None, DEFAULT_MODEL),
        ("a", None, None, "a"),
        ("a", "b", None, "b"),
        ("a", "b", "c", "c"),
        ("a", None, "c", "c"),
        (None, "b", "c", "c"),
    ],
)
def test_model_precedence(
    groq: GroqServer,
    monkeypatch: pytest.MonkeyPatch,
    dotenv: str | None,
    env: str | None,
    flag: str | None,
    expected: str,
):
    if dotenv:
        Path(".env").write_text(f"PIPPA_ENHANCE_MODEL={dotenv}\n", encoding="utf-8")
    if env:
        monkeypatch.setenv("PIPPA_ENHANCE_MODEL", env)
    groq.answer(ENHANCED)

    result = invoke("enhance", "a red fox", *(["--enhance-model", flag] if flag else []))

    assert result.exit_code == 0, result.stderr
    assert groq.request_json()["model"] == expected


def test_key_and_base_url_are_read_from_dotenv(groq: GroqServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GROQ_API_KEY")
    monkeypatch.delenv("GROQ_BASE_URL")
    Path(".env").write_text(
        f"GROQ_API_KEY=gsk_from_dotenv\nGROQ_BASE_URL={groq.base_url}\n", encoding="utf-8"
    )
    groq.answer(ENHANCED)

    result = invoke("enhance", "a red fox")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == ENHANCED + "\n"
    assert groq.requests[0].headers["Authorization"] == "Bearer gsk_from_dotenv"


def test_environment_key_beats_dotenv_key(groq: GroqServer):
    Path(".env").write_text("GROQ_API_KEY=gsk_from_dotenv\n", encoding="utf-8")
    groq.answer(ENHANCED)

    result = invoke("enhance", "a red fox")

    assert result.exit_code == 0, result.stderr
    assert groq.requests[0].headers["Authorization"] == f"Bearer {FAKE_KEY}"


def test_invalid_setting_is_a_usage_error(groq: GroqServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PIPPA_ENHANCE_TEMPERATURE", "5")
    groq.answer(ENHANCED)

    result = invoke("enhance", "a red fox")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: invalid setting enhance_temperature")
    assert groq.requests == []


# --- reading and validating input ---------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        pytest.param([""], None, "the prompt is empty", id="empty"),
        pytest.param([" \n\t "], None, "the prompt is empty", id="whitespace"),
        pytest.param(["x" * 501], None, "501 characters long; the limit is 500", id="too-long"),
        pytest.param(["a red\x07 fox"], None, "contains control characters", id="bell"),
        pytest.param(["a red\x1b[31m fox"], None, "contains control characters", id="escape"),
        pytest.param(["-"], b"a red \xff fox", "stdin is not valid UTF-8 (byte 6)", id="not-utf8"),
        pytest.param(["-"], b"", "stdin is empty", id="empty-stdin-dash"),
        pytest.param([], b"", "stdin is empty", id="empty-stdin-piped"),
        pytest.param([], b" \n \n", "stdin is empty", id="blank-stdin"),
        pytest.param(["-"], b"a \x00 fox", "on stdin contains control characters", id="nul"),
        pytest.param(
            ["a red fox", "--style", "s" * 61], None, "--style is 61 characters long", id="style"
        ),
        pytest.param(
            ["a red fox", "--camera-angle", "c" * 61],
            None,
            "--camera-angle is 61 characters long",
            id="camera-angle",
        ),
        pytest.param(
            ["a red fox", "--mood", "calm\x07"], None, "--mood contains control", id="mood-ctrl"
        ),
    ],
)
def test_bad_input_is_a_usage_error_and_costs_nothing(
    groq: GroqServer, args: list[str], stdin: bytes | None, message: str
):
    groq.answer(ENHANCED)

    result = invoke("enhance", *args, input=stdin)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr.splitlines()[0]
    assert groq.requests == []


def test_limits_are_inclusive(groq: GroqServer):
    groq.answer(ENHANCED)

    result = invoke("enhance", "x" * 500, "--style", "s" * 60)

    assert result.exit_code == 0, result.stderr
    user = groq.request_json()["messages"][1]["content"]
    assert "x" * 500 in user
    assert "s" * 60 in user


@pytest.mark.parametrize("args", [["-"], []], ids=["dash", "no-argument"])
def test_prompt_from_stdin(groq: GroqServer, args: list[str]):
    groq.answer(ENHANCED)

    result = invoke("enhance", *args, input="\ufeffa red fox\nin the   snow\n")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == ENHANCED + "\n"
    assert "Idea: a red fox in the snow\n" in groq.request_json()["messages"][1]["content"] + "\n"


def test_argument_wins_over_stdin(groq: GroqServer):
    groq.answer(ENHANCED)

    result = invoke("enhance", "a blue whale", input="a red fox\n")

    assert result.exit_code == 0, result.stderr
    user = groq.request_json()["messages"][1]["content"]
    assert "a blue whale" in user
    assert "a red fox" not in user


# --- secrets ------------------------------------------------------------------------


def test_key_never_shown_on_a_rejected_key_with_debug(groq: GroqServer):
    groq.answer_status(401)

    for extra in ([], ["--strict"]):
        result = invoke("enhance", "a red fox", "--debug", *extra)

        assert "rejected the API key" in result.stderr
        assert FAKE_KEY not in result.stdout
        assert FAKE_KEY not in result.stderr


def test_key_never_shown_in_json(groq: GroqServer):
    groq.answer(ENHANCED)

    result = invoke("enhance", "a red fox", "--json", "--debug")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["enhanced"] is True
    assert FAKE_KEY not in result.stdout
    assert FAKE_KEY not in result.stderr


# --- real processes: pipes, stdout purity and exit codes ----------------------------


def test_process_piped_stdin_success(groq: GroqServer):
    groq.answer(ENHANCED)

    proc = run_pippa("enhance", "--style", "cinematic", input=b"a red fox in the snow\n")

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (ENHANCED + "\n").encode()
    assert proc.stderr == b""
    user = groq.request_json()["messages"][1]["content"]
    assert "Idea: a red fox in the snow" in user
    assert "cinematic" in user


def test_process_fallback_warns_on_stderr_only(groq: GroqServer):
    groq.answer_status(401)

    proc = run_pippa("enhance", "a red fox", "--style", "cinematic")

    assert proc.returncode == 0
    assert proc.stdout == b"a red fox. Cinematic style.\n"
    lines = warning_lines(proc.stderr.decode())
    assert len(lines) == 1
    assert lines[0].startswith("Warning: prompt not enhanced: Groq rejected the API key")
    assert b"\x1b[" not in proc.stderr  # not a terminal: no styling


def test_process_bad_input_exits_2(groq: GroqServer):
    groq.answer(ENHANCED)

    proc = run_pippa("enhance", "-", input=b"")

    assert proc.returncode == 2
    assert proc.stdout == b""
    assert proc.stderr.startswith(b"Error: stdin is empty\n")
    assert groq.requests == []


def test_process_strict_exits_1(groq: GroqServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PIPPA_ENHANCE_RETRIES", "0")
    groq.answer_status(500)

    proc = run_pippa("enhance", "a red fox", "--strict")

    assert proc.returncode == 1
    assert proc.stdout == b""
    assert proc.stderr.startswith(b"Error: prompt not enhanced: Groq answered with HTTP 500")
    assert len(groq.requests) == 1
