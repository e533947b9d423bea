"""The runtime as an ``AgentGateway``: agent nodes delegating to agents of this process.

A delegated execution is an ordinary execution of the runtime (listed,
polled, answered and cancelled like any other) that records its parent. It
does not wait for a concurrency slot: its parent holds one already, and
making it queue behind its own parent could deadlock a full runtime.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio

from hive_mcp.errors import HiveError
from hive_mcp.graph import Agent, NodeType
from hive_mcp.store import Store
from hive_mcp.toolbox import ChildPage, ChildResult, RemoteAgents, Toolbox

if TYPE_CHECKING:
    from hive_mcp.runtime._runtime import AgentRuntime

__all__ = ["LocalAgents", "cancel_remote_delegates"]

log = logging.getLogger(__name__)


class LocalAgents:
    """Start, follow, answer and cancel executions of the same runtime."""

    label = "this process"

    def __init__(self, runtime: AgentRuntime) -> None:
        self._runtime = runtime

    async def start(
        self, agent: str, input: dict[str, Any], *, idempotency_key: str, parent: str
    ) -> str:
        record = await self._runtime.start(
            agent, input, idempotency_key=idempotency_key, parent=parent
        )
        return record.id

    async def events(self, execution_id: str, *, after: int, wait_seconds: float) -> ChildPage:
        runtime = self._runtime
        await runtime.attach(execution_id)
        wait = min(wait_seconds, runtime.limits.max_wait_seconds)
        events = await runtime.get_events(
            execution_id, after=after, limit=runtime.limits.max_events_per_page, wait_seconds=wait
        )
        record = await runtime.get_execution(execution_id)
        return ChildPage(
            events=[e.to_dict() for e in events],
            next_after=events[-1].seq if events else after,
            status=record.status.value,
        )

    async def result(self, execution_id: str) -> ChildResult:
        record = await self._runtime.get_execution(execution_id)
        return ChildResult(
            status=record.status.value, output=record.output or {}, error=record.error
        )

    async def send_input(self, execution_id: str, text: str, node_id: str | None) -> None:
        await self._runtime.send_input(execution_id, text, node_id)

    async def cancel(self, execution_id: str) -> None:
        await self._runtime.cancel(execution_id)


async def cancel_remote_delegates(
    agent: Agent, execution_id: str, store: Store, toolbox: Toolbox | None
) -> list[str]:
    """Cancel what a parked caller's remote agent nodes started; return their ids.

    Local delegates record their parent and are found by it; a remote
    delegate's id lives only in the state of the node that started it. Only
    the newest visit of a node can have a delegate still running.
    """
    cancelled: list[str] = []
    spec = agent.spec
    for node in spec.nodes:
        if node.type is not NodeType.AGENT or node.delegate is None:
            continue
        server = node.delegate.server
        if server is None or toolbox is None:
            continue
        for visit in range(spec.max_visits(node), 0, -1):
            state = await store.load_node_state(execution_id, f"{node.id}#{visit}")
            if state is None or "child" not in state:
                continue
            child = str(state["child"])
            try:
                remote = RemoteAgents(
                    toolbox.connection(server, scope=spec.name, local=spec.mcp_servers)
                )
                with anyio.fail_after(30):
                    await remote.cancel(child)
                cancelled.append(child)
            except (HiveError, TimeoutError) as exc:
                log.warning(
                    "delegate %s on server %r of %s not cancelled: %s",
                    child,
                    server,
                    execution_id,
                    exc,
                )
            break
    return cancelled
