"""Other agents as a node sees them: start, follow, answer, cancel.

``AgentGateway`` is the start / poll / send-input surface of a hive-mcp
runtime. The runtime implements it for agents in the same process;
``RemoteAgents`` implements it for agents on another hive-mcp server by
calling that server's MCP tools (``start_execution``, ``get_events``,
``send_input``, ``get_execution``, ``cancel_execution``) through a toolbox
connection, so a remote server is configured like any other tool server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from hive_mcp.errors import ToolServerError
from hive_mcp.toolbox._connection import ServerConnection

__all__ = ["AgentGateway", "ChildPage", "ChildResult", "RemoteAgents"]


@dataclass(frozen=True, slots=True)
class ChildPage:
    """Events of a delegated execution after a sequence number, and where it stands."""

    events: list[dict[str, Any]]  # each: seq, type, node_id, data
    next_after: int
    status: str


@dataclass(frozen=True, slots=True)
class ChildResult:
    """How a delegated execution ended."""

    status: str
    output: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class AgentGateway(Protocol):
    """Where a node can start and follow executions of other agents."""

    label: str

    async def start(
        self, agent: str, input: dict[str, Any], *, idempotency_key: str, parent: str
    ) -> str:
        """Start (or, with a key seen before, find) an execution for ``parent``; return its id."""
        ...

    async def events(self, execution_id: str, *, after: int, wait_seconds: float) -> ChildPage:
        """Events after ``after``, waiting up to ``wait_seconds`` for the first."""
        ...

    async def result(self, execution_id: str) -> ChildResult:
        """Status, output and error of the execution."""
        ...

    async def send_input(self, execution_id: str, text: str, node_id: str | None) -> None:
        """Answer the execution's node that waits for input."""
        ...

    async def cancel(self, execution_id: str) -> None:
        """Cancel the execution (nothing if it has ended)."""
        ...


class RemoteAgents:
    """Agents of another hive-mcp server, reached through its MCP tools."""

    def __init__(self, connection: ServerConnection) -> None:
        self._connection = connection
        self.label = f"server {connection.name!r}"

    async def _call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        text = await self._connection.call(tool, arguments)
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise ToolServerError(
                f"{self.label} answered {tool} with {text[:200]!r}, not a JSON object: "
                "is it a hive-mcp server?"
            )
        return data

    async def start(
        self, agent: str, input: dict[str, Any], *, idempotency_key: str, parent: str
    ) -> str:
        data = await self._call(
            "start_execution",
            {"agent": agent, "input": input, "idempotency_key": idempotency_key},
        )
        return str(data["execution_id"])

    async def events(self, execution_id: str, *, after: int, wait_seconds: float) -> ChildPage:
        # The wait stays well under the connection's per-call timeout.
        wait = max(0.0, min(wait_seconds, self._connection.config.timeout_seconds - 5))
        data = await self._call(
            "get_events",
            {"execution_id": execution_id, "after": after, "wait_seconds": wait, "limit": 500},
        )
        return ChildPage(
            events=list(data.get("events") or []),
            next_after=int(data.get("next_after", after)),
            status=str(data.get("status", "")),
        )

    async def result(self, execution_id: str) -> ChildResult:
        data = await self._call("get_execution", {"execution_id": execution_id})
        return ChildResult(
            status=str(data.get("status", "")),
            output=dict(data.get("output") or {}),
            error=data.get("error"),
        )

    async def send_input(self, execution_id: str, text: str, node_id: str | None) -> None:
        arguments: dict[str, Any] = {"execution_id": execution_id, "text": text}
        if node_id is not None:
            arguments["node_id"] = node_id
        await self._call("send_input", arguments)

    async def cancel(self, execution_id: str) -> None:
        await self._call("cancel_execution", {"execution_id": execution_id})
