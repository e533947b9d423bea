"""Servers sharing a store take over the executions of one that died.

Real ``hive-mcp serve --http`` processes, each with its own home, on one
store; the first is SIGKILLed while an execution runs; the second notices
(the dead runtime's lease no longer counts) and resumes it, once.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support import HANG, free_port
from tests.test_mcp_server import call
from tests.test_transports import http_server

pytestmark = pytest.mark.anyio
AGENTS = Path(__file__).resolve().parent / "agents"
REPO = AGENTS.parent.parent


@pytest.fixture
def shared(shared_store: str) -> str:
    """The store every replica of a test shares."""
    return shared_store


def replica_env(store: str, agents: str = "waiter") -> dict[str, str]:
    return {"HIVE_MCP_STORE": store, "HIVE_MCP_AGENTS": str(AGENTS / agents)}


async def completed(client: Client, execution_id: str) -> dict[str, Any]:
    """The execution's record once it completed (it runs in another process)."""
    while (state := await call(client, "get_execution", execution_id=execution_id))[
        "status"
    ] != "completed":
        assert state["status"] in ("pending", "running"), state
        await anyio.sleep(0.1)
    return state


async def test_an_execution_of_a_killed_server_is_resumed_by_another_and_completes_once(
    tmp_path: Path, shared: str
) -> None:
    go, effect = tmp_path / "go", tmp_path / "effect"
    port_a, port_b = free_port(), free_port()
    env = replica_env(shared)
    with (
        http_server(tmp_path / "a", port_a, token=None, extra_env=env) as a,
        http_server(tmp_path / "b", port_b, token=None, extra_env=env),
        anyio.fail_after(HANG),
    ):
        async with Client(streamable_http_client(f"http://127.0.0.1:{port_a}/mcp")) as client:
            started = await call(
                client,
                "start_execution",
                agent="waiter",
                input={"go": str(go), "effect": str(effect)},
            )
            eid = started["execution_id"]
            # Running on A: its step waits for the go file.
            await call(
                client, "get_events", execution_id=eid, types=["node_started"], wait_seconds=30
            )
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=30)
        go.write_text("go")
        async with Client(streamable_http_client(f"http://127.0.0.1:{port_b}/mcp")) as client:
            state = await completed(client, eid)
            page = await call(client, "get_events", execution_id=eid, limit=1000)
    events = page["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # gap-free
    types = [e["type"] for e in events]
    assert types.count("execution_resumed") == 1  # resumed by B, and only by B
    assert types.count("execution_completed") == 1
    assert state["output"] == {"done": True}
    assert effect.read_text() == "done"


async def test_a_paused_server_that_lost_its_lease_writes_nothing_more_to_the_execution(
    tmp_path: Path, shared: str
) -> None:
    # A is stopped (SIGSTOP) past the lease expiry: B takes the execution over
    # and finishes it. When A runs again its step finishes too, and its writes
    # are refused: the log B wrote stays whole, with one end.
    go, effect = tmp_path / "go", tmp_path / "effect"
    port_a, port_b = free_port(), free_port()
    env = replica_env(shared) | {"HIVE_MCP_LEASE_EXPIRY": "3"}
    with (
        http_server(tmp_path / "a", port_a, token=None, extra_env=env) as a,
        http_server(tmp_path / "b", port_b, token=None, extra_env=env),
        anyio.fail_after(HANG),
    ):
        async with Client(streamable_http_client(f"http://127.0.0.1:{port_a}/mcp")) as client:
            started = await call(
                client,
                "start_execution",
                agent="waiter",
                input={"go": str(go), "effect": str(effect)},
            )
            eid = started["execution_id"]
            await call(
                client, "get_events", execution_id=eid, types=["node_started"], wait_seconds=30
            )
        a.send_signal(signal.SIGSTOP)
        try:
            async with Client(streamable_http_client(f"http://127.0.0.1:{port_b}/mcp")) as client:
                await call(
                    client,
                    "get_events",
                    execution_id=eid,
                    types=["execution_resumed"],
                    wait_seconds=60,
                )
                go.write_text("go")
                state = await completed(client, eid)
        finally:
            a.send_signal(signal.SIGCONT)
        # A's step sees the go file too and finishes; its write is refused.
        assert a.stderr is not None
        refused = await anyio.to_thread.run_sync(
            lambda: next(line for line in a.stderr if "was taken over by runtime" in line),  # type: ignore[union-attr]
            abandon_on_cancel=True,  # a regression fails at the deadline, not never
        )
        async with Client(streamable_http_client(f"http://127.0.0.1:{port_b}/mcp")) as client:
            page = await call(client, "get_events", execution_id=eid, limit=1000)
            final = await call(client, "get_execution", execution_id=eid)
    assert eid in refused
    events = page["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    types = [e["type"] for e in events]
    assert types.count("execution_completed") == 1
    assert types[-1] == "execution_completed"
    assert final["status"] == "completed" and final["output"] == {"done": True}
    assert state == final


async def test_servers_with_their_own_homes_on_one_store_seal_questions_with_one_key(
    tmp_path: Path, shared: str
) -> None:
    from hive_mcp.server import request_state_key
    from hive_mcp.store import open_store

    a, b = open_store(shared), open_store(shared)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "request_state.key").write_bytes(b"k" * 32)  # an earlier version's
    try:
        first = await request_state_key(a, tmp_path / "old")
        assert first == b"k" * 32  # questions sealed before the upgrade stay answerable
        assert await request_state_key(b, tmp_path / "new") == first
        assert not (tmp_path / "new").exists()  # nothing of it lives in a home any more
    finally:
        await a.close()
        await b.close()


async def test_started_on_one_server_followed_on_a_second_and_answered_on_a_third(
    tmp_path: Path, pg_url: str
) -> None:
    # Every long-poll below waits up to 60 s for what another process commits;
    # without a wake-up from PostgreSQL (LISTEN/NOTIFY) each would sit out its
    # whole wait and the test its deadline.
    env = replica_env(pg_url, agents="") | {"HIVE_MCP_AGENTS": str(REPO / "graph")}
    ports = free_port(), free_port(), free_port()
    with (
        http_server(tmp_path / "a", ports[0], token=None, extra_env=env),
        http_server(tmp_path / "b", ports[1], token=None, extra_env=env),
        http_server(tmp_path / "c", ports[2], token=None, extra_env=env),
        anyio.fail_after(50),
    ):
        a, b, c = (Client(streamable_http_client(f"http://127.0.0.1:{p}/mcp")) for p in ports)
        async with a, b, c:
            started = await call(
                a, "start_execution", agent="support_desk", input={"customer": "Ada"}
            )
            eid = started["execution_id"]
            seen: list[dict[str, Any]] = []
            while not any(e["type"] == "client_input_requested" for e in seen):
                page = await call(
                    b, "get_events", execution_id=eid, after=len(seen), wait_seconds=60
                )
                seen += page["events"]
            await call(c, "send_input", execution_id=eid, text="My order is late.")
            while not any(e["type"] == "execution_completed" for e in seen):
                page = await call(
                    b, "get_events", execution_id=eid, after=len(seen), wait_seconds=60
                )
                seen += page["events"]
            final = await call(b, "get_execution", execution_id=eid)
    assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))
    assert final["status"] == "completed"
    assert [e["type"] for e in seen].count("client_input_received") == 1
