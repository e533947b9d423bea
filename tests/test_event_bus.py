"""The in-memory bus: filters, isolation of slow subscribers, wait_for."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from hive_mcp.events import Event, EventBus, EventType

pytestmark = pytest.mark.anyio


def ev(
    seq: int, type: EventType = EventType.CUSTOM, node: str | None = None, execution: str = "e1"
) -> Event:
    return Event(execution_id=execution, seq=seq, type=type, node_id=node)


async def test_subscriptions_receive_only_events_matching_every_filter() -> None:
    bus = EventBus()
    by_type = bus.subscribe([EventType.NODE_STARTED])
    by_node = bus.subscribe(node_id="a")
    by_execution = bus.subscribe(execution_id="e2")
    combined = bus.subscribe([EventType.NODE_STARTED], node_id="a", execution_id="e1")
    events = [
        ev(1, EventType.NODE_STARTED, "a"),
        ev(2, EventType.NODE_STARTED, "b"),
        ev(3, EventType.CUSTOM, "a"),
        ev(4, EventType.NODE_STARTED, "a", execution="e2"),
    ]
    for e in events:
        bus.publish(e)

    def drain(sub: object) -> list[int]:
        return [e.seq for e in sub._buffer]  # type: ignore[attr-defined]

    assert drain(by_type) == [1, 2, 4]
    assert drain(by_node) == [1, 3, 4]
    assert drain(by_execution) == [4]
    assert drain(combined) == [1]


async def test_a_slow_subscriber_never_blocks_the_publisher_or_its_peers() -> None:
    bus = EventBus()
    slow = bus.subscribe(max_buffered=10)  # never reads
    fast = bus.subscribe()
    received: list[int] = []

    async def read_fast() -> None:
        async for event in fast:
            received.append(event.seq)

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_fast)
        for seq in range(1, 1001):
            bus.publish(ev(seq))  # synchronous: returns without waiting for anyone
            if seq % 100 == 0:
                await anyio.lowlevel.checkpoint()
        fast.close()
    assert received == list(range(1, 1001))
    assert len(slow._buffer) == 10 and slow.dropped == 990


async def test_a_failing_subscriber_does_not_affect_the_others() -> None:
    bus = EventBus()
    failing = bus.subscribe()
    healthy = bus.subscribe()

    async def crash() -> None:
        async for _ in failing:
            raise RuntimeError("subscriber bug")

    with pytest.raises(ExceptionGroup):
        async with anyio.create_task_group() as tg:
            tg.start_soon(crash)
            bus.publish(ev(1))
    failing.close()
    bus.publish(ev(2))
    assert [e.seq for e in healthy._buffer] == [1, 2]


async def test_wait_for_returns_the_first_matching_event() -> None:
    bus = EventBus()

    async def publish_later() -> None:
        bus.publish(ev(1, EventType.NODE_STARTED, "a"))
        bus.publish(ev(2, EventType.NODE_COMPLETED, "a"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(publish_later)
        found = await bus.wait_for(
            [EventType.NODE_COMPLETED], node_id="a", wait_seconds=5, predicate=lambda e: e.seq > 1
        )
    assert found is not None and found.seq == 2
    assert bus.subscriber_count == 0


async def test_wait_for_gives_none_when_time_runs_out() -> None:
    assert await EventBus().wait_for([EventType.CUSTOM], wait_seconds=0.01) is None


async def test_closing_a_subscription_ends_its_iteration_after_buffered_events() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    bus.publish(ev(1))
    sub.close()
    bus.publish(ev(2))
    assert [e.seq async for e in sub] == [1]
