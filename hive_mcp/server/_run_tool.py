"""One ``run_<agent>`` tool per agent: the whole run inside one call, when it can be.

The tool starts the execution and follows its events, reporting progress per
node and per turn. When a node asks a person:

- on the 2026-07-28 protocol, with a client that can elicit: it returns an
  ``InputRequiredResult``; the client asks the user and calls again with the
  answer and our ``request_state`` (which names the execution), and the call
  picks up where the run is;
- on a legacy session with elicitation: it asks mid-call (``ctx.elicit``);
- otherwise it returns early with ``execution_id``, ``status`` and
  ``waiting_for_input``, and the host goes on with get_events / send_input.

It always returns before ``max_wait_seconds``, well under host timeouts.
"""

from __future__ import annotations

import json
from typing import Any, Literal, cast

import anyio
import jsonschema
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import (
    CallToolResult,
    ElicitRequest,
    ElicitRequestFormParams,
    InputRequiredResult,
    TextContent,
)
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, ConfigDict, Field, create_model

from hive_mcp._values import value_problem
from hive_mcp.errors import HiveError
from hive_mcp.events import Event, EventType
from hive_mcp.graph import Agent
from hive_mcp.runtime import AgentRuntime
from hive_mcp.server._models import WaitingForInput
from hive_mcp.store import ExecutionRecord, ExecutionStatus

__all__ = ["DEFAULT_MAX_WAIT", "RunResult", "run_tool"]

DEFAULT_MAX_WAIT = 45.0  # under the ~60 s that the most impatient hosts allow
MAX_WAIT = 240.0
ANSWER_KEY = "answer"


class RunResult(BaseModel):
    """What a run_<agent> call returns."""

    execution_id: str
    status: str
    output: dict[str, Any] | None = None
    error: str | None = None
    waiting_for_input: WaitingForInput | None = None
    next_step: str = Field(default="", description="What to do next, for the caller.")


class _Answer(BaseModel):
    answer: str


def _choice(options: list[str]) -> type[BaseModel]:
    """An answer that must be one of ``options``: an enum, which hosts show as a choice."""
    choice: Any = Literal[tuple(options)]
    model: type[BaseModel] = create_model("Choice", answer=(choice, ...))
    return model


class _RawArguments(ArgModelBase):
    # The agent's own JSON Schema is the tool's input schema; hand over the object whole.
    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def _input_schema(agent: Agent) -> dict[str, Any]:
    schema = json.loads(json.dumps(agent.spec.effective_input_schema()))
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})["max_wait_seconds"] = {
        "type": "number",
        "minimum": 0,
        "maximum": MAX_WAIT,
        "default": DEFAULT_MAX_WAIT,
        "description": "Return by then at the latest, with an execution_id to follow up.",
    }
    return dict(schema)


def run_tool(agent: Agent, runtime: AgentRuntime) -> Tool:
    """The ``run_<agent>`` tool of ``agent``."""
    schema = _input_schema(agent)
    validator = jsonschema.validators.validator_for(schema)(schema)
    spec = agent.spec
    asks = [n.id for n in spec.nodes if n.client_facing]

    async def handler(
        arguments: dict[str, Any], ctx: Context
    ) -> CallToolResult | InputRequiredResult:
        for name, value in arguments.items():
            # Before the schema: NaN passes every "minimum"/"maximum" and an
            # execution's input may not hold what no store can keep.
            problem = value_problem(value, name)
            if problem is not None:
                raise ToolError(problem)
        problems = [
            f"{'/'.join(map(str, e.path)) or '(top level)'}: {e.message}"
            for e in validator.iter_errors(arguments)
        ]
        if problems:
            raise ToolError("invalid arguments: " + "; ".join(problems))
        max_wait = float(arguments.pop("max_wait_seconds", DEFAULT_MAX_WAIT))
        try:
            return await _run(agent, runtime, arguments, ctx, max_wait)
        except HiveError as exc:
            raise ToolError(str(exc)) from exc

    description = (
        f"Run the agent {spec.name!r}: {spec.description} Runs to completion inside this call "
        f"when it can (up to max_wait_seconds) and returns its output."
    )
    if asks:
        description += (
            " It may ask the user a question; if the question cannot be asked through this "
            "client, the call returns status waiting_for_input with the question: answer it "
            "with send_input, then follow the run with get_events."
        )
    return Tool(
        fn=handler,
        name=f"run_{spec.name}",
        title=None,
        description=description,
        parameters=schema,
        fn_metadata=FuncMetadata(
            arg_model=_RawArguments, output_schema=RunResult.model_json_schema()
        ),
        is_async=True,
        context_kwarg="ctx",
        annotations=None,
    )


