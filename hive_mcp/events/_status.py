"""Status events from anywhere inside a run, without passing an emitter around.

The executor binds a sink for the node it is running (a context variable, so
parallel branches and worker threads each see their own); ``emit_status``
sends ``status`` events through it, in order with the node's other events.
Outside a run it does nothing and returns ``False``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["StatusSink", "emit_status", "status_sink"]

StatusSink = Callable[[str, str, dict[str, Any]], None]

_sink: ContextVar[StatusSink | None] = ContextVar("hive_mcp_status_sink", default=None)


def emit_status(name: str, status: str, data: dict[str, Any] | None = None) -> bool:
    """Report progress of a long operation, e.g. ``emit_status("indexing", "started")``.

    Returns whether a run received it.
    """
    sink = _sink.get()
    if sink is None:
        return False
    sink(name, status, dict(data or {}))
    return True


@contextmanager
def status_sink(sink: StatusSink) -> Iterator[None]:
    """Route ``emit_status`` calls made inside this block (and tasks it starts) to ``sink``."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)
