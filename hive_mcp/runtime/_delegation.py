"""The runtime as an ``AgentGateway``: agent nodes delegating to agents of this process.

A delegated execution is an ordinary execution of the runtime (listed,
polled, answered and cancelled like any other) that records its parent. It
does not wait for a concurrency slot: its parent holds one already, and
making it queue behind its own parent could deadlock a full runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hive_mcp.toolbox import ChildPage, ChildResult

if TYPE_CHECKING:
    from hive_mcp.runtime._runtime import AgentRuntime

__all__ = ["LocalAgents"]


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
