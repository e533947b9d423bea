"""Speed and memory of the event-loop node: overhead per LLM turn, memory per parked execution.

Run: python benchmarks/loop.py [--repeats 5] [--parked 1000]

- overhead per turn: one event_loop node runs 40 turns with the scripted
  provider (a tool call each turn, then set_output, then a final answer),
  against the SQLite store, so each turn includes its events and three
  durable saves of the conversation. The baseline, measured in the same run,
  streams the same scripted turns straight from the provider with nothing
  around them: what remains is the framework's own cost per turn.
- memory per parked execution: N executions of a client-facing node, all
  waiting for input in one process; resident memory (RSS) grows by this much
  per execution. The baseline parks N bare tasks on an anyio.Event.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from _table import print_table  # the sibling module; scripts run from this folder

from hive_mcp.events import EventType
from hive_mcp.graph import Agent, GraphExecutor, GraphSpec, check_agent
from hive_mcp.llm import LLMRequest, Message
from hive_mcp.llm._scripted import ScriptedProvider, ScriptedTurn, call, say
from hive_mcp.store import Journal, SQLiteStore

HERE = Path(__file__).resolve().parent
TURNS = 40


def turn_policy(request: LLMRequest) -> ScriptedTurn:
    if request.turn < TURNS - 1:
        return call("step_tool", v=request.turn)
    if request.turn == TURNS - 1:
        return call("set_output", key="result", value=request.turn)
    return say("done")


def loop_agent(client_facing: bool = False) -> Agent:
    node: dict[str, Any] = {
        "id": "worker",
        "type": "event_loop",
        "output_keys": ["result"],
        "max_iterations": TURNS + 5,
        "tools": [] if client_facing else ["_steps:step_tool"],
        "client_facing": client_facing,
        "config": {"stall_threshold": TURNS + 5},
    }
    spec = GraphSpec.model_validate(
        {"name": "bench", "entry_node": "worker", "terminal_nodes": ["worker"], "nodes": [node]}
    )
    return check_agent(Agent(spec=spec, source=HERE / "_steps.py"))


async def loop_ms_per_turn(store_kind: str) -> float:
    agent = loop_agent()
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(":memory:" if store_kind == ":memory:" else Path(tmp) / "s.db")
        async with Journal(store) as journal:
            provider = ScriptedProvider(turn_policy)
            ex = GraphExecutor(agent, journal, providers=lambda m, a: provider, data_dir=Path(tmp))
            await ex.run({})  # warm-up
            runs = 5
            started = time.perf_counter()
            for _ in range(runs):
                record = await ex.run({})
                assert record.status.value == "completed", record.error
            elapsed = time.perf_counter() - started
        await store.close()
    return elapsed / (runs * (TURNS + 1)) * 1000


async def provider_ms_per_turn() -> float:
    provider = ScriptedProvider(turn_policy)
    messages = [Message(role="system", content="s"), Message(role="user", content="u")]
    runs = 5
    started = time.perf_counter()
    for _ in range(runs):
        for turn in range(1, TURNS + 2):
            request = LLMRequest(model="scripted", messages=messages, node_id="worker", turn=turn)
            async for _ in provider.stream(request):
                pass
    return (time.perf_counter() - started) / (runs * (TURNS + 1)) * 1000


def rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


async def parked_kb_each(count: int) -> tuple[float, float]:
    """(KB per parked execution, KB per bare parked task), measured in this process."""
    agent = loop_agent(client_facing=True)
    provider = ScriptedProvider(lambda request: call("ask_user", prompt="Which one?"))
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "s.db")
        async with Journal(store) as journal, anyio.create_task_group() as tg:
            ex = GraphExecutor(agent, journal, providers=lambda m, a: provider, data_dir=Path(tmp))
            parked = 0
            all_parked = anyio.Event()

            async def watch() -> None:
                nonlocal parked
                asks = [EventType.CLIENT_INPUT_REQUESTED]
                with journal.bus.subscribe(asks, max_buffered=count * 2) as sub:
                    async for _ in sub:
                        parked += 1
                        if parked == count:
                            all_parked.set()
                            return

            tg.start_soon(watch)
            await anyio.wait_all_tasks_blocked()
            gc.collect()
            before = rss_kb()
            for _ in range(count):
                record = ex.create({})
                tg.start_soon(ex.start_execution, record)
            await all_parked.wait()
            gc.collect()
            after = rss_kb()

            events = [anyio.Event() for _ in range(count)]
            gc.collect()
            bare_before = rss_kb()
            async with anyio.create_task_group() as bare:
                for event in events:
                    bare.start_soon(event.wait)
                await anyio.wait_all_tasks_blocked()
                gc.collect()
                bare_after = rss_kb()
                for event in events:
                    event.set()
            tg.cancel_scope.cancel()
        await store.close()
    return (after - before) / count, (bare_after - bare_before) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--parked", type=int, default=1000)
    args = parser.parse_args()

    base = statistics.median(anyio.run(provider_ms_per_turn) for _ in range(args.repeats))
    rows = []
    for kind in (":memory:", "file"):
        total = statistics.median(anyio.run(loop_ms_per_turn, kind) for _ in range(args.repeats))
        rows.append(
            (
                f"framework overhead per LLM turn, {kind} store",
                f"{total - base:.3f} ms",
                "< 1 ms",
                f"{base * 1000:.1f} µs/turn (bare scripted provider)",
            )
        )
    # Memory is measured once per process: RSS does not shrink reliably between runs.
    per_exec, per_task = anyio.run(parked_kb_each, args.parked)
    rows.append(
        (
            f"resident memory per parked execution ({args.parked} waiting)",
            f"{per_exec:.1f} KB",
            "< 200 KB",
            f"{per_task:.2f} KB per bare parked task",
        )
    )
    headers = ("measurement", f"median of {args.repeats}", "target", "baseline, same run")
    print_table(headers, rows)


if __name__ == "__main__":
    main()
