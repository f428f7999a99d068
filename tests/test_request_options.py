"""The option table holds together: every row reaches the places derived from it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pippa_cli.batch_input import OVERRIDES
from pippa_cli.cli.app import app
from pippa_cli.errors import UsageError
from pippa_cli.ltx import RenderRequest
from pippa_cli.presets import resolve_model
from pippa_cli.request_options import (
    BATCH_OPTIONS,
    IMAGE,
    OPTIONS,
    RENDER,
    SEED,
    GivenOptions,
    RequestOption,
    check,
)
from pippa_cli.spec import build_spec


def test_every_render_field_is_a_render_request_field():
    routed = [o.render_field for o in OPTIONS if o.render_field]
    assert set(routed) <= set(RenderRequest.field_names())
    assert len(routed) == len(set(routed))


def test_every_option_is_a_flag_of_generate():
    text = CliRunner().invoke(app, ["generate", "--help"], env={"COLUMNS": "200"}).stdout
    for option in OPTIONS:
        assert f"  {option.cli_flag} " in text, option.name


def test_json_lines_take_the_batch_options_in_the_table_order():
    assert list(OVERRIDES) == [o.name for o in BATCH_OPTIONS]
    assert "allow_large" not in OVERRIDES


def test_build_spec_names_an_option_the_table_lacks(tmp_path):
    with pytest.raises(TypeError, match="frame_rate"):
        build_spec(
            prompt="a fox",
            backend="modal",
            output=tmp_path / "a.mp4",
            overwrite=False,
            model="ltx-video",
            frame_rate=3,
        )


def test_a_line_wins_only_for_the_options_its_command_has():
    command = GivenOptions({"style": "noir", "mood": "eerie"})

    merged = command.merged({"style": "", "seed": 5})

    assert merged == GivenOptions({"style": "", "mood": "eerie"})
    assert merged.customization().as_dict() == {"mood": "eerie"}


def test_a_repeatable_option_takes_one_value_or_a_list_and_checks_each():
    assert IMAGE.repeatable and IMAGE.json_types == (str, list)
    assert IMAGE.accepts("a.png") and IMAGE.accepts(["a.png", "b.png@-1"])
    assert IMAGE.accepts(("a.png",)) and IMAGE.accepts([])
    assert not IMAGE.accepts(3) and not IMAGE.accepts(["a.png", 3])
    assert IMAGE.check_all("a.png") == ("a.png",)
    assert IMAGE.check_all(["a.png", "b.png@-1"]) == ("a.png", "b.png@-1")
    counts = RequestOption("count", int, None, "How many.", RENDER, repeatable=True, maximum=3)
    assert counts.json_types == (int, list)
    with pytest.raises(UsageError, match="--count 5 is out of range"):
        counts.check_all([1, 5])


def test_a_repeatable_option_is_checked_as_a_tuple_empty_when_not_given():
    preset = resolve_model("ltx-video").defaults
    given = GivenOptions({"model": "ltx-video", "image": ["a.png", "b.png@-1"]})
    hash(given)  # a JSON list is kept as a tuple

    checked = check(given, lambda: preset)

    assert checked.every(IMAGE) == ("a.png", "b.png@-1")
    assert check(GivenOptions({"model": "ltx-video"}), lambda: preset).every(IMAGE) == ()
    with pytest.raises(TypeError, match="seed is not repeatable"):
        checked.every(SEED)
