"""The provider seam: one streaming call per model turn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from hive_mcp.llm._types import LLMRequest, StreamEvent

__all__ = ["LLMProvider"]


class LLMProvider(Protocol):
    """Streams one model turn.

    ``stream`` yields text and reasoning deltas and complete tool calls, and
    ends with exactly one ``Finish``. Failures raise ``hive_mcp.errors.LLMError``
    subclasses. ``label`` names the provider to people ("scripted (offline)",
    "litellm openai/gpt-4o-mini"); ``offline`` is true for providers that make
    no network calls.
    """

    label: str
    offline: bool

    def stream(self, request: LLMRequest) -> AsyncIterator[StreamEvent]:
        """Stream the model's answer to ``request``."""
        ...
