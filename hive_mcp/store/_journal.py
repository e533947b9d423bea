"""The durable event log: sequence numbers, group commits, then delivery.

``emit`` is synchronous and cheap: it numbers the event and queues it. One
writer task commits everything queued in a single transaction (a group
commit: under load batches grow, idle they hold one event), and only then
hands the events to the in-memory bus and wakes long-pollers. So a subscriber
or poller never sees an event that a crash could take back.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup

from hive_mcp.errors import StoreError
from hive_mcp.events import Event, EventBus, EventType
from hive_mcp.store._base import Store
from hive_mcp.store._records import Checkpoint, ExecutionRecord, NodeState, WriteBatch

__all__ = ["Journal"]

log = logging.getLogger(__name__)


class _Ticket:
    """Completion of one batch, shared by everyone waiting on it."""

    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.error: BaseException | None = None

    async def wait(self) -> None:
        await self.done.wait()
        if self.error is not None:
            raise StoreError(f"the store write failed: {self.error}") from self.error


class Journal:
    """Numbers, stores and publishes the events of executions.

    Use as ``async with Journal(store, bus) as journal:``; the writer task
    lives inside that block and flushes what is queued on the way out.
    """

    def __init__(self, store: Store, bus: EventBus | None = None) -> None:
        self.store = store
        self.bus = bus if bus is not None else EventBus()
        self._next_seq: dict[str, int] = {}
        self._committed: dict[str, int] = {}
        self._changed: dict[str, anyio.Event] = {}
        self._pending = WriteBatch()
        self._ticket = _Ticket()
        self._inflight: _Ticket | None = None
        self._work = anyio.Event()
        self._broken: BaseException | None = None
        self._closing = False
        self._task_group: TaskGroup | None = None

    async def __aenter__(self) -> Journal:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._writer)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._task_group is not None
        with anyio.CancelScope(shield=True):
            if self._broken is None:
                try:
                    await self.flush()
                except StoreError:
                    log.exception("final flush of the journal failed")
            self._closing = True
            self._work.set()
        return await self._task_group.__aexit__(exc_type, exc, tb)

    # -- writing ---------------------------------------------------------

    async def open_execution(self, execution_id: str) -> int:
        """Prepare to emit for ``execution_id``, continuing after its stored events.

        Returns the sequence number of its last event so far (0: it has none).
        """
        if execution_id not in self._next_seq:
            last = await self.store.last_seq(execution_id)
            self._next_seq[execution_id] = last + 1
            self._committed.setdefault(execution_id, last)
        return self._next_seq[execution_id] - 1

    def begin_execution(self, record: ExecutionRecord) -> None:
        """Queue a brand-new execution record; its events start at seq 1."""
        self._next_seq[record.id] = 1
        self._committed[record.id] = 0
        self.put_execution(record)

    def emit(
        self,
        execution_id: str,
        type: EventType,
        *,
        node_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Event:
        """Number an event and queue it for the next commit; never waits."""
        try:
            seq = self._next_seq[execution_id]
        except KeyError:
            raise RuntimeError(f"execution {execution_id} was not opened on this journal") from None
        self._next_seq[execution_id] = seq + 1
        event = Event(
            execution_id=execution_id,
            seq=seq,
            type=type,
            node_id=node_id,
            data=data if data is not None else {},
        )
        self._pending.events.append(event)
        self._work.set()
        return event

    def put_execution(self, record: ExecutionRecord) -> None:
        """Queue an upsert of the execution record for the next commit."""
        self._pending.executions.append(record.model_copy())
        self._work.set()

    async def save_node_state(self, execution_id: str, key: str, state_json: str) -> None:
        """Store a node's resumable state (JSON text), durably; wait for it."""
        self._pending.node_states.append(NodeState(execution_id, key, state_json))
        self._work.set()
        await self.flush()

    async def checkpoint(self, execution_id: str, state: dict[str, Any]) -> Checkpoint:
        """Store ``state`` with a ``checkpoint_written`` event, atomically; wait for it."""
        event = self.emit(execution_id, EventType.CHECKPOINT_WRITTEN)
        checkpoint = Checkpoint(execution_id=execution_id, event_seq=event.seq, state=state)
        self._pending.checkpoints.append(checkpoint)
        await self.flush()
        return checkpoint

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        if self._broken is not None:
            raise StoreError(f"the store write failed earlier: {self._broken}")
        if self._task_group is None:
            raise RuntimeError("the journal is not running: use 'async with Journal(...)'")
        if self._pending:
            await self._ticket.wait()
        elif self._inflight is not None:
            await self._inflight.wait()

    async def _writer(self) -> None:
        # Shielded: when an enclosing scope is cancelled (a shutdown), the
        # cancelled executions still need their final records written. The
        # writer stops when the journal closes.
        with anyio.CancelScope(shield=True):
            await self._write_batches()

    async def _write_batches(self) -> None:
        while True:
            await self._work.wait()
            self._work = anyio.Event()
            if self._closing and not self._pending:
                return
            batch, self._pending = self._pending, WriteBatch()
            ticket, self._ticket = self._ticket, _Ticket()
            self._inflight = ticket
            try:
                await self.store.write(batch)
            except Exception as exc:
                log.exception("the journal could not write a batch")
                self._broken = exc
                ticket.error = exc
                ticket.done.set()
                return
            self._deliver(batch.events)
            self._inflight = None
            ticket.done.set()

    def _deliver(self, events: list[Event]) -> None:
        publish = self.bus.publish
        touched: dict[str, int] = {}
        for event in events:
            publish(event)
            touched[event.execution_id] = event.seq
        for execution_id, seq in touched.items():
            self._committed[execution_id] = seq
            waiter = self._changed.pop(execution_id, None)
            if waiter is not None:
                waiter.set()

    # -- reading ---------------------------------------------------------

    async def read(
        self,
        execution_id: str,
        *,
        after: int = 0,
        limit: int = 1000,
        types: Collection[EventType] | None = None,
    ) -> list[Event]:
        """Return committed events with ``seq > after``, in order."""
        return await self.store.read_events(execution_id, after=after, limit=limit, types=types)

    async def wait_events(
        self,
        execution_id: str,
        *,
        after: int = 0,
        limit: int = 1000,
        wait_seconds: float = 0.0,
        types: Collection[EventType] | None = None,
    ) -> list[Event]:
        """Long-poll: events after ``after`` at once if any, else wait up to ``wait_seconds``.

        Returns as soon as a matching event is committed; an empty list means
        the time ran out. Events committed by other processes are seen when
        the wait ends.
        """
        deadline = anyio.current_time() + wait_seconds
        if execution_id not in self._committed:
            self._committed[execution_id] = await self.store.last_seq(execution_id)
        while True:
            if self._committed[execution_id] > after:
                events = await self.read(execution_id, after=after, limit=limit, types=types)
                if events:
                    return events
                if types:
                    # Nothing of the wanted types yet: skip what we have looked at.
                    after = self._committed[execution_id]
            remaining = deadline - anyio.current_time()
            if remaining <= 0 or math.isnan(remaining):
                if wait_seconds > 0:
                    # Another process may have written while we waited.
                    return await self.read(execution_id, after=after, limit=limit, types=types)
                return []
            waiter = self._changed.get(execution_id)
            if waiter is None:
                waiter = self._changed[execution_id] = anyio.Event()
            with anyio.move_on_after(remaining):
                await waiter.wait()
