"""Events: the typed event model and the in-memory bus."""

from hive_mcp.events._bus import EventBus, Subscription
from hive_mcp.events._model import Event, EventType
from hive_mcp.events._status import StatusSink, emit_status, status_sink

__all__ = [
    "Event",
    "EventBus",
    "EventType",
    "StatusSink",
    "Subscription",
    "emit_status",
    "status_sink",
]
