"""The MCP face, driven by the official MCP client in memory (both protocol eras)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp_types import ElicitResult

from hive_mcp.graph import AgentCatalog, load_agent
from hive_mcp.runtime import AgentRuntime, RuntimeLimits
from hive_mcp.server import build_server
from hive_mcp.store import Journal
from tests.support import HANG

pytestmark = pytest.mark.anyio
GRAPH = Path(__file__).resolve().parent.parent / "graph"
FIXED = {
    "list_agents",
    "start_execution",
    "get_events",
    "send_input",
    "get_execution",
    "cancel_execution",
    "list_executions",
}


@pytest.fixture
async def runtime(journal: Journal, tmp_path: Path) -> AsyncIterator[AgentRuntime]:
    catalog = AgentCatalog()
    for name in ("support_desk", "text_report"):
        catalog.add(load_agent(GRAPH / name / "agent.yaml"))
    async with AgentRuntime(
        catalog, journal, data_dir=tmp_path, limits=RuntimeLimits(max_input_bytes=10_000)
    ) as rt:
        yield rt


async def call(client: Client, name: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def error_of(client: Client, name: str, **arguments: Any) -> str:
    result = await client.call_tool(name, arguments)
    assert result.is_error
    return str(result.content[0].text)  # type: ignore[union-attr]


async def follow(
    client: Client, execution_id: str, status: str, within: float = 10
) -> dict[str, Any]:
    """Long-poll until the execution reaches ``status``; fail at once on another ending."""
    after = 0
    with anyio.fail_after(within):
        while True:
            page = await call(
                client, "get_events", execution_id=execution_id, after=after, wait_seconds=5
            )
            after = page["next_after"]
            if page["status"] == status:
                return page
            assert page["status"] in ("pending", "running", "waiting_for_input"), page


async def test_the_tool_surface_has_the_fixed_names_and_one_run_tool_per_agent(
    runtime: AgentRuntime,
) -> None:
    async with Client(build_server(runtime)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == FIXED | {"run_support_desk", "run_text_report"}
    for name in ("get_events", "get_execution", "list_agents", "list_executions"):
        assert tools[name].annotations is not None and tools[name].annotations.read_only_hint
    schema = tools["run_support_desk"].input_schema
    assert schema["required"] == ["customer"]
    assert set(schema["properties"]) == {"customer", "max_wait_seconds"}
    assert tools["get_events"].output_schema is not None
    assert "waiting_for_input" in tools["get_events"].output_schema["properties"]


async def test_start_then_long_poll_events_to_completion(runtime: AgentRuntime) -> None:
    async with Client(build_server(runtime)) as client:
        agents = await call(client, "list_agents")
        assert {a["name"] for a in agents["agents"]} == {"support_desk", "text_report"}
        started = await call(
            client, "start_execution", agent="text_report", input={"text": "A fox. A dog."}
        )
        assert started["status"] == "pending"
        page = await follow(client, started["execution_id"], "completed")
        info = await call(client, "get_execution", execution_id=started["execution_id"])
        listed = await call(client, "list_executions", agent="text_report", status="completed")
    assert info["output"]["result"]["words"]["total"] == 4
    assert page["waiting_for_input"] is None
    assert [e["execution_id"] for e in listed["executions"]] == [started["execution_id"]]


async def test_run_tool_finishes_inside_one_call_and_reports_progress(
    runtime: AgentRuntime,
) -> None:
    progress: list[str] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with Client(build_server(runtime)) as client:
        result = await client.call_tool(
            "run_text_report", {"text": "Bees buzz. Bees sleep."}, progress_callback=on_progress
        )
    assert not result.is_error
    data = result.structured_content or {}
    assert data["status"] == "completed"
    assert data["output"]["result"]["words"]["top"][0] == ["bees", 2]
    assert "node prepare" in progress and "node publish" in progress


async def test_without_elicitation_the_run_tool_returns_the_question_and_send_input_finishes(
    runtime: AgentRuntime,
) -> None:
    async with Client(build_server(runtime)) as client:
        first = await call(client, "run_support_desk", customer="Ada")
        assert first["status"] == "waiting_for_input"
        assert first["waiting_for_input"]["prompt"] == "Hi Ada! What can I help you with?"
        assert "send_input" in first["next_step"]
        sent = await call(
            client, "send_input", execution_id=first["execution_id"], text="reset my password"
        )
        assert sent == {"delivered": True, "node_id": "intake"}
        await follow(client, first["execution_id"], "completed")
        info = await call(client, "get_execution", execution_id=first["execution_id"])
    assert info["output"]["reply"].endswith("(see kb-101)")
    assert info["token_usage"]["input"] > 0


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_with_elicitation_the_question_is_asked_through_mcp_and_the_call_completes(
    runtime: AgentRuntime, mode: str
) -> None:
    asked: list[str] = []

    async def on_elicit(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"answer": "How do I export my data?"})

    async with Client(build_server(runtime), mode=mode, elicitation_callback=on_elicit) as client:  # type: ignore[arg-type]
        result = await client.call_tool("run_support_desk", {"customer": "Bo"})
    assert not result.is_error, result.content
    data = result.structured_content or {}
    assert data["status"] == "completed", data
    assert data["output"]["reply"].endswith("(see kb-103)")
    assert asked == ["Hi Bo! What can I help you with?"]


async def test_mistakes_come_back_as_tool_errors_and_the_server_stays_up(
    runtime: AgentRuntime,
) -> None:
    async with Client(build_server(runtime)) as client:
        assert "no agent 'nope'; known agents: support_desk, text_report" in await error_of(
            client, "start_execution", agent="nope"
        )
        schema_error = await error_of(
            client, "start_execution", agent="support_desk", input={"customer": 5}
        )
        assert "customer: 5 is not of type 'string'" in schema_error
        assert "invalid arguments: customer: 5 is not of type 'string'" in await error_of(
            client, "run_support_desk", customer=5
        )
        assert "no execution 'ex_nope'" in await error_of(
            client, "get_execution", execution_id="ex_nope"
        )
        assert "no execution 'ex_nope'" in await error_of(
            client, "send_input", execution_id="ex_nope", text="hi"
        )
        started = await call(client, "start_execution", agent="text_report", input={"text": "x."})
        await follow(client, started["execution_id"], "completed")
        not_waiting = await error_of(
            client, "send_input", execution_id=started["execution_id"], text="hi"
        )
        assert "is completed, not waiting for input" in not_waiting
        too_long = await error_of(
            client, "get_events", execution_id=started["execution_id"], wait_seconds=3600
        )
        assert "wait_seconds must be between 0 and 60" in too_long
        assert "limit must be between 1 and 1000" in await error_of(
            client, "get_events", execution_id=started["execution_id"], limit=0
        )
        assert "unknown event types ['nope']" in await error_of(
            client, "get_events", execution_id=started["execution_id"], types=["nope"]
        )
        assert "over the limit of 10000" in await error_of(
            client, "start_execution", agent="text_report", input={"text": "x" * 20_000}
        )
        assert "unknown status 'done'" in await error_of(client, "list_executions", status="done")
        # Still up, nothing lost:
        info = await call(client, "get_execution", execution_id=started["execution_id"])
    assert info["status"] == "completed"


async def test_agent_and_execution_resources_can_be_read(runtime: AgentRuntime) -> None:
    async with Client(build_server(runtime)) as client:
        agent = json.loads(
            (await client.read_resource("hive://agents/support_desk")).contents[0].text
        )  # type: ignore[union-attr]
        assert agent["entry_node"] == "intake"
        started = await call(client, "start_execution", agent="text_report", input={"text": "x."})
        await follow(client, started["execution_id"], "completed")
        execution = json.loads(
            (await client.read_resource(f"hive://executions/{started['execution_id']}"))
            .contents[0]
            .text
        )  # type: ignore[union-attr]
        events = json.loads(
            (await client.read_resource(f"hive://executions/{started['execution_id']}/events"))
            .contents[0]
            .text
        )  # type: ignore[union-attr]
    assert execution["status"] == "completed"
    assert events[0]["type"] == "execution_started" and events[-1]["type"] == "execution_completed"


async def test_cancel_execution_cancels_a_parked_run(runtime: AgentRuntime) -> None:
    async with Client(build_server(runtime)) as client:
        first = await call(client, "run_support_desk", customer="Cy", max_wait_seconds=5)
        assert (await call(client, "cancel_execution", execution_id=first["execution_id"])) == {
            "cancelled": True
        }
        assert (await call(client, "cancel_execution", execution_id=first["execution_id"])) == {
            "cancelled": False
        }
        info = await call(client, "get_execution", execution_id=first["execution_id"])
    assert info["status"] == "cancelled"


async def test_listeners_get_update_notifications_for_an_execution(runtime: AgentRuntime) -> None:
    from mcp.server.subscriptions import InMemorySubscriptionBus
    from mcp.shared.subscriptions import ResourceUpdated

    from hive_mcp.server import notify_resource_updates

    updates = InMemorySubscriptionBus()
    server = build_server(runtime, subscriptions=updates)
    async with anyio.create_task_group() as tg:
        tg.start_soon(notify_resource_updates, runtime, updates)
        async with Client(server) as client:
            first = await call(client, "run_support_desk", customer="Di", max_wait_seconds=5)
            uri = f"hive://executions/{first['execution_id']}"
            async with client.listen(resource_subscriptions=[uri]) as listener:
                await call(
                    client, "send_input", execution_id=first["execution_id"], text="export data"
                )
                with anyio.fail_after(HANG):
                    async for event in listener:
                        if isinstance(event, ResourceUpdated) and event.uri == uri:
                            break
            await follow(client, first["execution_id"], "completed")
        tg.cancel_scope.cancel()
