"""The runtime under load: webhook starts per second, get_events latency beside 500 executions.

Run: python benchmarks/runtime.py [--repeats 3] [--busy 500] [--posts 300]

- webhook starts/s: a real `hive-mcp serve --http` process with an agent whose
  webhook entry point starts a one-step execution; the client POSTs signed
  bodies over loopback, 8 at a time. Baseline in the same run: GET /health on
  the same server (an HTTP round trip that starts nothing).
- get_events under load: one process, one AgentRuntime (file store). N
  executions run at once, each an event_loop node taking 60 scripted turns with
  a tool call each (so every one of them keeps writing events). Meanwhile a
  client long-polls get_events of an unrelated, finished execution (it returns
  at once: the question is how long the runtime takes to answer). Baseline:
  the same calls with the runtime idle. Measured twice per repeat: as
  `hive-mcp serve` runs now (large write batches split into transactions of
  about 1,024 rows, the server's GC settings from hive_mcp/server/_gc.py), and
  as it ran before those two changes (one transaction per batch, CPython's
  default GC), so the change is compared within the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
from _table import print_table
from mcp import Client

from hive_mcp.graph import AgentCatalog, load_agent
from hive_mcp.llm import LLMRequest
from hive_mcp.llm._scripted import ScriptedProvider, ScriptedTurn, call, say
from hive_mcp.runtime import AgentRuntime, RuntimeLimits
from hive_mcp.server import build_server
from hive_mcp.server._gc import tune_for_serving
from hive_mcp.server._webhooks import signature
from hive_mcp.store import ExecutionStatus, Journal, SQLiteStore
from hive_mcp.store import _sqlite as sqlite_store

HERE = Path(__file__).resolve().parent
SECRET = "bench-secret"
TURNS = 60

HOOK_AGENT = """
name: hooked
description: One step, started by a webhook.
entry_node: step
terminal_nodes: [step]
entry_points:
  - {id: hook, trigger: webhook, config: {secret_env: BENCH_HOOK_SECRET}}
nodes:
  - {id: step, type: function, function: "_steps:step", input_keys: [v], output_keys: [v]}
"""

BUSY_AGENT = f"""
name: busy
description: An LLM node taking {TURNS} scripted turns with a tool call each.
entry_node: worker
terminal_nodes: [worker]
nodes:
  - id: worker
    type: event_loop
    output_keys: [result]
    tools: ["_steps:step_tool"]
    max_iterations: {TURNS + 5}
    config: {{stall_threshold: {TURNS + 5}}}
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def agents_dir(tmp: Path) -> Path:
    folder = tmp / "agents"
    folder.mkdir()
    (folder / "hooked.yaml").write_text(HOOK_AGENT)
    (folder / "busy.yaml").write_text(BUSY_AGENT)
    (folder / "_steps.py").write_text((HERE / "_steps.py").read_text())
    return folder


def webhook_rates(tmp: Path, posts: int) -> tuple[float, float]:
    """(webhook starts per second, /health round trips per second)."""
    port = free_port()
    env = os.environ | {
        "HIVE_MCP_HOME": str(tmp / "home"),
        "HIVE_MCP_AGENTS": str(agents_dir(tmp)),
        "BENCH_HOOK_SECRET": SECRET,
    }
    args = [sys.executable, "-m", "hive_mcp", "serve", "--http", "--port", str(port)]
    with subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "serving MCP on" in line:
                break
        try:
            return anyio.run(_rates, f"http://127.0.0.1:{port}", posts)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


async def _rates(base: str, posts: int) -> tuple[float, float]:
    limits = httpx2.Limits(max_connections=8)
    async with httpx2.AsyncClient(limits=limits, timeout=30) as http:

        async def hook(i: int) -> None:
            body = json.dumps({"v": i}).encode()
            headers = {"X-Hub-Signature-256": signature(SECRET, body)}
            r = await http.post(f"{base}/hooks/hooked/hook", content=body, headers=headers)
            assert r.status_code == 202, r.text

        async def health(_: int) -> None:
            assert (await http.get(f"{base}/health")).status_code == 200

        async def rate(one: Any) -> float:
            await one(-1)  # warm-up
            started = time.perf_counter()
            async with anyio.create_task_group() as tg:
                limiter = anyio.Semaphore(8)

                async def limited(i: int) -> None:
                    async with limiter:
                        await one(i)

                for i in range(posts):
                    tg.start_soon(limited, i)
            return posts / (time.perf_counter() - started)

        return await rate(hook), await rate(health)


def busy_policy(request: LLMRequest) -> ScriptedTurn:
    if request.turn < TURNS - 1:
        return call("step_tool", v=request.turn)
    if request.turn == TURNS - 1:
        return call("set_output", key="result", value=request.turn)
    return say("done")


Samples = dict[str, list[float]]


