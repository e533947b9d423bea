"""What the integrity check costs when a store opens: `PRAGMA quick_check` by store size.

Run: python benchmarks/store_open.py [--events 10000 100000 1000000] [--repeats 3]

Each size builds a store through `SQLiteStore.write` with a mix like a busy
server's: per 100 events one execution record, per 20 events a checkpoint of
about 1 KB, per 50 events a saved conversation of about 4 KB, event data of
50-450 bytes (the demo's events average 100 bytes; tool results run larger).
Then, per repeat:

- open: `SQLiteStore(path)` and `close()` as a command or `serve` does it,
  the check included (the median of the repeats);
- quick_check warm: `PRAGMA quick_check` alone, the file in the page cache
  (a store that a server or command used a moment ago);
- quick_check cold: the same after dropping the file from the page cache with
  `posix_fadvise(DONTNEED)` (the first start after a reboot);
- integrity_check warm: the full check, for comparison (it also cross-checks
  every index against its table).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from _table import print_table

from hive_mcp.events import Event, EventType
from hive_mcp.store import Checkpoint, ExecutionRecord, NodeState, SQLiteStore, WriteBatch


async def build(path: Path, events: int) -> None:
    store = SQLiteStore(path)
    rng = random.Random(events)
    batch = WriteBatch()
    execution = ""
    for i in range(events):
        if i % 100 == 0:
            execution = f"ex_{i:08d}"
            batch.executions.append(ExecutionRecord(id=execution, agent="bench", input={"i": i}))
        seq = i % 100 + 1
        text = "x" * rng.randint(50, 450)
        batch.events.append(
            Event(execution_id=execution, seq=seq, type=EventType.CUSTOM, data={"text": text})
        )
        if i % 20 == 19:
            batch.checkpoints.append(
                Checkpoint(execution_id=execution, event_seq=seq, state={"memory": "m" * 1000})
            )
        if i % 50 == 49:
            batch.node_states.append(
                NodeState(execution_id=execution, key=f"n{seq}", state_json='"' + "c" * 4000 + '"')
            )
        if len(batch.events) >= 5000:
            await store.write(batch)
            batch = WriteBatch()
    await store.write(batch)
    await store.close()


def drop_from_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def timed_pragma(path: Path, pragma: str) -> float:
    conn = sqlite3.connect(path)
    try:
        start = time.perf_counter()
        result = conn.execute(f"PRAGMA {pragma}").fetchall()
        elapsed = time.perf_counter() - start
    finally:
        conn.close()
    assert result == [("ok",)], result
    return elapsed


def timed_open(path: Path) -> float:
    start = time.perf_counter()
    store = SQLiteStore(path)
    elapsed = time.perf_counter() - start
    anyio.run(store.close)
    return elapsed


def ms(seconds: list[float]) -> str:
    return f"{statistics.median(seconds) * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for events in args.events:
            path = Path(tmp) / f"store-{events}.db"
            anyio.run(build, path, events)
            size = path.stat().st_size
            opens, warm, cold, full = [], [], [], []
            for _ in range(args.repeats):
                opens.append(timed_open(path))
                warm.append(timed_pragma(path, "quick_check"))
                drop_from_cache(path)
                cold.append(timed_pragma(path, "quick_check"))
                full.append(timed_pragma(path, "integrity_check"))
            rows.append(
                [
                    f"{events:,}",
                    f"{size / 2**20:.0f} MB",
                    ms(opens),
                    ms(warm),
                    ms(cold),
                    ms(full),
                    f"{size / 2**20 / statistics.median(warm):.0f} MB/s",
                ]
            )
            path.unlink()
            print(f"done {events:,} events", file=sys.stderr)
    print_table(
        [
            "events",
            "store",
            "open (with check)",
            "quick_check warm",
            "quick_check cold",
            "integrity_check warm",
            "quick_check rate",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
