"""The job history on a bad day: locked, full, read-only, damaged, newer, hostile text.

Each problem is made for real (a second SQLite connection or process holding the lock, a
tiny tmpfs filled up, a read-only remount or bind mount, garbage bytes, a row edited with
sqlite3). Mounting needs root; those tests skip where it is not permitted.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

import pippa_cli.history
from pippa_cli.errors import HistoryError
from pippa_cli.history import History, Job, new_job
from tests.helpers import add_job, dead_pid, invoke, without_file_capabilities
from tests.modal_results import remote_raise
from tests.modal_standin import ModalStandIn, Script

MOVE_ASIDE = "Move the file aside"
GENERATE = ["generate", "a fox", "--no-enhance", "--duration", "3"]


def one_line(text: str) -> str:
    """Rich wraps long errors; join the lines back."""
    return " ".join(text.split())


def user_version(path: Path) -> int:
    """PRAGMA user_version, from the file's header (works on a read-only mount too)."""
    return int.from_bytes(path.read_bytes()[60:64], "big")


def edit(path: Path, *statements: str) -> None:
    """Change the history behind pippa's back, as another program (or pippa) would."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            db.execute(statement)
    finally:
        db.close()


# --- mounts -------------------------------------------------------------------------------


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mounting is not permitted here: {done.stderr.strip()}")


def _unmount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def tmpfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A small tmpfs (root only) that PIPPA_HOME points into."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "mnt"
    mount.mkdir()
    _mount("-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount))
    monkeypatch.setenv("PIPPA_HOME", str(mount / "home"))
    yield mount
    _unmount(mount)


def remount_read_only(mount: Path) -> None:
    _mount("-o", "remount,ro", str(mount))


def fill(mount: Path) -> Path:
    filler = mount / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


# --- each cause gets its own advice ----------------------------------------------------------

HOLD_LOCK = textwrap.dedent(
    """
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.read()
    db.execute("ROLLBACK")
    """
)


@pytest.fixture(params=["connection", "process"])
def locked_history(
    request: pytest.FixtureRequest, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The history with a write lock held by another connection, or another process."""
    history = History.open_default()
    add_job("already here", into=history)
    monkeypatch.setattr(pippa_cli.history, "_BUSY_TIMEOUT_S", 0.2)
    if request.param == "connection":
        db = sqlite3.connect(history.path, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        yield history.path
        db.execute("ROLLBACK")
        db.close()
        return
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(history.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    yield history.path
    holder.communicate("")


def test_a_locked_history_says_another_process_holds_it(
    locked_history: Path, modal_standin: ModalStandIn
):
    result = invoke(*GENERATE)

    assert result.exit_code == 1
    error = one_line(result.stderr)
    assert f"the job history {locked_history} is locked" in error
    assert "another pippa process" in error and "PIPPA_HOME" in error
    assert MOVE_ASIDE not in error
    assert modal_standin.spawns == []
    # Reading is not blocked by a writer (WAL): the list still works.
    listed = invoke("status")
    assert listed.exit_code == 0 and "already here" in listed.stdout


def test_a_full_disk_says_so_and_loses_nothing(tmpfs: Path, modal_standin: ModalStandIn):
    history = History.open_default()
    add_job("recorded before the disk filled", into=history)
    filler = fill(tmpfs)

    result = invoke(*GENERATE)

    assert result.exit_code == 1
    error = one_line(result.stderr)
    assert "the disk holding it is full" in error and "already recorded are intact" in error
    assert MOVE_ASIDE not in error
    assert modal_standin.spawns == []
    listed = invoke("status")
    assert listed.exit_code == 0, listed.stderr
    assert "recorded before the disk filled" in listed.stdout
    # Space again: the same history takes new jobs, the old one still there.
    filler.unlink()
    add_job("after", into=History.open_default())
    prompts = {j.original_prompt for j in History.open_default().list()}
    assert prompts == {"recorded before the disk filled", "after"}


def test_a_disk_filling_while_the_history_is_open_says_so(tmpfs: Path):
    history = History.open_default()
    add_job("first", into=history)
    reader = sqlite3.connect(history.path)  # keeps the -wal and -shm files in place
    reader.execute("SELECT count(*) FROM jobs").fetchone()
    try:
        fill(tmpfs)
        with pytest.raises(HistoryError) as raised:
            add_job("x" * 20_000, into=history)
    finally:
        reader.close()

    assert "the disk holding it is full" in raised.value.message
    assert MOVE_ASIDE not in (raised.value.hint or "")


def _legacy_history(path: Path) -> None:
    """A history as pippa wrote it before schema versions: same table, version 0."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.executescript(pippa_cli.history._SCHEMA)
    db.close()


@pytest.mark.parametrize("mount_kind", ["remount", "bind"])
@pytest.mark.parametrize("versioned", [True, False], ids=["versioned", "unversioned"])
def test_a_read_only_history_is_listed_and_refuses_writes(
    tmpfs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    modal_standin: ModalStandIn,
    mount_kind: str,
    versioned: bool,
):
    home = tmpfs / "home"
    if not versioned:
        _legacy_history(home / "history.db")
    history = History.open_default()
    done = add_job("a finished fox", video_path="/v/fox.mp4", into=history)
    # Its process is gone: a writable history would mark it failed.
    orphan = add_job("an orphaned fox", status="running", pid=dead_pid(), into=history)
    if not versioned:
        edit(history.path, "PRAGMA user_version = 0")
    if mount_kind == "remount":
        remount_read_only(tmpfs)
    else:
        view = tmp_path / "view"
        view.mkdir()
        _mount("--bind", str(home), str(view))
        try:
            _mount("-o", "remount,ro,bind", str(view))
        except BaseException:
            _unmount(view)
            raise
        monkeypatch.setenv("PIPPA_HOME", str(view))

    try:
        listed = invoke("status")
        as_json = invoke("status", "--json")
        shown = invoke("status", orphan.task_id[:8])
        started = invoke(*GENERATE)
        doctor = invoke("doctor", "--json")
    finally:
        if mount_kind == "bind":
            _unmount(view)

    assert listed.exit_code == 0, listed.stderr
    assert "a finished fox" in listed.stdout and "an orphaned fox" in listed.stdout
    assert "read-only file system" in listed.stderr
    assert listed.stderr.count("shown as last recorded") == 1
    assert as_json.exit_code == 0
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert {r["task_id"]: r["status"] for r in rows} == {
        done.task_id: "completed",
        orphan.task_id: "running",
    }
    assert shown.exit_code == 0, shown.stderr
    assert "an orphaned fox" in shown.stdout
    assert started.exit_code == 1
    error = one_line(started.stderr)
    assert "read-only file system" in error and "PIPPA_HOME" in error
    assert MOVE_ASIDE not in error
    assert modal_standin.spawns == []
    assert user_version(home / "history.db") == (1 if versioned else 0)
    check = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "history")
    assert check["status"] == "error" and "can only be read" in check["message"]


def test_no_history_on_a_read_only_file_system_lists_nothing(
    tmpfs: Path, modal_standin: ModalStandIn
):
    (tmpfs / "home").mkdir()
    remount_read_only(tmpfs)

    listed = invoke("status")
    started = invoke(*GENERATE)

    assert listed.exit_code == 0, listed.stderr
    assert "No jobs yet" in listed.stderr
    assert started.exit_code == 1
    assert "read-only file system" in one_line(started.stderr)
    assert modal_standin.spawns == []


WITHOUT_PERMISSION = textwrap.dedent(
    """
    import json, sys
    from pippa_cli.history import History, new_job
    from tests.helpers import invoke

    listed = invoke("status", "--json")
    try:
        History.open_default().add(new_job("another fox", "modal"))
        refused = None
    except Exception as exc:
        refused = [exc.message, exc.hint]
    print(json.dumps([listed.exit_code, listed.stdout, listed.stderr, refused]))
    """
)


@pytest.mark.parametrize("readable", [True, False], ids=["read-only-file", "unreadable-file"])
def test_permissions_are_named_as_the_cause(clean_env: Path, readable: bool):
    """chmod alone does not stop root: as root, the child runs without the capabilities
    that override file permissions."""
    history = History.open_default()
    add_job("a fox", into=history)
    history.path.chmod(0o444 if readable else 0o000)
    clean_env.chmod(0o555)
    try:
        child = without_file_capabilities(WITHOUT_PERMISSION)
    finally:
        clean_env.chmod(0o755)
    assert child.returncode == 0, child.stderr
    exit_code, stdout, stderr, refused = json.loads(child.stdout)

    assert refused is not None
    message, hint = refused
    assert "permission denied" in message and MOVE_ASIDE not in hint
    assert f"Check the owner and permissions of {history.path}" in hint
    if readable:
        assert exit_code == 0, stderr
        assert json.loads(stdout)["original_prompt"] == "a fox"
        assert "cannot be written: permission denied" in message
    else:
        assert exit_code == 1
        assert "cannot be read: permission denied" in one_line(stderr)


@pytest.mark.parametrize("damage", ["garbage", "malformed"])
def test_only_a_damaged_file_is_worth_moving_aside(clean_env: Path, damage: str):
    path = clean_env / "history.db"
    if damage == "garbage":
        clean_env.mkdir(parents=True)
        path.write_bytes(b"not SQLite at all\x00\xff" * 300)
    else:
        history = History.open_default()
        for n in range(200):
            add_job(f"fox {n} " + "x" * 200, into=history)
        edit(path, "PRAGMA wal_checkpoint(TRUNCATE)")
        data = bytearray(path.read_bytes())
        data[4096 * 2 :] = b"\xa5" * (len(data) - 4096 * 2)  # every page after the second
        path.write_bytes(bytes(data))
    before = path.read_bytes()

    result = invoke("status")

    assert result.exit_code == 1
    error = one_line(result.stderr)
    assert f"the job history {path} is damaged" in error
    assert MOVE_ASIDE in error and "never overwrites" in error
    assert path.read_bytes() == before


# --- rows a newer pippa wrote, rows that are damaged -------------------------------------


def test_extra_columns_from_a_newer_pippa_are_ignored(clean_env: Path, modal_standin: ModalStandIn):
    history = History.open_default()
    old = add_job("written before the upgrade", into=history)
    edit(
        history.path,
        "ALTER TABLE jobs ADD COLUMN future TEXT",
        "ALTER TABLE jobs ADD COLUMN future_count INTEGER NOT NULL DEFAULT 3",
        "UPDATE jobs SET future = 'from the future'",
        "PRAGMA user_version = 7",
    )

    listed = invoke("status", "--json")
    generated = invoke(*GENERATE, "-o", "fox.mp4")
    shown = invoke("status", old.task_id)

    assert listed.exit_code == 0, listed.stderr
    assert json.loads(listed.stdout)["original_prompt"] == "written before the upgrade"
    assert generated.exit_code == 0, generated.stderr
    assert Path("fox.mp4").is_file()
    jobs = History.open_default().list()
    assert [j.status for j in jobs] == ["completed", "completed"]
    assert all(j.damaged is None for j in jobs)
    assert shown.exit_code == 0 and "written before the upgrade" in shown.stdout
    assert user_version(history.path) == 7  # never stamped down
    with closing(sqlite3.connect(history.path)) as db:
        assert db.execute("SELECT count(*) FROM jobs WHERE future_count = 3").fetchone() == (2,)


def test_a_newer_schema_that_refuses_a_write_says_upgrade(clean_env: Path):
    history = History.open_default()
    edit(
        history.path,
        "ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT 'x' CHECK (owner != 'x')",
        "PRAGMA user_version = 2",
    )

    with pytest.raises(HistoryError) as raised:
        add_job("a fox", into=History.open_default())

    assert "newer pippa (schema version 2; this pippa knows 1)" in raised.value.message
    assert "Upgrade pippa" in (raised.value.hint or "")
    assert MOVE_ASIDE not in (raised.value.hint or "")


# What is written into one row, and what `damaged` then says.
DAMAGE = {
    "settings-not-json": ("UPDATE jobs SET settings = '{\"steps\": 5' WHERE {row}", "settings"),
    "timings-not-an-object": ("UPDATE jobs SET timings = '[1, 2]' WHERE {row}", "timings"),
    "progress-not-a-number": ("UPDATE jobs SET progress = 'half' WHERE {row}", "progress"),
    "status-missing": ("UPDATE jobs SET status = NULL WHERE {row}", "status is missing"),
}


@pytest.fixture(params=sorted(DAMAGE))
def one_damaged_row(
    request: pytest.FixtureRequest, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Job], Job, str]:
    """Three good jobs and one damaged row among them (its process gone, still 'running')."""
    path = clean_env / "history.db"
    statement, reason = DAMAGE[request.param]
    if request.param == "status-missing":
        # A schema without NOT NULL (as another tool might have written it).
        _legacy_history(path)
        edit(
            path,
            "ALTER TABLE jobs RENAME TO old_jobs",
            "CREATE TABLE jobs AS SELECT * FROM old_jobs WHERE 0",
            "DROP TABLE old_jobs",
        )
    history = History.open_default()
    good = [add_job(f"good fox {n}", into=history) for n in range(3)]
    bad = add_job("the damaged fox", status="running", pid=dead_pid(), into=history)
    edit(path, statement.replace("{row}", f"task_id = '{bad.task_id}'"))
    return good, bad, reason


def test_a_damaged_row_is_shown_as_damaged_among_the_good_ones(
    one_damaged_row: tuple[list[Job], Job, str],
):
    good, bad, reason = one_damaged_row

    table = invoke("status")
    as_json = invoke("status", "--json")
    shown = invoke("status", bad.task_id[:8])

    assert table.exit_code == 0, table.stderr
    lines = {line.split("\t")[0]: line.split("\t") for line in table.stdout.splitlines()}
    for job in good:
        assert lines[job.task_id[:8]][1] == "completed"
    damaged = lines[bad.task_id[:8]]
    assert damaged[1] == "damaged"
    assert reason in damaged[5] and "the damaged fox" in damaged[4]

    assert as_json.exit_code == 0
    rows = {r["task_id"]: r for r in map(json.loads, as_json.stdout.splitlines())}
    assert set(rows) == {job.task_id for job in [*good, bad]}
    assert reason in rows[bad.task_id]["damaged"]
    assert all("damaged" not in rows[job.task_id] for job in good)

    assert shown.exit_code == 0, shown.stderr
    assert "the damaged fox" in shown.stdout
    assert reason in next(line for line in shown.stdout.splitlines() if line.startswith("damaged"))
    # Nothing was written to the damaged row (a sound one would be marked failed).
    again = History.open_default().get(bad.task_id)
    assert again.damaged and again.completed_at is None


# --- schema versions ---------------------------------------------------------------------


def test_a_new_history_is_stamped_with_the_schema_version(clean_env: Path):
    History.open_default()

    assert pippa_cli.history.SCHEMA_VERSION == 1
    assert user_version(clean_env / "history.db") == 1


def test_an_unversioned_history_is_stamped_and_keeps_its_rows(clean_env: Path):
    path = clean_env / "history.db"
    _legacy_history(path)
    job = new_job("from an older pippa", "modal")
    edit(
        path,
        "INSERT INTO jobs (task_id, status, original_prompt, backend, created_at) "
        f"VALUES ('{job.task_id}', 'completed', 'from an older pippa', 'modal', "
        f"'{job.created_at}')",
    )
    assert user_version(path) == 0

    listed = invoke("status", "--json")

    assert listed.exit_code == 0, listed.stderr
    assert json.loads(listed.stdout)["original_prompt"] == "from an older pippa"
    assert user_version(path) == 1


def test_migrations_run_once_each_in_order(clean_env: Path, monkeypatch: pytest.MonkeyPatch):
    path = clean_env / "history.db"
    _legacy_history(path)
    ran: list[int] = []

    def add_column(db: sqlite3.Connection) -> None:
        ran.append(2)
        db.execute("ALTER TABLE jobs ADD COLUMN next_thing TEXT")

    def stamp(db: sqlite3.Connection) -> None:
        ran.append(1)

    monkeypatch.setattr(pippa_cli.history, "_MIGRATIONS", (stamp, add_column))
    monkeypatch.setattr(pippa_cli.history, "SCHEMA_VERSION", 2)

    History.open_default()
    History.open_default()  # already at 2: a second ALTER TABLE would fail

    assert ran == [1, 2]
    assert user_version(path) == 2
    with closing(sqlite3.connect(path)) as db:
        assert "next_thing" in [row[1] for row in db.execute("PRAGMA table_info(jobs)")]


# --- nothing raw, nothing secret is stored -----------------------------------------------

SECRET = "sk-history-test-0123456789abcdef"
HOSTILE = "boom \x1b]0;pwned\x07 \x1b[31mred\u202e key=" + SECRET


def _stored_text(path: Path) -> str:
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT * FROM jobs").fetchall()
    return "\n".join(str(value) for row in rows for value in row)


def _assert_clean(text: str) -> None:
    for raw in ("\x1b", "\x07", "\u202e", "\x9b", SECRET):
        assert raw not in text
    assert "[redacted]" in text
    assert "\\x1b]0;pwned\\x07" in text


def test_stored_text_is_escaped_and_redacted(clean_env: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("GROQ_API_KEY", SECRET)
    history = History.open_default()
    job = new_job(
        "a fox \x9b31m" + SECRET,
        "modal",
        output_path="/videos/\x1b[2Jfox.mp4",
        settings={"note": HOSTILE},
    )
    history.add(job)
    history.update(job.task_id, stage="\x1b[1mdenoising", timings={HOSTILE: 1.0})
    history.finish(job.task_id, "failed", error=HOSTILE)

    _assert_clean(_stored_text(history.path))
    again = history.get(job.task_id)
    assert again.error == "boom \\x1b]0;pwned\\x07 \\x1b[31mred\\u202e key=[redacted]"
    # JSON keeps its own escapes (\u001b), which a JSON reader decodes as before.
    assert again.settings == {"note": HOSTILE.replace(SECRET, "[redacted]")}


def test_a_hostile_server_error_is_stored_escaped(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, modal_standin: ModalStandIn
):
    monkeypatch.setenv("GROQ_API_KEY", SECRET)
    modal_standin.script = Script(steps=0, outcome=remote_raise(RuntimeError(HOSTILE)))

    result = invoke(*GENERATE)

    assert result.exit_code == 1
    (job,) = History.open_default().list()
    assert job.status == "failed"
    _assert_clean(_stored_text(clean_env / "history.db"))


# --- status --limit ------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["99999999999999999999", str(2**63), str(2**63 - 1)])
def test_a_huge_limit_lists_everything(clean_env: Path, limit: str):
    history = History.open_default()
    for n in range(3):
        add_job(f"fox {n}", into=history)

    listed = invoke("status", "--limit", limit, "--json")

    assert listed.exit_code == 0, listed.stderr
    assert len(listed.stdout.splitlines()) == 3


# --- pids no process can have, cells that are not UTF-8 ----------------------------------

LISTINGS = {"list": ["status"], "json": ["status", "--json"], "show": ["status", "{id}"]}


@pytest.mark.parametrize("listing", LISTINGS.values(), ids=LISTINGS.keys())
@pytest.mark.parametrize("pid", [99_999_999_999, 2**63 - 1, -1, 0])
def test_a_pid_no_process_can_have_is_gone(clean_env: Path, pid: int, listing: list[str]):
    """Written by another tool (or a damaged row): too large for a pid, or one os.kill
    reads as a process group; the job's process is gone, not alive and not a crash."""
    history = History.open_default()
    add_job("a good fox", into=history)
    job = add_job(
        "an orphaned fox", status="running", pid=pid, host=socket.gethostname(), into=history
    )

    result = invoke(*(arg.format(id=job.task_id[:8]) for arg in listing))

    assert result.exit_code == 0, result.output
    assert "an orphaned fox" in result.stdout
    assert ("a good fox" in result.stdout) == (listing != LISTINGS["show"])
    again = History.open_default().get(job.task_id)
    assert again.status == "failed" and "interrupted" in (again.error or "")


# Bytes another tool stored in a TEXT column, and how they are shown.
NOT_UTF8 = {
    "ff-and-escape": ("66ff1b5b324a", "f\\xff\\x1b[2J"),
    "truncated": ("666f78c3", "fox\\xc3"),
    "encoded-surrogate": ("61eda08062", "a\\xed\\xa0\\x80b"),
    "lone-continuation": ("80666f78", "\\x80fox"),
}


@pytest.mark.parametrize("column", ["original_prompt", "enhanced_prompt"])
@pytest.mark.parametrize(("hex_bytes", "shown"), NOT_UTF8.values(), ids=NOT_UTF8.keys())
def test_a_cell_that_is_not_utf8_is_shown_escaped_among_the_rest(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, hex_bytes: str, shown: str, column: str
):
    history = History.open_default()
    good = [add_job(f"good fox {n}", into=history) for n in range(2)]
    # Its process is gone: listing it writes other fields of the row (failed, error).
    bad = add_job(
        "bad fox", status="running", pid=dead_pid(), host=socket.gethostname(), into=history
    )
    row = f"task_id = '{bad.task_id}'"
    edit(history.path, f"UPDATE jobs SET {column} = CAST(X'{hex_bytes}' AS TEXT) WHERE {row}")

    table = invoke("status")
    as_json = invoke("status", "--json")
    one = invoke("status", bad.task_id[:8])

    for result in (table, as_json, one):
        assert result.exit_code == 0, result.output
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]", result.stdout)
    assert {line.split("\t")[0] for line in table.stdout.splitlines()[1:]} == {
        job.task_id[:8] for job in [*good, bad]
    }
    rows = {r["task_id"]: r for r in map(json.loads, as_json.stdout.splitlines())}
    assert set(rows) == {job.task_id for job in [*good, bad]}
    assert shown in one.stdout
    assert shown in table.stdout or column != "original_prompt"
    # JSON escapes the escape character its own way (\u001b); the byte shows as \xff.
    assert rows[bad.task_id][column] == shown.replace("\\x1b", "\x1b")
    # The other fields of the row could be written; the foreign bytes are kept as they were.
    assert History.open_default().get(bad.task_id).status == "failed"
    with closing(sqlite3.connect(history.path)) as db:
        stored = db.execute(f"SELECT CAST({column} AS BLOB) FROM jobs WHERE {row}").fetchone()
    assert stored == (bytes.fromhex(hex_bytes),)


@pytest.mark.parametrize("hex_bytes", ["66ff", "c3", "80"])
def test_a_task_id_that_is_not_utf8_is_listed_as_damaged(clean_env: Path, hex_bytes: str):
    """Its row cannot be addressed to write to it again: shown as damaged, left alone."""
    history = History.open_default()
    good = add_job("good fox", into=history)
    bad = add_job(
        "bad fox", status="running", pid=dead_pid(), host=socket.gethostname(), into=history
    )
    edit(
        history.path,
        f"UPDATE jobs SET task_id = CAST(X'{hex_bytes}' AS TEXT) || task_id "
        f"WHERE task_id = '{bad.task_id}'",
    )

    table = invoke("status")
    as_json = invoke("status", "--json")

    assert table.exit_code == 0 and as_json.exit_code == 0, table.output + as_json.output
    assert "damaged" in table.stdout and "good fox" in table.stdout
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert {r["task_id"] for r in rows if not r.get("damaged")} == {good.task_id}
    assert any("task_id is not valid UTF-8" in (r.get("damaged") or "") for r in rows)


# --- rows another tool wrote: values pippa must not trust ---------------------------------


@pytest.mark.parametrize("created_at", ["2024-01-01T00:00:00", "2024-01-01", "garbage"])
def test_a_timestamp_without_a_time_zone_does_not_break_the_list(clean_env: Path, created_at):
    history = History.open_default()
    good = add_job("good fox", into=history)
    odd = add_job("odd fox", into=history)
    edit(
        history.path, f"UPDATE jobs SET created_at = '{created_at}' WHERE task_id = '{odd.task_id}'"
    )

    listed = invoke("status")

    assert listed.exit_code == 0, listed.output
    assert "good fox" in listed.stdout and "odd fox" in listed.stdout
    assert good.task_id[:8] in listed.stdout


@pytest.mark.parametrize("name", ["a\x1b]0;p\x07.mp4", "a\nb.mp4", "\u202ea.mp4"])
def test_a_planned_path_with_control_characters_is_never_written_to(
    clean_env: Path, modal_standin: ModalStandIn, tmp_path: Path, name: str
):
    """The history is text another tool may have written: its planned path is not used."""
    from tests.modal_standin import Script

    planned_dir = tmp_path / "planned"
    planned_dir.mkdir()
    path = f"{planned_dir}/{name}"
    history = History.open_default()
    job = add_job("a fox", status="running", remote_call_id="fc-planned", into=history)
    modal_standin.add_call("fc-planned", Script(steps=0))
    edit(history.path, f"UPDATE jobs SET output_path = '{path}' WHERE task_id = '{job.task_id}'")
    # Bypass pippa's own escaping on the way in: the raw characters are in the row.
    assert History.open_default().get(job.task_id).output_path is not None

    waited = invoke("status", job.task_id[:8], "--wait")
    saved = invoke("status", job.task_id[:8], "--wait", "-o", str(tmp_path / "elsewhere.mp4"))

    assert waited.exit_code == 2, waited.output
    assert "control characters" in waited.stderr
    assert list(planned_dir.iterdir()) == []
    assert saved.exit_code == 0, saved.output
    assert (tmp_path / "elsewhere.mp4").is_file()


def test_a_backend_this_pippa_does_not_know_is_not_followed_forever(
    clean_env: Path, modal_standin: ModalStandIn
):
    history = History.open_default()
    job = add_job("a fox", status="running", remote_call_id="fc-other", pid=None, into=history)
    edit(history.path, f"UPDATE jobs SET backend = 'runpod' WHERE task_id = '{job.task_id}'")

    result = invoke("status", job.task_id[:8], "--wait")

    assert result.exit_code == 1
    assert "cannot follow" in result.stderr
