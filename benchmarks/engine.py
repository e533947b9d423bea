"""Speed of the graph engine: bus, durable log, long-poll wake-up, executor overhead.

Run: python benchmarks/engine.py [--repeats 5]

Every figure is the median of --repeats runs. Each has a baseline measured in
the same run on the same machine, so the ratio stays meaningful on a noisy
shared host:

- bus: a naive bus (a list of subscribers, each an asyncio.Queue, every
  subscriber's filter checked on every publish), the usual first design;
- durable log: raw sqlite3 executemany of the same rows in one transaction,
  the most a SQLite-backed log could do;
- long-poll: a bare anyio.Event wake-up, the floor for any waiter;
- executor: calling the same node functions directly in a loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import anyio.lowlevel
from _table import print_table  # the sibling module; scripts run from this folder

from hive_mcp.events import Event, EventBus, EventType
from hive_mcp.graph import Agent, GraphExecutor, GraphSpec, check_agent
from hive_mcp.store import ExecutionRecord, ExecutionStatus, Journal, SQLiteStore

HERE = Path(__file__).resolve().parent
BUS_EVENTS = 200_000
LOG_EVENTS = 100_000
WAKE_SAMPLES = 300
STEPS = 50


def median_of(repeats: int, measure: Callable[[], Awaitable[float]]) -> float:
    return statistics.median(anyio.run(measure) for _ in range(repeats))


# -- bus ---------------------------------------------------------------------


class NaiveBus:
    """Baseline: check every subscriber's filters, put into its asyncio.Queue."""

    def __init__(self) -> None:
        self.subs: list[tuple[set[EventType], str | None, asyncio.Queue[Event]]] = []

    def subscribe(self, types: set[EventType], execution_id: str | None) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self.subs.append((types, execution_id, queue))
        return queue

    def publish(self, event: Event) -> None:
        for types, execution_id, queue in self.subs:
            if event.type in types and execution_id in (None, event.execution_id):
                queue.put_nowait(event)


def _events(n: int) -> list[Event]:
    return [Event(execution_id="e1", seq=i, type=EventType.NODE_COMPLETED) for i in range(n)]


async def bus_rate(matching: int, naive: bool) -> float:
    events = _events(BUS_EVENTS)
    types = {EventType.NODE_COMPLETED}
    received = [0]
    done = anyio.Event()
    readers = []
    if naive:
        nbus = NaiveBus()
        queues = [nbus.subscribe(types, "e1" if i < matching else "other") for i in range(10)]
        publish = nbus.publish

        async def read_queue(q: asyncio.Queue[Event]) -> None:
            for _ in range(BUS_EVENTS):
                await q.get()
            received[0] += 1
            if received[0] == matching:
                done.set()

        readers = [(read_queue, q) for q in queues[:matching]]
    else:
        bus = EventBus()
        subs = [
            bus.subscribe(
                types, execution_id="e1" if i < matching else "other", max_buffered=BUS_EVENTS
            )
            for i in range(10)
        ]
        publish = bus.publish

        async def read_sub(sub: object) -> None:
            for _ in range(BUS_EVENTS):
                await sub.receive()  # type: ignore[attr-defined]
            received[0] += 1
            if received[0] == matching:
                done.set()

        readers = [(read_sub, s) for s in subs[:matching]]
    async with anyio.create_task_group() as tg:
        for fn, arg in readers:
            tg.start_soon(fn, arg)
        started = time.perf_counter()
        for i, event in enumerate(events):
            publish(event)
            if i % 1000 == 999:
                await anyio.lowlevel.checkpoint()  # let the readers drain, as a live process would
        await done.wait()
        elapsed = time.perf_counter() - started
    return BUS_EVENTS / elapsed


# -- durable log -------------------------------------------------------------


async def journal_rate() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "store.db")
        async with Journal(store) as journal:
            journal.begin_execution(ExecutionRecord(id="e1", agent="bench"))
            await journal.flush()
            started = time.perf_counter()
            for i in range(LOG_EVENTS):
                journal.emit("e1", EventType.NODE_COMPLETED, node_id="n", data={"i": i})
                if i % 1000 == 999:
                    await anyio.lowlevel.checkpoint()
            await journal.flush()
            elapsed = time.perf_counter() - started
        await store.close()
    return LOG_EVENTS / elapsed


async def raw_sqlite_rate() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE events (execution_id TEXT, seq INTEGER, type TEXT, node_id TEXT, "
            "timestamp REAL, data TEXT, PRIMARY KEY (execution_id, seq)) WITHOUT ROWID"
        )
        started = time.perf_counter()
        rows = [
            ("e1", i, "node_completed", "n", time.time(), json.dumps({"i": i}))
            for i in range(LOG_EVENTS)
        ]
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        conn.close()
    return LOG_EVENTS / elapsed


# -- long-poll wake latency --------------------------------------------------


