"""The store contract: every backend keeps and hands back the same things the same way.

Each test runs on SQLite and on PostgreSQL (tests/pg.py gives each test a
fresh database). What only one backend has (PostgreSQL's URL errors and
schema table) is at the end.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import psycopg
import pytest

from hive_mcp.errors import StoreError, StoreWriteError
from hive_mcp.events import Event, EventType
from hive_mcp.store import (
    Checkpoint,
    Command,
    CommandKind,
    ExecutionRecord,
    ExecutionStatus,
    Journal,
    NodeState,
    RowCounts,
    RuntimeInfo,
    SQLiteStore,
    Store,
    WriteBatch,
    open_store,
    redact_url,
)
from hive_mcp.store._postgres import PostgresStore
from hive_mcp.store._postgres_open import PG_SCHEMA_VERSION
from tests.pg import PgServer, free_port
from tests.support import HANG

pytestmark = pytest.mark.anyio

DONE, RUNNING, FAILED = ExecutionStatus.COMPLETED, ExecutionStatus.RUNNING, ExecutionStatus.FAILED
WAITING = ExecutionStatus.WAITING_FOR_INPUT


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where the store is: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "store.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def store(target: str | Path) -> AsyncIterator[Store]:
    store = open_store(target)
    yield store
    await store.close()


@contextlib.asynccontextmanager
async def racers(target: str | Path, n: int) -> AsyncIterator[tuple[list[Store], anyio.Event]]:
    """``n`` more stores on ``target`` (as many processes would have: a connection each),
    opened, and an event that starts their race."""
    stores = [open_store(target) for _ in range(n)]
    try:
        for racer in stores:
            await racer.last_seq("warm-up")  # opened now, not in the race
        yield stores, anyio.Event()
    finally:
        for racer in stores:
            await racer.close()


def events(execution_id: str, *types: EventType, start: int = 1) -> list[Event]:
    return [
        Event(
            execution_id=execution_id,
            seq=start + n,
            type=t,
            node_id=f"node{start + n}",
            timestamp=1000.5 + start + n,
            data={"n": start + n},
        )
        for n, t in enumerate(types)
    ]


def runtime(id: str, *, beat: float = 100.0) -> RuntimeInfo:
    return RuntimeInfo(id=id, pid=1, host="h", role="server", started_at=1.0, heartbeat_at=beat)


def command(execution_id: str = "e1", runtime_id: str = "rt_a", **payload: object) -> Command:
    return Command(
        execution_id=execution_id,
        runtime_id=runtime_id,
        kind=CommandKind.INPUT,
        payload=dict(payload),
        created_at=5.0,
    )


# -- executions ----------------------------------------------------------------


async def test_an_execution_comes_back_as_it_was_written_and_updates_replace_it(
    store: Store,
) -> None:
    record = ExecutionRecord(
        id="e1",
        agent="a",
        input={"text": "héllo \u0000 ✓", "n": [1, 2.5, None]},
        path=["start"],
        parent_id="p",
        entry_point="webhook",
        idempotency_key="k",
        created_at=10.0,
        updated_at=11.0,
    )
    await store.write(WriteBatch(executions=[record]))
    assert await store.get_execution("e1") == record
    done = record.model_copy(update={"status": DONE, "output": {"ok": True}, "updated_at": 20.0})
    await store.write(WriteBatch(executions=[done]))
    assert await store.get_execution("e1") == done
    assert await store.get_execution("nope") is None


async def test_an_execution_is_found_by_its_agent_and_idempotency_key(store: Store) -> None:
    await store.write(
        WriteBatch(
            executions=[
                ExecutionRecord(id="e1", agent="a", idempotency_key="k1"),
                ExecutionRecord(id="e2", agent="b", idempotency_key="k1"),
                ExecutionRecord(id="e3", agent="a"),
            ]
        )
    )
    found = await store.find_execution("a", "k1")
    assert found is not None and found.id == "e1"
    found = await store.find_execution("b", "k1")
    assert found is not None and found.id == "e2"
    assert await store.find_execution("a", "k2") is None


async def test_a_second_execution_with_one_idempotency_key_is_refused(store: Store) -> None:
    await store.write(
        WriteBatch(executions=[ExecutionRecord(id="e1", agent="a", idempotency_key="k")])
    )
    with pytest.raises(StoreWriteError) as caught:
        await store.write(
            WriteBatch(executions=[ExecutionRecord(id="e2", agent="a", idempotency_key="k")])
        )
    assert set(caught.value.failed) == {"e2"}
    assert await store.get_execution("e2") is None


async def test_executions_are_listed_newest_first_and_filtered(store: Store) -> None:
    records = [
        ExecutionRecord(id="e0", agent="x", status=DONE, created_at=0),
        ExecutionRecord(id="e1", agent="y", status=FAILED, created_at=1, parent_id="e0"),
        ExecutionRecord(id="e2", agent="x", status=RUNNING, created_at=2, entry_point="cron"),
        ExecutionRecord(id="e3", agent="x", status=WAITING, created_at=2, parent_id="e0"),
    ]
    await store.write(WriteBatch(executions=records))

    async def ids(**filters: object) -> list[str]:
        return [r.id for r in await store.list_executions(**filters)]  # type: ignore[arg-type]

    assert await ids() == ["e2", "e3", "e1", "e0"]  # one created_at: by id
    assert await ids(agent="x") == ["e2", "e3", "e0"]
    assert await ids(statuses=[FAILED, WAITING]) == ["e3", "e1"]
    assert await ids(statuses=[]) == ["e2", "e3", "e1", "e0"]  # empty: no filter
    assert await ids(parent="e0") == ["e3", "e1"]
    assert await ids(entry_point="cron") == ["e2"]
    assert await ids(agent="x", parent="e0", statuses=[WAITING]) == ["e3"]
    assert await ids(limit=1) == ["e2"]


# -- events, checkpoints, node states ------------------------------------------


async def test_events_are_read_in_order_after_a_cursor_up_to_a_limit_and_by_type(
    store: Store,
) -> None:
    kinds = [EventType.CUSTOM, EventType.NODE_STARTED, EventType.CUSTOM, EventType.NODE_COMPLETED]
    # Written out of order, in two batches, with another execution's events between.
    await store.write(
        WriteBatch(events=events("e1", *kinds[2:], start=3) + events("e2", EventType.CUSTOM))
    )
    await store.write(WriteBatch(events=events("e1", *kinds[:2])))
    got = await store.read_events("e1")
    assert [e.seq for e in got] == [1, 2, 3, 4]
    assert [e.type for e in got] == kinds
    assert got == events("e1", *kinds)
    assert [e.seq for e in await store.read_events("e1", after=2)] == [3, 4]
    assert [e.seq for e in await store.read_events("e1", after=1, limit=2)] == [2, 3]
    assert [e.seq for e in await store.read_events("e1", types=[EventType.CUSTOM])] == [1, 3]
    only = await store.read_events("e1", after=1, limit=1, types=[EventType.CUSTOM])
    assert [e.seq for e in only] == [3]
    assert await store.read_events("e1", after=4) == []
    assert await store.read_events("unknown") == []


async def test_last_seq_is_the_highest_stored_sequence_number_or_zero(store: Store) -> None:
    assert await store.last_seq("e1") == 0
    await store.write(WriteBatch(events=events("e1", EventType.CUSTOM, EventType.CUSTOM)))
    assert await store.last_seq("e1") == 2
    assert await store.last_seq("e2") == 0


async def test_a_duplicate_sequence_number_is_refused_not_overwritten(store: Store) -> None:
    await store.write(WriteBatch(events=events("e1", EventType.CUSTOM)))
    with pytest.raises(StoreWriteError) as caught:
        await store.write(
            WriteBatch(events=[Event(execution_id="e1", seq=1, type=EventType.CUSTOM)])
        )
    assert set(caught.value.failed) == {"e1"}
    assert [e.data for e in await store.read_events("e1")] == [{"n": 1}]


async def test_a_failed_write_stores_the_other_executions_and_nothing_of_the_failed_one(
    store: Store,
) -> None:
    await store.write(WriteBatch(events=events("bad", EventType.CUSTOM)))
    batch = WriteBatch(
        executions=[ExecutionRecord(id="bad", agent="a"), ExecutionRecord(id="good", agent="a")],
        events=events("bad", EventType.CUSTOM, EventType.CUSTOM) + events("good", EventType.CUSTOM),
        checkpoints=[Checkpoint(execution_id="bad", event_seq=2, state={})],
    )
    with pytest.raises(StoreWriteError) as caught:
        await store.write(batch)
    assert set(caught.value.failed) == {"bad"}
    assert await store.get_execution("bad") is None  # its part was all or nothing
    assert await store.last_checkpoint("bad") is None
    assert await store.last_seq("bad") == 1
    assert await store.get_execution("good") is not None
    assert await store.last_seq("good") == 1


async def test_the_newest_checkpoint_is_the_one_of_the_highest_event(store: Store) -> None:
    assert await store.last_checkpoint("e1") is None
    await store.write(
        WriteBatch(
            checkpoints=[
                Checkpoint(execution_id="e1", event_seq=7, state={"step": 2}, created_at=2.0),
                Checkpoint(execution_id="e1", event_seq=3, state={"step": 1}, created_at=1.0),
                Checkpoint(execution_id="e2", event_seq=9, state={"other": True}),
            ]
        )
    )
    assert await store.last_checkpoint("e1") == Checkpoint(
        execution_id="e1", event_seq=7, state={"step": 2}, created_at=2.0
    )


async def test_a_node_state_is_saved_under_its_key_and_replaced_by_the_next(store: Store) -> None:
    assert await store.load_node_state("e1", "loop") is None
    await store.write(WriteBatch(node_states=[NodeState("e1", "loop", '{"turns": [1]}')]))
    await store.write(
        WriteBatch(
            node_states=[
                NodeState("e1", "loop", '{"turns": [1, 2]}'),
                NodeState("e1", "other", "{}"),
            ]
        )
    )
    assert await store.load_node_state("e1", "loop") == {"turns": [1, 2]}
    assert await store.load_node_state("e1", "other") == {}
    assert await store.load_node_state("e2", "loop") is None


async def test_an_empty_batch_writes_nothing_and_does_not_fail(store: Store) -> None:
    await store.write(WriteBatch())
    assert await store.list_executions() == []


# -- runtimes and leases ----------------------------------------------------------


async def test_a_runtime_beats_and_is_listed_most_recent_first_until_forgotten(
    store: Store,
) -> None:
    await store.beat(runtime("rt_a", beat=100.0))
    await store.beat(runtime("rt_b", beat=150.0))
    await store.beat(runtime("rt_a", beat=200.0))  # a refresh
    listed = await store.list_runtimes()
    assert [(r.id, r.heartbeat_at) for r in listed] == [("rt_a", 200.0), ("rt_b", 150.0)]
    assert listed[0] == runtime("rt_a", beat=200.0)
    await store.forget_runtime("rt_a")
    assert [r.id for r in await store.list_runtimes()] == ["rt_b"]


async def test_a_claim_wins_a_free_or_dead_lease_and_loses_to_a_live_holder(store: Store) -> None:
    assert await store.execution_holder("e1") is None
    assert await store.claim_execution("e1", "rt_a", live=["rt_a", "rt_b"]) == "rt_a"
    assert await store.claim_execution("e1", "rt_a", live=["rt_a", "rt_b"]) == "rt_a"  # again
    assert await store.claim_execution("e1", "rt_b", live=["rt_a", "rt_b"]) == "rt_a"
    assert await store.execution_holder("e1") == "rt_a"
    assert await store.claim_execution("e1", "rt_b", live=["rt_b"]) == "rt_b"  # rt_a died
    assert await store.execution_holder("e1") == "rt_b"
    assert await store.claim_execution("e1", "rt_a", live=[]) == "rt_a"


async def test_forgetting_a_runtime_frees_its_leases_and_drops_its_untaken_commands(
    store: Store,
) -> None:
    await store.beat(runtime("rt_a"))
    await store.claim_execution("e1", "rt_a", live=["rt_a"])
    taken = await store.add_command(command())
    await store.take_commands("rt_a", now=6.0)
    queued = await store.add_command(command())
    await store.forget_runtime("rt_a")
    assert await store.execution_holder("e1") is None
    assert await store.get_command(queued) is None
    assert await store.get_command(taken) is not None  # taken: its outcome is kept


async def test_of_many_claims_at_once_on_one_execution_exactly_one_wins(
    store: Store, target: str | Path
) -> None:
    claimers = [f"rt_{n}" for n in range(8)]
    results: dict[str, str] = {}
    async with racers(target, len(claimers)) as (stores, go):

        async def claim(n: int) -> None:
            await go.wait()
            results[claimers[n]] = await stores[n].claim_execution("e1", claimers[n], live=claimers)

        with anyio.fail_after(HANG):
            async with anyio.create_task_group() as tg:
                for n in range(len(claimers)):
                    tg.start_soon(claim, n)
                go.set()
    winners = [r for r, holder in results.items() if holder == r]
    assert len(winners) == 1
    assert set(results.values()) == set(winners)  # every loser was told who holds it
    assert await store.execution_holder("e1") == winners[0]


# -- commands ------------------------------------------------------------------------


async def test_a_command_is_queued_taken_once_and_finished(store: Store) -> None:
    first = await store.add_command(command(text="yes"))
    second = await store.add_command(command(text="no"))
    other = await store.add_command(command(runtime_id="rt_b"))
    assert first < second
    queued = await store.get_command(first)
    assert queued is not None
    assert (queued.kind, queued.payload, queued.taken_at, queued.created_at) == (
        CommandKind.INPUT,
        {"text": "yes"},
        None,
        5.0,
    )
    taken = await store.take_commands("rt_a", now=6.0)
    assert [(c.id, c.taken_at, c.payload) for c in taken] == [
        (first, 6.0, {"text": "yes"}),
        (second, 6.0, {"text": "no"}),
    ]
    assert await store.take_commands("rt_a", now=7.0) == []
    await store.finish_command(first, result={"status": "running"}, error=None, now=8.0)
    await store.finish_command(second, result=None, error="not waiting", now=9.0)
    done = await store.get_command(first)
    assert done is not None and (done.done_at, done.result, done.error) == (
        8.0,
        {"status": "running"},
        None,
    )
    failed = await store.get_command(second)
    assert failed is not None and (failed.result, failed.error) == (None, "not waiting")
    assert [c.id for c in await store.take_commands("rt_b", now=10.0)] == [other]
    assert await store.get_command(999_999) is None


async def test_a_command_is_withdrawn_only_while_nobody_took_it(store: Store) -> None:
    withdrawn = await store.add_command(command())
    assert await store.withdraw_command(withdrawn) is True
    assert await store.get_command(withdrawn) is None
    assert await store.take_commands("rt_a", now=6.0) == []
    taken = await store.add_command(command())
    await store.take_commands("rt_a", now=6.0)
    assert await store.withdraw_command(taken) is False
    assert await store.get_command(taken) is not None
    assert await store.withdraw_command(999_999) is False


async def test_takers_racing_for_one_runtimes_commands_get_each_command_once(
    store: Store, target: str | Path
) -> None:
    ids = [await store.add_command(command(n=n)) for n in range(60)]
    got: list[list[int]] = []
    async with racers(target, 6) as (stores, go):

        async def take(n: int) -> None:
            await go.wait()
            while batch := [c.id for c in await stores[n].take_commands("rt_a", now=float(n))]:
                got.append(batch)

        with anyio.fail_after(HANG):
            async with anyio.create_task_group() as tg:
                for n in range(len(stores)):
                    tg.start_soon(take, n)
                go.set()
    taken = [i for batch in got for i in batch]
    assert sorted(taken) == ids  # every command taken, none twice
    assert all(batch == sorted(batch) for batch in got)  # each taker's oldest first


# -- retention -------------------------------------------------------------------------


async def fill(store: Store, *records: ExecutionRecord) -> None:
    """Store the executions, each with 3 events, a checkpoint, a node state, a lease, a command."""
    batch = WriteBatch(executions=list(records))
    for r in records:
        batch.events += events(r.id, EventType.CUSTOM, EventType.CUSTOM, EventType.CUSTOM)
        batch.checkpoints.append(Checkpoint(execution_id=r.id, event_seq=3, state={"n": 1}))
        batch.node_states.append(NodeState(r.id, "loop", "{}"))
    await store.write(batch)
    for r in records:
        await store.claim_execution(r.id, "rt_a", live=[])
        await store.add_command(command(r.id))


async def test_execution_stubs_give_what_retention_decides_on(store: Store) -> None:
    await store.write(
        WriteBatch(
            executions=[
                ExecutionRecord(id="p", agent="a", status=DONE, created_at=1.0, updated_at=5.0),
                ExecutionRecord(id="c", agent="b", parent_id="p", created_at=2.0, updated_at=3.0),
            ]
        )
    )
    stubs = {s.id: s for s in await store.execution_stubs()}
    assert set(stubs) == {"p", "c"}
    assert (stubs["p"].agent, stubs["p"].status, stubs["p"].parent_id) == ("a", DONE, None)
    assert (stubs["p"].created_at, stubs["p"].updated_at) == (1.0, 5.0)
    assert (stubs["c"].status, stubs["c"].parent_id, stubs["c"].updated_at) == (
        ExecutionStatus.PENDING,
        "p",
        3.0,
    )


async def test_only_final_executions_are_deleted_with_everything_stored_for_them(
    store: Store,
) -> None:
    await fill(
        store,
        ExecutionRecord(id="done", agent="a", status=DONE),
        ExecutionRecord(id="failed", agent="a", status=FAILED),
        ExecutionRecord(id="cancelled", agent="a", status=ExecutionStatus.CANCELLED),
        ExecutionRecord(id="running", agent="a", status=RUNNING),
        ExecutionRecord(id="waiting", agent="a", status=WAITING),
    )
    everything = ["done", "failed", "cancelled", "running", "waiting", "unknown"]
    expected = RowCounts(executions=3, events=9, checkpoints=3, node_states=3)
    assert await store.delete_executions(everything, dry_run=True) == expected
    assert len(await store.execution_stubs()) == 5  # a dry run changes nothing
    assert await store.delete_executions(everything) == expected
    assert {s.id for s in await store.execution_stubs()} == {"running", "waiting"}
    for gone in ("done", "failed", "cancelled"):
        assert await store.get_execution(gone) is None
        assert await store.read_events(gone) == []
        assert await store.last_checkpoint(gone) is None
        assert await store.load_node_state(gone, "loop") is None
        assert await store.execution_holder(gone) is None
    assert await store.last_seq("running") == 3
    assert await store.execution_holder("running") == "rt_a"
    assert await store.delete_executions(everything) == RowCounts()
    assert await store.delete_executions([]) == RowCounts()


async def test_many_executions_are_deleted_across_several_transactions(store: Store) -> None:
    records = [ExecutionRecord(id=f"e{n:04}", agent="a", status=DONE) for n in range(1_203)]
    await store.write(WriteBatch(executions=records))
    counts = await store.delete_executions([r.id for r in records])
    assert counts == RowCounts(executions=1_203)
    assert await store.execution_stubs() == []


# -- the journal over the store, and several processes on one store ----------------


async def test_a_journal_numbers_stores_and_reopens_an_executions_log(store: Store) -> None:
    async with Journal(store) as journal:
        journal.begin_execution(ExecutionRecord(id="e1", agent="a"))
        for n in range(50):
            journal.emit("e1", EventType.CUSTOM, data={"n": n})
        await journal.checkpoint("e1", {"step": 1})
        await journal.save_node_state("e1", "loop", '{"turns": 3}')
    async with Journal(store) as journal:
        assert await journal.open_execution("e1") == 51
        journal.emit("e1", EventType.CUSTOM, data={"n": 50})
        await journal.flush("e1")
    assert [e.seq for e in await store.read_events("e1")] == list(range(1, 53))
    checkpoint = await store.last_checkpoint("e1")
    assert checkpoint is not None and (checkpoint.event_seq, checkpoint.state) == (51, {"step": 1})
    assert await store.load_node_state("e1", "loop") == {"turns": 3}


async def test_two_stores_on_one_target_see_each_others_writes_and_leases(
    store: Store, target: str | Path
) -> None:
    other = open_store(target)
    try:
        await store.write(WriteBatch(executions=[ExecutionRecord(id="e1", agent="a")]))
        seen = await other.get_execution("e1")
        assert seen is not None and seen.agent == "a"
        assert await store.claim_execution("e1", "rt_a", live=["rt_a", "rt_b"]) == "rt_a"
        assert await other.claim_execution("e1", "rt_b", live=["rt_a", "rt_b"]) == "rt_a"
        queued = await other.add_command(command(runtime_id="rt_a"))
        assert [c.id for c in await store.take_commands("rt_a", now=6.0)] == [queued]
        assert await other.take_commands("rt_a", now=7.0) == []
    finally:
        await other.close()


# -- choosing the backend ------------------------------------------------------------


async def test_open_store_gives_postgres_for_a_url_and_sqlite_for_anything_else(
    tmp_path: Path,
) -> None:
    for url in ("postgresql://u:pw@127.0.0.1:1/db", "postgres://127.0.0.1/db", "POSTGRESQL://h/d"):
        store = open_store(url)
        assert isinstance(store, PostgresStore)
        await store.close()  # never opened: nothing to do
    for path in (tmp_path / "a.db", str(tmp_path / "b.db"), ":memory:"):
        store = open_store(path)
        assert isinstance(store, SQLiteStore)
        await store.close()


def test_a_sqlite_store_never_imports_psycopg(tmp_path: Path) -> None:
    code = (
        "import sys, anyio\n"
        "from hive_mcp.store import open_store\n"
        f"store = open_store({str(tmp_path / 's.db')!r})\n"
        "anyio.run(store.close)\n"
        "assert not [m for m in sys.modules if m.startswith('psycopg')], 'psycopg imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=HANG)


# -- PostgreSQL only: its schema and its connection errors -----------------------------


async def test_a_postgres_database_from_a_newer_hive_mcp_is_refused(pg_url: str) -> None:
    store = open_store(pg_url)
    await store.write(WriteBatch(executions=[ExecutionRecord(id="e1", agent="a")]))
    await store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE hive_mcp_schema SET version = %s", (PG_SCHEMA_VERSION + 1,))
    store = open_store(pg_url)
    with pytest.raises(StoreError) as caught:
        await store.get_execution("e1")
    message = str(caught.value)
    assert f"schema version {PG_SCHEMA_VERSION + 1}, newer" in message
    assert f"understands ({PG_SCHEMA_VERSION})" in message
    assert "Upgrade hive-mcp" in message
    await store.close()


async def test_a_postgres_store_creates_its_schema_once_and_reopens_its_data(pg_url: str) -> None:
    first, second = open_store(pg_url), open_store(pg_url)
    with anyio.fail_after(HANG):
        async with anyio.create_task_group() as tg:  # two processes opening a new database
            tg.start_soon(first.last_seq, "e1")
            tg.start_soon(second.last_seq, "e1")
    await first.write(WriteBatch(events=events("e1", EventType.CUSTOM)))
    await first.close()
    assert await second.last_seq("e1") == 1
    await second.close()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM hive_mcp_schema").fetchall() == [
            (PG_SCHEMA_VERSION,)
        ]


async def test_wrong_postgres_credentials_are_named_and_the_password_never_shown(
    pg_server: PgServer,
) -> None:
    if not pg_server.checks_passwords:
        pytest.skip("the test server accepts any password (trust authentication)")
    secret = "Wr0ng-Secret-Pass"
    store = open_store(pg_server.with_database("postgres", user="postgres", password=secret))
    with pytest.raises(StoreError) as caught:
        await store.list_executions()
    message = str(caught.value)
    assert message.startswith(
        "wrong credentials for the PostgreSQL store postgresql://postgres:***@"
    )
    assert secret not in message and "\n" not in message
    assert (
        caught.value.__cause__ is None
    )  # psycopg's error (which may quote the URL) is not chained
    await store.close()


async def test_an_unreachable_postgres_server_is_named_and_the_password_never_shown() -> None:
    secret = "Unreach-Secret-Pass"
    url = f"postgresql://hive:{secret}@127.0.0.1:{free_port()}/db?password={secret}"
    store = open_store(url)
    with pytest.raises(StoreError) as caught:
        await store.beat(runtime("rt_a"))
    message = str(caught.value)
    assert message.startswith(
        "cannot reach the PostgreSQL server for postgresql://hive:***@127.0.0.1:"
    )
    assert "password=***" in message
    assert secret not in message and "\n" not in message
    await store.close()


async def test_a_postgres_role_that_may_not_create_tables_is_told_so(
    pg_server: PgServer, pg_url: str
) -> None:
    database = pg_url.rsplit("/", 1)[1]
    role, secret = f"hive_ro_{database.removeprefix('test_')[:12]}", "Ro-Secret-Pass"
    with psycopg.connect(pg_server.url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{secret}'")
    try:
        with psycopg.connect(pg_url, autocommit=True) as db:
            db.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        store = open_store(pg_server.with_database(database, user=role, password=secret))
        with pytest.raises(StoreError) as caught:
            await store.list_runtimes()
        message = str(caught.value)
        assert message.startswith("missing permission on the PostgreSQL store")
        assert "permission denied for schema public" in message
        assert secret not in message
        await store.close()
    finally:
        with psycopg.connect(pg_server.url, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")


async def test_a_postgres_taker_skips_a_command_another_taker_holds_and_gets_it_later(
    pg_url: str,
) -> None:
    store = open_store(pg_url)
    first, second = await store.add_command(command()), await store.add_command(command())
    async with await psycopg.AsyncConnection.connect(pg_url) as other:  # another taker, mid-take
        await other.execute("SELECT id FROM commands WHERE id = %s FOR UPDATE", (first,))
        with anyio.fail_after(HANG):  # skipped, not waited for
            assert [c.id for c in await store.take_commands("rt_a", now=6.0)] == [second]
        await other.rollback()  # that taker failed: the command is still untaken
    assert [c.id for c in await store.take_commands("rt_a", now=7.0)] == [first]
    await store.close()


def test_a_bad_postgres_url_is_refused_at_once_without_its_password() -> None:
    for url in (
        "postgresql://u:Bad-Secret@host:port/db",
        "postgresql://u:Bad-Secret@h/db?nonsense=1",
    ):
        with pytest.raises(StoreError, match=r"^bad PostgreSQL URL ") as caught:
            open_store(url)
        assert "Bad-Secret" not in str(caught.value)


def test_redact_url_hides_the_password_wherever_the_url_carries_it() -> None:
    assert redact_url("postgresql://u:p%40ss@h:5/d") == "postgresql://u:***@h:5/d"
    assert redact_url("postgresql://u@h/d?sslmode=require&password=x") == (
        "postgresql://u@h/d?sslmode=require&password=***"
    )
    assert redact_url("postgres://h/d") == "postgres://h/d"
    assert redact_url("postgresql://u:a:b@c@h/d") == "postgresql://u:***@h/d"
