"""Keeping the conversation inside the context window, cheapest tier first (seed 000).

1. prune: old tool results are replaced by a one-line placeholder (no model call);
2. summary: a model summarises the older part of the conversation;
3. emergency: a deterministic summary, when the model call fails or is not enough.

Every tier keeps the list of tool calls already made, so the model does not
call them again. Start and end are reported as ``status`` events.
"""

from __future__ import annotations

from hive_mcp.errors import LLMError
from hive_mcp.events import emit_status
from hive_mcp.llm import LLMProvider, LLMRequest, Message, TextDelta
from hive_mcp.loop._state import LoopState

__all__ = ["compact_if_needed", "estimate_tokens"]

PRUNED = "[pruned: an earlier tool result, no longer needed in full]"


def _chars(m: Message) -> int:
    return len(m.content) + sum(len(c.arguments) + len(c.name) for c in m.tool_calls)


def estimate_tokens(messages: list[Message]) -> int:
    """A provider-free estimate: about four characters per token."""
    return sum(map(_chars, messages)) // 4


def _cut(messages: list[Message], keep_recent: int) -> int:
    # Never separate an assistant's tool calls from their results.
    cut = max(1, len(messages) - keep_recent)
    while cut > 1 and messages[cut].role == "tool":
        cut -= 1
    return cut


def _prune(state: LoopState, keep_recent: int) -> None:
    cut = _cut(state.messages, keep_recent)
    for i, m in enumerate(state.messages[:cut]):
        if m.role == "tool" and m.content != PRUNED:
            state.messages[i] = m.model_copy(update={"content": PRUNED})


def _history_note(state: LoopState) -> str:
    calls = "\n".join(f"- {c}" for c in state.tool_history[-50:]) or "- none"
    outputs = ", ".join(sorted(state.outputs)) or "none"
    return (
        f"Tools already called (do not repeat them needlessly):\n{calls}\n"
        f"Outputs set so far: {outputs}."
    )


def _replace_older(state: LoopState, keep_recent: int, summary: str) -> None:
    cut = _cut(state.messages, keep_recent)
    note = Message(
        role="user",
        content=f"[Summary of the earlier conversation]\n{summary}\n\n{_history_note(state)}",
    )
    state.messages[1:cut] = [note]


async def compact_if_needed(
    state: LoopState,
    *,
    provider: LLMProvider,
    model: str,
    execution_id: str,
    node_id: str,
    context_tokens: int,
    threshold: float,
    keep_recent: int,
    tokens: int | None = None,
) -> str | None:
    """Compact when over ``threshold`` of the window; return the tier that got it under.

    ``tokens`` is the caller's cheap estimate of the conversation's size (the
    loop knows its JSON length); without it the messages are measured.
    """
    budget = int(context_tokens * threshold)
    if (tokens if tokens is not None else estimate_tokens(state.messages)) <= budget:
        return None
    before = estimate_tokens(state.messages)
    emit_status("compaction", "started", {"tokens": before, "budget": budget})
    _prune(state, keep_recent)
    tier = "prune"
    if estimate_tokens(state.messages) > budget:
        tier = "summary"
        older = state.messages[1 : _cut(state.messages, keep_recent)]
        transcript = "\n".join(f"{m.role}: {m.content[:2000]}" for m in older)
        request = LLMRequest(
            model=model,
            messages=[
                Message(
                    role="system",
                    content="Summarise this agent conversation briefly, "
                    "keeping facts and decisions.",
                ),
                Message(role="user", content=transcript),
            ],
            execution_id=execution_id,
            node_id=node_id,
            turn=state.iteration,
            purpose="compaction",
        )
        try:
            parts = [e.text async for e in provider.stream(request) if isinstance(e, TextDelta)]
            _replace_older(state, keep_recent, "".join(parts).strip())
        except LLMError:
            tier = "emergency"
        if tier == "emergency" or estimate_tokens(state.messages) > budget:
            tier = "emergency"
            _replace_older(
                state, 2, "(the earlier conversation was dropped to fit the context window)"
            )
    after = estimate_tokens(state.messages)
    emit_status(
        "compaction", "completed", {"tier": tier, "tokens_before": before, "tokens_after": after}
    )
    return tier
