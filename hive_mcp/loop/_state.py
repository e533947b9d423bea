"""What an event-loop node persists after every turn, so it can resume mid-loop."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from hive_mcp.llm import Message

__all__ = ["LoopState", "PendingInput"]


class PendingInput(BaseModel):
    """The node is blocked until a person answers."""

    kind: Literal["question", "conversation", "iteration_extension"]
    prompt: str
    options: list[str] = Field(default_factory=list)
    tool_call_id: str | None = None


class LoopState(BaseModel):
    """The conversation and loop cursor of one visit of one node."""

    version: Literal[1] = 1
    iteration: int = 0
    messages: list[Message] = Field(default_factory=list)
    outputs: dict[str, Any] = Field(default_factory=dict)
    pending: PendingInput | None = None
    extra_iterations: int = 0
    consecutive_retries: int = 0
    recent_texts: list[str] = Field(default_factory=list)
    recent_calls: list[str] = Field(default_factory=list)
    tool_history: list[str] = Field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
