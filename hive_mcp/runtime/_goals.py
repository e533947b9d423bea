"""Goal progress: how an agent does against its goal, across its executions.

``evaluate_goal`` reads the newest executions of one agent and their
``constraint_violation`` events from the store, and answers four questions:
how many executions ended how; is each success criterion met (its metric,
see ``hive_mcp.graph._metrics``, against its target); which constraints were
broken, how often and where last; and what to do about it (the
recommendation). Like reports, it is derived from stored data only, so it
works from any process beside a running server. The choices are explained in
docs/goals.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel

from hive_mcp.errors import UsageError
from hive_mcp.events import EventType
from hive_mcp.graph import GraphSpec, MeasuredCriterion, SuccessCriterion, parse_criterion
from hive_mcp.store import ExecutionRecord, ExecutionStatus, Store

__all__ = [
    "DEFAULT_GOAL_WINDOW",
    "HIGH_FAILURE_RATE",
    "ConstraintReport",
    "CriterionProgress",
    "ExecutionCounts",
    "GoalProgress",
    "evaluate_goal",
]

DEFAULT_GOAL_WINDOW = 100  # newest executions counted
MAX_WINDOW = 10_000
HIGH_FAILURE_RATE = 0.2  # above this share of failed executions, the agent needs attention

Recommendation = Literal["no_data", "stop_and_review", "needs_attention", "on_track"]


class ExecutionCounts(BaseModel):
    """Executions in the window by how they stand; ``finished`` = completed + failed + cancelled."""

    total: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    active: int = 0
    finished: int = 0


class CriterionProgress(BaseModel):
    """One success criterion: its measured value against its target."""

    id: str
    description: str
    metric: str | None
    target: str | None
    value: float | None
    status: Literal["met", "not_met", "not_measured"]
    progress: float | None
    weight: float
    note: str | None = None


class ConstraintReport(BaseModel):
    """Violations of one constraint; ``kind`` is ``unknown`` for ids the goal does not declare."""

    id: str
    description: str | None
    kind: Literal["hard", "soft", "unknown"]
    violations: int = 0
    executions: int = 0
    last_execution_id: str | None = None
    last_detail: str | None = None


class GoalProgress(BaseModel):
    """How an agent does against its goal over its newest ``window`` executions."""

    agent: str
    goal: str
    window: int
    executions: ExecutionCounts
    success_rate: float | None
    overall_progress: float | None
    criteria: list[CriterionProgress]
    constraints: list[ConstraintReport]
    recommendation: Recommendation
    reason: str
    notes: list[str]


async def evaluate_goal(
    store: Store, agent_spec: GraphSpec, *, limit: int = DEFAULT_GOAL_WINDOW
) -> GoalProgress:
    """Evaluate the agent's goal over its newest ``limit`` executions in ``store``.

    Counts executions by status, measures each success criterion, collects
    ``constraint_violation`` events per constraint, and recommends
    ``no_data``, ``stop_and_review``, ``needs_attention`` or ``on_track``.
    """
    if not 1 <= limit <= MAX_WINDOW:
        raise UsageError(f"limit must be between 1 and {MAX_WINDOW}, not {limit}")
    records = await store.list_executions(agent=agent_spec.name, limit=limit)
    counts = _count(records)
    success_rate = _ratio(counts.completed, counts.finished)
    criteria = [_criterion(c, records, success_rate) for c in agent_spec.goal.success_criteria]
    constraints = await _constraints(store, agent_spec, records)
    notes = [c.note for c in criteria if c.note]
    overall = _overall(criteria, success_rate, counts)
    if not criteria and counts.finished:
        notes.append("the goal has no success criteria: overall progress is the success rate")
    if counts.total == limit:
        notes.append(f"only the newest {limit} executions are counted")
    recommendation, reason = _recommend(counts, criteria, constraints)
    return GoalProgress(
        agent=agent_spec.name,
        goal=agent_spec.goal.description,
        window=limit,
        executions=counts,
        success_rate=_round(success_rate),
        overall_progress=_round(overall),
        criteria=criteria,
        constraints=constraints,
        recommendation=recommendation,
        reason=reason,
        notes=notes,
    )


def _count(records: Sequence[ExecutionRecord]) -> ExecutionCounts:
    by = {s: sum(r.status is s for r in records) for s in ExecutionStatus}
    completed = by[ExecutionStatus.COMPLETED]
    failed = by[ExecutionStatus.FAILED]
    cancelled = by[ExecutionStatus.CANCELLED]
    return ExecutionCounts(
        total=len(records),
        completed=completed,
        failed=failed,
        cancelled=cancelled,
        active=len(records) - completed - failed - cancelled,
        finished=completed + failed + cancelled,
    )


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _measure(measured: MeasuredCriterion, records: Sequence[ExecutionRecord]) -> float | None:
    finished = [r for r in records if r.status.is_final]
    completed = [r for r in finished if r.status is ExecutionStatus.COMPLETED]
    match measured.metric.name:
        case "success_rate":
            return _ratio(len(completed), len(finished))
        case "failure_rate":
            return _ratio(sum(r.status is ExecutionStatus.FAILED for r in finished), len(finished))
        case "completed_count":
            return float(len(completed))
        case "output_present":
            present = sum(bool((r.output or {}).get(measured.key or "")) for r in completed)
            return _ratio(present, len(completed))
        case "avg_tokens":
            return _ratio(sum(r.input_tokens + r.output_tokens for r in finished), len(finished))
    raise AssertionError(f"metric {measured.metric.name!r} has no measurement")


def _criterion(
    criterion: SuccessCriterion, records: Sequence[ExecutionRecord], success_rate: float | None
) -> CriterionProgress:
    try:
        measured = parse_criterion(criterion)
    except ValueError as exc:  # a spec built in Python that skipped check_agent
        raise UsageError(f"goal: success criterion {criterion.id!r}: {exc}") from None
    base: dict[str, Any] = {
        "id": criterion.id,
        "description": criterion.description,
        "metric": criterion.metric,
        "weight": criterion.weight,
    }
    if measured is None:
        return CriterionProgress(
            **base,
            target=None,
            value=None,
            status="not_measured",
            progress=_round(success_rate),
            note=f"criterion {criterion.id!r} has no metric: its progress is the success rate",
        )
    value = _measure(measured, records)
    target = measured.target
    if value is None:
        return CriterionProgress(
            **base,
            target=str(target),
            value=None,
            status="not_measured",
            progress=None,
            note=f"criterion {criterion.id!r}: no executions to measure {criterion.metric} on yet",
        )
    return CriterionProgress(
        **base,
        target=str(target),
        value=_round(value),
        status="met" if target.met(value) else "not_met",
        progress=_round(target.progress(value)),
    )


def _overall(
    criteria: Sequence[CriterionProgress], success_rate: float | None, counts: ExecutionCounts
) -> float | None:
    if not counts.finished:
        return None
    if not criteria:
        return success_rate
    # A criterion that cannot be measured yet counts as no progress.
    weights = [c.weight for c in criteria]
    total = sum(weights)
    if total == 0:
        weights, total = [1.0] * len(criteria), float(len(criteria))
    return sum(w * (c.progress or 0.0) for w, c in zip(weights, criteria, strict=True)) / total


async def _constraints(
    store: Store, spec: GraphSpec, records: Sequence[ExecutionRecord]
) -> list[ConstraintReport]:
    reports = {
        c.id: ConstraintReport(id=c.id, description=c.description, kind=c.kind)
        for c in spec.goal.constraints
    }
    for record in reversed(records):  # oldest first, so "last" ends on the newest
        seen: set[str] = set()
        after = 0
        while page := await store.read_events(
            record.id, after=after, types=[EventType.CONSTRAINT_VIOLATION]
        ):
            after = page[-1].seq
            for event in page:
                cid = str(event.data.get("constraint") or "(none)")
                if cid not in reports:
                    reports[cid] = ConstraintReport(id=cid, description=None, kind="unknown")
                report = reports[cid]
                report.violations += 1
                report.executions += cid not in seen
                seen.add(cid)
                report.last_execution_id = record.id
                report.last_detail = _detail(event.data.get("detail"))
    return list(reports.values())


def _detail(detail: Any) -> str | None:
    if detail is None or isinstance(detail, str):
        return detail
    return json.dumps(detail, default=str, ensure_ascii=False)


def _times(n: int) -> str:
    return f"{n} time{'s' if n != 1 else ''}"


def _recommend(
    counts: ExecutionCounts,
    criteria: Sequence[CriterionProgress],
    constraints: Sequence[ConstraintReport],
) -> tuple[Recommendation, str]:
    broken = [c for c in constraints if c.violations]
    hard = [c for c in broken if c.kind == "hard"]
    if hard:
        return "stop_and_review", "; ".join(
            f"hard constraint {c.id!r} was violated {_times(c.violations)}, "
            f"last in {c.last_execution_id}" + (f": {c.last_detail}" if c.last_detail else "")
            for c in hard
        )
    if not counts.finished:
        active = f" ({counts.active} still active)" if counts.active else ""
        return "no_data", f"no finished executions yet{active}"
    concerns = [
        f"criterion {c.id!r}: {c.metric} is {c.value:g}, target {c.target}"
        for c in criteria
        if c.status == "not_met" and c.value is not None
    ]
    if counts.failed / counts.finished > HIGH_FAILURE_RATE:
        concerns.append(f"{counts.failed} of {counts.finished} finished executions failed")
    concerns += [
        f"soft constraint {c.id!r} was violated {_times(c.violations)}"
        if c.kind == "soft"
        else f"undeclared constraint {c.id!r} was reported {_times(c.violations)}; "
        "declare it in the goal or fix the node that reports it"
        for c in broken
    ]
    if concerns:
        return "needs_attention", "; ".join(concerns)
    met = sum(c.status == "met" for c in criteria)  # here every measured criterion is met
    reason = f"{counts.completed} of {counts.finished} finished executions completed"
    if met:
        reason += f"; all {met} measured criteria met"
    return "on_track", reason + "; no constraint violations"
