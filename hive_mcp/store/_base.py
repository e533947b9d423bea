"""The narrow interface every store backend implements.

The executor and the journal talk only to this protocol, so a PostgreSQL
backend can follow without touching them. Beside executions, events and
checkpoints, a store keeps what lets processes sharing it coordinate (live
runtimes, execution leases, operator commands: see ``_control``) and can
forget executions for retention.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Protocol

from hive_mcp.events import Event, EventType
from hive_mcp.store._control import Command, RuntimeInfo
from hive_mcp.store._records import (
    Checkpoint,
    ExecutionRecord,
    ExecutionStatus,
    ExecutionStub,
    RowCounts,
    WriteBatch,
)

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
        parent: str | None = None,
        entry_point: str | None = None,
    ) -> list[ExecutionRecord]:
        """Return executions, newest first, filtered by agent, status, parent, entry point."""

    async def read_events(
        self,
        execution_id: str,
        *,
        after: int = 0,
        limit: int = 1000,
        types: Collection[EventType] | None = None,
    ) -> list[Event]:
        """Return events with ``seq > after`` in order, at most ``limit``."""

    async def watch(self, on_commit: Callable[[str, int], None]) -> None:
        """Until cancelled, call ``on_commit(execution_id, last_seq)`` when any process
        commits events (this one too); return at once if the backend cannot tell.

        Long-polls use it to wake when another process writes (PostgreSQL's
        ``LISTEN``/``NOTIFY``); without it they see other processes' events when
        their wait ends.
        """

    async def last_seq(self, execution_id: str) -> int:
        """Return the highest stored event sequence number (0 when none)."""

    async def last_checkpoint(self, execution_id: str) -> Checkpoint | None:
        """Return the newest checkpoint of the execution, if any."""

    async def load_node_state(self, execution_id: str, key: str) -> dict[str, Any] | None:
        """Return a node's saved state under ``key``, if any."""

    # -- processes sharing the store -------------------------------------

    async def beat(self, runtime: RuntimeInfo) -> None:
        """Record (or refresh) a runtime and its ``heartbeat_at``."""

    async def forget_runtime(self, runtime_id: str) -> None:
        """Remove a runtime that stops, with its leases."""

    async def list_runtimes(self) -> list[RuntimeInfo]:
        """Every recorded runtime, alive or not (callers judge by ``heartbeat_at``)."""

    async def claim_execution(
        self, execution_id: str, runtime_id: str, *, live: Collection[str]
    ) -> str:
        """Lease the execution to ``runtime_id`` unless a runtime in ``live`` holds it.

        Returns the holder afterwards: ``runtime_id`` when the claim succeeded.
        """

    async def execution_holder(self, execution_id: str) -> str | None:
        """The runtime that last leased the execution (alive or not), if any."""

    async def add_command(self, command: Command) -> int:
        """Queue an operator command for its runtime; return its id."""

    async def take_commands(self, runtime_id: str, *, now: float) -> list[Command]:
        """Mark the runtime's untaken commands taken at ``now`` and return them (each once)."""

    async def finish_command(
        self, command_id: int, *, result: dict[str, Any] | None, error: str | None, now: float
    ) -> None:
        """Record a taken command's outcome."""

    async def get_command(self, command_id: int) -> Command | None:
        """Return the command, or ``None`` when it is unknown (or withdrawn)."""

    async def withdraw_command(self, command_id: int) -> bool:
        """Delete the command if nobody took it yet; ``False`` if it was taken."""

    async def secret(self, name: str, first: bytes) -> bytes:
        """The key stored under ``name``, the same for every process sharing the store.

        ``first`` becomes it when none is stored yet (the first caller wins a race).
        """

    # -- retention ----------------------------------------------------------

    async def execution_stubs(self) -> list[ExecutionStub]:
        """Id, agent, status, parent and timestamps of every execution."""

    async def delete_executions(self, ids: Collection[str], *, dry_run: bool = False) -> RowCounts:
        """Delete the final ones among ``ids`` with everything stored for them.

        Executions that are not final are left alone. With ``dry_run`` nothing
        changes and the counts say what would go.
        """

    async def close(self) -> None:
        """Release the backend's resources."""
