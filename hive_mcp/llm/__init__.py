"""The LLM layer: the provider protocol, its types, and the providers.

``ScriptedProvider`` (offline policies), ``ReplayProvider`` and
``RecordingProvider`` (cassettes), ``LiteLLMProvider`` (real models; litellm
itself is imported on first use only) and ``resolve_provider`` (model name to
provider).
"""

from hive_mcp.llm._cassette import RecordingProvider, ReplayProvider
from hive_mcp.llm._litellm import LiteLLMProvider
from hive_mcp.llm._provider import LLMProvider
from hive_mcp.llm._resolve import SCRIPTED, ProviderResolver, resolve_provider
from hive_mcp.llm._scripted import ScriptedProvider, ScriptedTurn, call, say
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
    "SCRIPTED",
    "Finish",
    "LLMProvider",
    "LLMRequest",
    "LiteLLMProvider",
    "Message",
    "ProviderResolver",
    "ReasoningDelta",
    "RecordingProvider",
    "ReplayProvider",
    "ScriptedProvider",
    "ScriptedTurn",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolCallEvent",
    "ToolSpec",
    "Usage",
    "call",
    "resolve_provider",
    "say",
]
