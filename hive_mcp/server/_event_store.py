"""What a legacy Streamable HTTP client missed, kept for its reconnect (``Last-Event-ID``).

Clients on 2025-11-25 and older get answers and notifications as server-sent
events; when the connection drops they reconnect with the id of the last
event they saw, and the SDK asks its event store for what followed. This
store keeps the events of this process in memory, bounded by count, bytes and
age (the oldest go first). An id it does not know (expired, from before a
restart, made up) replays nothing: the client gets an empty stream, never an
error. Executions themselves are in the durable log; this covers only the
in-flight MCP messages, which ``get_events`` can always recover.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types import JSONRPCMessage

__all__ = ["BoundedEventStore"]


@dataclass(frozen=True, slots=True)
class _Stored:
    stream_id: StreamId
    message: JSONRPCMessage | None  # None: a priming event, nothing to replay
    size: int
    at: float


class BoundedEventStore(EventStore):
    """Recent SSE events per stream, for replay after ``Last-Event-ID``."""

    def __init__(
        self,
        *,
        max_events: int = 10_000,
        max_bytes: int = 16_000_000,
        max_age_seconds: float = 300.0,
    ) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.max_age_seconds = max_age_seconds
        self._events: OrderedDict[EventId, _Stored] = OrderedDict()
        self._bytes = 0
        # Ids from an earlier process must not match this one's: a random prefix.
        self._prefix = secrets.token_hex(4)
        self._numbers = itertools.count(1)

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        size = len(message.model_dump_json(by_alias=True)) if message is not None else 0
        event_id = f"{self._prefix}-{next(self._numbers)}"
        self._events[event_id] = _Stored(stream_id, message, size, time.monotonic())
        self._bytes += size
        self._trim()
        return event_id

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        self._trim()
        last = self._events.get(last_event_id)
        if last is None:
            return None
        after = False
        for event_id, stored in list(self._events.items()):
            if event_id == last_event_id:
                after = True
            elif after and stored.stream_id == last.stream_id and stored.message is not None:
                await send_callback(EventMessage(stored.message, event_id))
        return last.stream_id

    def _trim(self) -> None:
        oldest = time.monotonic() - self.max_age_seconds
        while self._events:
            stored = next(iter(self._events.values()))
            full = len(self._events) > self.max_events or self._bytes > self.max_bytes
            if not full and stored.at >= oldest:
                return
            self._events.popitem(last=False)
            self._bytes -= stored.size
