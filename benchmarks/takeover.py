"""Takeover time: a server SIGKILLed mid-step, until another server resumed its run.

Run: python benchmarks/takeover.py [--repeats 5] [--expiry SECONDS]

Two real ``hive-mcp serve --http`` processes with their own homes share one
PostgreSQL database (the tests' embedded server, tests/pg.py). Each round
starts an execution of tests/agents/waiter on A (its step waits for a file),
kills A with SIGKILL and times, from the kill, until B's log of the execution
holds ``execution_resumed`` (B's long-poll wakes on PostgreSQL's NOTIFY).

Two rows: with A's process reaped at once (as its supervisor would), B sees
on this machine that the process is gone and resumes the run on its next
scan (every second); with A left a zombie, its pid stays, as for a server on
a lost machine, and B waits for A's heartbeat to expire
(``HIVE_MCP_LEASE_EXPIRY``, default 8 s).
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from _table import print_table  # the sibling module; scripts run from this folder
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests import pg  # noqa: E402 - the tests' PostgreSQL server, also for the benchmark
from tests.support import free_port  # noqa: E402
from tests.test_transports import http_server  # noqa: E402


async def call(client: Client, name: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    if result.is_error:
        raise RuntimeError(f"{name} failed: {result.content}")
    return result.structured_content or {}


async def one_round(tmp: Path, url: str, expiry: str | None, reaped: bool) -> float:
    env = {
        "HIVE_MCP_STORE": url,
        "HIVE_MCP_AGENTS": str(REPO / "tests" / "agents" / "waiter"),
    }
    if expiry is not None:
        env["HIVE_MCP_LEASE_EXPIRY"] = expiry
    port_a, port_b = free_port(), free_port()
    go = tmp / f"go{time.monotonic_ns()}"
    with (
        http_server(tmp / "a", port_a, token=None, extra_env=env) as a,
        http_server(tmp / "b", port_b, token=None, extra_env=env),
    ):
        async with Client(streamable_http_client(f"http://127.0.0.1:{port_a}/mcp")) as client:
            eid = (
                await call(
                    client,
                    "start_execution",
                    agent="waiter",
                    input={"go": str(go), "effect": str(tmp / "effect")},
                )
            )["execution_id"]
            await call(
                client, "get_events", execution_id=eid, types=["node_started"], wait_seconds=30
            )
        async with Client(streamable_http_client(f"http://127.0.0.1:{port_b}/mcp")) as client:
            killed = time.perf_counter()
            a.send_signal(signal.SIGKILL)
            if reaped:  # as a supervisor would: the pid is gone, B notices at once
                a.wait()
            # Not reaped, the pid stays (a zombie), as a server on a lost machine
            # would: B notices when the heartbeat expires.
            while not (
                await call(
                    client,
                    "get_events",
                    execution_id=eid,
                    types=["execution_resumed"],
                    wait_seconds=60,
                )
            )["events"]:
                pass
            took = time.perf_counter() - killed
        go.write_text("go")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--expiry", help="HIVE_MCP_LEASE_EXPIRY (unset: the default)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, pg.pg_server() as server:
        for reaped, what in ((True, "process gone"), (False, "heartbeat expiry")):
            with pg.fresh_database(server) as url:
                times = [
                    anyio.run(one_round, Path(tmp), url, args.expiry, reaped)
                    for _ in range(args.repeats)
                ]
            rows.append(
                (
                    f"takeover after SIGKILL ({what}), p50",
                    f"{statistics.median(times):.2f} s",
                    "p99 < 10 s",
                )
            )
            rows.append((f"takeover after SIGKILL ({what}), max", f"{max(times):.2f} s", ""))
    expiry = args.expiry or "default"
    print_table(
        ("measurement", f"{args.repeats} rounds, HIVE_MCP_LEASE_EXPIRY={expiry}", "target"), rows
    )


if __name__ == "__main__":
    main()
