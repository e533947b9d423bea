"""In-memory publish/subscribe for events.

Publishing never waits for a subscriber: each subscription owns a bounded
buffer, and a subscriber that falls behind loses the overflow (counted in
``Subscription.dropped``) instead of slowing the publisher or its peers.
Readers that must see every event read the durable log by cursor instead
(``Journal.read`` / ``Journal.wait_events``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType

import anyio

from hive_mcp.events._model import Event, EventType

__all__ = ["EventBus", "Subscription"]

DEFAULT_BUFFER = 10_000


class Subscription:
    """A filtered, bounded stream of events; iterate it with ``async for``."""

    __slots__ = (
        "_buffer",
        "_bus",
        "_closed",
        "_max_buffered",
        "_wakeup",
        "dropped",
        "execution_id",
        "node_id",
        "types",
    )

    def __init__(
        self,
        bus: EventBus,
        types: frozenset[EventType] | None,
        node_id: str | None,
        execution_id: str | None,
        max_buffered: int,
    ) -> None:
        self._bus = bus
        self.types = types
        self.node_id = node_id
        self.execution_id = execution_id
        self._max_buffered = max_buffered
        self._buffer: deque[Event] = deque()
        self._wakeup: anyio.Event | None = None
        self._closed = False
        self.dropped = 0

    def _offer(self, event: Event) -> None:
        # Called by the publisher: must never block or raise.
        if len(self._buffer) >= self._max_buffered:
            self.dropped += 1
            return
        self._buffer.append(event)
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            wakeup.set()

    async def receive(self) -> Event:
        """Return the next event, waiting for one; raise ``anyio.EndOfStream`` once closed."""
        while not self._buffer:
            if self._closed:
                raise anyio.EndOfStream
            self._wakeup = anyio.Event()
            await self._wakeup.wait()
        return self._buffer.popleft()

    def close(self) -> None:
        """Stop receiving; a pending ``receive`` ends with ``EndOfStream``."""
        if self._closed:
            return
        self._closed = True
        self._bus._remove(self)
        if self._wakeup is not None:
            self._wakeup.set()
            self._wakeup = None

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EventBus:
    """Delivers published events to the subscriptions whose filters match.

    Subscriptions are indexed by event type so a publish only looks at the
    subscribers that can care about it.
    """

    def __init__(self) -> None:
        self._by_type: dict[EventType, list[Subscription]] = {}
        self._any_type: list[Subscription] = []

    def subscribe(
        self,
        types: Iterable[EventType] | None = None,
        *,
        node_id: str | None = None,
        execution_id: str | None = None,
        max_buffered: int = DEFAULT_BUFFER,
    ) -> Subscription:
        """Subscribe to events matching every given filter (``None`` matches all).

        Use as ``with bus.subscribe(...) as sub: async for event in sub: ...``.
        """
        type_set = frozenset(types) if types is not None else None
        sub = Subscription(self, type_set, node_id, execution_id, max_buffered)
        if type_set is None:
            self._any_type = [*self._any_type, sub]
        else:
            for event_type in type_set:
                self._by_type[event_type] = [*self._by_type.get(event_type, ()), sub]
        return sub

    def _remove(self, sub: Subscription) -> None:
        # Lists are replaced, never mutated, so a publish in progress is unaffected.
        if sub.types is None:
            self._any_type = [s for s in self._any_type if s is not sub]
            return
        for event_type in sub.types:
            remaining = [s for s in self._by_type.get(event_type, ()) if s is not sub]
            if remaining:
                self._by_type[event_type] = remaining
            else:
                self._by_type.pop(event_type, None)

    def publish(self, event: Event) -> None:
        """Hand ``event`` to every matching subscription without waiting."""
        for subs in (self._by_type.get(event.type), self._any_type):
            if not subs:
                continue
            for sub in subs:
                if sub.execution_id is not None and sub.execution_id != event.execution_id:
                    continue
                if sub.node_id is not None and sub.node_id != event.node_id:
                    continue
                sub._offer(event)

    async def wait_for(
        self,
        types: Iterable[EventType] | None = None,
        *,
        node_id: str | None = None,
        execution_id: str | None = None,
        predicate: Callable[[Event], bool] | None = None,
        wait_seconds: float | None = None,
    ) -> Event | None:
        """Wait for the next matching event; ``None`` if ``wait_seconds`` pass first."""
        with (
            self.subscribe(types, node_id=node_id, execution_id=execution_id) as sub,
            anyio.move_on_after(wait_seconds),
        ):
            async for event in sub:
                if predicate is None or predicate(event):
                    return event
        return None

    @property
    def subscriber_count(self) -> int:
        """How many subscriptions are open."""
        unique = {id(s) for subs in self._by_type.values() for s in subs}
        return len(unique) + len(self._any_type)
