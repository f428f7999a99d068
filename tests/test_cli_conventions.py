"""Conventions every pippa command keeps: fast help, version, colour, quiet, error reporting."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

import pytest

import pippa_cli
import pippa_cli.enhancement
from tests.groq_server import GroqServer
from tests.helpers import invoke, run_pippa
from tests.pseudo_terminal import read_terminal, terminal_env

HEAVY_MODULES = {"groq", "modal", "torch", "diffusers", "pydantic_settings"}
ANSI_ESCAPE = re.compile(rb"\x1b\[[0-9;]*m")
ANSI_COLOUR = re.compile(rb"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")


# --- help is fast: no heavy imports -------------------------------------------------


def imported_modules(importtime_stderr: str) -> set[str]:
    """Top-level module names from `python -X importtime` output."""
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name and name != "imported package":
                names.add(name.split(".")[0])
    return names


@pytest.mark.parametrize("args", [["--help"], ["enhance", "--help"], ["--version"]], ids=" ".join)
def test_help_imports_no_heavy_modules(args: list[str]):
    proc = run_pippa(*args, python_flags=["-X", "importtime"])

    assert proc.returncode == 0, proc.stderr.decode()
    modules = imported_modules(proc.stderr.decode())
    assert {"pippa_cli", "typer"} <= modules  # the parse found the real imports
    assert modules & HEAVY_MODULES == set()


def test_help_texts():
    top = run_pippa("--help")
    sub = run_pippa("enhance", "--help")

    assert top.returncode == sub.returncode == 0
    assert b"enhance" in top.stdout
    for flag in (b"--style", b"--camera-angle", b"--strict", b"--json", b"--enhance-timeout"):
        assert flag in sub.stdout
    assert top.stderr == sub.stderr == b""
    assert b"\x1b[" not in top.stdout + sub.stdout


def test_imported_modules_parser():
    sample = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       219 |      33335 |         pydantic.version\n"
        "import time:       487 |      43880 |   groq\n"
    )
    assert imported_modules(sample) == {"pydantic", "groq"}


# --- version ------------------------------------------------------------------------


def test_version():
    result = invoke("--version")
    proc = run_pippa("--version")

    assert result.exit_code == 0
    assert result.stdout == f"pippa {pippa_cli.__version__}\n"
    assert proc.returncode == 0
    assert proc.stdout == f"pippa {pippa_cli.__version__}\n".encode()
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", pippa_cli.__version__)


# --- NO_COLOR -----------------------------------------------------------------------


def stderr_on_a_terminal(*args: str, env: dict[str, str]) -> tuple[int, bytes, bytes]:
    """Run pippa with stderr on a pseudo-terminal; return (exit code, stdout, stderr)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pippa_cli", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
            env=env,
        )
    finally:
        os.close(slave)
    stdout, _ = proc.communicate(timeout=30)
    shown = read_terminal(master)
    os.close(master)
    return proc.returncode, stdout, shown


def test_error_is_coloured_on_a_terminal():
    code, stdout, stderr = stderr_on_a_terminal("enhance", "", env=terminal_env())

    assert code == 2
    assert stdout == b""
    assert b"Error: the prompt is empty" in stderr
    assert ANSI_COLOUR.search(stderr), stderr


def test_no_color_removes_colour():
    code, stdout, stderr = stderr_on_a_terminal("enhance", "", env=terminal_env(NO_COLOR="1"))

    assert code == 2
    assert stdout == b""
    assert b"Error: the prompt is empty" in stderr
    assert not ANSI_COLOUR.search(stderr), stderr


def test_no_color_removes_every_escape():
    code, _stdout, stderr = stderr_on_a_terminal("enhance", "", env=terminal_env(NO_COLOR="1"))

    assert code == 2
    assert stderr.startswith(b"Error: the prompt is empty"), stderr
    assert not ANSI_ESCAPE.search(stderr), stderr


# --- --quiet ------------------------------------------------------------------------


def test_quiet_hides_the_fallback_warning(groq: GroqServer):
    groq.answer_status(401)

    loud = invoke("enhance", "a red fox")
    quiet = invoke("enhance", "a red fox", "-q")

    assert loud.stderr.startswith("Warning:")
    assert quiet.exit_code == 0
    assert quiet.stdout == "a red fox\n"
    assert quiet.stderr == ""


def test_quiet_still_shows_errors(groq: GroqServer):
    groq.answer_status(401)

    usage = invoke("enhance", "", "--quiet")
    strict = invoke("enhance", "a red fox", "-q", "--strict")

    assert usage.exit_code == 2
    assert usage.stderr.startswith("Error: the prompt is empty")
    assert strict.exit_code == 1
    assert strict.stderr.startswith("Error: prompt not enhanced: Groq rejected the API key")


# --- unexpected exceptions ----------------------------------------------------------


@pytest.fixture
def broken_enhance(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args, **_kwargs):
        raise RuntimeError("boom in the enhancer")

    monkeypatch.setattr(pippa_cli.enhancement, "enhance_prompt", boom)


def test_unexpected_exception_is_one_error_line(broken_enhance: None):
    result = invoke("enhance", "a red fox")

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "Error: unexpected RuntimeError: boom in the enhancer"
    assert "--debug" in lines[1]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("how", ["flag", "env"])
def test_unexpected_exception_with_debug_shows_the_traceback(
    broken_enhance: None, monkeypatch: pytest.MonkeyPatch, how: str
):
    if how == "env":
        monkeypatch.setenv("PIPPA_DEBUG", "1")
    result = invoke("enhance", "a red fox", *(["--debug"] if how == "flag" else []))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: boom in the enhancer" in result.stderr
    assert "Error: unexpected RuntimeError: boom in the enhancer" in result.stderr


def test_debug_does_not_leak_into_the_next_run(broken_enhance: None):
    invoke("enhance", "a red fox", "--debug")

    result = invoke("enhance", "a red fox")

    assert "Traceback" not in result.stderr


def test_usage_error_has_no_traceback_without_debug():
    result = invoke("enhance", "a red \x07 fox")

    assert result.exit_code == 2
    assert "Traceback" not in result.stderr
    debug = invoke("enhance", "a red \x07 fox", "--debug")
    assert debug.exit_code == 2
    assert "Traceback (most recent call last)" in debug.stderr
    assert "UsageError" in debug.stderr
