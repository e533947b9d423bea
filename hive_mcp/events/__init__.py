"""Events: the typed event model and the in-memory bus."""

from hive_mcp.events._bus import EventBus, Subscription
from hive_mcp.events._model import Event, EventType

__all__ = ["Event", "EventBus", "EventType", "Subscription"]
