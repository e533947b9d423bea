"""From a model name to a provider.

- no model, or ``scripted``: the agent's scripted policy (the offline default);
- ``replay:PATH``: replay a recorded cassette (offline);
- anything else: a litellm model name such as ``openai/gpt-4o-mini``.

With ``HIVE_MCP_RECORD=PATH`` set, real model turns are also recorded to
that cassette.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from hive_mcp.errors import UsageError
from hive_mcp.llm._provider import LLMProvider
from hive_mcp.llm._scripted import Policy, ScriptedProvider

__all__ = ["SCRIPTED", "ProviderResolver", "resolve_provider"]

SCRIPTED = "scripted"

# (model, api_base) -> provider; api_base points litellm at a local server.
ProviderResolver = Callable[[str | None, str | None], LLMProvider]


def resolve_provider(
    model: str | None,
    *,
    policy: Policy | None = None,
    agent: str = "",
    api_base: str | None = None,
) -> LLMProvider:
    """The provider for ``model`` (see module docstring)."""
    if model is None or model == SCRIPTED:
        if policy is None:
            raise UsageError(
                f"agent {agent!r} names no model and ships no scripted policy; set "
                "'model' (like openai/gpt-4o-mini) in defaults or on the node, or add "
                "'scripted_policy: module:callable' for offline runs"
            )
        return ScriptedProvider(policy, keep_requests=False)
    if model.startswith("replay:"):
        from hive_mcp.llm._cassette import ReplayProvider

        return ReplayProvider(Path(model.removeprefix("replay:")))
    from hive_mcp.llm._litellm import LiteLLMProvider

    provider: LLMProvider = LiteLLMProvider(model, api_base=api_base)
    record = os.environ.get("HIVE_MCP_RECORD")
    if record:
        from hive_mcp.llm._cassette import RecordingProvider

        provider = RecordingProvider(provider, Path(record))
    return provider
