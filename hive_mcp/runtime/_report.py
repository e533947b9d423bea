"""Observability at the three levels of seed 003, computed from the event log.

1. ``RunSummary``: the execution as a whole (status, path, tokens, attention).
2. ``NodeDetail``: per node: visits, attempts, verdict counts, retries, tool
   errors, tokens, and ``needs_attention`` with the reasons.
3. ``StepLog``: per loop iteration: tool calls with inputs and results,
   tokens in and out, latency, the verdict and its feedback.

Everything is derived from stored events, so a report works for any
execution in the store, finished or not, from any process.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from hive_mcp.errors import UnknownExecutionError
from hive_mcp.events import Event, EventType
from hive_mcp.store import Store

__all__ = ["ExecutionReport", "NodeDetail", "RunSummary", "StepLog", "build_report"]

RETRY_ATTENTION = 3  # this many RETRY verdicts or node retries flag a node
SLOW_STEP_MS = 30_000.0


@dataclass(kw_only=True)
class StepLog:
    node_id: str
    iteration: int
    verdict: str
    feedback: str
    tool_calls: list[dict[str, Any]]
    input_tokens: int
    output_tokens: int
    latency_ms: float


@dataclass(kw_only=True)
class NodeDetail:
    node_id: str
    status: str | None = None
    visits: int = 0
    attempts: int = 0
    iterations: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    duration_ms: float = 0.0
    error: str | None = None
    needs_attention: bool = False
    attention: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class RunSummary:
    execution_id: str
    agent: str
    status: str
    path: list[str]
    error: str | None
    duration_s: float
    nodes_run: int
    input_tokens: int
    output_tokens: int
    tool_calls: int
    needs_attention: list[str]


@dataclass(kw_only=True)
class ExecutionReport:
    summary: RunSummary
    nodes: list[NodeDetail]
    steps: list[StepLog]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _node_details(events: list[Event]) -> dict[str, NodeDetail]:
    nodes: dict[str, NodeDetail] = {}
    visits: dict[str, set[int]] = {}
    for e in events:
        if e.node_id is None:
            continue
        d = nodes.setdefault(e.node_id, NodeDetail(node_id=e.node_id))
        match e.type:
            case EventType.NODE_STARTED:
                # A node restarted after a crash is the same visit, not a new one.
                visits.setdefault(e.node_id, set()).add(int(e.data.get("visit", 0)))
                d.visits = len(visits[e.node_id])
            case EventType.NODE_COMPLETED:
                d.status = e.data.get("status")
                d.attempts += int(e.data.get("attempts", 1))
                d.duration_ms += float(e.data.get("duration_ms", 0.0))
                d.error = e.data.get("error")
            case EventType.NODE_RETRYING:
                d.retries += 1
            case EventType.JUDGE_VERDICT:
                d.iterations += 1
                verdict = str(e.data.get("verdict"))
                d.verdicts[verdict] = d.verdicts.get(verdict, 0) + 1
                d.input_tokens += int(e.data.get("input_tokens", 0))
                d.output_tokens += int(e.data.get("output_tokens", 0))
            case EventType.TOOL_CALL_COMPLETED:
                d.tool_calls += 1
                d.tool_errors += bool(e.data.get("is_error"))
    return nodes


def _attention(d: NodeDetail, steps: list[StepLog]) -> list[str]:
    reasons = []
    if d.status not in (None, "success"):
        reasons.append(f"ended {d.status}")
    retries = d.verdicts.get("RETRY", 0) + d.retries
    if retries >= RETRY_ATTENTION:
        reasons.append(f"{retries} retries")
    if d.tool_calls and d.tool_errors * 2 > d.tool_calls:
        reasons.append(f"{d.tool_errors} of {d.tool_calls} tool calls failed")
    slow = [s for s in steps if s.node_id == d.node_id and s.latency_ms > SLOW_STEP_MS]
    if slow:
        reasons.append(f"{len(slow)} steps slower than {SLOW_STEP_MS / 1000:.0f} s")
    return reasons


async def build_report(store: Store, execution_id: str) -> ExecutionReport:
    """All three levels for one execution."""
    record = await store.get_execution(execution_id)
    if record is None:
        raise UnknownExecutionError(f"no execution {execution_id!r} in the store")
    events: list[Event] = []
    while True:
        page = await store.read_events(execution_id, after=events[-1].seq if events else 0)
        if not page:
            break
        events += page
    steps = [
        StepLog(
            node_id=e.node_id or "",
            iteration=int(e.data.get("iteration", 0)),
            verdict=str(e.data.get("verdict")),
            feedback=str(e.data.get("feedback", "")),
            tool_calls=list(e.data.get("tool_calls", [])),
            input_tokens=int(e.data.get("input_tokens", 0)),
            output_tokens=int(e.data.get("output_tokens", 0)),
            latency_ms=float(e.data.get("latency_ms", 0.0)),
        )
        for e in events
        if e.type is EventType.JUDGE_VERDICT
    ]
    nodes = _node_details(events)
    for d in nodes.values():
        d.attention = _attention(d, steps)
        d.needs_attention = bool(d.attention)
    counts = Counter(e.type for e in events)
    summary = RunSummary(
        execution_id=record.id,
        agent=record.agent,
        status=record.status.value,
        path=record.path,
        error=record.error,
        duration_s=round((events[-1].timestamp - events[0].timestamp) if events else 0.0, 3),
        nodes_run=counts[EventType.NODE_STARTED],
        input_tokens=sum(d.input_tokens for d in nodes.values()),
        output_tokens=sum(d.output_tokens for d in nodes.values()),
        tool_calls=counts[EventType.TOOL_CALL_COMPLETED],
        needs_attention=[d.node_id for d in nodes.values() if d.needs_attention],
    )
    return ExecutionReport(summary=summary, nodes=list(nodes.values()), steps=steps)
