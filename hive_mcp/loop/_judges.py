"""Judges decide after each turn whether the node is done: the verdicts of seed 003.

ACCEPT ends the node with success, RETRY sends feedback and tries again,
ESCALATE ends it as escalated (a person is needed), CONTINUE lets the loop go
on. The implicit judge accepts once the required outputs are set and the turn
made no tool calls; the LLM judge adds a model's check against the node's
success criteria; a custom judge is any callable with the ``Judge`` shape.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hive_mcp.llm import LLMProvider, LLMRequest, Message, TextDelta

__all__ = [
    "Judge",
    "JudgeInput",
    "Judgement",
    "LLMJudge",
    "Verdict",
    "custom_judge",
    "implicit_judge",
]


class Verdict(StrEnum):
    ACCEPT = "ACCEPT"
    RETRY = "RETRY"
    ESCALATE = "ESCALATE"
    CONTINUE = "CONTINUE"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    feedback: str = ""


@dataclass(frozen=True, kw_only=True)
class JudgeInput:
    """What a judge sees about the turn that just ended."""

    execution_id: str
    node_id: str
    iteration: int
    outputs: dict[str, Any]
    missing_outputs: list[str]
    turn_text: str
    tool_call_count: int
    success_criteria: str | None
    messages: list[Message] = field(default_factory=list)


Judge = Callable[[JudgeInput], Awaitable[Judgement]]


async def implicit_judge(turn: JudgeInput) -> Judgement:
    """CONTINUE while tools are being called; then ACCEPT if outputs are complete, else RETRY."""
    if turn.tool_call_count:
        return Judgement(Verdict.CONTINUE)
    if turn.missing_outputs:
        return Judgement(
            Verdict.RETRY,
            f"Required outputs are not set yet: {turn.missing_outputs}. "
            "Call set_output(key, value) for each of them.",
        )
    return Judgement(Verdict.ACCEPT)


class LLMJudge:
    """The implicit judge first; once it would accept, a model checks the success criteria.

    The model answers ``ACCEPT``, ``RETRY: <feedback>`` or ``ESCALATE: <reason>``.
    """

    def __init__(self, provider: LLMProvider, model: str) -> None:
        self._provider = provider
        self._model = model

    async def __call__(self, turn: JudgeInput) -> Judgement:
        first = await implicit_judge(turn)
        if first.verdict is not Verdict.ACCEPT or not turn.success_criteria:
            return first
        prompt = (
            "You judge whether a step of an agent met its success criteria.\n"
            f"Criteria: {turn.success_criteria}\n"
            f"Outputs: {json.dumps(turn.outputs, ensure_ascii=False, default=str)}\n"
            "Answer with exactly one line: ACCEPT, or RETRY: <what to fix>, "
            "or ESCALATE: <why a person is needed>."
        )
        request = LLMRequest(
            model=self._model,
            messages=[Message(role="user", content=prompt)],
            execution_id=turn.execution_id,
            node_id=turn.node_id,
            turn=turn.iteration,
            purpose="judge",
        )
        text = "".join(
            [e.text async for e in self._provider.stream(request) if isinstance(e, TextDelta)]
        ).strip()
        head, _, rest = text.partition(":")
        verdict = head.strip().upper()
        if verdict in (Verdict.RETRY, Verdict.ESCALATE):
            return Judgement(Verdict(verdict), rest.strip() or text)
        if verdict == Verdict.ACCEPT:
            return Judgement(Verdict.ACCEPT)
        return Judgement(Verdict.RETRY, f"The judge could not parse its own answer: {text!r}")


def custom_judge(fn: Callable[[JudgeInput], Any]) -> Judge:
    """Adapt a user's judge: sync or async, returning a Judgement, a Verdict or its name."""

    async def judge(turn: JudgeInput) -> Judgement:
        result = fn(turn)
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, Judgement):
            return result
        if isinstance(result, tuple):
            return Judgement(Verdict(str(result[0]).upper()), str(result[1]))
        return Judgement(Verdict(str(result).upper()))

    return judge
