"""How a loop is configured, what it needs from its host, and how it ends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from hive_mcp.events import EventType
from hive_mcp.llm import LLMProvider
from hive_mcp.loop._judges import Judge, implicit_judge
from hive_mcp.loop._tools import Tool

__all__ = ["ExitStatus", "Guard", "LoopConfig", "LoopIO", "LoopOutcome"]

ExitStatus = Literal["success", "failure", "stalled", "escalated", "guard_failure"]

# A guard sees each tool call before it runs; a returned string is a refusal
# that ends the node with ``guard_failure``.
Guard = Callable[[str, dict[str, Any]], str | Awaitable[str | None] | None]


@dataclass(frozen=True, kw_only=True)
class LoopConfig:
    """Everything that shapes one node's loop; the graph layer builds it from a NodeSpec."""

    node_id: str
    system_prompt: str
    model: str
    output_keys: list[str] = field(default_factory=list)
    nullable_output_keys: list[str] = field(default_factory=list)
    client_facing: bool = False
    tools: list[Tool] = field(default_factory=list)
    judge: Judge = implicit_judge
    success_criteria: str | None = None
    max_iterations: int = 50
    allow_iteration_extension: bool = False
    max_tool_calls_per_turn: int = 10
    max_parallel_tools: int = 4
    stall_threshold: int = 3
    max_consecutive_retries: int = 3
    max_tool_result_chars: int = 8_000
    context_tokens: int = 32_000
    compaction_threshold: float = 0.8
    keep_recent_messages: int = 6
    guard: Guard | None = None

    @property
    def required_outputs(self) -> list[str]:
        return [k for k in self.output_keys if k not in self.nullable_output_keys]


class LoopIO(Protocol):
    """What the host (the graph executor) gives a loop."""

    execution_id: str
    data_dir: Path
    provider: LLMProvider

    def emit(self, type: EventType, data: dict[str, Any]) -> None:
        """Record an event for this node."""

    async def load_state(self) -> dict[str, Any] | None:
        """The state saved by an earlier run of this visit, if any."""

    async def save_state(self, state_json: str) -> None:
        """Store the state (JSON text) durably; returns once committed."""

    async def request_input(
        self, kind: str, prompt: str, options: list[str], details: dict[str, Any] | None = None
    ) -> str:
        """Park until a person answers; return the answer (``details`` go with the question)."""


@dataclass(frozen=True, kw_only=True)
class LoopOutcome:
    """How the loop ended."""

    status: ExitStatus
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    retryable: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
