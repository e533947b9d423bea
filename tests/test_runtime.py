"""The AgentRuntime: concurrent executions, idempotent starts, input routing, cancel, restarts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from hive_mcp.errors import (
    InputError,
    StoreError,
    UnknownAgentError,
    UnknownExecutionError,
    UsageError,
)
from hive_mcp.events import EventType
from hive_mcp.graph import AgentCatalog, load_agent
from hive_mcp.runtime import AgentRuntime, RuntimeLimits
from hive_mcp.store import ExecutionStatus, Journal, SQLiteStore
from tests import gates
from tests.disk import small_disk
from tests.support import HANG, build, node

pytestmark = pytest.mark.anyio
GRAPH = Path(__file__).resolve().parent.parent / "graph"


def catalog() -> AgentCatalog:
    gated = build(
        [node("hold", ["name"], ["done"], function="tests.gates:wait_gate")], [], name="gated"
    )
    cat = AgentCatalog()
    cat.add(gated)
    cat.add(load_agent(GRAPH / "support_desk" / "agent.yaml"))
    return cat


@pytest.fixture(autouse=True)
def _fresh_gates() -> None:
    gates.GATES.clear()
    gates.STARTED.clear()


@pytest.fixture
async def runtime(journal: Journal, tmp_path: Path) -> AsyncIterator[AgentRuntime]:
    async with AgentRuntime(
        catalog(), journal, data_dir=tmp_path, limits=RuntimeLimits(max_concurrent=2)
    ) as rt:
        yield rt


async def until(runtime: AgentRuntime, execution_id: str, status: ExecutionStatus) -> None:
    """Follow the event log until the execution reaches ``status``."""
    after = 0
    with anyio.fail_after(HANG):
        while (await runtime.get_execution(execution_id)).status is not status:
            events = await runtime.get_events(execution_id, after=after, wait_seconds=5)
            after = events[-1].seq if events else after


async def test_an_execution_runs_and_its_events_can_be_long_polled(runtime: AgentRuntime) -> None:
    record = await runtime.start("gated", {"name": "a"})
    first = await runtime.get_events(record.id, wait_seconds=5)
    assert first[0].type is EventType.EXECUTION_STARTED
    gates.GATES.setdefault("a", anyio.Event()).set()
    await until(runtime, record.id, ExecutionStatus.COMPLETED)
    assert (await runtime.get_execution(record.id)).output == {"done": "a"}


async def test_a_repeated_idempotency_key_returns_the_same_execution(runtime: AgentRuntime) -> None:
    first = await runtime.start("gated", {"name": "k"}, idempotency_key="order-42")
    again = await runtime.start("gated", {"name": "k"}, idempotency_key="order-42")
    other = await runtime.start("gated", {"name": "k"}, idempotency_key="order-43")
    assert again.id == first.id and other.id != first.id
    assert len(await runtime.list_executions(agent="gated")) == 2
    for cancelled in (first.id, other.id):
        await runtime.cancel(cancelled)


async def test_executions_beyond_the_limit_wait_their_turn(runtime: AgentRuntime) -> None:
    records = [await runtime.start("gated", {"name": f"g{i}"}) for i in range(3)]
    with anyio.fail_after(HANG):
        while len(gates.STARTED) < 2:
            await runtime.get_events(records[0].id, after=0, wait_seconds=0.05)
    await anyio.wait_all_tasks_blocked()
    assert sorted(gates.STARTED) == ["g0", "g1"]  # the third is queued
    assert (await runtime.get_execution(records[2].id)).status is ExecutionStatus.PENDING
    gates.GATES.setdefault("g0", anyio.Event()).set()
    await until(runtime, records[0].id, ExecutionStatus.COMPLETED)
    with anyio.fail_after(HANG):
        while "g2" not in gates.STARTED:
            await runtime.get_events(records[2].id, after=0, wait_seconds=0.05)
    for name in ("g1", "g2"):
        gates.GATES.setdefault(name, anyio.Event()).set()
    await until(runtime, records[2].id, ExecutionStatus.COMPLETED)


async def test_parked_executions_do_not_hold_a_slot(runtime: AgentRuntime) -> None:
    parked = [await runtime.start("support_desk", {"customer": f"c{i}"}) for i in range(3)]
    for record in parked:
        await until(runtime, record.id, ExecutionStatus.WAITING_FOR_INPUT)
    running = await runtime.start("gated", {"name": "free"})
    gates.GATES.setdefault("free", anyio.Event()).set()
    await until(runtime, running.id, ExecutionStatus.COMPLETED)  # the limit is 2, 3 are parked
    assert await runtime.send_input(parked[0].id, "reset my password") == "intake"
    await until(runtime, parked[0].id, ExecutionStatus.COMPLETED)


async def test_input_goes_to_the_waiting_node_and_mistakes_are_refused(
    runtime: AgentRuntime,
) -> None:
    record = await runtime.start("support_desk", {"customer": "Ada"})
    await until(runtime, record.id, ExecutionStatus.WAITING_FOR_INPUT)
    waiting = (await runtime.get_execution(record.id)).waiting_for_input
    assert waiting is not None and waiting["prompt"] == "Hi Ada! What can I help you with?"
    with pytest.raises(UsageError, match=r"node 'research' of execution .* is not waiting"):
        await runtime.send_input(record.id, "x", node_id="research")
    await runtime.send_input(record.id, "How do I export my data?")
    await until(runtime, record.id, ExecutionStatus.COMPLETED)
    with pytest.raises(UsageError, match="is completed, not waiting for input"):
        await runtime.send_input(record.id, "again")
    with pytest.raises(UnknownExecutionError, match="no execution 'ex_nope'"):
        await runtime.send_input("ex_nope", "hello")


async def test_bad_requests_are_refused_with_what_to_do(runtime: AgentRuntime) -> None:
    with pytest.raises(
        UnknownAgentError, match="no agent 'nope'; known agents: gated, support_desk"
    ):
        await runtime.start("nope", {})
    with pytest.raises(InputError, match="customer"):
        await runtime.start("support_desk", {"name": "Ada"})
    with pytest.raises(InputError, match="over the limit"):
        await runtime.start("support_desk", {"customer": "x" * 2_000_000})
    record = await runtime.start("gated", {"name": "z"})
    with pytest.raises(UsageError, match="wait_seconds must be between 0 and 60"):
        await runtime.get_events(record.id, wait_seconds=600)
    with pytest.raises(UsageError, match="limit must be between 1 and 1000"):
        await runtime.get_events(record.id, limit=0)
    await runtime.cancel(record.id)
    assert await runtime.list_executions(agent="support_desk") == []


async def test_input_no_store_could_keep_is_refused_and_the_log_still_writes(
    runtime: AgentRuntime,
) -> None:
    with pytest.raises(InputError, match=r"input.customer contains a lone UTF-16 surrogate"):
        await runtime.start("support_desk", {"customer": "x\ud800y"})
    with pytest.raises(InputError, match=r"input.customer is nan"):
        await runtime.start("gated", {"name": "n", "customer": float("nan")})
    assert await runtime.list_executions() == []
    parked = await runtime.start("support_desk", {"customer": "Ada"})  # the journal still writes
    await until(runtime, parked.id, ExecutionStatus.WAITING_FOR_INPUT)
    with pytest.raises(InputError, match=r"text contains a lone UTF-16 surrogate \(U\+DC80\)"):
        await runtime.send_input(parked.id, "a\udc80b")
    with pytest.raises(InputError, match=r"the text is 2000000 bytes, over the limit of 1000000"):
        await runtime.send_input(parked.id, "x" * 2_000_000)
    assert await runtime.send_input(parked.id, "How do I export my data?") == "intake"
    await until(runtime, parked.id, ExecutionStatus.COMPLETED)


async def test_cancel_stops_running_queued_and_parked_executions(runtime: AgentRuntime) -> None:
    parked = await runtime.start("support_desk", {"customer": "P"})
    await until(runtime, parked.id, ExecutionStatus.WAITING_FOR_INPUT)  # parked: slot given back
    running = [await runtime.start("gated", {"name": f"r{i}"}) for i in range(2)]
    queued = await runtime.start("gated", {"name": "q"})
    for record in (queued, running[0], parked):
        assert await runtime.cancel(record.id) is True
        assert (await runtime.get_execution(record.id)).status is ExecutionStatus.CANCELLED
    assert "q" not in gates.STARTED
    gates.GATES.setdefault("r1", anyio.Event()).set()
    await until(runtime, running[1].id, ExecutionStatus.COMPLETED)
    assert await runtime.cancel(running[1].id) is False


async def test_a_parked_execution_takes_input_after_a_restart(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    async with Journal(store) as journal, AgentRuntime(catalog(), journal, data_dir=tmp_path) as rt:
        record = await rt.start("support_desk", {"customer": "Ada"})
        await until(rt, record.id, ExecutionStatus.WAITING_FOR_INPUT)
    await store.close()  # the server went away

    store = SQLiteStore(tmp_path / "store.db")
    async with Journal(store) as journal, AgentRuntime(catalog(), journal, data_dir=tmp_path) as rt:
        assert (await rt.get_execution(record.id)).status is ExecutionStatus.WAITING_FOR_INPUT
        assert await rt.send_input(record.id, "How do I change my plan?") == "intake"
        await until(rt, record.id, ExecutionStatus.COMPLETED)
        final = await rt.get_execution(record.id)
    await store.close()
    assert (final.output or {})["reply"].endswith("(see kb-102)")


async def test_unfinished_executions_resume_when_the_runtime_starts_again(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    async with Journal(store) as journal, AgentRuntime(catalog(), journal, data_dir=tmp_path) as rt:
        record = await rt.start("gated", {"name": "later"})
        with anyio.fail_after(HANG):
            while "later" not in gates.STARTED:
                await rt.get_events(record.id, wait_seconds=0.05)
    await store.close()

    gates.GATES.setdefault("later", anyio.Event()).set()
    store = SQLiteStore(tmp_path / "store.db")
    async with Journal(store) as journal, AgentRuntime(catalog(), journal, data_dir=tmp_path) as rt:
        assert await rt.resume_unfinished() == [record.id]
        await until(rt, record.id, ExecutionStatus.COMPLETED)
    await store.close()


async def test_input_and_cancel_reaching_the_other_server_are_passed_on(tmp_path: Path) -> None:
    # Two MCP hosts, one home: each started a server on the same store.
    first_store, second_store = SQLiteStore(tmp_path / "s.db"), SQLiteStore(tmp_path / "s.db")
    async with (
        Journal(first_store) as first_journal,
        Journal(second_store) as second_journal,
        AgentRuntime(catalog(), first_journal, data_dir=tmp_path) as first,
        AgentRuntime(catalog(), second_journal, data_dir=tmp_path) as second,
    ):
        answered = await first.start("support_desk", {"customer": "Ada"})
        stopped = await first.start("support_desk", {"customer": "Bo"})
        await until(first, answered.id, ExecutionStatus.WAITING_FOR_INPUT)
        await until(first, stopped.id, ExecutionStatus.WAITING_FOR_INPUT)

        # The second server does not resume them itself: it hands them to the first.
        assert await second.send_input(answered.id, "How do I reset my password?") == "intake"
        await until(first, answered.id, ExecutionStatus.COMPLETED)
        assert await second.cancel(stopped.id) is True
        assert (await first.get_execution(stopped.id)).status is ExecutionStatus.CANCELLED
        assert second._live == {}
    await first_store.close()
    await second_store.close()


async def test_get_events_of_an_execution_pruned_meanwhile_says_it_is_unknown(
    runtime: AgentRuntime,
) -> None:
    from hive_mcp.store import RetentionPolicy

    old = await runtime.start("support_desk", {"customer": "Ada"})
    await runtime.cancel(old.id)
    await runtime.start("support_desk", {"customer": "Bo"})  # the newest stays
    report = await runtime.prune(RetentionPolicy(None, 1))
    assert [e.id for e in report.executions] == [old.id]
    with pytest.raises(UnknownExecutionError, match=old.id):
        await runtime.get_events(old.id, after=10_000)


async def test_a_queued_execution_stopped_before_it_started_starts_on_resume(
    tmp_path: Path,
) -> None:
    one = RuntimeLimits(max_concurrent=1)
    store = SQLiteStore(tmp_path / "store.db")
    async with (
        Journal(store) as journal,
        AgentRuntime(catalog(), journal, data_dir=tmp_path, limits=one) as rt,
    ):
        first = await rt.start("gated", {"name": "first"})
        queued = await rt.start("gated", {"name": "queued"})
        with anyio.fail_after(HANG):
            while "first" not in gates.STARTED:
                await rt.get_events(first.id, wait_seconds=0.05)
        assert await journal.read(queued.id) == []  # stopped while it waited for a slot
    await store.close()

    for name in ("first", "queued"):
        gates.GATES.setdefault(name, anyio.Event()).set()
    store = SQLiteStore(tmp_path / "store.db")
    async with (
        Journal(store) as journal,
        AgentRuntime(catalog(), journal, data_dir=tmp_path, limits=one) as rt,
    ):
        await rt.resume_unfinished()
        await until(rt, queued.id, ExecutionStatus.COMPLETED)
        events = await journal.read(queued.id)
    await store.close()
    assert events[0].type is EventType.EXECUTION_STARTED
    assert EventType.EXECUTION_RESUMED not in {e.type for e in events}
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_on_a_full_disk_nothing_is_acknowledged_and_runs_resume_once_space_returns(
    tmp_path: Path,
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        store = SQLiteStore(disk.path / "store.db")
        async with (
            Journal(store) as journal,
            AgentRuntime(catalog(), journal, data_dir=disk.path / "data") as rt,
        ):
            first = await rt.start("support_desk", {"customer": "Ada"})
            second = await rt.start("support_desk", {"customer": "Bob"})
            for record in (first, second):
                await until(rt, record.id, ExecutionStatus.WAITING_FOR_INPUT)
            disk.fill()
            with pytest.raises(StoreError, match="disk is full"):
                await rt.send_input(first.id, "How do I export my data?" + " " * 100_000)
            with pytest.raises(StoreError, match="disk is full"):
                await rt.start("support_desk", {"customer": "Cy"})
            disk.free()
            # The answer was refused, not lost silently: the execution asks again.
            await until(rt, first.id, ExecutionStatus.WAITING_FOR_INPUT)
            with anyio.fail_after(HANG):
                while not rt.broker.waiting_nodes(first.id):
                    await rt.get_events(first.id, after=0, wait_seconds=0.05)
            assert await rt.send_input(first.id, "How do I export my data?") == "intake"
            assert await rt.send_input(second.id, "How do I change my plan?") == "intake"
            for record in (first, second):
                await until(rt, record.id, ExecutionStatus.COMPLETED)
                events = await journal.read(record.id, limit=1000)
                assert events[0].type is EventType.EXECUTION_STARTED
                assert [e.seq for e in events] == list(range(1, len(events) + 1))
            assert [r.input["customer"] for r in await rt.list_executions()] == ["Bob", "Ada"]
        await store.close()


async def test_callers_racing_with_one_idempotency_key_start_one_execution(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    here, there = SQLiteStore(path), SQLiteStore(path)  # two servers sharing one home
    async with (
        Journal(here) as journal_a,
        Journal(there) as journal_b,
        AgentRuntime(catalog(), journal_a, data_dir=tmp_path) as a,
        AgentRuntime(catalog(), journal_b, data_dir=tmp_path) as b,
    ):
        ids: list[str] = []

        async def start(runtime: AgentRuntime) -> None:
            ids.append((await runtime.start("gated", {"name": "k"}, idempotency_key="once")).id)

        async with anyio.create_task_group() as tg:
            for runtime in (a, b) * 4:
                tg.start_soon(start, runtime)
        assert len(ids) == 8 and len(set(ids)) == 1
        assert len(await a.list_executions(agent="gated")) == 1
        await a.cancel(ids[0])
    await here.close()
    await there.close()
