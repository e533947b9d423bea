"""The durable log: numbering, group commits, long-polls, and the SQLite store under it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from hive_mcp.errors import StoreError
from hive_mcp.events import Event, EventType
from hive_mcp.store import (
    SCHEMA_VERSION,
    Checkpoint,
    ExecutionRecord,
    ExecutionStatus,
    Journal,
    NodeState,
    SQLiteStore,
    WriteBatch,
)
from tests.disk import small_disk
from tests.support import HANG

pytestmark = pytest.mark.anyio


async def test_sequence_numbers_are_per_execution_gap_free_and_ordered(journal: Journal) -> None:
    for eid in ("a", "b"):
        journal.begin_execution(ExecutionRecord(id=eid, agent="t"))

    async def producer(eid: str) -> None:
        for i in range(200):
            journal.emit(eid, EventType.CUSTOM, data={"i": i})
            if i % 7 == 0:
                await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(producer, "a")
        tg.start_soon(producer, "b")
    await journal.flush()
    for eid in ("a", "b"):
        events = await journal.read(eid, limit=1000)
        assert [e.seq for e in events] == list(range(1, 201))
        assert [e.data["i"] for e in events] == list(range(200))


async def test_subscribers_see_events_only_after_they_are_committed(journal: Journal) -> None:
    journal.begin_execution(ExecutionRecord(id="a", agent="t"))
    with journal.bus.subscribe(execution_id="a") as sub:
        event = journal.emit("a", EventType.CUSTOM)
        received = await sub.receive()
        assert received == event
        assert await journal.read("a") == [event]


async def test_reading_by_cursor_pages_through_the_log(journal: Journal) -> None:
    journal.begin_execution(ExecutionRecord(id="a", agent="t"))
    for _ in range(10):
        journal.emit("a", EventType.CUSTOM)
    journal.emit("a", EventType.STATUS)
    await journal.flush()
    assert [e.seq for e in await journal.read("a", after=3, limit=4)] == [4, 5, 6, 7]
    assert [e.seq for e in await journal.read("a", types=[EventType.STATUS])] == [11]
    assert await journal.read("a", after=11) == []


async def test_a_long_poll_returns_at_once_when_events_exist(journal: Journal) -> None:
    journal.begin_execution(ExecutionRecord(id="a", agent="t"))
    journal.emit("a", EventType.CUSTOM)
    await journal.flush()
    with anyio.fail_after(20):  # well below the 30 s it would wait if it did not return
        events = await journal.wait_events("a", after=0, wait_seconds=30)
    assert [e.seq for e in events] == [1]


async def test_a_long_poll_wakes_when_an_event_arrives(journal: Journal) -> None:
    journal.begin_execution(ExecutionRecord(id="a", agent="t"))
    got: list[int] = []

    async def poll() -> None:
        got.extend(e.seq for e in await journal.wait_events("a", after=0, wait_seconds=30))

    async with anyio.create_task_group() as tg:
        tg.start_soon(poll)
        await anyio.wait_all_tasks_blocked()
        assert got == []
        journal.emit("a", EventType.CUSTOM)
    assert got == [1]


async def test_a_long_poll_filtered_by_type_ignores_other_events(journal: Journal) -> None:
    journal.begin_execution(ExecutionRecord(id="a", agent="t"))
    got: list[int] = []

    async def poll() -> None:
        events = await journal.wait_events("a", wait_seconds=30, types=[EventType.STATUS])
        got.extend(e.seq for e in events)

    async with anyio.create_task_group() as tg:
        tg.start_soon(poll)
        await anyio.wait_all_tasks_blocked()
        journal.emit("a", EventType.CUSTOM)
        await journal.flush()
        await anyio.wait_all_tasks_blocked()
        assert got == []
        journal.emit("a", EventType.STATUS)
    assert got == [2]


async def test_a_long_poll_gives_an_empty_list_when_time_runs_out(journal: Journal) -> None:
    journal.begin_execution(ExecutionRecord(id="a", agent="t"))
    assert await journal.wait_events("a", after=0, wait_seconds=0.02) == []


async def test_a_checkpoint_and_its_event_are_stored_together(journal: Journal) -> None:
    journal.begin_execution(ExecutionRecord(id="a", agent="t"))
    journal.emit("a", EventType.NODE_COMPLETED, node_id="n")
    checkpoint = await journal.checkpoint("a", {"cursor": "next"})
    stored = await journal.store.last_checkpoint("a")
    assert stored == checkpoint
    events = await journal.read("a")
    assert events[-1].type is EventType.CHECKPOINT_WRITTEN
    assert events[-1].seq == checkpoint.event_seq == 2


async def test_a_large_batch_is_written_in_parts_that_keep_each_execution_whole(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    parts: list[WriteBatch] = []
    write_part = store._write

    async def spy(part: WriteBatch, leases: dict[str, str]) -> None:
        parts.append(part)
        await write_part(part, leases)

    store._write = spy  # type: ignore[method-assign]
    batch = WriteBatch()
    for n in range(100):  # 100 executions x 22 rows, and a 10 KB conversation each
        eid = f"e{n}"
        batch.executions.append(ExecutionRecord(id=eid, agent="t"))
        batch.events += [
            Event(execution_id=eid, seq=s, type=EventType.CUSTOM) for s in range(1, 21)
        ]
        batch.checkpoints.append(Checkpoint(execution_id=eid, event_seq=20, state={"n": n}))
        batch.node_states.append(NodeState(eid, "loop#1", json.dumps({"text": "x" * 10_000})))
    await store.write(batch)

    assert len(parts) > 1
    owners = [{e.execution_id for e in part.events} for part in parts]
    assert sum(len(o) for o in owners) == 100  # no execution split across two parts
    for part, ids in zip(parts, owners, strict=True):
        assert {c.execution_id for c in part.checkpoints} == ids
        assert {r.id for r in part.executions} == ids
        assert {s.execution_id for s in part.node_states} == ids
    for n in range(100):
        assert [e.seq for e in await store.read_events(f"e{n}")] == list(range(1, 21))
        checkpoint = await store.last_checkpoint(f"e{n}")
        assert checkpoint is not None and checkpoint.state == {"n": n}
    await store.close()


async def test_the_log_survives_reopening_and_numbering_continues(tmp_path: Path) -> None:
    path = tmp_path / "home" / "store.db"
    store = SQLiteStore(path)
    async with Journal(store) as journal:
        journal.begin_execution(ExecutionRecord(id="a", agent="t", status=ExecutionStatus.RUNNING))
        for _ in range(3):
            journal.emit("a", EventType.CUSTOM)
    await store.close()

    store = SQLiteStore(path)
    async with Journal(store) as journal:
        await journal.open_execution("a")
        assert journal.emit("a", EventType.CUSTOM).seq == 4
    assert [e.seq for e in await store.read_events("a")] == [1, 2, 3, 4]
    record = await store.get_execution("a")
    assert record is not None and record.status is ExecutionStatus.RUNNING
    await store.close()


async def test_executions_are_listed_newest_first_and_filtered(journal: Journal) -> None:
    for i, (agent, status) in enumerate(
        [
            ("x", ExecutionStatus.COMPLETED),
            ("y", ExecutionStatus.FAILED),
            ("x", ExecutionStatus.RUNNING),
        ]
    ):
        journal.put_execution(ExecutionRecord(id=f"e{i}", agent=agent, status=status, created_at=i))
    await journal.flush()
    store = journal.store
    assert [r.id for r in await store.list_executions()] == ["e2", "e1", "e0"]
    assert [r.id for r in await store.list_executions(agent="x")] == ["e2", "e0"]
    assert [r.id for r in await store.list_executions(statuses=[ExecutionStatus.FAILED])] == ["e1"]
    assert [r.id for r in await store.list_executions(limit=1)] == ["e2"]


async def test_a_duplicate_sequence_number_is_refused_not_overwritten(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    async with Journal(store) as journal:
        journal.begin_execution(ExecutionRecord(id="a", agent="t"))
        journal.emit("a", EventType.CUSTOM, data={"first": True})
    async with Journal(store) as journal:
        journal.begin_execution(ExecutionRecord(id="a", agent="t"))  # wrongly restarts at 1
        journal.emit("a", EventType.CUSTOM)
        with pytest.raises(StoreError, match="could not write execution a's latest changes"):
            await journal.flush()
    assert [e.data for e in await store.read_events("a")] == [{"first": True}]
    await store.close()


async def test_a_failed_write_fails_only_its_executions_and_the_writer_goes_on(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    async with Journal(store) as journal:
        journal.begin_execution(ExecutionRecord(id="bad", agent="t"))
        journal.emit("bad", EventType.CUSTOM, data={"n": 1})
    async with Journal(store) as journal:
        journal.begin_execution(ExecutionRecord(id="bad", agent="t"))  # restarts at 1: refused
        journal.emit("bad", EventType.CUSTOM, data={"n": "dup"})
        journal.begin_execution(ExecutionRecord(id="good", agent="t"))
        journal.emit("good", EventType.CUSTOM, data={"n": 1})
        with pytest.raises(StoreError, match="execution bad's latest changes"):
            await journal.flush("bad")
        await journal.flush("good")  # in the same batch, and stored
        with pytest.raises(StoreError, match="execution bad's latest changes"):
            journal.emit("bad", EventType.CUSTOM)  # refused until opened again
        assert await journal.open_execution("bad") == 1  # numbering from what is stored
        journal.emit("bad", EventType.CUSTOM, data={"n": 2})
        journal.emit("good", EventType.CUSTOM, data={"n": 2})
        await journal.flush("bad", "good")  # the writer still writes
    assert [e.data["n"] for e in await store.read_events("bad")] == [1, 2]
    assert [e.seq for e in await store.read_events("bad")] == [1, 2]
    assert [e.data["n"] for e in await store.read_events("good")] == [1, 2]
    await store.close()


async def test_writes_fail_on_a_full_disk_and_succeed_again_once_space_returns(
    tmp_path: Path,
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        store = SQLiteStore(disk.path / "store.db")
        async with Journal(store) as journal:
            journal.begin_execution(ExecutionRecord(id="a", agent="t"))
            journal.emit("a", EventType.CUSTOM, data={"n": 1})
            await journal.flush("a")
            disk.fill()
            await journal.open_execution("a")
            journal.emit("a", EventType.CUSTOM, data={"n": "lost", "pad": "x" * 200_000})
            with pytest.raises(StoreError, match=r"disk is full"):
                await journal.flush("a")
            disk.free()
            assert await journal.open_execution("a") == 1
            journal.emit("a", EventType.CUSTOM, data={"n": 2})
            await journal.flush("a")  # the same process writes again
            events = await journal.read("a")
        await store.close()
    assert [(e.seq, e.data["n"]) for e in events] == [(1, 1), (2, 2)]


async def test_a_write_lock_held_by_another_process_is_waited_for_off_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    store = SQLiteStore(path)
    other = sqlite3.connect(path, isolation_level=None)  # stands in for another process
    other.execute("BEGIN IMMEDIATE")
    flushed = anyio.Event()
    async with Journal(store) as journal, anyio.create_task_group() as tg:
        journal.begin_execution(ExecutionRecord(id="a", agent="t"))
        journal.emit("a", EventType.CUSTOM)

        async def flush() -> None:
            await journal.flush()
            flushed.set()

        tg.start_soon(flush)
        await anyio.wait_all_tasks_blocked()  # the loop is free while the write waits
        assert not flushed.is_set()
        assert store._in_thread == 1  # the write is waiting in a worker thread
        other.execute("COMMIT")
        with anyio.fail_after(HANG):
            await flushed.wait()
    other.close()
    assert [e.seq for e in await store.read_events("a")] == [1]
    await store.close()


def test_a_corrupt_store_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError) as info:
        SQLiteStore(path)
    message = str(info.value)
    assert f"{path} is not a SQLite database" in message
    assert "aside" not in message  # never advice that could discard a store
    assert path.read_bytes() == b"this is not a database" * 100  # left untouched


def test_a_store_from_a_newer_hive_mcp_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this hive-mcp understands"):
        SQLiteStore(path)


def test_a_store_in_an_unwritable_place_gives_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match=r"cannot open the store at .*HIVE_MCP_HOME"):
        SQLiteStore(blocker / "store.db")
