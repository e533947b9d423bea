"""What the store keeps: execution records, checkpoints and write batches."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from hive_mcp.events import Event

__all__ = [
    "Checkpoint",
    "ExecutionRecord",
    "ExecutionStatus",
    "ExecutionStub",
    "NodeState",
    "RowCounts",
    "WriteBatch",
    "executions_of",
]


class ExecutionStatus(StrEnum):
    """Where an execution is in its life; the last three are final."""

    PENDING = "pending"
    RUNNING = "running"
    WAITING_FOR_INPUT = "waiting_for_input"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED})


class ExecutionRecord(BaseModel):
    """One execution of an agent, as stored."""

    id: str
    agent: str
    status: ExecutionStatus = ExecutionStatus.PENDING
    input: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] | None = None
    error: str | None = None
    current_node: str | None = None
    path: list[str] = Field(default_factory=list)
    waiting_for_input: dict[str, Any] | None = Field(
        default=None, description="While parked: node_id, kind, prompt and options."
    )
    entry_point: str | None = None
    idempotency_key: str | None = None
    parent_id: str | None = Field(
        default=None, description="The execution whose agent node started this one."
    )
    input_tokens: int = 0
    output_tokens: int = 0
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)


class Checkpoint(BaseModel):
    """The executor's resumable state after a node completed.

    ``event_seq`` is the sequence number of the ``checkpoint_written`` event
    committed in the same transaction, so every event up to it is stored.
    """

    execution_id: str
    event_seq: int
    state: dict[str, Any]
    created_at: float = Field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class NodeState:
    """A node's own resumable state (an event loop's conversation), as JSON text."""

    execution_id: str
    key: str
    state_json: str


@dataclass(slots=True)
class WriteBatch:
    """Everything one transaction writes: events, checkpoints, node states, executions."""

    events: list[Event] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    executions: list[ExecutionRecord] = field(default_factory=list)
    node_states: list[NodeState] = field(default_factory=list)
    leases: dict[str, str] = field(default_factory=dict)
    """Fencing: execution id -> the runtime that must still hold its lease.

    The store writes nothing of such an execution when its lease is held by
    another runtime (one that took it over): a runtime that was only slow
    cannot overwrite what the new holder writes.
    """

    def __bool__(self) -> bool:
        return bool(self.events or self.checkpoints or self.executions or self.node_states)

    def drop(self, execution_ids: Collection[str]) -> None:
        """Remove everything of the executions in ``execution_ids``."""
        self.events = [e for e in self.events if e.execution_id not in execution_ids]
        self.checkpoints = [c for c in self.checkpoints if c.execution_id not in execution_ids]
        self.executions = [r for r in self.executions if r.id not in execution_ids]
        self.node_states = [n for n in self.node_states if n.execution_id not in execution_ids]


def executions_of(batch: WriteBatch) -> set[str]:
    """The ids of the executions that have something in ``batch``."""
    return (
        {e.execution_id for e in batch.events}
        | {c.execution_id for c in batch.checkpoints}
        | {r.id for r in batch.executions}
        | {s.execution_id for s in batch.node_states}
    )


@dataclass(frozen=True, slots=True)
class ExecutionStub:
    """The few fields of an execution that retention decides on."""

    id: str
    agent: str
    status: ExecutionStatus
    parent_id: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class RowCounts:
    """How many stored rows of each kind belong to some executions."""

    executions: int = 0
    events: int = 0
    checkpoints: int = 0
    node_states: int = 0
