"""The durable event log: sequence numbers, group commits, then delivery.

``emit`` is synchronous and cheap: it numbers the event and queues it. One
writer task commits everything queued in a single transaction (a group
commit: under load batches grow, idle they hold one event), and only then
hands the events to the in-memory bus and wakes long-pollers. So a subscriber
or poller never sees an event that a crash could take back.

A write that fails (a full disk, an I/O error) is, for the executions whose
parts of it were not stored, what a crash is: what they did since their last
stored write is gone. The journal forgets their numbering (the next
``open_execution`` continues after what is stored, so logs stay gap-free),
drops what they queued meanwhile, and refuses their further writes with a
``StoreError`` until they are opened again; whoever waits on their writes
gets that error. Other executions, and the next batch, carry on: the writer
never stops.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup

from hive_mcp.errors import StoreError, StoreWriteError
from hive_mcp.events import Event, EventBus, EventType
from hive_mcp.store._base import Store
from hive_mcp.store._records import (
    Checkpoint,
    ExecutionRecord,
    NodeState,
    WriteBatch,
    executions_of,
)

__all__ = ["Journal"]

log = logging.getLogger(__name__)


class _Ticket:
    """Completion of one batch, shared by everyone waiting on it.

    ``failed`` holds the executions whose parts of the batch were not stored.
    """

    __slots__ = ("done", "failed")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.failed: dict[str, str] = {}

    async def wait(self, execution_ids: tuple[str, ...]) -> None:
        await self.done.wait()
        concerned = execution_ids or tuple(self.failed)
        for eid in concerned:
            if eid in self.failed:
                raise StoreError(_not_stored(eid, self.failed[eid]))


def _not_stored(execution_id: str, reason: str) -> str:
    return (
        f"the store could not write execution {execution_id}'s latest changes ({reason}); "
        "nothing of them was kept. Free space or fix the store (see `hive-mcp executions`); "
        "the execution resumes from what was stored"
    )


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
        self._lost: dict[str, str] = {}  # execution -> why its last writes were not stored
        self._fences: dict[str, str] = {}  # execution -> the runtime whose lease writes need
        self._closing = False
        self._task_group: TaskGroup | None = None
        self._watching = anyio.CancelScope()

    async def __aenter__(self) -> Journal:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        self._task_group.start_soon(self._writer)
        self._task_group.start_soon(self._watch)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._task_group is not None
        with anyio.CancelScope(shield=True):
            try:
                await self.flush()
            except StoreError as lost:
                log.error("the journal's last writes were not stored: %s", lost)
            self._closing = True
            self._work.set()
            self._watching.cancel()
        return await self._task_group.__aexit__(exc_type, exc, tb)

    # -- writing ---------------------------------------------------------

    async def open_execution(self, execution_id: str) -> int:
        """Prepare to emit for ``execution_id``, continuing after its stored events.

        Returns the sequence number of its last event so far (0: it has none).
        """
        if execution_id not in self._next_seq:
            self._lost.pop(execution_id, None)  # opened anew: from what is stored
            last = await self.store.last_seq(execution_id)
            self._next_seq[execution_id] = last + 1
            self._committed.setdefault(execution_id, last)
        return self._next_seq[execution_id] - 1

    def fence(self, execution_id: str, runtime_id: str) -> None:
        """From now on write the execution only while ``runtime_id`` holds its lease."""
        self._fences[execution_id] = runtime_id

    def unfence(self, execution_id: str) -> None:
        """Stop checking the execution's lease (its runtime is done with it)."""
        self._fences.pop(execution_id, None)

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
        """Number an event and queue it for the next commit; never waits.

        Raises ``StoreError`` for an execution whose last writes were lost.
        """
        try:
            seq = self._next_seq[execution_id]
        except KeyError:
            self._refuse_lost(execution_id)
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
        self._refuse_lost(record.id)
        self._pending.executions.append(record.model_copy())
        self._work.set()

    async def save_node_state(self, execution_id: str, key: str, state_json: str) -> None:
        """Store a node's resumable state (JSON text), durably; wait for it."""
        self._refuse_lost(execution_id)
        self._pending.node_states.append(NodeState(execution_id, key, state_json))
        self._work.set()
        await self.flush(execution_id)

    async def checkpoint(
        self, execution_id: str, state: dict[str, Any], *, wait: bool = True
    ) -> Checkpoint:
        """Store ``state`` with a ``checkpoint_written`` event, atomically.

        Waits until it is stored, unless ``wait`` is false: then it commits
        with whatever the caller flushes next.
        """
        event = self.emit(execution_id, EventType.CHECKPOINT_WRITTEN)
        checkpoint = Checkpoint(execution_id=execution_id, event_seq=event.seq, state=state)
        self._pending.checkpoints.append(checkpoint)
        if wait:
            await self.flush(execution_id)
        return checkpoint

    async def flush(self, *execution_ids: str) -> None:
        """Wait until everything queued so far is committed.

        Raises ``StoreError`` if a write of one of ``execution_ids`` (with
        none given: of any execution) was not stored.
        """
        if self._task_group is None:
            raise RuntimeError("the journal is not running: use 'async with Journal(...)'")
        for eid in execution_ids:
            self._refuse_lost(eid)
        if self._pending:
            await self._ticket.wait(execution_ids)
        elif self._inflight is not None:
            await self._inflight.wait(execution_ids)

    def _refuse_lost(self, execution_id: str) -> None:
        reason = self._lost.get(execution_id)
        if reason is not None:
            raise StoreError(_not_stored(execution_id, reason))

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
            if self._fences:
                fences = self._fences
                batch.leases = {e: fences[e] for e in executions_of(batch) if e in fences}
            ticket, self._ticket = self._ticket, _Ticket()
            self._inflight = ticket
            try:
                await self.store.write(batch)
            except Exception as exc:
                failed = (
                    exc.failed
                    if isinstance(exc, StoreWriteError)
                    else dict.fromkeys(executions_of(batch), f"{type(exc).__name__}: {exc}")
                )
                log.error("the store did not take a write: %s", exc)
                self._lose(failed, ticket)
                batch.drop(failed)
            self._deliver(batch.events)
            self._inflight = None
            ticket.done.set()

    def _lose(self, failed: dict[str, str], ticket: _Ticket) -> None:
        """Forget what the executions in ``failed`` did since their last stored write."""
        ticket.failed = failed
        self._lost.update(failed)
        for eid in failed:
            self._next_seq.pop(eid, None)
            self._committed.pop(eid, None)
        # What they queued since follows what was lost: it cannot be stored either,
        # and whoever waits for it learns so from the next ticket.
        pending = self._pending
        dropped = executions_of(pending) & failed.keys()
        if dropped:
            pending.drop(failed)
            self._ticket.failed.update({eid: failed[eid] for eid in dropped})

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

    async def _watch(self) -> None:
        with self._watching:
            await self.store.watch(self._committed_elsewhere)

    def _committed_elsewhere(self, execution_id: str, seq: int) -> None:
        """Another process (or this one) committed the execution's events up to ``seq``."""
        known = self._committed.get(execution_id)
        if known is None or seq <= known:
            return  # nobody here waits on it, or nothing new
        if execution_id not in self._next_seq:  # written elsewhere, not by this journal
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
