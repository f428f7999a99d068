"""Shared test fixtures: every test runs with a clean pippa environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.groq_server",
    "tests.fixtures_ltx",
    "tests.modal_standin",
    "tests.hub_server",
]

# fixtures_ltx's fixtures that build or load a tiny model: a test using one (directly or
# through another fixture) is `slow`.
TINY_MODEL_FIXTURES = frozenset({"tiny_model", "tiny_ltx2", "tiny_ltx2_hd"})

_ENV_PREFIXES = ("PIPPA_", "GROQ_", "MODAL_", "HF_")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that needs a tiny LTX model (directly or through a fixture) renders
    with it, or loads it: seconds each. They are `slow`, so `-m "not slow"` is quick."""
    for item in items:
        if TINY_MODEL_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No real keys, tokens or user files leak into a test; PIPPA_HOME is a temp dir.

    The working directory is a fresh temp dir too, so a developer's `.env` is not read.
    """
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES) or name == "NO_COLOR":
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "pippa-home"
    monkeypatch.setenv("PIPPA_HOME", str(home))
    # Modal must never find a real token in tests.
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-modal.toml"))
    # No test asks the real Hugging Face; the Hub tests point HF_ENDPOINT at their own
    # server and drop this.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home
