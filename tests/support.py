"""Helpers for building small graphs whose nodes are Python callables in the test."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hive_mcp.events import Event
from hive_mcp.graph import Agent, GraphExecutor, GraphSpec, NodeType, check_agent
from hive_mcp.graph._spec import NodeSpec
from hive_mcp.graph.nodes import NodeContext, NodeResult, NodeStatus
from hive_mcp.store import ExecutionRecord, Journal

# A bound on waits that only catches hangs: never a speed check, so generous enough
# for a loaded 2-core machine (the per-test timeout is the outer bound).
HANG = 120.0

Behaviour = Callable[..., Any]


def placeholder(**_: Any) -> None:
    """The 'function' of test nodes; the test's behaviours replace it at run time."""


def node(
    id: str, inputs: list[str] | None = None, outputs: list[str] | None = None, **kw: Any
) -> dict[str, Any]:
    return {
        "id": id,
        "type": "function",
        "function": "tests.support:placeholder",
        "input_keys": inputs or [],
        "output_keys": outputs or [],
        **kw,
    }


def edge(source: str, target: str, **kw: Any) -> dict[str, Any]:
    return {"source": source, "target": target, **kw}


def build(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]], *, validate: bool = True, **graph: Any
) -> Agent:
    """An agent named 'test' from node and edge dicts; entry is the first node."""
    graph.setdefault("name", "test")
    graph.setdefault("entry_node", nodes[0]["id"])
    graph.setdefault("terminal_nodes", [nodes[-1]["id"]])
    graph.setdefault("defaults", {"max_retries": 0, "retry_backoff_seconds": 0})
    spec = GraphSpec.model_validate({**graph, "nodes": nodes, "edges": edges})
    agent = Agent(spec=spec)
    return check_agent(agent) if validate else agent


class CallableNode:
    """Runs ``fn(ctx, **inputs)``; a raised exception is a retryable failure."""

    def __init__(self, fn: Behaviour) -> None:
        self._fn = fn

    async def run(self, ctx: NodeContext) -> NodeResult:
        try:
            value = self._fn(ctx, **ctx.inputs)
            if hasattr(value, "__await__"):
                value = await value
        except Exception as exc:
            return NodeResult(status=NodeStatus.FAILURE, error=f"{type(exc).__name__}: {exc}")
        if isinstance(value, NodeResult):
            return value
        return NodeResult(status=NodeStatus.SUCCESS, outputs=dict(value or {}))


def executor(
    agent: Agent, journal: Journal, behaviours: Mapping[str, Behaviour], **kw: Any
) -> GraphExecutor:
    def factory(spec: NodeSpec, _: Agent) -> CallableNode:
        return CallableNode(behaviours.get(spec.id, lambda ctx, **_: {}))

    return GraphExecutor(agent, journal, node_types={NodeType.FUNCTION: factory}, **kw)


async def run(
    agent: Agent,
    journal: Journal,
    behaviours: Mapping[str, Behaviour] | None = None,
    input: Mapping[str, Any] | None = None,
    **kw: Any,
) -> tuple[ExecutionRecord, list[Event]]:
    """Run to the end; return the record and every stored event of the execution."""
    record = await executor(agent, journal, behaviours or {}, **kw).run(input or {})
    return record, await journal.read(record.id, limit=100_000)


def kinds(events: list[Event], *types: str) -> list[tuple[str, str | None]]:
    """(type, node_id) pairs of the events of the given types, in order."""
    return [(e.type.value, e.node_id) for e in events if e.type.value in types]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
