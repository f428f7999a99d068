"""A render that cannot be saved (a full disk, a file-size limit, a directory gone) is kept
and saved later; tags and sidecars carry no raw controls or secrets; a batch rerun checks
the clip itself, not only its sidecar.

The file-system errors are real: a small tmpfs filled up (needs root; skipped otherwise),
RLIMIT_FSIZE in a child process (EFBIG), a directory removed while the clip rendered.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pippa_cli.history import new_job
from tests.fixtures_ltx import small_args
from tests.helpers import TINY, child_env, history, invoke, sidecar
from tests.modal_standin import ModalStandIn, Script

PROMPT = "a lighthouse in a storm"


def home() -> Path:
    return Path(os.environ["PIPPA_HOME"])


def kept_path(task_id: str) -> Path:
    return home() / "unsaved" / f"{task_id}.mp4"


def noise_mp4(size: int, frames: int = 9, seed: int = 0) -> bytes:
    """A real H.264 MP4 of noise (noise does not compress: bigger frames, bigger file)."""
    import numpy as np

    from pippa_cli.mp4 import encode_mp4

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(frames, size, size, 3), dtype=np.uint8)
    return encode_mp4(pixels, 8, {"title": "noise"})


@pytest.fixture(autouse=True)
def private_tempdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system temp dir (pippa's second place for a kept render) is the test's own."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


# --- a small tmpfs that fills up (root only) ----------------------------------------------


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """mount(name, size, readonly=False): a fresh tmpfs at tmp_path/name."""
    mounted: list[Path] = []

    def mount(name: str, size: str = "256k", readonly: bool = False) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        path = tmp_path / name
        path.mkdir(parents=True, exist_ok=True)
        options = f"size={size}" + (",ro" if readonly else "")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", str(path)], capture_output=True, check=False)


def fill(directory: Path, leave_bytes: int = 0) -> Path:
    """Fill `directory`'s file system but for `leave_bytes` (rounded up to whole pages)."""
    stats = os.statvfs(directory)
    pages = -(-leave_bytes // stats.f_bsize)
    filler = directory / "filler"
    filler.write_bytes(b"\0" * ((stats.f_bavail - pages) * stats.f_bsize))
    assert os.statvfs(directory).f_bavail == pages
    return filler


def test_full_disk_keeps_a_local_render_until_there_is_room(
    tiny_model: Path, tmpfs: Callable[..., Path]
):
    out = tmpfs("out")
    filler = fill(out, leave_bytes=4096)  # the sidecar would fit; the clip does not
    target = out / "fox.mp4"

    failed = invoke(
        "generate", "a red fox", "--no-enhance", *small_args(tiny_model), "-o", str(target)
    )

    assert failed.exit_code == 1, failed.output
    job = history().list()[0]
    kept = kept_path(job.task_id)
    assert f"Error: could not save the video to {target}: No space left on device" in failed.stderr
    hint = f"The render is kept at {kept}; free some space, then: pippa status {job.task_id[:8]}"
    assert f"{hint} --wait -o PATH" in " ".join(failed.stderr.split())
    assert "unexpected" not in failed.stderr
    assert sorted(p.name for p in out.iterdir()) == ["filler"]  # no clip, sidecar or temp
    rendered = kept.read_bytes()
    assert rendered[4:8] == b"ftyp"
    assert (job.status, job.stage, job.pid) == ("running", "unsaved", None)
    assert "No space left on device" in (job.error or "") and str(kept) in (job.error or "")
    # Listing the jobs does not take it for an orphan.
    assert invoke("status", "--json").exit_code == 0
    assert history().get(job.task_id).status == "running"

    still_full = invoke("status", job.task_id[:8], "--wait", "-o", str(target))

    assert still_full.exit_code == 1
    assert "No space left on device" in still_full.stderr
    assert f"The render is kept at {kept}" in " ".join(still_full.stderr.split())
    assert sorted(p.name for p in out.iterdir()) == ["filler"]
    assert kept.read_bytes() == rendered
    assert history().get(job.task_id).stage == "unsaved"

    filler.unlink()
    saved = invoke("status", job.task_id[:8], "--wait", "-o", str(target))

    assert saved.exit_code == 0, saved.output
    assert target.read_bytes() == rendered
    saved_sidecar = sidecar(target)
    assert (saved_sidecar["status"], saved_sidecar["video_bytes"]) == ("completed", len(rendered))
    assert not kept.exists()
    done = history().get(job.task_id)
    assert (done.status, done.video_path, done.error) == ("completed", str(target), None)


def test_full_disk_keeps_a_modal_render_and_status_saves_it_to_the_planned_path(
    modal_standin: ModalStandIn, tmpfs: Callable[..., Path]
):
    out = tmpfs("out")
    # Room for the clip, none for its sidecar: the clip must not stay without it.
    filler = fill(out, leave_bytes=len(modal_standin.mp4))
    target = out / "storm.mp4"

    failed = invoke("generate", PROMPT, "--no-enhance", "-o", str(target), *TINY)

    assert failed.exit_code == 1, failed.output
    job = history().list()[0]
    kept = kept_path(job.task_id)
    assert "Error: could not save the video to" in failed.stderr
    assert "No space left on device" in failed.stderr
    assert f"The render is kept at {kept}" in " ".join(failed.stderr.split())
    assert sorted(p.name for p in out.iterdir()) == ["filler"]
    assert kept.read_bytes() == modal_standin.mp4
    assert (job.status, job.stage, job.pid) == ("running", "unsaved", None)
    assert job.remote_call_id

    filler.unlink()
    gets = modal_standin.gets
    saved = invoke("status", job.task_id[:8])

    assert saved.exit_code == 0, saved.output
    assert modal_standin.gets == gets  # saved from the kept copy, Modal was not asked
    assert target.read_bytes() == modal_standin.mp4
    assert sidecar(target)["status"] == "completed"
    assert not kept.exists()
    assert history().get(job.task_id).status == "completed"


def test_when_nothing_can_keep_a_modal_render_modal_still_holds_it(
    modal_standin: ModalStandIn, tmpfs: Callable[..., Path], private_tempdir: Path
):
    out = tmpfs("out")
    filler = fill(out)
    home().mkdir(parents=True, exist_ok=True)
    tmpfs("pippa-home/unsaved", size="64k", readonly=True)  # EROFS
    fill(tmpfs(private_tempdir.name))  # ENOSPC
    target = out / "storm.mp4"

    failed = invoke("generate", PROMPT, "--no-enhance", "-o", str(target), *TINY)

    assert failed.exit_code == 1, failed.output
    job = history().list()[0]
    stderr = " ".join(failed.stderr.split())
    assert f"could not save the video to {target}: No space left on device" in stderr
    assert "could not be kept here either; Modal keeps it for 7 days" in stderr
    assert f"pippa status {job.task_id[:8]} --wait -o PATH" in stderr
    assert (job.status, job.stage, job.pid) == ("running", "unsaved", None)

    filler.unlink()
    saved = invoke("status", job.task_id[:8], "--wait", "-o", str(target))

    assert saved.exit_code == 0, saved.output
    assert target.read_bytes() == modal_standin.mp4
    assert history().get(job.task_id).status == "completed"


# --- errors any user can meet ---------------------------------------------------------------


def test_a_local_render_outlives_its_output_directory(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from pippa_cli.backends.local_backend import LocalBackend

    out = tmp_path / "out"
    out.mkdir()
    render = LocalBackend.render

    def render_then_tidy(self, request, source, on_progress, **kwargs):  # the user tidies up
        data = render(self, request, source, on_progress, **kwargs)
        out.rmdir()
        return data

    monkeypatch.setattr(LocalBackend, "render", render_then_tidy)
    target = out / "fox.mp4"

    failed = invoke(
        "generate", "a red fox", "--no-enhance", *small_args(tiny_model), "-o", str(target)
    )

    assert failed.exit_code == 1, failed.output
    job = history().list()[0]
    kept = kept_path(job.task_id)
    stderr = " ".join(failed.stderr.split())
    assert f"could not save the video to {target}: No such file or directory" in stderr
    assert f"The render is kept at {kept}; create the directory again, then:" in stderr
    assert (job.status, job.stage, job.pid) == ("running", "unsaved", None)

    elsewhere = tmp_path / "elsewhere.mp4"
    saved = invoke("status", job.task_id[:8], "--wait", "-o", str(elsewhere))

    assert saved.exit_code == 0, saved.output
    assert elsewhere.read_bytes()[4:8] == b"ftyp"
    assert elsewhere.with_suffix(".json").is_file()
    assert not kept.exists()
    assert history().get(job.task_id).status == "completed"


# `pippa generate` against the Modal stand-in, in a child process whose files may not grow
# past FSIZE_LIMIT bytes: every write of the clip fails with a real EFBIG.
_EFBIG_CHILD = """
import os, resource, signal, sys
from pippa_cli.cli.app import app
from pippa_cli.cli.context import Runtime
from tests.modal_standin import ModalStandIn, Script

with open(os.environ["STANDIN_MP4"], "rb") as f:
    standin = ModalStandIn(f.read())
standin.script = Script(steps=1)

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(os.environ["FSIZE_LIMIT"])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
app(sys.argv[1:], prog_name="pippa", obj=Runtime(modal_sdk=standin))
"""


def test_a_file_size_limit_leaves_the_render_on_modal(modal_standin: ModalStandIn, tmp_path: Path):
    big = noise_mp4(192)
    limit = 64 * 1024  # above the history's size, below the clip's
    assert len(big) > 2 * limit
    mp4_file = tmp_path / "standin.mp4"
    mp4_file.write_bytes(big)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "storm.mp4"
    env = child_env(STANDIN_MP4=str(mp4_file), FSIZE_LIMIT=str(limit))
    args = ["generate", PROMPT, "--no-enhance", "-o", str(target), *TINY]

    child = subprocess.run(
        [sys.executable, "-c", _EFBIG_CHILD, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )

    assert child.returncode == 1, child.stderr
    job = history().list()[0]
    stderr = " ".join(child.stderr.split())
    assert f"could not save the video to {target}: File too large" in stderr
    assert "Modal keeps it for 7 days: lift the file-size limit, then:" in stderr
    assert f"pippa status {job.task_id[:8]} --wait -o PATH" in stderr
    assert list(out.iterdir()) == []  # no clip, no sidecar, no temp file
    assert not (home() / "unsaved").exists() or list((home() / "unsaved").iterdir()) == []
    assert (job.status, job.stage, job.pid) == ("running", "unsaved", None)
    assert job.remote_call_id

    # Without the limit, the render is fetched from Modal, which still holds it.
    modal_standin.mp4 = big
    modal_standin.add_call(job.remote_call_id, Script(steps=0))
    saved = invoke("status", job.task_id[:8], "--wait", "-o", str(target))

    assert saved.exit_code == 0, saved.output
    assert target.read_bytes() == big
    assert sidecar(target)["video_bytes"] == len(big)
    assert history().get(job.task_id).status == "completed"


def test_a_local_render_nothing_can_keep_is_reported_lost(tmp_path: Path):
    """save_video in a forked child under RLIMIT_FSIZE: the clip and every copy get EFBIG."""
    from pippa_cli.clip_files import VideoNotSaved, save_video
    from pippa_cli.output import Output, StageProgress

    out = tmp_path / "out"
    out.mkdir()
    target = out / "fox.mp4"
    job = new_job("a red fox", "local", output_path=str(target))
    job.status = "running"
    history().add(job)
    data = noise_mp4(192)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what save_video raised, then leave at once
        try:
            os.close(read_end)
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
            try:
                with StageProgress(Output(quiet=True)) as progress:
                    save_video(
                        history(),
                        job,
                        data,
                        target,
                        progress,
                        overwrite=False,
                        timings={},
                        started=None,
                    )
                report = {"raised": None}
            except VideoNotSaved as exc:
                report = {"raised": "VideoNotSaved", "message": exc.message, "hint": exc.hint}
            os.write(write_end, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = json.loads(pipe.read() or b"{}")
    os.waitpid(pid, 0)

    assert report["raised"] == "VideoNotSaved", report
    assert report["message"] == f"could not save the video to {target}: File too large"
    assert "could not be kept anywhere else either, so it is lost" in report["hint"]
    assert list(out.iterdir()) == []
    after = history().get(job.task_id)
    assert after.status == "failed"
    assert "the render is lost" in (after.error or "")


def test_a_waiting_render_whose_copy_is_gone_ends_failed(tmp_path: Path):
    """A local job waiting to be saved whose kept copy was deleted: `status --wait` ends."""
    job = new_job("a red fox", "local", output_path=str(tmp_path / "fox.mp4"))
    job.status, job.stage, job.pid = "running", "unsaved", None
    job.error = "could not save the video to fox.mp4: No space left on device"
    history().add(job)

    # A child process: were the job never to end, the wait would hang this test.
    waited = subprocess.run(
        [sys.executable, "-m", "pippa_cli", "status", job.task_id[:8], "--wait"],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=120,
        check=False,
    )

    assert waited.returncode == 1, waited.stderr
    after = history().get(job.task_id)
    assert after.status == "failed"
    assert after.error and after.error.endswith("the kept render is gone")
    # A copy that is still there keeps a job waiting, whatever became of its process.
    other = new_job("a blue whale", "local", output_path=str(tmp_path / "whale.mp4"))
    other.status, other.stage, other.pid = "running", "unsaved", 2**22 + 1  # no such pid
    history().add(other)
    kept_path(other.task_id).parent.mkdir(parents=True, exist_ok=True)
    kept_path(other.task_id).write_bytes(noise_mp4(16))

    listed = invoke("status", "--json")

    assert listed.exit_code == 0
    assert history().get(other.task_id).status == "running"


# --- tags and sidecars: no raw controls, no secrets ---------------------------------------

SECRET = "sk-live-NOT-GROQ-SHAPED-4242"  # redacted because it is GROQ_API_KEY's value
HOSTILE = {
    "nul": "A fox\x00 runs through snow",
    "csi": "A fox \x1b[31mred\x1b[0m runs through snow",
    "osc": "A fox \x1b]0;owned\x07 runs through snow",
    "c1": "A fox \x9b31m runs \x85through snow",
    "bidi": "A fox \u202e runs through snow",
    "secret": f"A fox {SECRET} runs through snow",
}
# Raw characters nothing written for other programs may carry (newline and tab aside).
_FORBIDDEN = {chr(c) for c in [*range(0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]}
_FORBIDDEN |= set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def assert_clean(text: str) -> None:
    assert not _FORBIDDEN & set(text), repr(text)
    assert SECRET not in text


def hostile_spec(original: str, output: Path):
    import dataclasses

    from pippa_cli.customization import Customization
    from pippa_cli.spec import build_spec

    spec = build_spec(
        prompt="a fox",
        customization=Customization.create(),
        enhance=False,
        duration=3,
        fps=8,
        width=64,
        height=64,
        steps=2,
        guidance=None,
        negative_prompt=None,
        seed=5,
        model="ltx-distilled",
        backend="local",
        output=output,
        overwrite=False,
    )
    return dataclasses.replace(spec, prompt=original)


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_mp4_tags_carry_no_controls_or_secrets(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import av
    import numpy as np

    from pippa_cli.mp4 import encode_mp4
    from pippa_cli.render_request import render_request

    monkeypatch.setenv("GROQ_API_KEY", SECRET)
    original = "\u202eA fox " + SECRET
    enhanced = HOSTILE[kind] + " at dawn. END-OF-PROMPT"
    request = render_request(hostile_spec(original, tmp_path / "x.mp4"), "task-1", enhanced)
    clip = tmp_path / "tags.mp4"
    clip.write_bytes(encode_mp4(np.zeros((9, 64, 64, 3), np.uint8), 8, request.metadata))

    with av.open(str(clip)) as container:
        tags = dict(container.metadata)

    for name in ("title", "comment", "pippa"):
        assert_clean(tags[name])
    assert tags["comment"].startswith("A fox") and tags["comment"].endswith("END-OF-PROMPT")
    assert tags["title"] == "A fox [redacted]"
    pippa_tag = json.loads(tags["pippa"])
    assert pippa_tag["enhanced_prompt"] == tags["comment"]
    assert pippa_tag["original_prompt"] == tags["title"]
    assert pippa_tag["task_id"] == "task-1"


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_sidecar_carries_no_controls_or_secrets(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from pippa_cli.clip_files import save_video
    from pippa_cli.output import Output, StageProgress

    monkeypatch.setenv("GROQ_API_KEY", SECRET)
    target = tmp_path / "fox.mp4"
    job = new_job("\u202eA fox " + SECRET, "local", output_path=str(target))
    job.status, job.enhanced_prompt = "running", HOSTILE[kind] + ". END-OF-PROMPT"
    history().add(job)

    with StageProgress(Output(quiet=True)) as progress:
        save_video(
            history(),
            job,
            noise_mp4(16),
            target,
            progress,
            overwrite=False,
            timings={},
            started=None,
        )

    raw = target.with_suffix(".json").read_text(encoding="utf-8")
    assert_clean(raw)
    saved = json.loads(raw)
    for name in ("original_prompt", "enhanced_prompt"):
        assert_clean(saved[name])
    assert saved["enhanced_prompt"].startswith("A fox")
    assert saved["enhanced_prompt"].endswith("END-OF-PROMPT")


# --- a batch rerun trusts the clip, not only its sidecar -----------------------------------


def _box(kind: bytes, payload: bytes = b"", wide: bool = False) -> bytes:
    import struct

    if wide:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def test_mp4_structure_check(tmp_path: Path):
    from pippa_cli.mp4 import check_structure

    whole = noise_mp4(16)
    built = _box(b"ftyp", b"isom") + _box(b"moov", b"x" * 20) + _box(b"mdat", b"y" * 50, True)
    to_end = _box(b"ftyp", b"isom") + _box(b"moov") + b"\0\0\0\0mdat" + b"z" * 40
    cases = {
        "whole": (whole, True),
        "built": (built, True),  # a 64-bit box size
        "to the end": (to_end, True),  # size 0: the last box runs to the end
        "cut in the middle": (whole[: len(whole) // 2], False),
        "cut a byte short": (whole[:-1], False),
        "a byte too many": (whole + b"\0", False),
        "cut in a header": (whole[:4], False),
        "empty": (b"", False),
        "garbage": (b"\x00garbage" * 64, False),
        "text": (b"the user's own video", False),
        "no moov": (_box(b"ftyp") + _box(b"mdat", b"y" * 9), False),
        "no mdat": (_box(b"ftyp") + _box(b"moov", b"x" * 9), False),
        "ftyp not first": (_box(b"moov") + _box(b"ftyp") + _box(b"mdat"), False),
        "box smaller than its header": (_box(b"ftyp") + b"\0\0\0\x04moov", False),
    }
    for name, (data, ok) in cases.items():
        path = tmp_path / "clip.mp4"
        path.write_bytes(data)
        assert (check_structure(path) is None) is ok, (name, check_structure(path))
    assert check_structure(tmp_path / "missing.mp4") is not None


def test_batch_rerun_renders_damaged_clips_again_and_skips_a_whole_one(
    modal_standin: ModalStandIn, tmp_path: Path
):
    from pippa_cli.batch_plan import is_complete

    source = tmp_path / "p.txt"
    source.write_text("a red fox\na blue whale\na green frog\na grey owl\n")
    clips = tmp_path / "clips"
    clips.mkdir()
    run = ["generate", "--from-file", str(source), "--output-dir", str(clips), "--no-enhance"]
    assert invoke(*run, *TINY).exit_code == 0
    names = ["001-a-red-fox", "002-a-blue-whale", "003-a-green-frog", "004-a-grey-owl"]
    clip = {name: clips / f"{name}.mp4" for name in names}
    for path in clip.values():
        assert sidecar(path)["video_bytes"] == len(modal_standin.mp4)
    # Each sidecar still says completed, but the clips are not what it recorded.
    clip[names[1]].write_bytes(modal_standin.mp4[: len(modal_standin.mp4) // 2])  # cut short
    clip[names[2]].write_bytes(b"\x00garbage" * 64)
    other = noise_mp4(32)  # a whole MP4, but another size than the sidecar recorded
    assert len(other) != len(modal_standin.mp4)
    clip[names[3]].write_bytes(other)
    assert [is_complete(path) for path in clip.values()] == [True, False, False, False]

    again = invoke(*run, "--json", *TINY)

    assert again.exit_code == 0, again.output
    statuses = {o["line"]: o["status"] for o in map(json.loads, again.stdout.splitlines())}
    assert statuses == {1: "skipped", 2: "completed", 3: "completed", 4: "completed"}
    assert len(modal_standin.spawns) == 7
    for path in clip.values():
        assert path.read_bytes() == modal_standin.mp4
        assert is_complete(path)


# --- the history on the same disk as the clip, filling during the render -----------------


@pytest.mark.parametrize("backend", ["modal", "local"])
def test_a_disk_that_fills_during_the_render_under_the_history_loses_nothing(
    backend: str,
    tmpfs: Callable[..., Path],
    modal_standin: ModalStandIn,
    tiny_model: Path,
    monkeypatch: pytest.MonkeyPatch,
    private_tempdir: Path,
):
    """The history and the clip share one disk, which fills while the render runs: the
    progress notes the history cannot take are dropped, the render is kept (system temp)
    or left on Modal, and the error says how to save it, never "run the command again"."""
    from pippa_cli.backends.local_backend import LocalBackend
    from pippa_cli.backends.modal_backend import ModalBackend

    disk = tmpfs("disk", size="4m")
    monkeypatch.setenv("PIPPA_HOME", str(disk / "home"))
    cls, method = (ModalBackend, "wait") if backend == "modal" else (LocalBackend, "render")
    original = getattr(cls, method)

    def render_then_fill(self, *args, **kwargs):
        data = original(self, *args, **kwargs)
        fill(disk)
        return data

    monkeypatch.setattr(cls, method, render_then_fill)
    options = small_args(tiny_model) if backend == "local" else ["--no-enhance", *TINY]
    if backend == "local":
        options = ["--no-enhance", *options]

    result = invoke("generate", PROMPT, "-o", str(disk / "clip.mp4"), *options)

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "run the command again" not in result.stderr
    assert "pippa status" in result.stderr and "--wait" in result.stderr
    job = history().list()[0]
    assert job.status == "running"
    if backend == "local":  # the data dir is full too: kept in the system temp dir
        assert any(p.name == f"{job.task_id}.mp4" for p in private_tempdir.rglob("*.mp4"))

    (disk / "filler").unlink()
    saved = invoke("status", job.task_id[:8], "--wait", "-o", str(disk / "later.mp4"))

    assert saved.exit_code == 0, saved.output
    assert history().get(job.task_id).status == "completed"
    assert (disk / "later.mp4").stat().st_size > 0 and (disk / "later.json").is_file()


def test_a_modal_call_the_history_cannot_record_is_cancelled(
    tmpfs: Callable[..., Path], modal_standin: ModalStandIn, monkeypatch: pytest.MonkeyPatch
):
    """Modal accepted the call but the history's disk filled at that moment: a render no
    one could find again is not left running (and billing)."""
    from pippa_cli.backends.modal_backend import ModalBackend

    disk = tmpfs("disk", size="4m")
    monkeypatch.setenv("PIPPA_HOME", str(disk / "home"))
    original = ModalBackend.spawn

    def spawn_then_fill(self, *args, **kwargs):
        call_id = original(self, *args, **kwargs)
        fill(disk)
        return call_id

    monkeypatch.setattr(ModalBackend, "spawn", spawn_then_fill)

    result = invoke("generate", PROMPT, "--no-enhance", "-o", str(disk / "c.mp4"), *TINY)

    assert result.exit_code == 1, result.stderr
    assert "could not be recorded, so it was cancelled" in result.stderr, result.stderr
    assert modal_standin.cancelled == [modal_standin.spawns[0].call_id]


# --- a batch on a full disk -----------------------------------------------------------------


def test_a_batch_on_a_full_disk_says_so_and_its_rerun_saves_instead_of_rendering(
    tmpfs: Callable[..., Path], modal_standin: ModalStandIn, tmp_path: Path
):
    disk = tmpfs("clips", size="256k")
    fill(disk, leave_bytes=len(modal_standin.mp4) + 8192)  # room for about one clip
    source = tmp_path / "list.txt"
    source.write_text("a fox\nan owl\na cat\n")
    command = ["generate", "--from-file", str(source), "--output-dir", str(disk), "--no-enhance"]

    first = invoke(*command, *TINY)

    assert first.exit_code == 1
    assert "No space left on device" in first.stderr
    assert "rendered but not saved" in first.stderr
    assert "left running on Modal" not in first.stderr
    spawned = len(modal_standin.spawns)
    assert spawned == 3

    (disk / "filler").unlink()
    second = invoke(*command, *TINY)

    assert second.exit_code == 0, second.output
    assert len(modal_standin.spawns) == spawned  # nothing rendered (or paid for) twice
    assert sorted(p.name for p in disk.glob("*.mp4")) == [
        "001-a-fox.mp4",
        "002-an-owl.mp4",
        "003-a-cat.mp4",
    ]
    assert {j.status for j in history().list()} == {"completed"}
    assert list((home() / "unsaved").glob("*.mp4")) == []
