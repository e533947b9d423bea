"""The ``event_loop`` node type: a NodeSpec turned into a ``hive_mcp.loop`` run.

Node settings beyond the spec's own fields go in ``config`` (checked, so a
typo is an error): see ``LoopSettings``. ``tools`` entries written as
``module:callable`` are Python functions offered as tools; ``judge`` is
``implicit`` (default), ``llm``, or ``module:callable``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydantic

from hive_mcp.errors import HiveError, ToolServerError, UsageError
from hive_mcp.events import EventType
from hive_mcp.graph._spec import GraphSpec, NodeSpec
from hive_mcp.graph.nodes._base import NodeContext, NodeResult, NodeStatus
from hive_mcp.graph.nodes._function import resolve_callable
from hive_mcp.llm import LLMProvider, ToolSpec
from hive_mcp.loop import (
    EventLoop,
    Judge,
    LLMJudge,
    LoopConfig,
    Tool,
    ToolError,
    current_ask,
    custom_judge,
    implicit_judge,
    python_tool,
)
from hive_mcp.toolbox import TOOL_REF

if TYPE_CHECKING:
    from hive_mcp.graph._agent import Agent
    from hive_mcp.toolbox import RemoteTool

__all__ = ["EventLoopNode", "LoopSettings", "event_loop_problems"]


class LoopSettings(pydantic.BaseModel):
    """What ``config`` of an event_loop node may set."""

    model_config = pydantic.ConfigDict(extra="forbid")

    allow_iteration_extension: bool = False
    max_tool_calls_per_turn: int = pydantic.Field(default=10, ge=1)
    max_parallel_tools: int = pydantic.Field(default=4, ge=1)
    stall_threshold: int = pydantic.Field(default=3, ge=2)
    max_consecutive_retries: int = pydantic.Field(default=3, ge=0)
    max_tool_result_chars: int = pydantic.Field(default=8_000, ge=200)
    context_tokens: int = pydantic.Field(default=32_000, ge=500)
    compaction_threshold: float = pydantic.Field(default=0.8, gt=0, le=1)
    keep_recent_messages: int = pydantic.Field(default=6, ge=2)
    guard: str | None = None
    api_base: str | None = None


_STATUS = {
    "success": NodeStatus.SUCCESS,
    "failure": NodeStatus.FAILURE,
    "stalled": NodeStatus.STALLED,
    "escalated": NodeStatus.ESCALATED,
    "guard_failure": NodeStatus.GUARD_FAILURE,
}


def _settings(node: NodeSpec) -> LoopSettings:
    try:
        return LoopSettings.model_validate(node.config)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"config.{'.'.join(str(p) for p in e['loc'])}: "
            + ("unknown setting" if e["type"] == "extra_forbidden" else e["msg"])
            for e in exc.errors()
        )
        raise UsageError(f"node {node.id!r}: {problems}") from None


def _remote_refs(node: NodeSpec) -> list[str]:
    refs = [entry for entry in node.tools if ":" not in entry]
    bad = [r for r in refs if not TOOL_REF.match(r)]
    if bad:
        raise UsageError(
            f"node {node.id!r}: tools {bad} are neither 'module:callable' (a Python function) "
            "nor 'server' / 'server.tool' (a tool server)"
        )
    return refs


def _tools(node: NodeSpec, base_dir: Path | None) -> list[Tool]:
    _remote_refs(node)
    tools = [python_tool(resolve_callable(e, base_dir)) for e in node.tools if ":" in e]
    _check_names(node, tools)
    return tools


def _check_names(node: NodeSpec, tools: list[Tool]) -> None:
    names = [t.name for t in tools]
    builtin = {"set_output", "ask_user", "load_data"}
    clashes = sorted({n for n in names if names.count(n) > 1} | (builtin & set(names)))
    if clashes:
        raise UsageError(f"node {node.id!r}: tool names {clashes} are used twice or are built in")


def _as_loop_tool(remote: RemoteTool) -> Tool:
    async def run(arguments: dict[str, Any]) -> str:
        try:
            return await remote.call(arguments, current_ask())
        except HiveError as exc:  # the model is told, and can try again or go on
            raise ToolError(str(exc)) from None

    spec = ToolSpec(
        name=remote.name, description=remote.description, parameters=remote.input_schema
    )
    return Tool(spec=spec, run=run)


def _unreachable(ref: str, error: str, ctx: NodeContext) -> Tool:
    # A server that cannot be reached must not fail the run: the model sees a
    # tool that says so, and each call tries again.
    server, _, name = ref.partition(".")

    async def run(arguments: dict[str, Any]) -> str:
        try:
            tools = await ctx.remote_tools([ref])
        except HiveError as exc:
            raise ToolError(str(exc)) from None
        if name and tools:
            return await tools[0].call(arguments, current_ask())
        raise ToolError(f"tool server {server!r} is reachable again; its tools come next turn")

    spec = ToolSpec(
        name=(name or server).replace(".", "_"),
        description=f"Unavailable right now ({error}). Calling it tries the server again.",
    )
    return Tool(spec=spec, run=run)


async def _resolve_remote(node: NodeSpec, ctx: NodeContext) -> list[Tool]:
    tools: list[Tool] = []
    for ref in _remote_refs(node):
        try:
            tools += [_as_loop_tool(t) for t in await ctx.remote_tools([ref])]
        except ToolServerError as exc:
            tools.append(_unreachable(ref, str(exc), ctx))
    return tools


def event_loop_problems(node: NodeSpec, base_dir: Path | None) -> list[str]:
    """Load-time problems of an event_loop node's tools, judge and config."""
    problems = []
    for check in (
        lambda: _settings(node),
        lambda: _tools(node, base_dir),
        lambda: _judge_ref(node, base_dir),
    ):
        try:
            check()
        except UsageError as exc:
            problems.append(str(exc))
    return problems


