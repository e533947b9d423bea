"""Stalls: the same answer, or the same tool calls (a doom loop), turn after turn."""

from __future__ import annotations

import json

from hive_mcp.llm import Message, ToolCall
from hive_mcp.loop._state import LoopState

__all__ = ["check_stall"]


def _fingerprint(calls: list[ToolCall]) -> str:
    parts = []
    for c in calls:
        try:
            args = json.dumps(c.parse(), sort_keys=True)
        except ValueError:
            args = c.arguments
        parts.append(f"{c.name}({args})")
    return "; ".join(sorted(parts))


def check_stall(state: LoopState, turn: Message, threshold: int) -> str | None:
    """Record ``turn`` and say why the loop is stalled, if it is."""
    n = threshold
    if turn.tool_calls:
        state.recent_texts.clear()
        state.recent_calls = [*state.recent_calls, _fingerprint(turn.tool_calls)][-n:]
        if len(state.recent_calls) == n and len(set(state.recent_calls)) == 1:
            calls = state.recent_calls[0][:200]
            return f"doom loop: the same tool calls {n} turns in a row: {calls}"
    else:
        state.recent_calls.clear()
        text = " ".join(turn.content.split())
        state.recent_texts = [*state.recent_texts, text][-n:]
        if len(state.recent_texts) == n and len(set(state.recent_texts)) == 1:
            return f"stalled: the same response {n} turns in a row: {text[:200]!r}"
    return None
