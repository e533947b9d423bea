"""Concurrency slots: the runtime's limit on executions doing work, and each entry point's.

An execution takes its entry point's slot (if that entry point has a limit),
then one of the runtime's; executions over either limit wait, in order. A
parked execution gives its slots back: the limits are on executions doing
work, so people taking their time never block new runs. A delegated
execution takes none: it runs on its parent's, so a full runtime cannot
deadlock waiting for its own delegates.
"""

from __future__ import annotations

import anyio

from hive_mcp.errors import UsageError
from hive_mcp.graph import AgentCatalog
from hive_mcp.store import ExecutionRecord

__all__ = ["Slots"]


class Slots:
    """Who holds which slots; take and release on behalf of executions."""

    def __init__(self, max_concurrent: int, catalog: AgentCatalog) -> None:
        self._runtime = anyio.CapacityLimiter(max_concurrent)
        self._catalog = catalog
        self._holding: set[str] = set()
        self._entry_limits: dict[tuple[str, str], anyio.CapacityLimiter] = {}
        self._entry_holding: dict[str, anyio.CapacityLimiter] = {}

    async def take(self, record: ExecutionRecord) -> None:
        """Wait for the execution's slots (none for a delegated one)."""
        if record.parent_id is not None:
            return
        limiter = self._entry_limiter(record)
        if limiter is not None:
            await limiter.acquire_on_behalf_of(record.id)
            self._entry_holding[record.id] = limiter
        await self._runtime.acquire_on_behalf_of(record.id)
        self._holding.add(record.id)

    def release(self, execution_id: str) -> None:
        """Give back whatever slots the execution holds."""
        if execution_id in self._holding:
            self._holding.discard(execution_id)
            self._runtime.release_on_behalf_of(execution_id)
        limiter = self._entry_holding.pop(execution_id, None)
        if limiter is not None:
            limiter.release_on_behalf_of(execution_id)

    def _entry_limiter(self, record: ExecutionRecord) -> anyio.CapacityLimiter | None:
        agent = self._catalog.agents.get(record.agent)
        if agent is None or record.entry_point is None:
            return None
        try:
            ep = agent.spec.entry_point(record.entry_point)
        except UsageError:  # the agent was replaced by a version without it
            return None
        if ep.max_concurrent is None:
            return None
        key = (record.agent, ep.id)
        if key not in self._entry_limits:
            self._entry_limits[key] = anyio.CapacityLimiter(ep.max_concurrent)
        return self._entry_limits[key]
