"""A damaged, read-only or full store is noticed at open and named for what it is.

Real SQLite files, damaged the way disks and operators damage them: truncated
to nothing, a page overwritten, cut short, the main file moved away from its
write-ahead log. Read-only and full filesystems are real tmpfs mounts (root
only: permission bits do not stop root, a read-only mount does), and the
clean stop on a full disk is a real ``hive-mcp serve --http`` process.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from hive_mcp.cli._main import main
from hive_mcp.errors import StoreError
from hive_mcp.events import Event, EventType
from hive_mcp.store import ExecutionRecord, SQLiteStore, WriteBatch
from hive_mcp.store import _sqlite_open as opening
from tests.support import free_port
from tests.test_mcp_server import call
from tests.test_transports import authed, http_server

pytestmark = pytest.mark.anyio


def make_store(path: Path, executions: int = 30) -> None:
    """A store holding ``executions`` executions of 3 events each, closed cleanly."""

    async def write() -> None:
        store = SQLiteStore(path)
        batch = WriteBatch()
        for i in range(executions):
            batch.executions.append(ExecutionRecord(id=f"ex_{i}", agent="t"))
            batch.events += [
                Event(execution_id=f"ex_{i}", seq=s, type=EventType.CUSTOM, data={"n": "x" * 300})
                for s in (1, 2, 3)
            ]
        await store.write(batch)
        await store.close()

    anyio.run(write)


def make_store_killed(path: Path) -> None:
    """A store whose last write is only in its WAL, as a killed process leaves it."""
    make_store(path)
    script = (
        "import os, sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute(\"INSERT INTO executions VALUES ('ex_new', 't', 'pending', 0, '{}')\")\n"
        "os._exit(0)  # killed: no close, so the WAL is not folded in\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True)
    assert (path.parent / "store.db-wal").stat().st_size > 0


def refusal(path: Path) -> str:
    with pytest.raises(StoreError) as info:
        SQLiteStore(path)
    message = str(info.value)
    assert "\n" not in message  # one line, as the CLI prints it
    assert "aside" not in message  # never advice that could discard a store
    return message


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Mount a tmpfs (read-only, or of a given size) under tmp_path; root only."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs (permission bits do not stop root)")
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False)


def fill(folder: Path) -> None:
    """Write a filler file until the filesystem holding ``folder`` is full."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 1):  # big writes, then the last partial block
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


# -- a new home, and damage to the files --------------------------------


def test_a_new_home_gets_a_new_store_without_a_word(tmp_path: Path) -> None:
    path = tmp_path / "new" / "home" / "store.db"
    store = SQLiteStore(path)
    anyio.run(store.close)
    assert sorted(p.name for p in path.parent.iterdir()) == ["store.db"]  # no leftovers
    assert path.stat().st_size > 0  # never an empty store.db that looks like lost data
    assert SQLiteStore(path).path == str(path)  # and it opens again


def test_processes_creating_one_new_store_at_once_all_use_the_same_one(tmp_path: Path) -> None:
    path = tmp_path / "home" / "store.db"
    script = (
        "import sys, anyio\n"
        "from hive_mcp.store import ExecutionRecord, SQLiteStore, WriteBatch\n"
        "sys.stdin.readline()  # all start together\n"
        "store = SQLiteStore(sys.argv[1])\n"
        "batch = WriteBatch(executions=[ExecutionRecord(id=sys.argv[2], agent='t')])\n"
        "anyio.run(store.write, batch)\n"
        "anyio.run(store.close)\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path), f"ex_{i}"],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.close()
    errors = []
    for proc in procs:
        assert proc.stderr is not None
        with proc.stderr:
            errors.append(proc.stderr.read())
        proc.wait(timeout=30)
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], errors
    store = SQLiteStore(path)
    assert {r.id for r in anyio.run(store.list_executions)} == {f"ex_{i}" for i in range(4)}
    anyio.run(store.close)
    assert sorted(os.listdir(path.parent)) == ["store.db"]  # no temporary files left


