"""Entry points that start executions by themselves: timers and events.

Each agent's timers and event subscriptions run in one cancel scope, so an
agent removed from a running runtime stops firing at once. Time comes from a
``Clock`` so tests can move it instead of sleeping. Webhooks are served by
the HTTP server (``hive_mcp.server``) and start executions through
``AgentRuntime.trigger`` like these do.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import anyio
from anyio.abc import TaskGroup

from hive_mcp.errors import HiveError
from hive_mcp.events import Event, EventBus
from hive_mcp.graph import Agent, EntryPointSpec, GraphSpec
from hive_mcp.graph._state import RunState
from hive_mcp.graph._triggers import (
    EventTrigger,
    TimerTrigger,
    missed_fire,
    next_fire,
    trigger_config,
)
from hive_mcp.store import ExecutionRecord, ExecutionStatus, Store

__all__ = ["Clock", "SystemClock", "Triggers", "primary_memory"]

log = logging.getLogger(__name__)

_TIMER_KEY = "timer:"  # + entry point + ":" + the fire time it was due at

Fire = Callable[[str, str, dict[str, Any], str | None], Awaitable[None]]
SourceAgent = Callable[[str], Awaitable[str | None]]
MayFire = Callable[[str], Awaitable[bool]]
LastStart = Callable[[str, str], Awaitable[ExecutionRecord | None]]


class Clock(Protocol):
    """Wall-clock time, and waiting for a moment of it."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Return at ``when`` (at once if it has passed)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, when: float) -> None:
        await anyio.sleep(max(0.0, when - time.time()))


class Triggers:
    """The running timers and event subscriptions, per agent."""

    def __init__(
        self,
        task_group: TaskGroup,
        bus: EventBus,
        fire: Fire,
        source_agent: SourceAgent,
        clock: Clock,
        may_fire: MayFire | None = None,
        last_start: LastStart | None = None,
    ) -> None:
        self._task_group = task_group
        self._bus = bus
        self._fire = fire
        self._source_agent = source_agent
        self._clock = clock
        self._may_fire = may_fire
        self._last_start = last_start
        self._scopes: dict[str, anyio.CancelScope] = {}
        self.next_fire: dict[tuple[str, str], float] = {}

    def start(self, agent: Agent) -> None:
        """Start the agent's timers and event subscriptions (replacing running ones)."""
        self.stop(agent.name)
        scope = self._scopes[agent.name] = anyio.CancelScope()
        self._task_group.start_soon(self._run, scope, agent)

    async def _run(self, scope: anyio.CancelScope, agent: Agent) -> None:
        with scope:
            async with anyio.create_task_group() as tg:
                for ep in agent.spec.entry_points:
                    config = trigger_config(ep)
                    if isinstance(config, TimerTrigger):
                        tg.start_soon(self._timer, agent.name, ep, config)
                    elif isinstance(config, EventTrigger):
                        tg.start_soon(self._events, agent.name, ep, config)

    def stop(self, agent_name: str) -> None:
        """Stop firing for the agent; executions already started go on."""
        scope = self._scopes.pop(agent_name, None)
        if scope is not None:
            scope.cancel()
        for key in [k for k in self.next_fire if k[0] == agent_name]:
            del self.next_fire[key]

    async def _timer(self, agent: str, ep: EntryPointSpec, timer: TimerTrigger) -> None:
        now = self._clock.now()
        due = now if timer.run_immediately else next_fire(timer, now)
        if timer.catch_up and not timer.run_immediately and self._last_start is not None:
            # A fire that fell while no process ran (the host was closed): once, now.
            last = await self._last_start(agent, ep.id)
            if last is not None and missed_fire(timer, _fired_at(last), now) is not None:
                due = now
        while True:
            self.next_fire[(agent, ep.id)] = due
            await self._clock.sleep_until(due)
            # Servers sharing a store: the one holding the timer's lease fires it.
            if self._may_fire is None or await self._may_fire(f"timer:{agent}:{ep.id}"):
                await self._safely(agent, ep, {}, f"{_TIMER_KEY}{ep.id}:{due:.3f}")
            # A late wake-up skips the missed fires rather than bursting.
            due = next_fire(timer, max(due, self._clock.now()))

    async def _events(self, agent: str, ep: EntryPointSpec, config: EventTrigger) -> None:
        with self._bus.subscribe(config.event_types, max_buffered=10_000) as events:
            async for event in events:
                source = await self._source_agent(event.execution_id)
                if config.exclude_own and source == agent:
                    continue
                if config.agents and source not in config.agents:
                    continue
                if config.node_id is not None and event.node_id != config.node_id:
                    continue
                key = f"event:{event.execution_id}:{event.seq}:{ep.id}"
                await self._safely(agent, ep, {"event": _describe(event, source)}, key)

    async def _safely(
        self, agent: str, ep: EntryPointSpec, input: dict[str, Any], key: str
    ) -> None:
        # A trigger that cannot start an execution logs why and keeps firing.
        try:
            await self._fire(agent, ep.id, input, key)
        except HiveError as exc:
            log.warning("entry point %s of agent %s did not start: %s", ep.id, agent, exc)


async def primary_memory(store: Store, spec: GraphSpec, ep: EntryPointSpec) -> dict[str, Any]:
    """What a ``shared`` entry point starts with (seed 004's primary session).

    The newest running or waiting execution of the agent that was started
    another way lends the keys this entry point's node reads; nothing else.
    """
    wanted = spec.node(ep.entry_node or spec.entry_node).input_keys
    active = (ExecutionStatus.RUNNING, ExecutionStatus.WAITING_FOR_INPUT)
    for record in await store.list_executions(agent=spec.name, statuses=active, limit=20):
        if record.entry_point == ep.id:
            continue
        checkpoint = await store.last_checkpoint(record.id)
        memory = RunState.from_dict(checkpoint.state).root.view() if checkpoint else record.input
        return {k: memory[k] for k in wanted if k in memory}
    return {}


def _fired_at(record: ExecutionRecord) -> float:
    """The schedule time a timer started ``record`` for (its start time if started by hand)."""
    key = record.idempotency_key or ""
    if key.startswith(_TIMER_KEY):
        try:
            return float(key.rsplit(":", 1)[1])
        except ValueError:
            pass
    return record.created_at


def _describe(event: Event, agent: str | None) -> dict[str, Any]:
    return {
        "type": event.type.value,
        "agent": agent,
        "execution_id": event.execution_id,
        "node_id": event.node_id,
        "seq": event.seq,
        "data": event.data,
        "timestamp": event.timestamp,
    }