async def _run(
    agent: Agent,
    runtime: AgentRuntime,
    arguments: dict[str, Any],
    ctx: Context,
    max_wait: float,
) -> CallToolResult | InputRequiredResult:
    deadline = anyio.current_time() + max_wait
    answered = 0  # seq of the last question this call answered
    if ctx.request_state:
        # The client is back with the user's answer to our InputRequiredResult.
        state = json.loads(ctx.request_state)
        execution_id, after = str(state["execution_id"]), int(state["after"])
        answered = int(state["question"])
        response = (ctx.input_responses or {}).get(ANSWER_KEY)
        answer = _raw_answer(response) if state.get("raw") else _answer_text(response)
        if answer is None:
            return _result(await runtime.get_execution(execution_id), "the user declined to answer")
        await runtime.send_input(execution_id, answer)
    else:
        record = await runtime.start(agent.name, arguments)
        execution_id, after = record.id, 0
    try:
        return await _follow(runtime, execution_id, after, answered, ctx, deadline)
    except anyio.get_cancelled_exc_class():
        if _host_cancelled():
            # The host never saw the id: nobody could stop the run (or its side effects).
            with anyio.CancelScope(shield=True):
                await runtime.cancel(execution_id)
        raise


async def _follow(
    runtime: AgentRuntime,
    execution_id: str,
    after: int,
    answered: int,
    ctx: Context,
    deadline: float,
) -> CallToolResult | InputRequiredResult:
    """Follow the run until it ends, asks what this client can answer, or the deadline."""
    # Questions are followed in the event log, not the record: an answer
    # reaches the node before the record says it runs again.
    question: Event | None = None
    steps = 0
    while True:
        remaining = deadline - anyio.current_time()
        events = await runtime.get_events(
            execution_id, after=after, limit=1000, wait_seconds=max(0.0, min(remaining, 5.0))
        )
        for event in events:
            after = event.seq
            if event.type is EventType.CLIENT_INPUT_REQUESTED and event.seq > answered:
                question = event
            elif event.type is EventType.CLIENT_INPUT_RECEIVED:
                question = None
            elif event.type in (EventType.NODE_STARTED, EventType.NODE_LOOP_ITERATION):
                steps += 1
                what = (
                    f"node {event.node_id}"
                    if event.type is EventType.NODE_STARTED
                    else f"{event.node_id}: turn {event.data.get('iteration')}"
                )
                await ctx.report_progress(steps, None, what)
        # The record changes status only with an event that says so (in the
        # same commit): read it when one came, when a wait ran out, or to ask.
        ended = any(event.type in _ENDINGS for event in events)
        if ended or not events or question is not None:
            record = await runtime.get_execution(execution_id)
            if record.status.is_final:
                return _result(record)
        if question is not None:
            asked = await _ask(runtime, execution_id, question, ctx, after)
            if isinstance(asked, InputRequiredResult) or asked is None:
                return asked or _result(record)
            answered, question = question.seq, None
            continue
        if anyio.current_time() >= deadline:
            return _result(await runtime.get_execution(execution_id))


