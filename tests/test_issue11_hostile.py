"""--extend, --lora and ltx-hd against hostile input: pipes and devices, an MP4 index that
lies about its frames, impossible combinations, odd values from Python."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import pippa_cli
from pippa_cli.errors import UsageError
from tests.helpers import SMALL, child_env, invoke
from tests.modal_standin import ModalStandIn
from tests.test_extend import clip, generate


def _pippa_child(*args: str) -> subprocess.CompletedProcess[str]:
    """`pippa ARGS` in a child: a read that blocks forever ends the test, not the suite."""
    return subprocess.run(
        [sys.executable, "-m", "pippa_cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=child_env(),
        stdin=subprocess.DEVNULL,
    )


# --- reading must never hang (--image already refuses FIFOs: image_input.py:94) -------------


def test_a_fifo_as_extend_is_refused_rather_than_waited_on(clean_env: Path):
    os.mkfifo("pipe.mp4")
    # Blocks in extend_input.read_source's path.open() today: TimeoutExpired.
    done = _pippa_child("generate", "a fox", "--no-enhance", *SMALL, "--extend", "pipe.mp4")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("Error: --extend pipe.mp4"), done.stderr


def test_a_fifo_as_lora_is_refused_rather_than_waited_on(clean_env: Path):
    os.mkfifo("pipe.safetensors")
    # Blocks in lora_input._hash's path.open() today: TimeoutExpired.
    done = _pippa_child("generate", "a fox", "--no-enhance", *SMALL, "--lora", "pipe.safetensors")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("Error: --lora pipe.safetensors"), done.stderr


def test_a_device_as_extend_is_refused_as_one_not_read_for_256_mib(
    modal_standin: ModalStandIn,
):
    # Today: 256 MiB of /dev/zero is read into memory, then "zero is larger than 256 MiB".
    result = generate("--extend", "/dev/zero")
    assert result.exit_code == 2
    assert "not a regular file" in result.stderr, result.stderr


# --- a lying MP4 index: nothing paid for, nothing misrecorded -------------------------------


def test_an_index_claiming_more_frames_than_its_sample_table_holds_is_refused(
    modal_standin: ModalStandIn,
):
    data = bytearray(clip(Path("fox.mp4")).read_bytes())  # 25 frames, 256x160, 8 fps
    # stsz: version/flags, sample_size (0: a table follows), sample_count, then 25 sizes.
    struct.pack_into(">I", data, data.index(b"stsz") + 12, 20_000)
    Path("liar.mp4").write_bytes(bytes(data))

    result = generate("--extend", "liar.mp4", "-o", "out.mp4")

    # Today: accepted, spawned on Modal (a 2.3 GB buffer allocated there for 25 frames),
    # and the records say "source_frames": 20000 for a 25-frame source.
    assert result.exit_code == 2, result.stderr
    assert modal_standin.spawns == []


# --- --extend with ltx-hd -------------------------------------------------------------------


def test_extend_with_ltx_hd_is_refused_for_the_model_whatever_the_source_size(
    modal_standin: ModalStandIn,
):
    clip(Path("fox.mp4"))  # 256x160: not ltx-hd's default 1216x704
    result = invoke("generate", "a fox", "--no-enhance", "--model", "ltx-hd", "--extend", "fox.mp4")
    # Today: "--extend fox.mp4 is 256x160 ... Extend it at its own size: --width 256
    # --height 160" - a hint that only leads to the next refusal (spec.py:219-228).
    assert result.exit_code == 2
    assert "ltx-hd" in result.stderr, result.stderr
    assert "--width" not in result.stderr, result.stderr


# --- messages -------------------------------------------------------------------------------


def test_a_lora_list_holding_a_non_string_says_so(modal_standin: ModalStandIn):
    with pytest.raises(UsageError) as caught:
        pippa_cli.generate("a boat", lora=["ok.safetensors", None], enhance=False)
    # Today: "lora must be str or list, not list".
    assert "not list" not in caught.value.message, caught.value.message


def test_an_empty_extend_names_no_file_rather_than_the_working_directory(
    modal_standin: ModalStandIn,
):
    result = generate("--extend", "")
    # Today: "--extend : /.../work is a directory".
    assert result.exit_code == 2
    assert "is a directory" not in result.stderr, result.stderr
