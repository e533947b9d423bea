"""Building the MCP server for a runtime: tools, run_<agent> tools, resources."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.server.request_state import RequestStateSecurity
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp.shared.subscriptions import ResourceUpdated

from hive_mcp import __version__
from hive_mcp.errors import HiveError
from hive_mcp.events import EventType
from hive_mcp.runtime import AgentRuntime
from hive_mcp.server._models import AgentList, EventInfo, ExecutionInfo
from hive_mcp.server._prompts import register_prompts
from hive_mcp.server._run_tool import run_tool
from hive_mcp.server._tools import register_tools
from hive_mcp.store import Store

__all__ = ["build_server", "notify_resource_updates", "request_state_key"]

INSTRUCTIONS = """\
hive-mcp runs agents: graphs of LLM and code steps that may take minutes and
may ask the user questions. For one agent, call its run_<agent> tool: it
returns the output when the run finishes in time; otherwise it returns an
execution_id and either a question (waiting_for_input: answer it with
send_input) or a status to follow with get_events. The general tools
(list_agents, start_execution, get_events, send_input, get_execution,
cancel_execution, list_executions) work for every agent.
"""


async def request_state_key(store: Store, home: Path) -> bytes:
    """The key that seals request_state, kept in the store: a question survives a
    restart and can be answered through any server sharing the store.

    A key that an earlier version kept in ``HIVE_MCP_HOME/request_state.key``
    becomes the store's, so questions asked before an upgrade stay answerable.
    """
    legacy = home / "request_state.key"
    first = legacy.read_bytes() if legacy.is_file() else secrets.token_bytes(32)
    return await store.secret("request_state", first)


def build_server(
    runtime: AgentRuntime,
    *,
    state_key: bytes | None = None,
    subscriptions: InMemorySubscriptionBus | None = None,
) -> MCPServer:
    """The MCP server for ``runtime``; nothing here writes to stdout.

    Pass the ``subscriptions`` bus that ``notify_resource_updates`` feeds to
    let clients listen for changes of execution resources.
    """
    security = (
        RequestStateSecurity(keys=[state_key])
        if state_key is not None
        else RequestStateSecurity.ephemeral()
    )
    server = MCPServer(
        "hive-mcp",
        instructions=INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
        tools=[run_tool(agent, runtime) for agent in runtime.catalog],
        request_state_security=security,
        subscriptions=subscriptions,
    )
    register_tools(server, runtime)
    register_prompts(server, runtime)
    _register_resources(server, runtime)
    return server


def _register_resources(server: MCPServer, runtime: AgentRuntime) -> None:
    @server.resource(
        "hive://agents",
        name="agents",
        mime_type="application/json",
        description="The agents this server runs (as list_agents), with the files that "
        "failed to load and why.",
    )
    def agents() -> str:
        return AgentList.of(runtime.catalog).model_dump_json()

    @server.resource(
        "hive://agents/{name}",
        mime_type="application/json",
        description="An agent's definition: nodes, edges, input schema, entry points, goal.",
    )
    def agent(name: str) -> dict[str, Any]:
        try:
            found = runtime.catalog.get(name)
        except HiveError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        return found.spec.model_dump(mode="json", exclude_defaults=True)

    @server.resource(
        "hive://agents/{name}/goal",
        mime_type="application/json",
        description="How the agent does against its goal across its executions: criteria, "
        "constraint violations, a recommendation.",
    )
    async def goal(name: str) -> dict[str, Any]:
        try:
            progress = await runtime.goal_progress(name)
        except HiveError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        return progress.model_dump(mode="json")

    @server.resource(
        "hive://executions/{execution_id}",
        mime_type="application/json",
        description="An execution's state (as get_execution): status, current node, output, "
        "the question it waits on.",
    )
    async def execution(execution_id: str) -> dict[str, Any]:
        try:
            record = await runtime.get_execution(execution_id)
        except HiveError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        return ExecutionInfo.of(record).model_dump(mode="json")

    @server.resource(
        "hive://executions/{execution_id}/events",
        mime_type="application/json",
        description="An execution's first 1,000 events, oldest first (get_events pages on).",
    )
    async def events(execution_id: str) -> str:
        try:
            page = await runtime.get_events(execution_id, limit=1000)
        except HiveError as exc:
            raise ResourceNotFoundError(str(exc)) from exc
        return json.dumps([EventInfo.of(e).model_dump(mode="json") for e in page])


_STATE_CHANGES = frozenset(
    {
        EventType.EXECUTION_STARTED,
        EventType.EXECUTION_COMPLETED,
        EventType.EXECUTION_FAILED,
        EventType.EXECUTION_CANCELLED,
        EventType.EXECUTION_PAUSED,
        EventType.EXECUTION_RESUMED,
        EventType.NODE_STARTED,
        EventType.CLIENT_INPUT_REQUESTED,
        EventType.CLIENT_INPUT_RECEIVED,
    }
)


_GOAL_CHANGES = frozenset(
    {
        EventType.EXECUTION_COMPLETED,
        EventType.EXECUTION_FAILED,
        EventType.EXECUTION_CANCELLED,
        EventType.CONSTRAINT_VIOLATION,
    }
)


async def notify_resource_updates(runtime: AgentRuntime, bus: InMemorySubscriptionBus) -> None:
    """Forward committed events as resource updates, until cancelled.

    Every event updates ``hive://executions/{id}/events``; events that change
    the execution's state also update ``hive://executions/{id}``; an
    execution ending or reporting a constraint violation updates its agent's
    ``hive://agents/{name}/goal``. The SDK merges updates a listener has not
    collected yet.
    """
    with runtime.journal.bus.subscribe() as events:
        async for event in events:
            base = f"hive://executions/{event.execution_id}"
            await bus.publish(ResourceUpdated(uri=f"{base}/events"))
            if event.type in _STATE_CHANGES:
                await bus.publish(ResourceUpdated(uri=base))
            if event.type in _GOAL_CHANGES:
                record = await runtime.journal.store.get_execution(event.execution_id)
                if record is not None:
                    await bus.publish(ResourceUpdated(uri=f"hive://agents/{record.agent}/goal"))