# Events that come with a change of the execution's status.
_ENDINGS = frozenset(
    {
        EventType.EXECUTION_COMPLETED,
        EventType.EXECUTION_FAILED,
        EventType.EXECUTION_CANCELLED,
        EventType.EXECUTION_PAUSED,
    }
)

_SERVING = {"stopping": False}


def stop_serving() -> None:
    """Say the server is stopping: run calls cut off now leave their executions to resume."""
    _SERVING["stopping"] = True


def _host_cancelled() -> bool:
    """Whether a cancellation of a run call came from the host, not from the server stopping.

    A host cancels with ``notifications/cancelled`` (legacy sessions), by closing
    the request's stream (2026-07-28), or by ending its HTTP session; the server
    stopping (a signal, stdin closed) says so first with ``stop_serving``.
    """
    return not _SERVING["stopping"]


def _raw_answer(response: Any) -> str | None:
    """A tool server's form as filled in (JSON), or ``decline`` / ``cancel``."""
    action = getattr(response, "action", None)
    if action == "accept":
        return json.dumps(getattr(response, "content", None) or {}, ensure_ascii=False)
    return action if action in ("decline", "cancel") else None


def _answer_text(response: Any) -> str | None:
    if response is None or getattr(response, "action", None) != "accept":
        return None
    content = getattr(response, "content", None) or {}
    return str(content.get(ANSWER_KEY, "")) if isinstance(content, dict) else str(content)


async def _ask(
    runtime: AgentRuntime, execution_id: str, question: Event, ctx: Context, after: int
) -> InputRequiredResult | bool | None:
    """Ask the user through MCP if the client can; ``None`` when it cannot."""
    capabilities = ctx.client_capabilities
    if capabilities is None or capabilities.elicitation is None:
        return None
    options = list(dict.fromkeys(str(o) for o in question.data.get("options") or []))
    text = str(question.data.get("prompt", ""))
    schema = _choice(options) if options else _Answer  # options: a choice, shown as one
    # A tool server's question goes to the host with the server's own form.
    raw = question.data.get("requested_schema")
    raw = raw if isinstance(raw, dict) and raw.get("properties") else None
    if is_version_at_least(ctx.protocol_version or "", "2026-07-28"):
        requested = raw if raw is not None else schema.model_json_schema()
        state = {"execution_id": execution_id, "after": after, "question": question.seq}
        return InputRequiredResult(
            input_requests={
                ANSWER_KEY: ElicitRequest(
                    params=ElicitRequestFormParams(message=text, requested_schema=requested)
                )
            },
            request_state=json.dumps(state | ({"raw": True} if raw is not None else {})),
        )
    if raw is not None:
        form = await ctx.request_context.session.elicit_form(
            text, cast(Any, raw), related_request_id=ctx.request_id
        )
        await runtime.send_input(execution_id, _raw_answer(form) or "cancel", question.node_id)
        return True
    reply = await ctx.elicit(text, schema)
    if reply.action != "accept":
        return None
    await runtime.send_input(execution_id, str(getattr(reply.data, "answer", "")), question.node_id)
    return True


def _result(record: ExecutionRecord, note: str = "") -> CallToolResult:
    waiting = WaitingForInput.of(record)
    if record.status.is_final:
        next_step = ""
    elif waiting is not None:
        next_step = (
            f"The run waits for an answer: call send_input(execution_id={record.id!r}, text=...) "
            "with the answer to waiting_for_input.prompt, then get_events to follow it."
        )
    else:
        next_step = (
            f"The run goes on in the background: call get_events(execution_id={record.id!r}, "
            "wait_seconds=30) to follow it, or get_execution for its state."
        )
    if note:
        next_step = f"{note}. {next_step}".strip()
    result = RunResult(
        execution_id=record.id,
        status=record.status.value,
        output=record.output,
        error=record.error,
        waiting_for_input=waiting,
        next_step=next_step,
    )
    data = result.model_dump(mode="json")
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(data, indent=2, ensure_ascii=False))],
        structured_content=data,
        is_error=record.status is ExecutionStatus.FAILED,
    )