async def wake_latencies() -> list[float]:
    samples: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "store.db")
        async with Journal(store) as journal:
            journal.begin_execution(ExecutionRecord(id="e1", agent="bench"))
            await journal.flush()
            for after in range(WAKE_SAMPLES):
                sent = [0.0]

                async def poll(after: int = after, sent: list[float] = sent) -> None:
                    await journal.wait_events("e1", after=after, wait_seconds=10)
                    samples.append(time.perf_counter() - sent[0])

                async with anyio.create_task_group() as tg:
                    tg.start_soon(poll)
                    await anyio.wait_all_tasks_blocked()
                    sent[0] = time.perf_counter()
                    journal.emit("e1", EventType.CUSTOM)
        await store.close()
    return samples


async def event_wake_latencies() -> list[float]:
    samples: list[float] = []
    for _ in range(WAKE_SAMPLES):
        event = anyio.Event()
        sent = [0.0]

        async def wait(event: anyio.Event = event, sent: list[float] = sent) -> None:
            await event.wait()
            samples.append(time.perf_counter() - sent[0])

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.wait_all_tasks_blocked()
            sent[0] = time.perf_counter()
            event.set()
    return samples


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- executor overhead -------------------------------------------------------


def chain_agent(function: str) -> Agent:
    nodes = [
        {
            "id": f"n{i}",
            "type": "function",
            "function": function,
            "input_keys": ["v"],
            "output_keys": ["v"],
        }
        for i in range(STEPS)
    ]
    edges = [{"source": f"n{i}", "target": f"n{i + 1}"} for i in range(STEPS - 1)]
    spec = GraphSpec.model_validate(
        {
            "name": "chain",
            "entry_node": "n0",
            "terminal_nodes": [f"n{STEPS - 1}"],
            "max_steps": STEPS,
            "nodes": nodes,
            "edges": edges,
        }
    )
    return check_agent(Agent(spec=spec, source=HERE / "_steps.py"))


async def executor_step_ms(function: str, store_path: str) -> float:
    agent = chain_agent(function)
    with tempfile.TemporaryDirectory() as tmp:
        path = store_path if store_path == ":memory:" else str(Path(tmp) / "store.db")
        store = SQLiteStore(path)
        async with Journal(store) as journal:
            executor = GraphExecutor(agent, journal)
            await executor.run({"v": 0})  # warm-up: imports, caches
            started = time.perf_counter()
            runs = 10
            for _ in range(runs):
                record = await executor.run({"v": 0})
                assert record.status is ExecutionStatus.COMPLETED, record.error
            elapsed = time.perf_counter() - started
        await store.close()
    return elapsed / (runs * STEPS) * 1000


async def direct_step_ms(sync: bool) -> float:
    sys.path.insert(0, str(HERE))
    import _steps  # type: ignore[import-not-found]

    runs = 10
    started = time.perf_counter()
    for _ in range(runs):
        value = 0
        for _ in range(STEPS):
            result = _steps.step_sync(v=value) if sync else await _steps.step(v=value)
            value = result["v"]
    elapsed = time.perf_counter() - started
    return elapsed / (runs * STEPS) * 1000


# -- report ------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats

    rows: list[tuple[str, str, str, str, str]] = []

    def rate_row(name: str, ours: float, base: float, base_name: str, target: str) -> None:
        rows.append(
            (name, f"{ours:,.0f}/s", target, f"{base:,.0f}/s ({base_name})", f"{ours / base:.2f}x")
        )

    for matching in (1, 10):
        ours = median_of(repeats, lambda m=matching: bus_rate(m, naive=False))
        base = median_of(repeats, lambda m=matching: bus_rate(m, naive=True))
        target = "≥ 100,000/s" if matching == 1 else "≥ 40,000/s"
        rate_row(f"bus publish, 10 subs, {matching} matching", ours, base, "naive bus", target)

    ours = median_of(repeats, journal_rate)
    base = median_of(repeats, raw_sqlite_rate)
    rate_row("durable log (SQLite WAL, group commit)", ours, base, "raw executemany", "≥ 50,000/s")

    wake: list[float] = []
    floor: list[float] = []
    for _ in range(repeats):
        wake += anyio.run(wake_latencies)
        floor += anyio.run(event_wake_latencies)
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        ours_ms, base_ms = percentile(wake, q) * 1000, percentile(floor, q) * 1000
        rows.append(
            (
                f"long-poll wake latency {label}",
                f"{ours_ms:.3f} ms",
                "p99 < 5 ms" if label == "p99" else "",
                f"{base_ms:.3f} ms (anyio.Event)",
                f"{ours_ms / base_ms:.1f}x",
            )
        )

    for kind, function, sync in (
        ("async", "_steps:step", False),
        ("sync", "_steps:step_sync", True),
    ):
        direct = median_of(repeats, lambda s=sync: direct_step_ms(s))
        for store in (":memory:", "file"):
            total = median_of(repeats, lambda f=function, s=store: executor_step_ms(f, s))
            rows.append(
                (
                    f"executor overhead/step, {kind} fn, {store} store",
                    f"{total - direct:.3f} ms",
                    "< 0.5 ms",
                    f"{direct * 1000:.2f} µs (direct call)",
                    "",
                )
            )

    headers = ("measurement", f"median of {repeats}", "target", "baseline, same run", "ours/base")
    print_table(headers, rows)


if __name__ == "__main__":
    main()