def _judge_ref(node: NodeSpec, base_dir: Path | None) -> Any:
    if node.judge in (None, "implicit", "llm"):
        return None
    return resolve_callable(node.judge, base_dir)


def system_prompt(node: NodeSpec, graph: GraphSpec) -> str:
    """The instructions the model gets for this node."""
    lines = [f"You are the step {node.name or node.id!r} of the agent {graph.name!r}."]
    if graph.goal.description:
        lines.append(f"The agent's goal: {graph.goal.description}")
    if node.description:
        lines.append(f"Your task: {node.description}")
    if node.system_prompt:
        lines.append(node.system_prompt)
    if node.output_keys:
        required = [k for k in node.output_keys if k not in node.nullable_output_keys]
        lines.append(
            "Record your results with set_output(key, value). "
            f"Required: {required or 'none'}. Optional: {node.nullable_output_keys or 'none'}. "
            "When all required outputs are set, answer without calling tools to finish."
        )
    if node.client_facing:
        lines.append(
            "You talk with the user: ask with ask_user, or write your question as plain text."
        )
    if node.success_criteria:
        lines.append(f"Success criteria: {node.success_criteria}")
    return "\n".join(lines)


class EventLoopNode:
    """Runs one visit of an LLM node with ``hive_mcp.loop.EventLoop``."""

    def __init__(self, node: NodeSpec, agent: Agent) -> None:
        self._node = node
        self._agent = agent
        self._settings = _settings(node)
        self._tools = _tools(node, agent.base_dir)
        judge_fn = _judge_ref(node, agent.base_dir)
        self._judge: Judge | None = custom_judge(judge_fn) if judge_fn else None
        self._guard = (
            resolve_callable(self._settings.guard, agent.base_dir) if self._settings.guard else None
        )
        self._prompt = system_prompt(node, agent.spec)

    async def run(self, ctx: NodeContext) -> NodeResult:
        """Run or resume the loop for this visit."""
        node, settings = self._node, self._settings
        spec = self._agent.spec
        provider = ctx.provider(None, settings.api_base)
        tools = self._tools + await _resolve_remote(node, ctx)
        _check_names(node, tools)
        model = node.model or spec.defaults.model or "scripted"
        judge = self._judge
        if judge is None:
            judge = LLMJudge(provider, model) if node.judge == "llm" else implicit_judge
        config = LoopConfig(
            node_id=node.id,
            system_prompt=self._prompt,
            model=model,
            output_keys=list(node.output_keys),
            nullable_output_keys=list(node.nullable_output_keys),
            client_facing=node.client_facing,
            tools=tools,
            judge=judge,
            success_criteria=node.success_criteria,
            max_iterations=node.max_iterations or spec.defaults.max_iterations,
            allow_iteration_extension=settings.allow_iteration_extension,
            max_tool_calls_per_turn=settings.max_tool_calls_per_turn,
            max_parallel_tools=settings.max_parallel_tools,
            stall_threshold=settings.stall_threshold,
            max_consecutive_retries=settings.max_consecutive_retries,
            max_tool_result_chars=settings.max_tool_result_chars,
            context_tokens=settings.context_tokens,
            compaction_threshold=settings.compaction_threshold,
            keep_recent_messages=settings.keep_recent_messages,
            guard=self._guard,
        )
        outcome = await EventLoop(config, _IO(ctx, provider)).run(ctx.inputs)
        return NodeResult(
            status=_STATUS[outcome.status],
            outputs=dict(outcome.outputs) if outcome.status == "success" else {},
            error=outcome.error,
            retryable=outcome.retryable,
            input_tokens=outcome.input_tokens,
            output_tokens=outcome.output_tokens,
        )


class _IO:
    """The loop's view of the executor's services."""

    def __init__(self, ctx: NodeContext, provider: LLMProvider) -> None:
        self._ctx = ctx
        self.execution_id = ctx.execution_id
        self.data_dir = ctx.data_dir
        self.provider = provider

    def emit(self, type: EventType, data: dict[str, Any]) -> None:
        self._ctx.emit(type, data)

    async def load_state(self) -> dict[str, Any] | None:
        return await self._ctx.load_state()

    async def save_state(self, state_json: str) -> None:
        await self._ctx.save_state(state_json)

    async def request_input(
        self, kind: str, prompt: str, options: list[str], details: dict[str, Any] | None = None
    ) -> str:
        return await self._ctx.request_input(kind, prompt, options, details)
