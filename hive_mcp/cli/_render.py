"""Readable, one-line-per-event progress for people watching a run."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from hive_mcp.events import Event, EventType

__all__ = ["ProgressPrinter", "describe"]

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
}


def describe(event: Event) -> str | None:
    """One readable line for ``event``, or ``None`` for events not worth a line."""
    if event.type in _QUIET:
        return None
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
