"""The graph executor: walks an agent's graph for one execution.

Per node: count the visit (a retry is not a visit), clear its nullable outputs
when revisited, read its inputs, run it with retries and backoff, check its
output contract, write its outputs, choose the next edges (the rules are in
``_topology``), checkpoint. An edge into a node that has used up
``max_node_visits`` is skipped. Terminal nodes end their line of the walk.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

import anyio

from hive_mcp.errors import (
    GraphRunError,
    NodeError,
    StoreError,
    UnknownExecutionError,
    UsageError,
)
from hive_mcp.events import EventType, status_sink
from hive_mcp.graph._agent import Agent
from hive_mcp.graph._expr import compile_expression
from hive_mcp.graph._inputs import InputBroker
from hive_mcp.graph._services import NodeServices, default_resolver
from hive_mcp.graph._spec import EdgeCondition, EdgeSpec, NodeSpec, NodeType
from hive_mcp.graph._state import Cursor, Fanout, RunState
from hive_mcp.graph.nodes import (
    DelegateNode,
    EventLoopNode,
    FunctionNode,
    Node,
    NodeFactory,
    NodeResult,
    NodeStatus,
)
from hive_mcp.llm._resolve import ProviderResolver
from hive_mcp.store import ExecutionRecord, ExecutionStatus, Journal
from hive_mcp.toolbox import AgentGateway, Toolbox

__all__ = ["DEFAULT_NODE_TYPES", "EdgeDecider", "GraphExecutor", "store_failure"]

log = logging.getLogger(__name__)

DEFAULT_NODE_TYPES: dict[NodeType, NodeFactory] = {
    NodeType.FUNCTION: FunctionNode,
    NodeType.EVENT_LOOP: EventLoopNode,
    NodeType.AGENT: DelegateNode,
}
MAX_BACKOFF_SECONDS = 60.0


class EdgeDecider(Protocol):
    """Decides ``llm_decide`` edges; the LLM layer provides one."""

    async def __call__(self, edge: EdgeSpec, memory: Mapping[str, Any]) -> bool: ...


def store_failure(exc: BaseException) -> StoreError | None:
    """The ``StoreError`` behind ``exc`` (itself, or inside a task group's group), if any."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = store_failure(inner)
            if found is not None:
                return found
    return None


class _Stop(Exception):
    """A line of the walk cannot go on; carries the message for the execution."""

    def __init__(self, message: str, node_id: str | None) -> None:
        super().__init__(message)
        self.node_id = node_id


class GraphExecutor:
    """Runs executions of one agent against a journal (store + bus).

    ``run`` starts a new execution; ``resume`` continues a stored one from its
    last checkpoint. Both return the final execution record. Cancelling the
    calling scope cancels the execution and records it as cancelled.
    """

    def __init__(
        self,
        agent: Agent,
        journal: Journal,
        *,
        node_types: Mapping[NodeType, NodeFactory] | None = None,
        edge_decider: EdgeDecider | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        broker: InputBroker | None = None,
        providers: ProviderResolver | None = None,
        data_dir: Path | None = None,
        on_cancel: Literal["cancel", "suspend"] = "cancel",
        toolbox: Toolbox | None = None,
        agents: AgentGateway | None = None,
    ) -> None:
        self.agent = agent
        self.spec = agent.spec
        self.topology = agent.topology
        self.journal = journal
        self._node_types = dict(DEFAULT_NODE_TYPES if node_types is None else node_types)
        self._edge_decider = edge_decider
        self._sleep = sleep
        self._impls: dict[str, Node] = {}
        self._expressions = {
            id(e): compile_expression(e.expression)
            for e in self.spec.edges
            if e.condition is EdgeCondition.CONDITIONAL and e.expression
        }
        self._terminal = frozenset(self.spec.terminal_nodes)
        self.broker = broker if broker is not None else InputBroker()
        self._on_cancel = on_cancel
        self._cancel_requested: set[str] = set()
        self._services = NodeServices(
            agent,
            journal,
            self.broker,
            providers if providers is not None else default_resolver(agent),
            data_dir if data_dir is not None else Path(tempfile.gettempdir()) / "hive-mcp-data",
            toolbox,
            agents,
            cancel_requested=self._cancel_requested.__contains__,
        )

    # -- public ----------------------------------------------------------

    async def run(
        self,
        input: Mapping[str, Any],
        *,
        execution_id: str | None = None,
        entry_point: str | None = None,
    ) -> ExecutionRecord:
        """Start a new execution with ``input`` and run it to its end."""
        record = self.create(input, execution_id=execution_id, entry_point=entry_point)
        return await self._drive(record, None)

    def create(
        self,
        input: Mapping[str, Any],
        *,
        execution_id: str | None = None,
        entry_point: str | None = None,
        idempotency_key: str | None = None,
        parent_id: str | None = None,
    ) -> ExecutionRecord:
        """Record a new pending execution (queued for the next commit) and return it."""
        self.agent.check_input(input, entry_point)
        self._entry_node(entry_point)  # fail early on an unknown entry point
        record = ExecutionRecord(
            id=execution_id or f"ex_{uuid.uuid4().hex[:16]}",
            agent=self.spec.name,
            input=dict(input),
            entry_point=entry_point,
            idempotency_key=idempotency_key,
            parent_id=parent_id,
        )
        self.journal.begin_execution(record)
        return record

    async def resume(self, execution_id: str) -> ExecutionRecord:
        """Continue a stored execution from its last checkpoint (or its start)."""
        record = await self.journal.store.get_execution(execution_id)
        if record is None:
            raise UnknownExecutionError(f"no execution {execution_id!r} in the store")
        if record.agent != self.spec.name:
            raise UsageError(
                f"execution {execution_id!r} belongs to agent {record.agent!r}, "
                f"not {self.spec.name!r}"
            )
        if record.status.is_final:
            raise UsageError(
                f"execution {execution_id!r} is already {record.status.value}; "
                "only unfinished executions can be resumed"
            )
        if await self.journal.open_execution(execution_id) == 0:
            # Queued and never started (the process died first): start it now, so
            # its log begins with execution_started like every other.
            return await self._drive(record, None)
        checkpoint = await self.journal.store.last_checkpoint(execution_id)
        state = RunState.from_dict(checkpoint.state) if checkpoint else None
        self.journal.emit(
            execution_id,
            EventType.EXECUTION_RESUMED,
            data={"from_checkpoint": checkpoint.event_seq if checkpoint else None},
        )
        return await self._drive(record, state, fresh=False)

    async def start_execution(self, record: ExecutionRecord) -> ExecutionRecord:
        """Run a record made by ``create`` to its end."""
        return await self._drive(record, None)

    def request_cancel(self, execution_id: str) -> None:
        """Mark that the next cancellation of this execution is meant: record it cancelled.

        With ``on_cancel="suspend"`` other cancellations (a server shutting
        down) leave the execution as it is, to be resumed on the next start.
        """
        self._cancel_requested.add(execution_id)

    def send_input(self, execution_id: str, text: str, node_id: str | None = None) -> str:
        """Answer a node of a running execution that waits for input; return its id."""
        return self.broker.deliver(execution_id, text, node_id)

    # -- the run ---------------------------------------------------------

    def _entry_node(self, entry_point: str | None) -> str:
        if entry_point is None:
            return self.spec.entry_node
        return self.spec.entry_point(entry_point).entry_node or self.spec.entry_node

    async def _drive(
        self, record: ExecutionRecord, state: RunState | None, *, fresh: bool = True
    ) -> ExecutionRecord:
        eid = record.id
        if fresh:
            self.journal.emit(
                eid,
                EventType.EXECUTION_STARTED,
                data={"agent": self.spec.name, "input": record.input},
            )
        if state is None:
            state = RunState(
                root=Cursor(node=self._entry_node(record.entry_point), writes=dict(record.input))
            )
        record.status = ExecutionStatus.RUNNING
        self._touch(record)
        try:
            await self._walk(record, state, state.root)
        except _Stop as stop:
            return await self._finish(
                record, ExecutionStatus.FAILED, error=str(stop), node_id=stop.node_id
            )
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                try:
                    if self._on_cancel == "suspend" and eid not in self._cancel_requested:
                        # Shutting down, not cancelling: leave it to be resumed.
                        self.journal.emit(
                            eid, EventType.EXECUTION_PAUSED, data={"reason": "shutdown"}
                        )
                        await self.journal.flush(eid)
                    else:
                        await self._finish(record, ExecutionStatus.CANCELLED)
                except StoreError as exc:  # it stays as last stored: resumed on the next start
                    log.warning("execution %s stopped without its last events: %s", eid, exc)
            raise
        except Exception as exc:
            lost = store_failure(exc)
            if lost is not None:
                # Its latest writes were not stored: it did not fail, it stops where
                # the store has it (as after a crash), to be resumed from there.
                raise lost from exc
            log.exception("execution %s failed unexpectedly", eid)
            return await self._finish(
                record, ExecutionStatus.FAILED, error=f"internal error: {exc!r}"
            )
        finally:
            self._cancel_requested.discard(eid)
        view = state.root.view()
        output_keys = {k for t in self._terminal for k in self.spec.node(t).output_keys}
        record.output = {k: view[k] for k in sorted(output_keys) if k in view}
        return await self._finish(record, ExecutionStatus.COMPLETED)

    async def _finish(
        self,
        record: ExecutionRecord,
        status: ExecutionStatus,
        *,
        error: str | None = None,
        node_id: str | None = None,
    ) -> ExecutionRecord:
        record.status = status
        record.error = error
        outcomes: dict[ExecutionStatus, tuple[EventType, dict[str, Any]]] = {
            ExecutionStatus.COMPLETED: (EventType.EXECUTION_COMPLETED, {"output": record.output}),
            ExecutionStatus.FAILED: (EventType.EXECUTION_FAILED, {"error": error}),
            ExecutionStatus.CANCELLED: (EventType.EXECUTION_CANCELLED, {}),
        }
        kind, data = outcomes[status]
        self.journal.emit(record.id, kind, node_id=node_id, data=data)
        self._touch(record)
        await self.journal.flush(record.id)
        return record

    def _touch(self, record: ExecutionRecord) -> None:
        record.updated_at = time.time()
        self.journal.put_execution(record)

    async def _walk(self, record: ExecutionRecord, state: RunState, cursor: Cursor) -> None:
        while True:
            if cursor.fanout is not None:
                await self._run_fanout(record, state, cursor)
                continue
            if cursor.done:
                return
            node_id = cursor.node
            assert node_id is not None
            node = self.spec.node(node_id)
            result = await self._run_node(record, state, cursor, node)
            if node_id in self._terminal and result.ok:
                cursor.node = None
            else:
                edges = await self._choose(record.id, state, cursor, node, result)
                if not edges:
                    if result.ok:
                        raise _Stop(
                            f"node {node_id!r} succeeded but none of its edges fired; add an "
                            "edge whose condition holds (an 'always' edge as a fallback), or "
                            "make it a terminal node",
                            node_id,
                        )
                    raise _Stop(f"node {node_id!r} failed: {result.error}", node_id)
                self._advance(record.id, cursor, edges)
            # The run's last checkpoint commits with the execution's end (one
            # write, not two): nothing with an effect happens in between.
            last = cursor is state.root and cursor.done
            await self.journal.checkpoint(record.id, state.to_dict(), wait=not last)

    def _advance(self, eid: str, cursor: Cursor, edges: list[EdgeSpec]) -> None:
        for edge in edges:
            self.journal.emit(
                eid,
                EventType.EDGE_TRAVERSED,
                node_id=edge.source,
                data={
                    "source": edge.source,
                    "target": edge.target,
                    "condition": edge.condition.value,
                    "feedback": self.topology.is_feedback(edge),
                },
            )
        if len(edges) == 1:
            cursor.node, cursor.mapping = edges[0].target, dict(edges[0].input_mapping)
            return
        join = self.topology.join_of(e.target for e in edges)
        cursor.fanout = Fanout(
            join=join,
            branches={e.target: cursor.branch(e.target, join, e.input_mapping) for e in edges},
        )
        cursor.node, cursor.mapping = None, {}
        self.journal.emit(
            eid,
            EventType.FANOUT_STARTED,
            node_id=edges[0].source,
            data={"branches": [e.target for e in edges], "join": join},
        )

    async def _run_fanout(self, record: ExecutionRecord, state: RunState, cursor: Cursor) -> None:
        assert cursor.fanout is not None
        async with anyio.create_task_group() as tg:
            for branch in cursor.fanout.branches.values():
                if not branch.done:
                    tg.start_soon(self._walk, record, state, branch)
        join = cursor.fanout.join
        try:
            names = cursor.merge_branches()
        except GraphRunError as exc:
            raise _Stop(str(exc), join) from None
        self.journal.emit(
            record.id, EventType.FANIN_COMPLETED, node_id=join, data={"branches": names}
        )

    async def _run_node(
        self, record: ExecutionRecord, state: RunState, cursor: Cursor, node: NodeSpec
    ) -> NodeResult:
        eid = record.id
        if cursor.visit is None:
            if state.steps >= self.spec.max_steps:
                raise _Stop(
                    f"max_steps ({self.spec.max_steps}) reached before node {node.id!r}; raise "
                    "max_steps in the agent file or check the graph for a loop",
                    node.id,
                )
            state.steps += 1
            visit = cursor.visit = state.visits.get(node.id, 0) + 1
            state.visits[node.id] = visit
            state.path.append(node.id)
            if visit > 1 and node.nullable_output_keys:
                cursor.clear(node.nullable_output_keys)
        else:  # resumed: a checkpoint of another branch counted this visit already
            visit = cursor.visit
        record.current_node = node.id
        record.path = list(state.path)
        self._touch(record)

        view = cursor.view()
        inputs: dict[str, Any] = {}
        missing: list[str] = []
        for key in node.input_keys:
            source = cursor.mapping.get(key, key)
            if source in view:
                inputs[key] = view[source]
            else:
                missing.append(key if source == key else f"{key} (from {source})")

        self.journal.emit(eid, EventType.NODE_STARTED, node_id=node.id, data={"visit": visit})
        started = time.perf_counter()
        attempts = 0
        if missing:
            result = NodeResult(
                status=NodeStatus.FAILURE,
                error=f"input keys {missing} are not in memory; have an earlier node output "
                "them, map them on the incoming edge, or pass them in the execution input",
                retryable=False,
            )
        else:
            max_retries = self.spec.max_retries(node)
            while True:
                attempts += 1
                result = await self._attempt(record, node, inputs, view, attempts, visit)
                record.input_tokens += result.input_tokens
                record.output_tokens += result.output_tokens
                if result.ok or not result.retryable or attempts > max_retries:
                    break
                delay = min(
                    self.spec.retry_backoff(node) * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS
                )
                self.journal.emit(
                    eid,
                    EventType.NODE_RETRYING,
                    node_id=node.id,
                    data={"attempt": attempts, "error": result.error, "delay_seconds": delay},
                )
                await self._sleep(delay)
        if result.ok:
            cursor.write(result.outputs)
        cursor.visit, cursor.mapping = None, {}  # the node is done: its checkpoint moves on
        self.journal.emit(
            eid,
            EventType.NODE_COMPLETED,
            node_id=node.id,
            data={
                "status": result.status.value,
                "error": result.error,
                "attempts": attempts,
                "visit": visit,
                "output_keys": sorted(result.outputs) if result.ok else [],
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            },
        )
        return result

    async def _attempt(
        self,
        record: ExecutionRecord,
        node: NodeSpec,
        inputs: dict[str, Any],
        view: Mapping[str, Any],
        attempt: int,
        visit: int,
    ) -> NodeResult:
        try:
            impl = self._impl(node)
        except UsageError as exc:
            return NodeResult(status=NodeStatus.FAILURE, error=str(exc), retryable=False)
        ctx, end = self._services.context(record, node, inputs, view, attempt, visit, self._touch)

        def status(name: str, state: str, data: dict[str, Any]) -> None:
            ctx.emit(EventType.STATUS, {"name": name, "status": state, "data": data})

        try:
            with status_sink(status):
                result = await impl.run(ctx)
        except (NodeError, UsageError) as exc:
            await end(None)
            return NodeResult(status=NodeStatus.FAILURE, error=str(exc), retryable=False)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await end(exc)
            raise
        await end(None)
        return self._check_outputs(node, result) if result.ok else result

    def _impl(self, node: NodeSpec) -> Node:
        impl = self._impls.get(node.id)
        if impl is None:
            factory = self._node_types.get(node.type)
            if factory is None:
                raise UsageError(
                    f"node {node.id!r} has type {node.type.value!r}, which this runtime cannot "
                    f"run yet (available: {sorted(t.value for t in self._node_types)})"
                )
            impl = self._impls[node.id] = factory(node, self.agent)
        return impl

    @staticmethod
    def _check_outputs(node: NodeSpec, result: NodeResult) -> NodeResult:
        extra = sorted(set(result.outputs) - set(node.output_keys))
        missing = sorted(
            set(node.output_keys) - set(node.nullable_output_keys) - set(result.outputs)
        )
        problem = None
        if extra:
            problem = (
                f"wrote {extra}, which are not among its output_keys {node.output_keys}; "
                "declare them or stop writing them"
            )
        elif missing:
            problem = f"did not write required outputs {missing}; write them or mark them nullable"
        else:
            try:
                json.dumps(result.outputs)
            except (TypeError, ValueError) as exc:
                problem = f"wrote an output that is not a JSON value ({exc})"
        if problem is None:
            return result
        return NodeResult(
            status=NodeStatus.FAILURE, error=f"node {node.id!r} {problem}", retryable=False
        )

    async def _choose(
        self, eid: str, state: RunState, cursor: Cursor, node: NodeSpec, result: NodeResult
    ) -> list[EdgeSpec]:
        view = cursor.view()
        chosen: list[EdgeSpec] = []
        for edge in self.topology.choice_order(node.id):
            feedback = self.topology.is_feedback(edge)
            if chosen and (feedback or edge.priority < chosen[0].priority):
                break
            if await self._fires(edge, result, view) and self._has_visits(eid, state, edge):
                if feedback:
                    return [edge]
                chosen.append(edge)
        return chosen

    def _has_visits(self, eid: str, state: RunState, edge: EdgeSpec) -> bool:
        limit = self.spec.max_visits(self.spec.node(edge.target))
        used = state.visits.get(edge.target, 0)
        if used < limit:
            return True
        self.journal.emit(
            eid,
            EventType.NODE_VISIT_LIMIT_REACHED,
            node_id=edge.target,
            data={"source": edge.source, "visits": used, "max_node_visits": limit},
        )
        return False

    async def _fires(self, edge: EdgeSpec, result: NodeResult, view: Mapping[str, Any]) -> bool:
        match edge.condition:
            case EdgeCondition.ALWAYS:
                return True
            case EdgeCondition.ON_SUCCESS:
                return result.ok
            case EdgeCondition.ON_FAILURE:
                return not result.ok
            case EdgeCondition.CONDITIONAL:
                if not result.ok:
                    return False
                try:
                    return self._expressions[id(edge)].is_true(view)
                except Exception as exc:
                    raise _Stop(f"{edge.label}: {exc}", edge.source) from exc
            case EdgeCondition.LLM_DECIDE:
                if not result.ok:
                    return False
                if self._edge_decider is None:
                    raise _Stop(
                        f"{edge.label} uses 'llm_decide', which needs an LLM provider; "
                        "configure a model or use a conditional expression",
                        edge.source,
                    )
                return await self._edge_decider(edge, view)
        return False  # pragma: no cover - every condition is matched above
