"""The event loop of an LLM node: stream a turn, run its tools, judge, repeat.

Each turn: compact the conversation if it is near the window, stream the
model's answer (text deltas become events), run the tool calls (independent
calls in parallel, bounded), check for stalls and doom loops, and ask the
judge for a verdict. The conversation and cursor are saved after the model's
answer and after every tool result, so a resumed node neither calls the model
for a turn it already has nor re-runs a tool whose result was recorded.
Client-facing nodes block for a person between turns (``ask_user``, or a
question in plain text); with iteration extension on, the iteration limit
becomes a question too.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from typing import Any

import anyio

from hive_mcp._values import clean_text
from hive_mcp.errors import LLMError
from hive_mcp.events import EventType
from hive_mcp.llm import (
    Finish,
    LLMRequest,
    Message,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
)
from hive_mcp.loop._asking import ToolQuestions
from hive_mcp.loop._builtin import builtin_specs
from hive_mcp.loop._compaction import compact_if_needed
from hive_mcp.loop._config import LoopConfig, LoopIO, LoopOutcome
from hive_mcp.loop._judges import JudgeInput, Judgement, Verdict
from hive_mcp.loop._spill import load_data, spill
from hive_mcp.loop._stall import check_stall
from hive_mcp.loop._state import LoopState, PendingInput, SavedMessages
from hive_mcp.loop._tools import Tool, ToolError, render_result

__all__ = ["EventLoop"]

_PREVIEW = 500


class EventLoop:
    """Runs one visit of one event-loop node to an exit status."""

    def __init__(self, config: LoopConfig, io: LoopIO) -> None:
        self.config = config
        self.io = io
        self._tools: dict[str, Tool] = {t.name: t for t in config.tools}
        self._saved = SavedMessages()
        self._specs = [t.spec for t in config.tools] + builtin_specs(config)

    # -- the loop --------------------------------------------------------

    async def run(self, inputs: dict[str, Any]) -> LoopOutcome:
        """Run (or resume) the loop; the outcome carries the outputs set with set_output."""
        saved = await self.io.load_state()
        state = LoopState.model_validate(saved) if saved else self._new_state(inputs)
        self.io.emit(
            EventType.NODE_LOOP_STARTED,
            {
                "max_iterations": self.config.max_iterations,
                "model": self.config.model,
                "provider": self.io.provider.label,
                "resumed": saved is not None,
            },
        )
        before = (state.input_tokens, state.output_tokens)
        outcome = await self._loop(state)
        outcome = dataclasses.replace(
            outcome,
            input_tokens=state.input_tokens - before[0],
            output_tokens=state.output_tokens - before[1],
        )
        self.io.emit(
            EventType.NODE_LOOP_COMPLETED,
            {
                "status": outcome.status,
                "iterations": state.iteration,
                "input_tokens": state.input_tokens,
                "output_tokens": state.output_tokens,
            },
        )
        return outcome

    def _new_state(self, inputs: dict[str, Any]) -> LoopState:
        user = "Inputs:\n" + json.dumps(inputs, ensure_ascii=False, indent=1, default=str)
        return LoopState(
            messages=[
                Message(role="system", content=self.config.system_prompt),
                Message(role="user", content=user),
            ]
        )

    async def _save(self, state: LoopState) -> None:
        rest = state.model_dump_json(exclude={"messages"})
        messages = self._saved.json(state.messages)
        await self.io.save_state(f'{{"messages":[{messages}],{rest[1:]}')

    async def _loop(self, state: LoopState) -> LoopOutcome:
        cfg = self.config
        while True:
            if state.pending is not None:
                denied = await self._wait_for_person(state)
                if denied is not None:
                    return denied
            unanswered = _unanswered_turn(state.messages)
            if unanswered is not None:
                # Resumed between the model's answer and the last of its tool results:
                # the calls without a recorded result run now, before any new turn.
                turn = unanswered
                usage, latency = Usage(), 0.0
            else:
                budget = cfg.max_iterations + state.extra_iterations
                if state.iteration >= budget:
                    if not cfg.allow_iteration_extension:
                        return LoopOutcome(
                            status="failure",
                            outputs=state.outputs,
                            error=f"reached max_iterations ({budget}) without finishing; "
                            "raise max_iterations or enable iteration extension",
                        )
                    self._ask_for_extension(state)
                    await self._save(state)
                    continue
                state.iteration += 1
                self.io.emit(EventType.NODE_LOOP_ITERATION, {"iteration": state.iteration})
                self._saved.update(state.messages)
                await compact_if_needed(
                    state,
                    tokens=self._saved.chars // 4,
                    provider=self.io.provider,
                    model=cfg.model,
                    execution_id=self.io.execution_id,
                    node_id=cfg.node_id,
                    context_tokens=cfg.context_tokens,
                    threshold=cfg.compaction_threshold,
                    keep_recent=cfg.keep_recent_messages,
                )
                started = time.perf_counter()
                try:
                    turn, usage = await self._stream_turn(state)
                except LLMError as exc:
                    await self._save(state)
                    return LoopOutcome(
                        status="failure",
                        outputs=state.outputs,
                        error=str(exc),
                        retryable=exc.retryable,
                    )
                latency = time.perf_counter() - started
                state.messages.append(turn)
                state.input_tokens += usage.input_tokens
                state.output_tokens += usage.output_tokens
                await self._save(state)

            refusal = await self._guard(turn.tool_calls)
            if refusal is not None:
                return LoopOutcome(status="guard_failure", outputs=state.outputs, error=refusal)
            steps = await self._run_tools(state, turn.tool_calls)

            stalled = check_stall(state, turn, self.config.stall_threshold)
            if stalled is not None:
                self.io.emit(
                    EventType.NODE_STALLED, {"iteration": state.iteration, "reason": stalled}
                )
                await self._save(state)
                return LoopOutcome(status="stalled", outputs=state.outputs, error=stalled)

            missing = [k for k in cfg.required_outputs if k not in state.outputs]
            if state.pending is not None:
                judgement = Judgement(Verdict.CONTINUE, "waiting for the user")
            elif cfg.client_facing and not turn.tool_calls and missing and turn.content.strip():
                # A client-facing node that talks without acting is talking to the user.
                state.pending = PendingInput(kind="conversation", prompt=turn.content)
                judgement = Judgement(Verdict.CONTINUE, "waiting for the user")
            else:
                judgement = await cfg.judge(
                    JudgeInput(
                        execution_id=self.io.execution_id,
                        node_id=cfg.node_id,
                        iteration=state.iteration,
                        outputs=dict(state.outputs),
                        missing_outputs=missing,
                        turn_text=turn.content,
                        tool_call_count=len(turn.tool_calls),
                        success_criteria=cfg.success_criteria,
                        messages=list(state.messages),
                    )
                )
            self.io.emit(
                EventType.JUDGE_VERDICT,
                {
                    "iteration": state.iteration,
                    "verdict": judgement.verdict.value,
                    "feedback": judgement.feedback,
                    "tool_calls": steps,
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "latency_ms": round(latency * 1000, 3),
                },
            )
            match judgement.verdict:
                case Verdict.ACCEPT:
                    await self._save(state)
                    return LoopOutcome(status="success", outputs=state.outputs)
                case Verdict.ESCALATE:
                    await self._save(state)
                    return LoopOutcome(
                        status="escalated", outputs=state.outputs, error=judgement.feedback or None
                    )
                case Verdict.RETRY:
                    state.consecutive_retries += 1
                    if state.consecutive_retries > cfg.max_consecutive_retries:
                        await self._save(state)
                        return LoopOutcome(
                            status="failure",
                            outputs=state.outputs,
                            error=f"the judge asked for a retry {state.consecutive_retries} times "
                            f"in a row; last feedback: {judgement.feedback}",
                        )
                    state.messages.append(Message(role="user", content=judgement.feedback))
                case Verdict.CONTINUE:
                    state.consecutive_retries = 0
            if judgement.verdict is Verdict.RETRY or state.pending is not None:
                # New feedback, or a question that must be parked durably. After a
                # plain CONTINUE the tool results are already saved.
                await self._save(state)

    # -- one model turn --------------------------------------------------

    async def _stream_turn(self, state: LoopState) -> tuple[Message, Usage]:
        request = LLMRequest(
            model=self.config.model,
            messages=list(state.messages),
            tools=self._specs,
            execution_id=self.io.execution_id,
            node_id=self.config.node_id,
            turn=state.iteration,
        )
        delta = (
            EventType.CLIENT_OUTPUT_DELTA if self.config.client_facing else EventType.LLM_TEXT_DELTA
        )
        text: list[str] = []
        calls: list[ToolCall] = []
        usage = Usage()
        async for event in self.io.provider.stream(request):
            match event:
                case TextDelta(text=piece):
                    text.append(piece)
                    self.io.emit(delta, {"content": piece, "iteration": state.iteration})
                case ReasoningDelta(text=piece):
                    self.io.emit(EventType.LLM_REASONING_DELTA, {"content": piece})
                case ToolCallEvent(call=call):
                    arguments = clean_text(call.arguments)
                    calls.append(
                        call
                        if arguments is call.arguments
                        else call.model_copy(update={"arguments": arguments})
                    )
                case Finish(usage=finished):
                    usage = finished
        content = clean_text("".join(text))
        return Message(role="assistant", content=content, tool_calls=calls), usage

    # -- tools -----------------------------------------------------------

    async def _guard(self, calls: list[ToolCall]) -> str | None:
        guard = self.config.guard
        if guard is None:
            return None
        for call in calls:
            try:
                arguments = call.parse()
            except ValueError:
                continue  # the tool itself will answer with the parse error
            verdict = guard(call.name, arguments)
            if not isinstance(verdict, str | None):
                verdict = await verdict
            if verdict:
                return f"guard refused {call.name}: {verdict}"
        return None

    async def _run_tools(self, state: LoopState, calls: list[ToolCall]) -> list[dict[str, Any]]:
        done = _answered(state.messages)  # recorded before a restart: never run again
        todo = [c for c in calls if c.id not in done]
        steps: dict[str, dict[str, Any]] = {}
        limiter = anyio.CapacityLimiter(self.config.max_parallel_tools)
        questions = ToolQuestions(self.io, state.tool_answers, lambda: self._save(state))
        asked = False

        async def one(index: int, call: ToolCall) -> None:
            nonlocal asked
            limit = self.config.max_tool_calls_per_turn
            if index >= limit:
                content, failed = (
                    f"too many tool calls in one turn (limit {limit}); "
                    "make this call again in the next turn",
                    True,
                )
            elif call.name == "ask_user" and self.config.client_facing:
                if asked:
                    content, failed = "only one ask_user call per turn; ask again next turn", True
                else:
                    asked = True
                    self._ask_user(state, call)
                    steps[call.id] = {
                        "name": call.name,
                        "arguments": call.arguments,
                        "is_error": False,
                    }
                    return
            else:
                async with limiter:
                    self.io.emit(
                        EventType.TOOL_CALL_STARTED,
                        {"tool_call_id": call.id, "name": call.name, "arguments": call.arguments},
                    )
                    with questions.during(call.id):
                        content, failed = await self._call_tool(state, call)
            self.io.emit(
                EventType.TOOL_CALL_COMPLETED,
                {
                    "tool_call_id": call.id,
                    "name": call.name,
                    "is_error": failed,
                    "result": content[:_PREVIEW],
                },
            )
            steps[call.id] = {
                "name": call.name,
                "arguments": call.arguments,
                "is_error": failed,
                "result": content[:_PREVIEW],
            }
            questions.forget(call.id)
            state.messages.append(
                Message(role="tool", content=content, tool_call_id=call.id, name=call.name)
            )
            state.tool_history.append(f"{call.name}({call.arguments[:200]})")
            await self._save(state)  # a recorded result is never produced twice

        index = {c.id: i for i, c in enumerate(calls)}
        if len(todo) == 1:  # the common case needs no task group
            await one(index[todo[0].id], todo[0])
        else:
            async with anyio.create_task_group() as tg:
                for call in todo:
                    tg.start_soon(one, index[call.id], call)
        return [steps[c.id] for c in calls if c.id in steps]

    async def _call_tool(self, state: LoopState, call: ToolCall) -> tuple[str, bool]:
        try:
            try:
                arguments = call.parse()
            except ValueError as exc:
                raise ToolError(
                    f"{call.name}: {exc}; send the arguments as one JSON object"
                ) from None
            if call.name == "set_output" and self.config.output_keys:
                result: Any = self._set_output(state, arguments)
            elif call.name == "load_data":
                result = load_data(
                    self.io.data_dir,
                    str(arguments.get("name", "")),
                    int(arguments.get("offset", 0)),
                    int(arguments.get("limit", 4000)),
                )
            elif call.name in self._tools:
                result = await self._tools[call.name].run(arguments)
            else:
                available = sorted(s.name for s in self._specs)
                raise ToolError(f"unknown tool {call.name!r}; available tools: {available}")
        except ToolError as exc:
            return f"Error: {exc}", True
        except Exception as exc:
            return f"Error: {call.name} failed: {type(exc).__name__}: {exc}", True
        content = clean_text(render_result(result))  # a tool server's text may be unstorable
        return spill(self.io.data_dir, call.id, content, self.config.max_tool_result_chars), False

    def _set_output(self, state: LoopState, arguments: dict[str, Any]) -> str:
        key = arguments.get("key")
        if "value" not in arguments or not isinstance(key, str):
            raise ToolError("set_output needs 'key' (a string) and 'value'")
        if key not in self.config.output_keys:
            declared = self.config.output_keys
            raise ToolError(f"{key!r} is not an output of this step; declared outputs: {declared}")
        state.outputs[key] = arguments["value"]
        return f"output {key!r} set"

    # -- people ----------------------------------------------------------

    def _ask_user(self, state: LoopState, call: ToolCall) -> None:
        try:
            arguments = call.parse()
        except ValueError:
            arguments = {}
        prompt = str(arguments.get("prompt") or "The agent needs your input.")
        options = [str(o) for o in arguments.get("options") or []]
        state.pending = PendingInput(
            kind="question", prompt=prompt, options=options, tool_call_id=call.id
        )

    def _ask_for_extension(self, state: LoopState) -> None:
        budget = self.config.max_iterations + state.extra_iterations
        state.pending = PendingInput(
            kind="iteration_extension",
            prompt=f"Node {self.config.node_id!r} used its {budget} iterations without finishing. "
            "Answer 'approve' (another full budget), 'approve N' (N more) or 'deny'.",
            options=["approve", "deny"],
        )
        self.io.emit(
            EventType.ITERATION_EXTENSION_REQUESTED,
            {"iterations": state.iteration, "max_iterations": budget},
        )

    async def _wait_for_person(self, state: LoopState) -> LoopOutcome | None:
        pending = state.pending
        assert pending is not None
        answer = await self.io.request_input(pending.kind, pending.prompt, pending.options)
        state.pending = None
        state.recent_texts.clear()  # a person spoke: repeating a question is not a stall
        state.recent_calls.clear()
        if pending.kind == "iteration_extension":
            match = re.fullmatch(r"\s*(approve|yes|y)\s*(\d+)?\s*", answer, flags=re.IGNORECASE)
            granted = (
                (int(match.group(2)) if match.group(2) else self.config.max_iterations)
                if match
                else 0
            )
            self.io.emit(
                EventType.ITERATION_EXTENSION_RESOLVED,
                {"approved": bool(match), "granted": granted, "answer": answer},
            )
            if not match:
                await self._save(state)
                budget = self.config.max_iterations + state.extra_iterations
                return LoopOutcome(
                    status="failure",
                    outputs=state.outputs,
                    error=f"reached max_iterations ({budget}); the extension was denied",
                )
            state.extra_iterations += granted
        elif pending.kind == "question":
            state.messages.append(
                Message(
                    role="tool", content=answer, tool_call_id=pending.tool_call_id, name="ask_user"
                )
            )
        else:
            state.messages.append(Message(role="user", content=answer))
        await self._save(state)
        return None


def _trailing_results(messages: list[Message]) -> int:
    """Where the tool results that end the conversation begin."""
    start = len(messages)
    while start > 0 and messages[start - 1].role == "tool":
        start -= 1
    return start


def _answered(messages: list[Message]) -> set[str | None]:
    """The tool call ids answered by the tool results that end the conversation."""
    return {m.tool_call_id for m in messages[_trailing_results(messages) :]}


def _unanswered_turn(messages: list[Message]) -> Message | None:
    """The model's last turn if some of its tool calls have no result yet, else ``None``."""
    start = _trailing_results(messages)
    if start == 0 or messages[start - 1].role != "assistant":
        return None
    turn, done = messages[start - 1], _answered(messages)
    return turn if any(c.id not in done for c in turn.tool_calls) else None
