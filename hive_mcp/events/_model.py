"""The typed event model: one ``Event`` class, one ``EventType`` enum."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Event", "EventType"]


class EventType(StrEnum):
    """Every kind of event a run can emit.

    The seeds' list is the floor; graph, checkpoint, status and iteration
    extension events are ours.
    """

    # Execution lifecycle
    EXECUTION_STARTED = "execution_started"
    EXECUTION_COMPLETED = "execution_completed"
    EXECUTION_FAILED = "execution_failed"
    EXECUTION_CANCELLED = "execution_cancelled"
    EXECUTION_PAUSED = "execution_paused"
    EXECUTION_RESUMED = "execution_resumed"

    # Shared state
    STATE_CHANGED = "state_changed"
    STATE_CONFLICT = "state_conflict"

    # Goal tracking
    GOAL_PROGRESS = "goal_progress"
    GOAL_ACHIEVED = "goal_achieved"
    CONSTRAINT_VIOLATION = "constraint_violation"

    # Entry-point streams
    STREAM_STARTED = "stream_started"
    STREAM_STOPPED = "stream_stopped"

    # Graph walk
    NODE_STARTED = "node_started"
    NODE_COMPLETED = "node_completed"
    NODE_RETRYING = "node_retrying"
    NODE_VISIT_LIMIT_REACHED = "node_visit_limit_reached"
    EDGE_TRAVERSED = "edge_traversed"
    FANOUT_STARTED = "fanout_started"
    FANIN_COMPLETED = "fanin_completed"
    CHECKPOINT_WRITTEN = "checkpoint_written"

    # Event-loop node lifecycle
    NODE_LOOP_STARTED = "node_loop_started"
    NODE_LOOP_ITERATION = "node_loop_iteration"
    NODE_LOOP_COMPLETED = "node_loop_completed"
    JUDGE_VERDICT = "judge_verdict"

    # LLM streaming
    LLM_TEXT_DELTA = "llm_text_delta"
    LLM_REASONING_DELTA = "llm_reasoning_delta"

    # Tools
    TOOL_CALL_STARTED = "tool_call_started"
    TOOL_CALL_COMPLETED = "tool_call_completed"

    # Client I/O (client-facing nodes)
    CLIENT_OUTPUT_DELTA = "client_output_delta"
    CLIENT_INPUT_REQUESTED = "client_input_requested"
    CLIENT_INPUT_RECEIVED = "client_input_received"

    # Internal node observability
    NODE_INTERNAL_OUTPUT = "node_internal_output"
    NODE_INPUT_BLOCKED = "node_input_blocked"
    NODE_STALLED = "node_stalled"

    # Status and iteration extension (seed 002)
    STATUS = "status"
    ITERATION_EXTENSION_REQUESTED = "iteration_extension_requested"
    ITERATION_EXTENSION_RESOLVED = "iteration_extension_resolved"

    # Agent nodes: an event of the delegated execution, re-emitted here
    DELEGATE_EVENT = "delegate_event"

    CUSTOM = "custom"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One event of one execution.

    ``seq`` is assigned by the journal: strictly increasing and gap-free within
    the execution, starting at 1. ``timestamp`` is seconds since the epoch.
    """

    execution_id: str
    seq: int
    type: EventType
    node_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form used by the CLI, the store and the MCP face."""
        return {
            "execution_id": self.execution_id,
            "seq": self.seq,
            "type": self.type.value,
            "node_id": self.node_id,
            "data": self.data,
            "timestamp": self.timestamp,
        }
