"""Test agents' tools that log each run and hang once the store shows a given state.

A crash test needs the process killed at an exact point: after some results
are durable, while one tool is still running. ``hang_when`` waits (polling
the store file read-only) until ``sql`` counts at least ``at_least`` rows,
then says so on stderr and hangs while ``HIVE_TEST_HANG=1``; the test kills
the process when it reads that line.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time


def note(text: str) -> None:
    """Append one line to the log file named by ``HIVE_TEST_LOG``."""
    with open(os.environ["HIVE_TEST_LOG"], "a") as f:
        f.write(text + "\n")


def hang_when(sql: str, at_least: int) -> None:
    if os.environ.get("HIVE_TEST_HANG") != "1":
        return
    store = os.path.join(os.environ["HIVE_MCP_HOME"], "store.db")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        try:
            (count,) = conn.execute(sql).fetchone()
        finally:
            conn.close()
        if count >= at_least:
            break
        time.sleep(0.01)
    print("hang: waiting to be killed", file=sys.stderr, flush=True)
    while True:
        time.sleep(3600)