async def get_events_ms(
    tmp: Path, busy: int, samples: int, limit: int | None
) -> tuple[Samples, Samples]:
    """get_events latencies (ms) on an unrelated execution: idle, then beside ``busy`` runs.

    Measured twice per sample: the runtime's Python API, and the MCP tool
    through an in-memory MCP client (transport tasks and all).
    """
    folder = agents_dir(tmp)
    catalog = AgentCatalog()
    catalog.add(load_agent(folder / "busy.yaml"))
    catalog.add(load_agent(folder / "hooked.yaml"))
    provider = ScriptedProvider(busy_policy, keep_requests=False)  # as a server's
    store = SQLiteStore(tmp / "store.db")
    limits = RuntimeLimits(max_concurrent=limit or busy + 10)
    async with (
        Journal(store) as journal,
        AgentRuntime(
            catalog, journal, data_dir=tmp, limits=limits, providers=lambda m, a: provider
        ) as rt,
    ):
        quiet = await rt.start("hooked", {"v": 1})
        with anyio.fail_after(30):
            while (await rt.get_execution(quiet.id)).status is not ExecutionStatus.COMPLETED:
                await rt.get_events(quiet.id, wait_seconds=1)

        async def measure(client: Client, while_busy: int = 0) -> Samples:
            found: Samples = {"python": [], "mcp": []}
            arguments = {"execution_id": quiet.id, "after": 0, "limit": 100}
            for _ in range(samples):
                if len(rt._live) < while_busy:  # the load is winding down: stop (live: queued too)
                    break
                started = time.perf_counter()
                await rt.get_events(quiet.id, after=0, limit=100)
                found["python"].append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                result = await client.call_tool("get_events", arguments)
                found["mcp"].append((time.perf_counter() - started) * 1000)
                assert not result.is_error
                await anyio.sleep(0.002)
            return found

        async with Client(build_server(rt)) as client:
            idle = await measure(client)
            records: list[Any] = []

            async def start_one() -> None:
                records.append(await rt.start("busy", {}))

            async with anyio.create_task_group() as tg:  # all at once: one group commit
                for _ in range(busy):
                    tg.start_soon(start_one)
            loaded = await measure(client, while_busy=busy * 9 // 10)
        if len(loaded["python"]) < samples // 2:
            print(f"note: only {len(loaded['python'])} samples under load", file=sys.stderr)
        for record in records:
            await rt.cancel(record.id)
    await store.close()
    return idle, loaded


@contextlib.contextmanager
def settings(variant: str) -> Any:
    """``now``: as serve runs; ``before``: one transaction per batch, default GC."""
    threshold = gc.get_threshold()
    chunk = sqlite_store.CHUNK_ROWS
    if variant == "now":
        tune_for_serving()
    else:
        sqlite_store.CHUNK_ROWS = 10**9
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        sqlite_store.CHUNK_ROWS = chunk


def latency_row(
    stats: dict[tuple[str, str, float], list[float]], busy: int, variant: str, via: str, q: float
) -> list[str]:
    loaded = statistics.median(stats[(f"busy {variant}", via, q)])
    idle = statistics.median(stats[(f"idle {variant}", via, q)])
    return [
        f"get_events p{round(q * 100)} ({via}) beside {busy} running, {variant}",
        f"{loaded:.2f} ms",
        f"{idle:.2f} ms idle",
        f"{loaded / idle:.1f}x",
    ]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", type=int, default=500)
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="the runtime's max_concurrent (default: all --busy executions run at once)",
    )
    args = parser.parse_args()

    hooks: list[float] = []
    healths: list[float] = []
    stats: dict[tuple[str, str, float], list[float]] = {}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            hook, health = webhook_rates(Path(tmp), args.posts)
        hooks.append(hook)
        healths.append(health)
        for variant in ("before", "now"):
            with tempfile.TemporaryDirectory() as tmp, settings(variant):
                idle, loaded = anyio.run(
                    get_events_ms, Path(tmp), args.busy, args.samples, args.limit
                )
            for state, found in ((f"idle {variant}", idle), (f"busy {variant}", loaded)):
                for via, values in found.items():
                    for q in (0.5, 0.99):
                        stats.setdefault((state, via, q), []).append(pct(values, q))

    med = statistics.median
    print(f"medians of {args.repeats} runs\n")
    print_table(
        ["measure", "hive-mcp", "baseline (same run)", "ratio"],
        [
            [
                "webhook starts/s (8 concurrent, loopback)",
                f"{med(hooks):,.0f}",
                f"{med(healths):,.0f} GET /health/s",
                f"{med(hooks) / med(healths):.2f}",
            ],
            *(
                latency_row(stats, args.busy, variant, via, q)
                for variant in ("before", "now")
                for via in ("python", "mcp")
                for q in (0.5, 0.99)
            ),
        ],
    )


if __name__ == "__main__":
    main()
