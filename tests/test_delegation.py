"""Agent nodes: one agent delegating to another, in this process or on another server."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from hive_mcp.events import EventType
from hive_mcp.graph import AgentCatalog, load_catalog
from hive_mcp.runtime import AgentRuntime, RuntimeLimits
from hive_mcp.store import ExecutionRecord, ExecutionStatus, Journal, SQLiteStore
from hive_mcp.toolbox import Toolbox
from tests.support import HANG, free_port
from tests.test_mcp_server import call, follow
from tests.test_transports import TOKEN, authed, http_server

pytestmark = pytest.mark.anyio
AGENTS = Path(__file__).resolve().parent / "agents" / "delegation"


@pytest.fixture
async def runtime(journal: Journal, tmp_path: Path) -> AsyncIterator[AgentRuntime]:
    limits = RuntimeLimits(max_concurrent=1)  # a delegate must not queue behind its parent
    async with AgentRuntime(load_catalog(AGENTS), journal, data_dir=tmp_path, limits=limits) as rt:
        yield rt


async def settle(rt: AgentRuntime, execution_id: str, *, final: bool = False) -> ExecutionRecord:
    """Follow the log until the execution waits for input (unless ``final``) or ends."""
    after = 0
    with anyio.fail_after(HANG):
        while True:
            record = await rt.get_execution(execution_id)
            waiting = record.status is ExecutionStatus.WAITING_FOR_INPUT
            if record.status.is_final or (waiting and not final):
                return record
            events = await rt.get_events(execution_id, after=after, wait_seconds=2)
            after = events[-1].seq if events else after


async def test_an_agent_node_runs_a_local_agent_and_passes_its_question_up(
    runtime: AgentRuntime,
) -> None:
    parent = await runtime.start("lead", {"change": "rename the flag"})
    waiting = await settle(runtime, parent.id)
    assert waiting.waiting_for_input is not None
    assert waiting.waiting_for_input["node_id"] == "review"
    assert waiting.waiting_for_input["prompt"] == "Approve Rename the flag?"
    assert waiting.waiting_for_input["options"] == ["yes", "no"]
    [child] = await runtime.list_executions(agent="approver")
    assert child.parent_id == parent.id
    assert child.status is ExecutionStatus.WAITING_FOR_INPUT

    assert await runtime.send_input(parent.id, "yes") == "review"
    done = await settle(runtime, parent.id, final=True)
    assert done.status is ExecutionStatus.COMPLETED
    assert done.output == {"summary": "Rename the flag: approved"}
    assert (await runtime.get_execution(child.id)).status is ExecutionStatus.COMPLETED

    # The delegate's progress is part of the caller's own log, in order.
    forwarded = [
        (e.data["execution_id"], e.data["event"]["type"], e.data["event"]["node_id"])
        for e in await runtime.get_events(parent.id, limit=1000)
        if e.type is EventType.DELEGATE_EVENT
    ]
    assert forwarded[0] == (child.id, "execution_started", None)
    assert (child.id, "node_started", "ask") in forwarded
    assert (child.id, "client_input_requested", "ask") in forwarded
    assert forwarded[-1] == (child.id, "execution_completed", None)


async def test_cancelling_the_caller_cancels_the_delegate(runtime: AgentRuntime) -> None:
    parent = await runtime.start("lead", {"change": "drop table"})
    await settle(runtime, parent.id)
    [child] = await runtime.list_executions(agent="approver")
    assert await runtime.cancel(parent.id) is True
    assert (await runtime.get_execution(parent.id)).status is ExecutionStatus.CANCELLED
    assert (await runtime.get_execution(child.id)).status is ExecutionStatus.CANCELLED


async def test_a_failing_delegate_fails_the_node_with_its_reason(runtime: AgentRuntime) -> None:
    parent = await runtime.start("lead_refused", {"change": "x"})
    done = await settle(runtime, parent.id)
    assert done.status is ExecutionStatus.FAILED
    assert done.error is not None
    assert "agent 'refuser' (this process, execution ex_" in done.error
    assert "RuntimeError: X is out of scope" in done.error
    # Each retry of the node is a new delegate execution (defaults: 2 retries).
    assert len(await runtime.list_executions(agent="refuser")) == 3


async def test_a_caller_parked_by_an_earlier_process_reattaches_to_its_delegate(
    tmp_path: Path,
) -> None:
    async def open_runtime() -> tuple[SQLiteStore, Journal, AgentRuntime]:
        store = SQLiteStore(tmp_path / "store.db")
        journal = await Journal(store).__aenter__()
        rt = await AgentRuntime(load_catalog(AGENTS), journal, data_dir=tmp_path).__aenter__()
        return store, journal, rt

    async def close(store: SQLiteStore, journal: Journal, rt: AgentRuntime) -> None:
        await rt.__aexit__(None, None, None)
        await journal.__aexit__(None, None, None)
        await store.close()

    store, journal, rt = await open_runtime()
    parent = await rt.start("lead", {"change": "ship it"})
    await settle(rt, parent.id)
    await close(store, journal, rt)  # the server went away with both parked

    store, journal, rt = await open_runtime()
    try:
        assert (await rt.get_execution(parent.id)).status is ExecutionStatus.WAITING_FOR_INPUT
        assert await rt.send_input(parent.id, "no") == "review"
        done = await settle(rt, parent.id, final=True)
        [child] = await rt.list_executions(agent="approver")
    finally:
        await close(store, journal, rt)
    assert done.output == {"summary": "Ship it: rejected"}
    assert child.status is ExecutionStatus.COMPLETED  # one delegate, answered once


async def test_cancelling_a_caller_parked_by_an_earlier_process_cancels_its_delegate(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    async with Journal(store) as journal:
        async with AgentRuntime(load_catalog(AGENTS), journal, data_dir=tmp_path) as rt:
            parent = await rt.start("lead", {"change": "drop it"})
            await settle(rt, parent.id)
        # A new runtime: neither execution runs here, both are parked in the store.
        async with AgentRuntime(load_catalog(AGENTS), journal, data_dir=tmp_path) as rt:
            assert await rt.cancel(parent.id) is True
            [child] = await rt.list_executions(agent="approver")
            assert child.parent_id == parent.id
            assert child.status is ExecutionStatus.CANCELLED
            assert (await rt.get_execution(parent.id)).status is ExecutionStatus.CANCELLED
    await store.close()


async def test_cancelling_a_caller_parked_by_an_earlier_process_cancels_its_remote_delegate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    monkeypatch.setenv("TEAM_URL", url)
    monkeypatch.setenv("TEAM_TOKEN", TOKEN)

    @asynccontextmanager
    async def lead_runtime(journal: Journal) -> AsyncIterator[AgentRuntime]:
        async with (
            Toolbox({}) as toolbox,
            AgentRuntime(load_catalog(AGENTS), journal, data_dir=tmp_path, toolbox=toolbox) as rt,
        ):
            yield rt

    store = SQLiteStore(tmp_path / "store.db")
    with http_server(tmp_path / "team", port, extra_env={"HIVE_MCP_AGENTS": str(AGENTS)}):
        async with Journal(store) as journal:
            async with lead_runtime(journal) as rt:
                parent = await rt.start("lead_remote", {"change": "drop it"})
                await settle(rt, parent.id)  # parked on the question of the other server's agent
            async with lead_runtime(journal) as rt:  # a later process: nothing runs here
                assert await rt.cancel(parent.id) is True
        with authed(port) as http:
            async with http, Client(streamable_http_client(url, http_client=http)) as team:
                listed = await call(team, "list_executions", agent="approver")
    await store.close()
    [child] = listed["executions"]
    assert child["status"] == "cancelled"


async def test_a_server_that_is_not_running_fails_the_node_with_a_clear_reason(
    journal: Journal, tmp_path: Path
) -> None:
    async with (
        Toolbox({}) as toolbox,
        AgentRuntime(load_catalog(AGENTS), journal, data_dir=tmp_path, toolbox=toolbox) as rt,
    ):
        parent = await rt.start("lead_offline", {"change": "x"})
        done = await settle(rt, parent.id, final=True)
        events = await rt.get_events(parent.id, limit=1000)
    assert done.status is ExecutionStatus.FAILED
    assert done.error is not None
    assert "agent 'approver' on server 'offline': tool server 'offline' did not start" in done.error
    retries = [e for e in events if e.type is EventType.NODE_RETRYING]
    assert len(retries) == 1  # unreachable is worth another try


def test_agents_that_delegate_to_an_unknown_agent_or_in_a_cycle_are_refused(
    tmp_path: Path,
) -> None:
    shutil.copytree(AGENTS, tmp_path, dirs_exist_ok=True)
    (tmp_path / "approver.yaml").unlink()
    cycle = (AGENTS / "lead.yaml").read_text().replace("name: lead", "name: loop_a")
    (tmp_path / "loop_a.yaml").write_text(cycle.replace("agent: approver", "agent: loop_b"))
    (tmp_path / "loop_b.yaml").write_text(
        cycle.replace("name: loop_a", "name: loop_b").replace("agent: approver", "agent: loop_a")
    )
    catalog: AgentCatalog = load_catalog(tmp_path)
    problems = {Path(e.source).name: str(e) for e in catalog.errors}
    assert (
        "delegates to agent 'approver', which is not in this agents folder" in problems["lead.yaml"]
    )
    assert "set delegate.server if it runs on another hive-mcp server" in problems["lead.yaml"]
    assert "in a cycle: loop_a -> loop_b -> loop_a" in problems["loop_a.yaml"]
    assert "lead" not in catalog.agents and "loop_a" not in catalog.agents
    assert "lead_remote" in catalog.agents  # remote delegates are not looked up locally


def test_delegate_mappings_must_name_the_nodes_own_keys(tmp_path: Path) -> None:
    text = (AGENTS / "lead.yaml").read_text()
    (tmp_path / "approver.yaml").write_text((AGENTS / "approver.yaml").read_text())
    shutil.copy(AGENTS / "steps.py", tmp_path)
    (tmp_path / "lead.yaml").write_text(
        text.replace(
            "delegate: {agent: approver}",
            "delegate: {agent: approver, input: {topic: subject}, output: {verdict: decision}}",
        )
    )
    [error] = load_catalog(tmp_path).errors
    assert "delegate.input reads ['subject'], which are not among its input_keys" in str(error)
    assert "delegate.output sets ['verdict'], which are not among its output_keys" in str(error)


async def test_an_agent_on_one_server_delegates_to_an_agent_on_another_over_http(
    tmp_path: Path,
) -> None:
    team_port, lead_port = free_port(), free_port()
    env = {"HIVE_MCP_AGENTS": str(AGENTS)}
    lead_env = env | {"TEAM_URL": f"http://127.0.0.1:{team_port}/mcp", "TEAM_TOKEN": TOKEN}
    with (
        http_server(tmp_path / "team", team_port, extra_env=env),
        http_server(tmp_path / "lead", lead_port, extra_env=lead_env),
        authed(lead_port) as http,
    ):
        url = f"http://127.0.0.1:{lead_port}/mcp"
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            started = await call(
                client, "start_execution", agent="lead_remote", input={"change": "go live"}
            )
            eid = started["execution_id"]
            page = await follow(client, eid, "waiting_for_input", within=30)
            assert page["waiting_for_input"]["node_id"] == "review"
            assert page["waiting_for_input"]["prompt"] == "Approve Go live?"
            await call(client, "send_input", execution_id=eid, text="yes")
            page = await follow(client, eid, "completed", within=30)
            final = await call(client, "get_execution", execution_id=eid)
            events = await call(client, "get_events", execution_id=eid, limit=1000)
        assert final["output"] == {"summary": "Go live: approved"}
        forwarded = [e["data"] for e in events["events"] if e["type"] == "delegate_event"]
        assert {f["where"] for f in forwarded} == {"server 'team'"}
        with authed(lead_port) as again:
            async with again, Client(streamable_http_client(url, http_client=again)) as client:
                lost = await call(
                    client, "start_execution", agent="lead_lost", input={"change": "x"}
                )
                failed = await follow(client, lost["execution_id"], "failed", within=30)
                record = await call(client, "get_execution", execution_id=lost["execution_id"])
                lost_log = await call(
                    client, "get_events", execution_id=lost["execution_id"], limit=1000
                )
        # The other server refused: asking again would not help, so no retry.
        assert "node_retrying" not in {e["type"] for e in lost_log["events"]}
        assert failed["status"] == "failed"
        assert "agent 'nobody' on server 'team'" in record["error"]
        assert "no agent 'nobody'" in record["error"]
        kinds = [f["event"]["type"] for f in forwarded]
        assert kinds[0] == "execution_started" and kinds[-1] == "execution_completed"
        assert "client_input_received" in kinds

        # The delegate is an ordinary execution of the other server.
        team_url = f"http://127.0.0.1:{team_port}/mcp"
        with authed(team_port) as team_http:
            async with (
                team_http,
                Client(streamable_http_client(team_url, http_client=team_http)) as team,
            ):
                listed = await call(team, "list_executions", agent="approver")
        [child] = listed["executions"]
        assert child["status"] == "completed"
        assert child["execution_id"] == forwarded[0]["execution_id"]
