"""Readable, one-line-per-event progress for people watching a run."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from hive_mcp.events import Event, EventType

if TYPE_CHECKING:
    from hive_mcp.runtime import ExecutionReport, GoalProgress

__all__ = ["ProgressPrinter", "clip", "describe", "render_goal", "render_report"]


def clip(value: object, width: int) -> str:
    """``value`` as one line of at most ``width`` characters, with "…" when cut."""
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


_QUIET = frozenset(
    {
        EventType.CHECKPOINT_WRITTEN,
        EventType.LLM_TEXT_DELTA,
        EventType.LLM_REASONING_DELTA,
        EventType.CLIENT_OUTPUT_DELTA,
    }
)


def _node_completed(e: Event) -> str:
    d = e.data
    took = f" in {d.get('duration_ms', 0):.1f} ms"
    tries = f" after {d['attempts']} attempts" if d.get("attempts", 1) > 1 else ""
    if d.get("status") == "success":
        keys = ", ".join(d.get("output_keys", [])) or "no outputs"
        return f"  ✓ {e.node_id} → {keys}{took}{tries}"
    return f"  ✗ {e.node_id} {d.get('status')}{tries}: {d.get('error')}"


_FORMATS: dict[EventType, Callable[[Event], str]] = {
    EventType.EXECUTION_STARTED: lambda e: (
        f"▶ {e.data.get('agent')} started (execution {e.execution_id})"
    ),
    EventType.EXECUTION_RESUMED: lambda e: (
        f"▶ execution {e.execution_id} resumed from checkpoint "
        f"{e.data.get('from_checkpoint') or '(none: from the start)'}"
    ),
    EventType.NODE_STARTED: lambda e: f"  ● {e.node_id} (visit {e.data.get('visit')})",
    EventType.NODE_COMPLETED: _node_completed,
    EventType.NODE_RETRYING: lambda e: (
        f"  ↻ {e.node_id} attempt {e.data.get('attempt')} failed, retrying in "
        f"{e.data.get('delay_seconds')} s: {e.data.get('error')}"
    ),
    EventType.EDGE_TRAVERSED: lambda e: (
        f"  {'↺' if e.data.get('feedback') else '→'} {e.data.get('source')} → "
        f"{e.data.get('target')} ({e.data.get('condition')})"
    ),
    EventType.FANOUT_STARTED: lambda e: (
        f"  ⇉ parallel: {', '.join(e.data.get('branches', []))} (join at {e.data.get('join')})"
    ),
    EventType.FANIN_COMPLETED: lambda e: f"  ⇇ joined at {e.node_id}",
    EventType.NODE_VISIT_LIMIT_REACHED: lambda e: (
        f"  ⊘ {e.node_id} reached max_node_visits={e.data.get('max_node_visits')}; edge skipped"
    ),
    EventType.EXECUTION_COMPLETED: lambda e: "■ completed",
    EventType.EXECUTION_FAILED: lambda e: f"■ failed: {e.data.get('error')}",
    EventType.EXECUTION_CANCELLED: lambda e: "■ cancelled",
    EventType.STATUS: lambda e: f"  … {e.data.get('name')}: {e.data.get('status')}",
    EventType.NODE_LOOP_STARTED: lambda e: (
        f"  ⟳ {e.node_id}: LLM loop with {e.data.get('provider')}"
        + (" (resumed)" if e.data.get("resumed") else "")
    ),
    EventType.NODE_LOOP_ITERATION: lambda e: f"    turn {e.data.get('iteration')}",
    EventType.TOOL_CALL_STARTED: lambda e: (
        f"    ⚙ {e.data.get('name')}({clip(e.data.get('arguments'), 80)})"
    ),
    EventType.TOOL_CALL_COMPLETED: lambda e: (
        f"    ✗ {e.data.get('name')}: {clip(e.data.get('result'), 120)}"
        if e.data.get("is_error")
        else f"    ↳ {clip(e.data.get('result'), 100)}"
    ),
    EventType.JUDGE_VERDICT: lambda e: (
        f"    verdict {e.data.get('verdict')}"
        + (f": {e.data.get('feedback')}" if e.data.get("feedback") else "")
    ),
    EventType.CLIENT_INPUT_REQUESTED: lambda e: f"  ? {e.node_id} asks: {e.data.get('prompt')}",
    EventType.CLIENT_INPUT_RECEIVED: lambda e: f"  ✉ answer: {e.data.get('text')}",
    EventType.NODE_STALLED: lambda e: f"  ⊘ {e.node_id} stalled: {e.data.get('reason')}",
    EventType.ITERATION_EXTENSION_REQUESTED: lambda e: (
        f"  ? {e.node_id} used {e.data.get('max_iterations')} iterations; more?"
    ),
    EventType.EXECUTION_PAUSED: lambda e: f"■ paused ({e.data.get('reason')})",
    EventType.NODE_LOOP_COMPLETED: lambda e: (
        f"  ⟳ {e.node_id}: loop {e.data.get('status')} after {e.data.get('iterations')} turns"
    ),
}


def _delegated(event: Event) -> str | None:
    # The delegate's own event, indented under the agent node that runs it.
    inner = event.data.get("event") or {}
    try:
        kind = EventType(str(inner.get("type")))
    except ValueError:
        return None
    if kind in (EventType.CLIENT_INPUT_REQUESTED, EventType.CLIENT_INPUT_RECEIVED):
        return None  # the agent node asks and answers in its own name
    line = describe(
        Event(
            execution_id=str(event.data.get("execution_id")),
            seq=int(inner.get("seq") or 0),
            type=kind,
            node_id=inner.get("node_id"),
            data=inner.get("data") or {},
        )
    )
    return f"    ↳ {event.data.get('agent')}: {line.strip()}" if line else None


def describe(event: Event) -> str | None:
    """One readable line for ``event``, or ``None`` for events not worth a line."""
    if event.type in _QUIET:
        return None
    if event.type is EventType.DELEGATE_EVENT:
        return _delegated(event)
    fmt = _FORMATS.get(event.type)
    if fmt is not None:
        return fmt(event)
    node = f" [{event.node_id}]" if event.node_id else ""
    return f"  · {event.type.value}{node}"


class ProgressPrinter:
    """Writes ``describe`` lines to a stream (stderr by default)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, event: Event) -> None:
        line = describe(event)
        if line is not None:
            print(line, file=self._stream, flush=True)


