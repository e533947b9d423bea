"""What an event-loop node persists after every turn, so it can resume mid-loop."""

from __future__ import annotations

import operator
from typing import Any, Literal

from pydantic import BaseModel, Field

from hive_mcp.llm import Message
from hive_mcp.loop._asking import SavedAnswer

__all__ = ["LoopState", "PendingInput", "SavedMessages"]


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
    tool_answers: dict[str, list[SavedAnswer]] = Field(default_factory=dict)
    """Answers given to tool calls still in flight (see ``_asking``), by tool call id."""


class SavedMessages:
    """The conversation as JSON, each message serialised once.

    A save after every tool result used to serialise (or look up) every
    message of the conversation again: quadratic in its length, and the most
    time a busy loop spent. Messages are only appended; compaction replaces
    message objects, which the identity check on the prefix notices (it then
    starts over). ``chars`` is the JSON length of the conversation, the
    compaction check's cheap size.
    """

    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._parts: list[str] = []
        self.chars = 0

    def update(self, messages: list[Message]) -> None:
        """Serialise what was appended since the last call."""
        known = self._messages
        if len(known) > len(messages) or not all(map(operator.is_, known, messages)):
            self._messages, self._parts, self.chars = [], [], 0
        for message in messages[len(self._messages) :]:
            text = message.model_dump_json()
            self._messages.append(message)
            self._parts.append(text)
            self.chars += len(text)

    def json(self, messages: list[Message]) -> str:
        """``messages`` as the items of a JSON array (no brackets)."""
        self.update(messages)
        return ",".join(self._parts)
