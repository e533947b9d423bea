"""What every node type implements, and what it is given and returns."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hive_mcp.errors import ToolServerError
from hive_mcp.events import EventType
from hive_mcp.graph._spec import GraphSpec, NodeSpec
from hive_mcp.llm import LLMProvider

if TYPE_CHECKING:
    from hive_mcp.graph._agent import Agent
    from hive_mcp.toolbox import AgentGateway, RemoteTool

__all__ = ["Node", "NodeContext", "NodeFactory", "NodeResult", "NodeStatus"]


class NodeStatus(StrEnum):
    """How a node ended (the seeds' exit statuses)."""

    SUCCESS = "success"
    FAILURE = "failure"
    STALLED = "stalled"
    ESCALATED = "escalated"
    GUARD_FAILURE = "guard_failure"


class RequestInput(Protocol):
    """``(kind, prompt, options, details)``: park until a person answers; the answer.

    ``details`` (a tool server's name and schema, say) go with the question
    into ``waiting_for_input`` and the ``client_input_requested`` event.
    """

    def __call__(
        self, kind: str, prompt: str, options: list[str], details: dict[str, Any] | None = None
    ) -> Awaitable[str]: ...


@dataclass(slots=True, kw_only=True)
class NodeContext:
    """Everything a node run may read and the services the executor offers it.

    ``emit`` records an event for this node; ``load_state``/``save_state``
    keep a node's own resumable state for this visit (saved as JSON text,
    durably);
    ``request_input`` parks the execution until a person answers;
    ``provider(model, api_base)`` gives the LLM provider (``None``s: the
    node's and agent's defaults); ``data_dir`` is the execution's folder;
    ``remote_tools`` resolves tool-server references like ``github.list_issues``;
    ``agents(server)`` is where other agents run (``None``: this process);
    ``cancel_requested()`` tells a real cancel from a suspension (shutdown);
    ``call_tool`` is how a function step uses a tool server.
    """

    execution_id: str
    node: NodeSpec
    graph: GraphSpec
    inputs: dict[str, Any]
    memory: Mapping[str, Any]
    attempt: int
    visit: int
    emit: Callable[[EventType, dict[str, Any]], None]
    load_state: Callable[[], Awaitable[dict[str, Any] | None]]
    save_state: Callable[[str], Awaitable[None]]
    request_input: RequestInput
    provider: Callable[[str | None, str | None], LLMProvider]
    data_dir: Path
    remote_tools: Callable[[list[str]], Awaitable[list[RemoteTool]]]
    agents: Callable[[str | None], AgentGateway]
    cancel_requested: Callable[[], bool]

    async def call_tool(self, ref: str, arguments: dict[str, Any]) -> str:
        """Call the tool ``server.tool`` with ``arguments``; return its text.

        Logged like a model's tool call (``tool_call_started`` and
        ``tool_call_completed``), and recorded in the node's state: a node
        resumed or retried after the call returns the recorded result instead
        of calling again (an email is not sent twice). Raises
        ``ToolServerError`` when the server fails or the tool answers with an
        error; such calls are not recorded, so trying again calls again.
        """
        key = hashlib.sha256(json.dumps([ref, arguments], sort_keys=True).encode()).hexdigest()
        state = await self.load_state() or {}
        done: dict[str, str] = state.setdefault("tool_calls", {})
        if key in done:
            return done[key]
        started = {"tool_call_id": f"step_{key[:12]}", "name": ref, "arguments": arguments}
        self.emit(EventType.TOOL_CALL_STARTED, started)
        ended = {"tool_call_id": started["tool_call_id"], "name": ref}
        try:
            [tool] = await self.remote_tools([ref])
            result = await tool.call(arguments)
        except ToolServerError as exc:
            self.emit(EventType.TOOL_CALL_COMPLETED, ended | {"is_error": True, "result": str(exc)})
            raise
        self.emit(EventType.TOOL_CALL_COMPLETED, ended | {"is_error": False, "result": result})
        done[key] = result
        await self.save_state(json.dumps(state))
        return result


@dataclass(slots=True, kw_only=True)
class NodeResult:
    """Outcome of one attempt of a node.

    ``retryable=False`` tells the executor that trying again cannot help.
    """

    status: NodeStatus
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    retryable: bool = True
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.status is NodeStatus.SUCCESS


class Node(Protocol):
    """A runnable node; one instance serves every visit of its node spec."""

    async def run(self, ctx: NodeContext) -> NodeResult:
        """Do one attempt of the node's work."""
        ...


NodeFactory = Callable[[NodeSpec, "Agent"], Node]
