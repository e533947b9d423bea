"""Agent nodes: run another agent, here or on another hive-mcp server, and wait for it.

The node starts the delegate's execution (idempotently: a resumed node finds
the one it started), follows its events by long-polling and re-emits them as
``delegate_event`` events of this execution, passes each question the
delegate asks up to this execution's client and sends the answer back, and
takes the delegate's output as its own. A real cancel of this execution
cancels the delegate; a suspension (a shutdown) leaves it to be picked up.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import anyio

from hive_mcp.errors import ToolCallRefused, ToolServerError, UsageError
from hive_mcp.events import EventType
from hive_mcp.graph._spec import DelegateSpec, NodeSpec
from hive_mcp.graph.nodes._base import NodeContext, NodeResult, NodeStatus

if TYPE_CHECKING:
    from hive_mcp.graph._agent import Agent
    from hive_mcp.toolbox import AgentGateway, ChildResult

__all__ = ["DelegateNode"]

_ENDED = {"execution_completed", "execution_failed", "execution_cancelled"}
# Token-by-token text would flood the caller's log; the rest is progress.
_NOT_FORWARDED = {"llm_text_delta", "llm_reasoning_delta", "checkpoint_written"}


class DelegateNode:
    """Runs the agent named by the node's ``delegate`` and returns its output."""

    def __init__(self, node: NodeSpec, agent: Agent) -> None:
        if node.delegate is None:
            raise UsageError(f"node {node.id!r} is an agent node but has no 'delegate'")
        self._spec: DelegateSpec = node.delegate

    async def run(self, ctx: NodeContext) -> NodeResult:
        gateway = ctx.agents(self._spec.server)
        try:
            return await self._run(ctx, gateway)
        except ToolServerError as exc:  # unreachable (try again), or refused (do not)
            return NodeResult(
                status=NodeStatus.FAILURE,
                error=f"agent {self._spec.agent!r} on {gateway.label}: {exc}",
                retryable=not isinstance(exc, ToolCallRefused),
            )
        except UsageError as exc:  # unknown agent, input that does not fit
            return NodeResult(
                status=NodeStatus.FAILURE,
                error=f"agent {self._spec.agent!r} ({gateway.label}): {exc}",
                retryable=False,
            )

    async def _run(self, ctx: NodeContext, gateway: AgentGateway) -> NodeResult:
        spec = self._spec
        state = await ctx.load_state() or {}
        if state.get("attempt") != ctx.attempt:  # a retry starts a new delegate execution
            input = {
                child_key: ctx.inputs[key]
                for child_key, key in (spec.input or {k: k for k in ctx.inputs}).items()
            }
            key = f"{ctx.execution_id}/{ctx.node.id}#{ctx.visit}.{ctx.attempt}"
            child = await gateway.start(
                spec.agent, input, idempotency_key=key, parent=ctx.execution_id
            )
            state = {"attempt": ctx.attempt, "child": child, "after": 0, "answered": 0}
            await ctx.save_state(json.dumps(state))
        try:
            result = await self._follow(ctx, gateway, state)
        except anyio.get_cancelled_exc_class():
            if ctx.cancel_requested():
                with anyio.CancelScope(shield=True), anyio.move_on_after(30):
                    await gateway.cancel(state["child"])
            raise
        return self._outcome(ctx, gateway, state["child"], result)

    async def _follow(
        self, ctx: NodeContext, gateway: AgentGateway, state: dict[str, Any]
    ) -> ChildResult:
        child, where = state["child"], gateway.label
        state.setdefault("asked", 0)  # seq of the last question seen
        wait = 0.0  # first look at once: a resumed node may owe an answer already
        while True:
            page = await gateway.events(child, after=state["after"], wait_seconds=wait)
            wait = self._spec.poll_seconds
            ended = False
            for event in page.events:
                kind = event.get("type")
                if kind == "client_input_received":
                    state["delivered"] = True
                elif kind == "client_input_requested":
                    if state.get("delivered", True):
                        state["asked"] = int(event["seq"])
                        state["question"] = {
                            "node_id": event.get("node_id"),
                            **event.get("data", {}),
                        }
                    else:
                        # A delegate resumed by our answer asks its question again
                        # and takes the answer already sent: nothing new to ask.
                        state["answered"] = state["asked"] = int(event["seq"])
                ended = ended or kind in _ENDED
                if kind not in _NOT_FORWARDED:
                    ctx.emit(
                        EventType.DELEGATE_EVENT,
                        {
                            "agent": self._spec.agent,
                            "where": where,
                            "execution_id": child,
                            "event": {k: event.get(k) for k in ("seq", "type", "node_id", "data")},
                        },
                    )
            if page.events:
                state["after"] = page.next_after
                await ctx.save_state(json.dumps(state))
            # A final status read after this page may be ahead of its events: drain them.
            if ended or (page.status in ("completed", "failed", "cancelled") and not page.events):
                return await gateway.result(child)
            if page.status == "waiting_for_input" and state["asked"] > state["answered"]:
                await self._pass_up(ctx, gateway, state)

    async def _pass_up(
        self, ctx: NodeContext, gateway: AgentGateway, state: dict[str, Any]
    ) -> None:
        question = state.get("question") or {}
        text = await ctx.request_input(
            str(question.get("kind", "question")),
            str(question.get("prompt", "")),
            [str(o) for o in question.get("options") or []],
        )
        await gateway.send_input(state["child"], text, question.get("node_id"))
        state["answered"] = state["asked"]
        state["delivered"] = False  # until the delegate says it took the answer
        await ctx.save_state(json.dumps(state))

    def _outcome(
        self, ctx: NodeContext, gateway: AgentGateway, child: str, result: ChildResult
    ) -> NodeResult:
        name = f"agent {self._spec.agent!r} ({gateway.label}, execution {child})"
        if result.status != "completed":
            return NodeResult(
                status=NodeStatus.FAILURE,
                error=f"{name} {result.status}: {result.error or 'no error given'}",
                retryable=result.status == "failed",
            )
        mapping = self._spec.output or {k: k for k in ctx.node.output_keys}
        outputs = {key: result.output[src] for key, src in mapping.items() if src in result.output}
        missing = [
            f"{key} (from {src})" if src != key else key
            for key, src in mapping.items()
            if src not in result.output and key not in ctx.node.nullable_output_keys
        ]
        if missing:
            return NodeResult(
                status=NodeStatus.FAILURE,
                error=f"{name} completed without outputs {missing}; it returned "
                f"{sorted(result.output)}: map them under delegate.output",
                retryable=False,
            )
        return NodeResult(status=NodeStatus.SUCCESS, outputs=outputs)
