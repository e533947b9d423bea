"""What crosses the LLM seam: messages, tool specs, requests and stream events.

Messages and tool calls are pydantic models because conversations are stored
and replayed; stream events are small keyword-only dataclasses with a ``kind``
discriminator because they are produced per token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hive_mcp._values import clean

__all__ = [
    "Finish",
    "LLMRequest",
    "Message",
    "ReasoningDelta",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolCallEvent",
    "ToolSpec",
    "Usage",
]


class ToolCall(BaseModel):
    """A tool call as the model produced it; ``arguments`` is raw JSON text.

    The text may be invalid or truncated: callers parse it with ``parse`` and
    answer a parse error with a tool error the model can recover from.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: str = "{}"

    def parse(self) -> dict[str, Any]:
        """The arguments as a JSON object; ``ValueError`` saying what is wrong otherwise."""
        try:
            value = json.loads(self.arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"arguments are not valid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        if not isinstance(value, dict):
            raise ValueError(f"arguments must be a JSON object, not {type(value).__name__}")
        return dict(clean(value))  # a "\\ud800" escape decodes to text no store can keep


class Message(BaseModel):
    """One chat message in the OpenAI-compatible shape most providers accept."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None

    def to_openai(self) -> dict[str, Any]:
        """The dict form used by OpenAI-compatible APIs (and litellm)."""
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            data["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in self.tool_calls
            ]
        if self.tool_call_id is not None:
            data["tool_call_id"] = self.tool_call_id
        if self.name is not None and self.role == "tool":
            data["name"] = self.name
        return data


class ToolSpec(BaseModel):
    """A tool offered to the model: name, description, JSON Schema of its arguments."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})

    def to_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class LLMRequest:
    """One model turn. ``execution_id``, ``node_id`` and ``turn`` identify it for
    scripted policies, cassettes and error messages."""

    model: str
    messages: list[Message]
    tools: list[ToolSpec] = field(default_factory=list)
    execution_id: str = ""
    node_id: str = ""
    turn: int = 0
    purpose: Literal["turn", "judge", "compaction", "edge"] = "turn"
    temperature: float | None = None
    max_tokens: int | None = None
    api_base: str | None = None
    timeout_seconds: float = 120.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class TextDelta:
    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasoningDelta:
    text: str
    kind: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallEvent:
    """A complete tool call (fragments already joined by the provider)."""

    call: ToolCall
    kind: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finish:
    """The last event of every stream."""

    stop_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)
    kind: Literal["finish"] = "finish"


StreamEvent = TextDelta | ReasoningDelta | ToolCallEvent | Finish
