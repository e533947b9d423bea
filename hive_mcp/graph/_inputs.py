"""Where parked nodes wait for a person, and where answers are delivered.

An answer is taken in two steps: ``answer`` hands it to the waiting node,
and the node ``settle``s it once the answer is stored (its next durable
save, which holds the answer and its ``client_input_received`` event in one
transaction), or fails it when it stops first. ``Waiter.taken`` waits for
that, so whoever sent the answer never hears "delivered" before a crash
could no longer take it back. A node stays parked (off its concurrency
slot) until it settled the answer: storing it must not wait for a slot.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio

from hive_mcp.errors import StoreError, UsageError

__all__ = ["InputBroker", "Waiter"]


@dataclass(eq=False)
class Waiter:
    """One node's place in line; ``wait`` returns the answer."""

    execution_id: str
    node_id: str
    broker: InputBroker
    answered: anyio.Event = field(default_factory=anyio.Event)
    text: str = ""
    settled: anyio.Event = field(default_factory=anyio.Event)
    failure: BaseException | None = None

    async def settle(self, failure: BaseException | None = None) -> None:
        """The node stored the answer (``failure`` None) or stopped before it could.

        Then it stops being parked: this waits for a concurrency slot.
        """
        if self.settled.is_set():
            return
        self.failure = failure
        self.settled.set()
        with anyio.CancelScope(shield=True):
            await self.broker._unpark(self.execution_id)

    async def taken(self) -> str:
        """Wait until the answer is stored; return the node id (``StoreError`` if it was not)."""
        await self.settled.wait()
        if self.failure is not None:
            if isinstance(self.failure, StoreError):
                raise self.failure
            raise StoreError(
                f"execution {self.execution_id!r} stopped before it stored the answer "
                f"({type(self.failure).__name__}); send it again when it waits for input"
            )
        return self.node_id

    async def wait(self) -> str:
        """Wait for the answer; the node is parked until it ``settle``s it."""
        parked = self.broker._park(self.execution_id)
        try:
            if parked is not None:
                await parked
            await self.answered.wait()
            return self.text
        except BaseException as exc:
            await self.settle(exc)
            raise
        finally:
            self.broker._remove(self)


class InputBroker:
    """Matches answers to the nodes waiting for them, per execution.

    One broker can serve many executors (the runtime shares one).
    """

    def __init__(
        self,
        on_park: Callable[[str], Awaitable[None]] | None = None,
        on_unpark: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._waiting: dict[str, list[Waiter]] = {}
        # Called when an execution's first node starts waiting and when its
        # last one stops (the runtime frees a concurrency slot meanwhile).
        self._on_park = on_park
        self._on_unpark = on_unpark
        self._parked: dict[str, int] = {}

    def _park(self, execution_id: str) -> Awaitable[None] | None:
        self._parked[execution_id] = self._parked.get(execution_id, 0) + 1
        if self._parked[execution_id] == 1 and self._on_park is not None:
            return self._on_park(execution_id)
        return None

    async def _unpark(self, execution_id: str) -> None:
        self._parked[execution_id] -= 1
        if self._parked[execution_id] == 0:
            del self._parked[execution_id]
            if self._on_unpark is not None:
                await self._on_unpark(execution_id)

    def register(self, execution_id: str, node_id: str) -> Waiter:
        """Start accepting an answer for this node, before anyone is told it waits."""
        waiter = Waiter(execution_id, node_id, self)
        self._waiting.setdefault(execution_id, []).append(waiter)
        return waiter

    def _remove(self, waiter: Waiter) -> None:
        remaining = [w for w in self._waiting.get(waiter.execution_id, []) if w is not waiter]
        if remaining:
            self._waiting[waiter.execution_id] = remaining
        else:
            self._waiting.pop(waiter.execution_id, None)

    def waiting_nodes(self, execution_id: str) -> list[str]:
        """The nodes of the execution blocked for input in this process."""
        return [w.node_id for w in self._waiting.get(execution_id, []) if not w.answered.is_set()]

    def deliver(self, execution_id: str, text: str, node_id: str | None = None) -> str:
        """Answer the waiting node (``node_id`` picks one when several wait); return its id."""
        return self.answer(execution_id, text, node_id).node_id

    def answer(self, execution_id: str, text: str, node_id: str | None = None) -> Waiter:
        """Answer the waiting node; ``taken()`` on the result waits until it is stored."""
        waiters = [w for w in self._waiting.get(execution_id, []) if not w.answered.is_set()]
        if not waiters:
            raise UsageError(
                f"execution {execution_id!r} is not waiting for input; check its status "
                "(get_execution) and send input only while it is waiting_for_input"
            )
        if node_id is not None:
            waiters = [w for w in waiters if w.node_id == node_id]
            if not waiters:
                raise UsageError(
                    f"node {node_id!r} of execution {execution_id!r} is not waiting for input; "
                    f"waiting: {self.waiting_nodes(execution_id)}"
                )
        elif len(waiters) > 1:
            raise UsageError(
                f"several nodes of execution {execution_id!r} wait for input "
                f"({[w.node_id for w in waiters]}); name one with node_id"
            )
        waiter = waiters[0]
        waiter.text = text
        waiter.answered.set()
        return waiter
