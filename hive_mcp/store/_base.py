"""The narrow interface every store backend implements.

The executor and the journal talk only to this protocol, so a PostgreSQL
backend can follow without touching them.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

from hive_mcp.events import Event, EventType
from hive_mcp.store._records import Checkpoint, ExecutionRecord, ExecutionStatus, WriteBatch

__all__ = ["Store"]


class Store(Protocol):
    """Durable home of executions, their event logs and their checkpoints."""

    async def write(self, batch: WriteBatch) -> None:
        """Write the whole batch in one transaction, or nothing of it."""

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        """Return the execution, or ``None`` when the id is unknown."""

    async def find_execution(self, agent: str, idempotency_key: str) -> ExecutionRecord | None:
        """Return the execution of ``agent`` started with ``idempotency_key``, if any."""

    async def list_executions(
        self,
        *,
        agent: str | None = None,
        statuses: Collection[ExecutionStatus] | None = None,
        limit: int = 100,
    ) -> list[ExecutionRecord]:
        """Return executions, newest first, filtered by agent and status."""

    async def read_events(
        self,
        execution_id: str,
        *,
        after: int = 0,
        limit: int = 1000,
        types: Collection[EventType] | None = None,
    ) -> list[Event]:
        """Return events with ``seq > after`` in order, at most ``limit``."""

    async def last_seq(self, execution_id: str) -> int:
        """Return the highest stored event sequence number (0 when none)."""

    async def last_checkpoint(self, execution_id: str) -> Checkpoint | None:
        """Return the newest checkpoint of the execution, if any."""

    async def load_node_state(self, execution_id: str, key: str) -> dict[str, Any] | None:
        """Return a node's saved state under ``key``, if any."""

    async def close(self) -> None:
        """Release the backend's resources."""
