"""The fixed MCP tools: a thin face over the AgentRuntime (names are public API).

Every mistake a caller can make comes back as a tool error with a message a
person can act on; the server stays up and nothing stored changes. Every
argument is checked first for values no store can keep (a lone surrogate,
NaN, nesting too deep: ``hive_mcp._values``), which would otherwise fail
deep inside a store lookup with no message at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Annotated, Any, ParamSpec, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from hive_mcp._values import value_problem
from hive_mcp.errors import HiveError
from hive_mcp.events import EventType
from hive_mcp.runtime import AgentRuntime
from hive_mcp.server._models import (
    AgentList,
    CancelResult,
    EventInfo,
    EventPage,
    ExecutionInfo,
    ExecutionList,
    ExecutionSummary,
    InputResult,
    StartResult,
    WaitingForInput,
)
from hive_mcp.store import ExecutionStatus

__all__ = ["register_tools", "tool_errors"]

P = ParamSpec("P")
R = TypeVar("R")

READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
MAX_SEQ = 2**63 - 1  # the largest sequence number a store can hold (SQLite's INTEGER)


def tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Refuse arguments no store can keep, and turn our errors into tool errors with
    their message (others stay generic)."""

    @wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        for name, value in kwargs.items():
            problem = value_problem(value, name)
            if problem is not None:
                raise ToolError(problem)
        try:
            return await fn(*args, **kwargs)
        except HiveError as exc:
            raise ToolError(str(exc)) from exc

    return wrapper


def _event_types(names: list[str] | None) -> list[EventType] | None:
    if not names:
        return None
    known = {t.value for t in EventType}
    unknown = sorted(set(names) - known)
    if unknown:
        raise ToolError(f"unknown event types {unknown}; known types: {sorted(known)}")
    return [EventType(n) for n in names]


def register_tools(server: MCPServer, runtime: AgentRuntime) -> None:
    """Add list_agents, start_execution, get_events, send_input, get_execution,
    cancel_execution and list_executions to ``server``."""

    @server.tool(
        description="List the agents this server runs: name, description, input schema, "
        "entry points and the nodes that may ask a person for input; load_problems names "
        "agent files that failed to load, and why.",
        annotations=READ_ONLY,
    )
    @tool_errors
    async def list_agents() -> AgentList:
        return AgentList.of(runtime.catalog)

    @server.tool(
        description="Start a run of an agent in the background and return its execution_id at "
        "once. Follow it with get_events (long-poll) and answer questions with send_input. "
        "'input' must fit the agent's input schema (see list_agents). Pass an "
        "idempotency_key to make retries of this call start at most one run.",
    )
    @tool_errors
    async def start_execution(
        agent: str,
        input: dict[str, Any] | None = None,
        entry_point: str | None = None,
        idempotency_key: str | None = None,
    ) -> StartResult:
        if entry_point is None:
            record = await runtime.start(agent, input or {}, idempotency_key=idempotency_key)
        else:
            record = await runtime.trigger(
                agent, entry_point, input or {}, idempotency_key=idempotency_key
            )
        return StartResult(execution_id=record.id, status=record.status.value)

    @server.tool(
        description="Events of an execution after sequence number 'after' (0 for the start), "
        "oldest first. If none are there yet, waits up to wait_seconds (max 60) for one. Pass "
        "next_after as 'after' next time: no event is missed or repeated. When status is "
        "waiting_for_input, answer waiting_for_input.prompt with send_input.",
        annotations=READ_ONLY,
    )
    @tool_errors
    async def get_events(
        execution_id: str,
        after: Annotated[int, Field(json_schema_extra={"minimum": 0, "maximum": MAX_SEQ})] = 0,
        limit: int = 100,
        wait_seconds: float = 0.0,
        types: list[str] | None = None,
    ) -> EventPage:
        if not 0 <= after <= MAX_SEQ:
            raise ToolError(
                f"after must be 0 or the next_after of an earlier answer (at most {MAX_SEQ}), "
                f"not {after}"
            )
        events = await runtime.get_events(
            execution_id,
            after=after,
            limit=limit,
            wait_seconds=wait_seconds,
            types=_event_types(types),
        )
        record = await runtime.get_execution(execution_id)
        return EventPage(
            events=[EventInfo.of(e) for e in events],
            next_after=events[-1].seq if events else after,
            status=record.status.value,
            waiting_for_input=WaitingForInput.of(record),
        )

    @server.tool(
        description="Answer the question of an execution that is waiting_for_input (see "
        "get_execution or get_events). node_id is needed only when several nodes wait.",
    )
    @tool_errors
    async def send_input(execution_id: str, text: str, node_id: str | None = None) -> InputResult:
        delivered_to = await runtime.send_input(execution_id, text, node_id)
        return InputResult(delivered=True, node_id=delivered_to)

    @server.tool(
        description="The state of an execution: status (pending, running, waiting_for_input, "
        "completed, failed, cancelled), current node, path, output, error, the question it "
        "waits on, and token usage.",
        annotations=READ_ONLY,
    )
    @tool_errors
    async def get_execution(execution_id: str) -> ExecutionInfo:
        return ExecutionInfo.of(await runtime.get_execution(execution_id))

    @server.tool(
        description="Cancel an execution. Returns cancelled=false if it had already finished.",
        annotations=ToolAnnotations(destructive_hint=True, idempotent_hint=True),
    )
    @tool_errors
    async def cancel_execution(execution_id: str) -> CancelResult:
        return CancelResult(cancelled=await runtime.cancel(execution_id))

    @server.tool(
        description="Recent executions, newest first, optionally of one agent and one status.",
        annotations=READ_ONLY,
    )
    @tool_errors
    async def list_executions(
        agent: str | None = None, status: str | None = None, limit: int = 50
    ) -> ExecutionList:
        statuses = None
        if status is not None:
            try:
                statuses = [ExecutionStatus(status)]
            except ValueError:
                known = [s.value for s in ExecutionStatus]
                raise ToolError(f"unknown status {status!r}; use one of {known}") from None
        if not 1 <= limit <= 1000:
            raise ToolError("limit must be between 1 and 1000")
        records = await runtime.list_executions(agent=agent, statuses=statuses, limit=limit)
        return ExecutionList(executions=[ExecutionSummary.of(r) for r in records])