def test_a_store_truncated_to_nothing_is_refused_not_taken_for_a_new_one(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    make_store(path)
    path.write_bytes(b"")
    message = refusal(path)
    assert f"the store at {path} is empty (0 bytes)" in message
    assert "restore store.db from a backup" in message
    assert path.stat().st_size == 0 and sorted(os.listdir(tmp_path)) == ["store.db"]


def test_a_store_truncated_to_nothing_beside_a_wal_with_data_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    make_store_killed(path)
    wal = (tmp_path / "store.db-wal").read_bytes()
    path.write_bytes(b"")
    message = refusal(path)
    assert "is empty (0 bytes)" in message and f"{len(wal):,} bytes of the newest" in message
    assert (tmp_path / "store.db-wal").read_bytes() == wal  # SQLite would have reset it


def test_a_wal_with_data_whose_store_file_is_gone_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    make_store_killed(path)
    path.rename(tmp_path / "elsewhere.db")
    message = refusal(path)
    assert f"the store file {path} is missing, but its write-ahead log" in message
    assert not path.exists()


def test_a_store_cut_short_is_refused_as_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    make_store(path)
    os.truncate(path, path.stat().st_size // 2)
    message = refusal(path)
    assert f"the store at {path} is corrupt" in message and "cut short" in message


def test_a_corrupt_page_is_found_at_open(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    make_store(path)
    with sqlite3.connect(path) as conn:  # a page of the events table, not page 1
        page = conn.execute("SELECT rootpage FROM sqlite_schema WHERE name = 'events'").fetchone()[
            0
        ]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with path.open("r+b") as file:
        file.seek((page - 1) * page_size + 8)
        file.write(b"\xff" * 64)
    before = path.read_bytes()
    message = refusal(path)
    assert f"the store at {path} is corrupt (" in message
    assert f"`sqlite3 {path} .recover`" in message and "HIVE_MCP_HOME" in message
    assert path.read_bytes() == before  # left as it was, for the recovery
    assert not (tmp_path / "store.db-wal").read_bytes()  # (a reader's empty WAL, no more)


def test_a_file_that_is_not_sqlite_is_named_so_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_text("just some notes\n" * 100)
    message = refusal(path)
    assert "is not a SQLite database" in message and "HIVE_MCP_HOME" in message
    assert path.read_text() == "just some notes\n" * 100


def test_a_folder_where_the_store_file_belongs_is_named_so(tmp_path: Path) -> None:
    (tmp_path / "store.db").mkdir()
    assert f"{tmp_path / 'store.db'} is a folder, not a store file" in refusal(
        tmp_path / "store.db"
    )


def test_a_large_store_is_checked_in_the_background_and_damage_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "store.db"
    make_store(path, executions=200)
    with sqlite3.connect(path) as conn:
        page = conn.execute("SELECT rootpage FROM sqlite_schema WHERE name = 'events'").fetchone()
    conn.close()
    with path.open("r+b") as file:  # the root of the events tree: an interior page
        file.seek((page[0] - 1) * 4096 + 12)
        file.write(b"\xff" * 32)
    monkeypatch.setattr(opening, "QUICK_CHECK_MAX_BYTES", 0)  # every store is "large"
    store = SQLiteStore(path)  # opens at once: the check runs beside
    check = store._background_check
    assert check is not None
    assert check.done.wait(30)
    assert check.problem is not None
    assert [r.levelno for r in caplog.records if "is corrupt" in r.getMessage()] == [logging.ERROR]
    anyio.run(store.close)


def test_closing_a_store_stops_its_background_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.db"
    make_store(path)
    monkeypatch.setattr(opening, "QUICK_CHECK_MAX_BYTES", 0)
    store = SQLiteStore(path)
    anyio.run(store.close)
    check = store._background_check
    assert check is not None and check.done.is_set() and check.problem is None


# -- read-only and full filesystems -------------------------------------


def test_a_store_on_a_read_only_mount_is_reported_read_only(
    tmp_path: Path, tmpfs: Callable[..., Path]
) -> None:
    home = tmpfs("home", "size=4m")
    make_store(home / "store.db")
    before = files_of(home)
    subprocess.run(["mount", "-o", "remount,ro", str(home)], check=True)
    message = refusal(home / "store.db")
    assert f"the filesystem holding {home} is mounted read-only" in message
    assert "fix the permissions or the mount" in message and "corrupt" not in message
    assert files_of(home) == before


def test_a_read_only_store_file_is_reported_read_only(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    make_store(path)
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i does not work here: {done.stderr.strip()}")
    else:
        path.chmod(0o444)
    try:
        message = refusal(path)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    assert f"the store at {path} cannot be written: {path} is not writable" in message
    assert "the store's data is not at fault" in message


def test_a_new_home_on_a_read_only_mount_is_reported_read_only(
    tmpfs: Callable[..., Path],
) -> None:
    mount = tmpfs("ro", "ro")
    message = refusal(mount / "home" / "store.db")
    assert "cannot be written" in message and "Read-only file system" in message


def test_a_store_on_a_full_disk_is_reported_full(tmpfs: Callable[..., Path]) -> None:
    home = tmpfs("home", "size=1m")
    make_store(home / "store.db")
    fill(home)
    message = refusal(home / "store.db")
    assert f"the disk holding the store at {home / 'store.db'} is full" in message
    assert "free some space" in message and "corrupt" not in message


def test_a_new_home_on_a_full_disk_is_reported_full_and_leaves_nothing(
    tmpfs: Callable[..., Path],
) -> None:
    disk = tmpfs("disk", "size=1m")
    (disk / "home").mkdir()
    fill(disk)
    message = refusal(disk / "home" / "store.db")
    assert "is full" in message
    assert os.listdir(disk / "home") == []  # no empty store.db to be refused next time


# -- the command line ---------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["executions"], ["events", "ex_1"], ["serve"]],
    ids=["executions", "events", "serve"],
)
def test_commands_print_a_store_error_as_one_line_and_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    monkeypatch.setenv("HIVE_MCP_HOME", str(tmp_path))
    make_store(tmp_path / "store.db")
    (tmp_path / "store.db").write_bytes(b"")
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the store at "), captured.err
    assert "is empty (0 bytes)" in lines[0]


def test_serve_as_a_process_prints_a_store_error_as_one_line(tmp_path: Path) -> None:
    (tmp_path / "store.db").write_bytes(b"")
    env = {"PATH": os.environ["PATH"], "HIVE_MCP_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "hive_mcp", "serve", "--http", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,  # the code before this fix served over the empty file: no exit
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: the store at ")
    assert "Traceback" not in done.stderr


# -- a clean stop on a full disk ----------------------------------------


async def test_serve_stops_cleanly_on_sigterm_when_the_disk_is_full(
    tmpfs: Callable[..., Path],
) -> None:
    home = tmpfs("home", "size=16m")
    port = free_port()
    text = " ".join(f"word{i}." for i in range(2_000))  # overflow pages: the store grows
    with http_server(home, port) as proc:
        with authed(port) as http:
            url = f"http://127.0.0.1:{port}/mcp"
            async with http, Client(streamable_http_client(url, http_client=http)) as client:
                for _ in range(3):
                    result = await call(client, "run_text_report", text=text)
                    assert result["status"] == "completed"
        assert (home / "store.db-wal").stat().st_size > 0  # what close() must fold in
        fill(home)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert proc.stderr is not None
        err = proc.stderr.read()
    assert "Traceback" not in err, err
    assert "could not fold the write-ahead log into the file on close" in err
    (home / "filler").unlink()
    store = SQLiteStore(home / "store.db")  # the WAL is applied: nothing was lost
    records = await store.list_executions()
    await store.close()
    assert len(records) == 3 and {r.status.value for r in records} == {"completed"}
    assert not (home / "store.db-wal").exists() or (home / "store.db-wal").stat().st_size == 0


def test_closing_twice_is_harmless(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    anyio.run(store.close)
    anyio.run(store.close)
    assert not (tmp_path / "store.db-wal").exists()
