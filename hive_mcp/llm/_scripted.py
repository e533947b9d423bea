"""The scripted provider: the offline default, a deterministic policy instead of a model.

A policy is a function from the request to the next turn: text and/or tool
calls. Each example agent ships one, so demos and tests run end to end with
no network and no key. Output from it is always labelled as scripted.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hive_mcp.errors import ProviderError
from hive_mcp.llm._types import (
    Finish,
    LLMRequest,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
)

__all__ = ["ScriptedProvider", "ScriptedTurn", "call", "say"]


@dataclass(frozen=True)
class ScriptedTurn:
    """What the scripted model answers in one turn."""

    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)


def say(text: str) -> ScriptedTurn:
    """A turn that only writes ``text``."""
    return ScriptedTurn(text=text)


def call(name: str, text: str = "", /, **arguments: Any) -> ScriptedTurn:
    """A turn that calls one tool with ``arguments``."""
    return ScriptedTurn(text=text, tool_calls=[(name, arguments)])


Policy = Callable[[LLMRequest], ScriptedTurn | str | None]


class ScriptedProvider:
    """Streams turns from a policy, or from per-node lists of turns.

    ``ScriptedProvider(policy)`` asks ``policy(request)`` every turn;
    ``ScriptedProvider.from_turns({"node": [turn, ...]})`` plays each node's
    list in order. A policy with no answer is a loud ``ProviderError``.
    """

    offline = True

    def __init__(
        self,
        policy: Policy,
        *,
        label: str = "scripted (offline, no model)",
        keep_requests: bool = True,
    ) -> None:
        self._policy = policy
        self.label = label
        self.keep_requests = keep_requests  # tests read them; a server must not hoard them
        self.requests: list[LLMRequest] = []

    @classmethod
    def from_turns(
        cls, turns: Mapping[str, Sequence[ScriptedTurn | str]], **kwargs: Any
    ) -> ScriptedProvider:
        """Play each node's turns in order; ``"*"`` serves any node without its own list."""
        played: dict[str, int] = defaultdict(int)

        def policy(request: LLMRequest) -> ScriptedTurn | str | None:
            key = request.node_id if request.node_id in turns else "*"
            plan = turns.get(key, ())
            index = played[f"{key}/{request.purpose}"]
            if request.purpose != "turn":
                return None
            played[f"{key}/{request.purpose}"] += 1
            return plan[index] if index < len(plan) else None

        return cls(policy, **kwargs)

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamEvent]:
        """Play the policy's answer as a stream: words, then tool calls, then finish."""
        if self.keep_requests:
            self.requests.append(request)
        answer = self._policy(request)
        if answer is None:
            raise ProviderError(
                f"the scripted policy has no answer for node {request.node_id!r}, "
                f"{request.purpose} {request.turn}; extend the policy or configure a real model"
            )
        turn = ScriptedTurn(text=answer) if isinstance(answer, str) else answer
        for piece in re.findall(r"\S+\s*|\s+", turn.text):
            yield TextDelta(text=piece)
        for index, (name, arguments) in enumerate(turn.tool_calls):
            raw = (
                arguments
                if isinstance(arguments, str)
                else json.dumps(arguments, ensure_ascii=False)
            )
            call_id = f"call_{request.node_id}_{request.turn}_{index}"
            yield ToolCallEvent(call=ToolCall(id=call_id, name=name, arguments=raw))
        prompt_chars = sum(len(m.content) for m in request.messages)
        yield Finish(
            stop_reason="tool_calls" if turn.tool_calls else "stop",
            usage=Usage(input_tokens=prompt_chars // 4, output_tokens=len(turn.text) // 4 + 1),
        )
