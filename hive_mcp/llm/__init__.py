"""The LLM layer: the provider protocol, its types, and the providers."""

from hive_mcp.llm._provider import LLMProvider
from hive_mcp.llm._types import (
    Finish,
    LLMRequest,
    Message,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    Usage,
)

__all__ = [
    "Finish",
    "LLMProvider",
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