def render_report(report: ExecutionReport, *, node: str | None = None, steps: bool = False) -> str:
    """The report as text: summary, a line per node, and optionally every step."""
    s = report.summary
    lines = [
        f"execution {s.execution_id} ({s.agent}): {s.status}" + (f": {s.error}" if s.error else ""),
        f"  path: {' → '.join(s.path) or '(none)'}",
        f"  {s.nodes_run} node runs, {s.tool_calls} tool calls, "
        f"{s.input_tokens} tokens in / {s.output_tokens} out, {s.duration_s:.2f} s",
        f"  needs attention: {', '.join(s.needs_attention) or 'nothing'}",
        "",
    ]
    for d in report.nodes:
        if node is not None and d.node_id != node:
            continue
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(d.verdicts.items())) or "-"
        flag = f"  ⚠ {'; '.join(d.attention)}" if d.needs_attention else ""
        lines.append(
            f"  {d.node_id}: {d.status or 'running'}, {d.visits} visits, {d.attempts} attempts, "
            f"{d.iterations} turns (verdicts: {verdicts}), {d.tool_calls} tool calls "
            f"({d.tool_errors} failed){flag}"
        )
    if steps or node is not None:
        lines.append("")
        for step in report.steps:
            if node is not None and step.node_id != node:
                continue
            lines.append(
                f"  {step.node_id} turn {step.iteration}: {step.verdict}"
                f" ({step.input_tokens}/{step.output_tokens} tokens, {step.latency_ms:.1f} ms)"
                + (f" feedback: {step.feedback}" if step.feedback else "")
            )
            for call in step.tool_calls:
                mark = "✗" if call.get("is_error") else "⚙"
                lines.append(
                    f"      {mark} {call.get('name')}({clip(call.get('arguments'), 80)})"
                    f" → {clip(call.get('result', ''), 80)}"
                )
    return "\n".join(lines)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def render_goal(progress: GoalProgress) -> str:
    """Goal progress as text: executions, a line per criterion and constraint, the verdict."""
    c = progress.executions
    lines = [
        f"goal of {progress.agent}: {progress.goal or '(no description)'}",
        f"  executions: {c.total} (completed {c.completed}, failed {c.failed}, "
        f"cancelled {c.cancelled}, active {c.active})",
        f"  success rate: {_percent(progress.success_rate)}, "
        f"overall progress: {_percent(progress.overall_progress)}",
        "",
        "criteria:" if progress.criteria else "criteria: none",
    ]
    ids = [k.id for k in progress.criteria] + [v.id for v in progress.constraints]
    width = max(map(len, ids), default=0)
    for k in progress.criteria:
        measured = (
            f"{k.metric} = {'-' if k.value is None else f'{k.value:g}'} (target {k.target})"
            if k.metric
            else "no metric (follows the success rate)"
        )
        lines.append(
            f"  {k.status:<12} {k.id:<{width}}  {measured}, progress {_percent(k.progress)}"
        )
    lines.append("constraints:" if progress.constraints else "constraints: none")
    for v in progress.constraints:
        seen = (
            f"{_count(v.violations, 'violation')} in {_count(v.executions, 'execution')}, last in "
            f"{v.last_execution_id}" + (f": {v.last_detail}" if v.last_detail else "")
            if v.violations
            else "no violations"
        )
        lines.append(f"  {v.kind:<12} {v.id:<{width}}  {seen}")
    lines += ["", f"recommendation: {progress.recommendation} ({progress.reason})"]
    lines += [f"  note: {n}" for n in progress.notes]
    return "\n".join(lines)
