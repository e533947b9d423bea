"""Where parked nodes wait for a person, and where answers are delivered."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio

from hive_mcp.errors import UsageError

__all__ = ["InputBroker", "Waiter"]


@dataclass(eq=False)
class Waiter:
    """One node's place in line; ``wait`` returns the answer."""

    execution_id: str
    node_id: str
    broker: InputBroker
    answered: anyio.Event = field(default_factory=anyio.Event)
    text: str = ""

    async def wait(self) -> str:
        parked = self.broker._park(self.execution_id)
        try:
            if parked is not None:
                await parked
            await self.answered.wait()
            return self.text
        finally:
            self.broker._remove(self)
            with anyio.CancelScope(shield=True):
                await self.broker._unpark(self.execution_id)


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
        return waiter.node_id
