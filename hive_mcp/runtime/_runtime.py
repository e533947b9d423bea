"""The AgentRuntime: many executions of many agents in one process, durably.

Every front door (the MCP server, the CLI, Python) goes through it:
``start`` (input checked, idempotent with a key, queued beyond the
concurrency limit), ``get_execution``, ``list_executions``, ``get_events``
(long-poll), ``send_input`` and ``cancel``. Executions run in the runtime's
task group; on shutdown they are suspended (parked ones stay parked) and
``resume_unfinished`` picks them up on the next start.

Processes sharing the store see each other through ``Presence``: the
runtime beats, leases the executions it runs (so no other process runs them
too) and, as a server, applies operator commands queued for it. Given a
``RetentionPolicy`` it prunes old finished executions on start and then every
``retention_every`` seconds.

Agents come and go while it runs (``add_agent`` / ``remove_agent``); with
``triggers=True`` their timers and event entry points fire (``Triggers``),
and ``trigger`` starts an execution through any entry point (webhooks call
it). Concurrency slots are ``Slots``; agent nodes delegate to this runtime
through ``LocalAgents``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup

from hive_mcp._values import check_value
from hive_mcp.errors import StoreError, UnknownExecutionError, UsageError
from hive_mcp.events import Event, EventType
from hive_mcp.graph import Agent, AgentCatalog, GraphExecutor
from hive_mcp.graph._executor import store_failure
from hive_mcp.graph._inputs import InputBroker
from hive_mcp.graph._triggers import trigger_config
from hive_mcp.llm import ProviderResolver
from hive_mcp.runtime._delegation import LocalAgents, cancel_remote_delegates
from hive_mcp.runtime._goals import DEFAULT_GOAL_WINDOW, GoalProgress, evaluate_goal
from hive_mcp.runtime._keyed import KeyedLocks
from hive_mcp.runtime._presence import (
    Presence,
    busy_error,
    live_runtimes,
    send_command,
    stale_after,
)
from hive_mcp.runtime._slots import Slots
from hive_mcp.runtime._triggers import Clock, SystemClock, Triggers, primary_memory
from hive_mcp.store import (
    CommandKind,
    ExecutionRecord,
    ExecutionStatus,
    Journal,
    PruneReport,
    RetentionPolicy,
    RuntimeInfo,
    RuntimeRole,
    prune,
)
from hive_mcp.toolbox import Toolbox

__all__ = ["AgentRuntime", "RuntimeLimits", "record_cancelled"]

log = logging.getLogger(__name__)

RETENTION_LEASE = "retention"  # held by the one runtime on a store that prunes it

_UNFINISHED = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.WAITING_FOR_INPUT)
_RUNNABLE = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING)  # a parked one waits for its answer
_ENDINGS = (
    EventType.EXECUTION_COMPLETED,
    EventType.EXECUTION_FAILED,
    EventType.EXECUTION_CANCELLED,
    EventType.EXECUTION_PAUSED,
)


@dataclass(frozen=True)
class RuntimeLimits:
    """Bounds that protect the process from its callers."""

    max_concurrent: int = 50
    max_wait_seconds: float = 60.0
    max_events_per_page: int = 1000
    max_input_bytes: int = 1_000_000


@dataclass(eq=False)
class _Live:
    record: ExecutionRecord
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    started: anyio.Event = field(default_factory=anyio.Event)
    finished: anyio.Event = field(default_factory=anyio.Event)


class AgentRuntime:
    """Runs executions of the agents in ``catalog`` against ``journal``.

    Use as ``async with AgentRuntime(catalog, journal, data_dir=...) as rt:``.
    A ``"server"`` runtime takes operator commands; a ``"session"`` (the CLI
    driving one execution) only beats and leases. ``now`` and ``sleep``
    (the wait between prunes) and ``clock`` (timers) are there for tests.
    """

    def __init__(
        self,
        catalog: AgentCatalog,
        journal: Journal,
        *,
        data_dir: Path,
        limits: RuntimeLimits | None = None,
        providers: ProviderResolver | None = None,
        toolbox: Toolbox | None = None,
        triggers: bool = False,
        clock: Clock | None = None,
        role: RuntimeRole = "server",
        retention: RetentionPolicy | None = None,
        retention_every: float = 3600.0,
        takeover_every: float | None = None,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.catalog = catalog
        self.toolbox = toolbox
        self.journal = journal
        self.limits = limits or RuntimeLimits()
        self.broker = InputBroker(on_park=self._release_slot, on_unpark=self._take_slot)
        self._data_dir = data_dir
        self._providers = providers
        self._executors: dict[str, GraphExecutor] = {}
        self._live: dict[str, _Live] = {}
        self._slots = Slots(self.limits.max_concurrent, catalog)
        self._task_group: TaskGroup | None = None
        self.agents = LocalAgents(self)
        self._run_triggers = triggers
        self._clock = clock or SystemClock()
        self.triggers: Triggers | None = None
        self._agent_of: dict[str, str] = {}
        self._store_retries: dict[str, int] = {}  # execution -> resumes the store refused
        self._starting = KeyedLocks()  # (agent, idempotency key) -> one start at a time
        self.presence = Presence(
            journal.store, role=role, clock=now, on_input=self.send_input, on_cancel=self.cancel
        )
        self._retention = retention
        self._retention_every = retention_every
        self._takeover_every = takeover_every
        self._now = now
        self._sleep = sleep

    async def __aenter__(self) -> AgentRuntime:
        await self.presence.open()
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        if self._run_triggers:
            self.triggers = Triggers(
                self._task_group,
                self.journal.bus,
                self._fire,
                self._source_agent,
                self._clock,
                may_fire=self._holds_lease,
                last_start=self._last_start,
            )
            for agent in self.catalog:
                self.triggers.start(agent)
        self._task_group.start_soon(self.presence.run)
        if self._retention is not None and not self._retention.keeps_everything:
            self._task_group.start_soon(self._keep_tidy, self._retention)
        if self._takeover_every is not None:
            self._task_group.start_soon(self._keep_taking_over, self._takeover_every)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._task_group is not None
        self._task_group.cancel_scope.cancel()  # executors suspend: nothing is lost
        try:
            return await self._task_group.__aexit__(exc_type, exc, tb)
        finally:
            await self.presence.close()

    # -- agents -----------------------------------------------------------

    def add_agent(self, agent: Agent, *, replace: bool = False) -> None:
        """Serve another agent (or, with ``replace``, a new version of one) from now on.

        Executions already running keep the version they started with.
        """
        if agent.name in self.catalog.agents and not replace:
            raise UsageError(f"agent {agent.name!r} is already loaded; pass replace=True")
        self.catalog.agents[agent.name] = agent
        self._executors.pop(agent.name, None)
        if self.triggers is not None:
            self.triggers.start(agent)

    def remove_agent(self, name: str) -> Agent:
        """Stop serving an agent: no new executions, its triggers stop; running ones finish."""
        agent = self.catalog.get(name)
        del self.catalog.agents[name]
        if self.triggers is not None:
            self.triggers.stop(name)
        return agent

    # -- starting ---------------------------------------------------------

    def executor(self, agent_name: str) -> GraphExecutor:
        """The executor of an agent (``UnknownAgentError`` names the known ones)."""
        if agent_name not in self._executors:
            agent = self.catalog.get(agent_name)
            self._executors[agent_name] = GraphExecutor(
                agent,
                self.journal,
                broker=self.broker,
                providers=self._providers,
                data_dir=self._data_dir,
                on_cancel="suspend",
                toolbox=self.toolbox,
                agents=self.agents,
            )
        return self._executors[agent_name]

    async def trigger(
        self,
        agent: str,
        entry_point: str,
        input: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> ExecutionRecord:
        """Start an execution through an entry point: its fixed input, shared memory, limit."""
        spec = self.catalog.get(agent).spec
        ep = spec.entry_point(entry_point)
        data = {**trigger_config(ep).input, **input}
        if ep.isolation == "shared":
            data = {**await primary_memory(self.journal.store, spec, ep), **data}
        return await self.start(
            agent, data, entry_point=entry_point, idempotency_key=idempotency_key
        )

    async def _fire(
        self, agent: str, entry_point: str, input: dict[str, Any], key: str | None
    ) -> None:
        await self.trigger(agent, entry_point, input, idempotency_key=key)

    async def _holds_lease(self, key: str) -> bool:
        try:
            return await self.presence.claim(key) is None
        except StoreError as exc:  # fire rather than lose a schedule to a busy store
            log.warning("timer lease %s not checked: %s", key, exc)
            return True

    async def _last_start(self, agent: str, entry_point: str) -> ExecutionRecord | None:
        store = self.journal.store
        newest = await store.list_executions(agent=agent, entry_point=entry_point, limit=1)
        return newest[0] if newest else None

    async def _source_agent(self, execution_id: str) -> str | None:
        if execution_id in self._agent_of:
            return self._agent_of[execution_id]
        record = await self.journal.store.get_execution(execution_id)
        return record.agent if record else None

    async def start(
        self,
        agent: str,
        input: Mapping[str, Any],
        *,
        entry_point: str | None = None,
        idempotency_key: str | None = None,
        parent: str | None = None,
    ) -> ExecutionRecord:
        """Start an execution (queued if the runtime is at its limit); return its record.

        With an ``idempotency_key`` seen before for this agent, the existing
        execution is returned and nothing new starts. An execution started by
        an agent node of ``parent`` runs at once, outside the limit.
        """
        self.catalog.get(agent)  # refuses an agent removed since its executor was made
        executor = self.executor(agent)
        if idempotency_key is None:
            return await self._start(executor, input, entry_point, None, parent)
        # Callers racing with one key start one execution: here by a lock, across
        # processes by the store's unique index (the loser's write is refused).
        async with self._starting.hold((agent, idempotency_key)):
            existing = await self.journal.store.find_execution(agent, idempotency_key)
            if existing is not None:
                return existing
            try:
                return await self._start(executor, input, entry_point, idempotency_key, parent)
            except StoreError:
                existing = await self.journal.store.find_execution(agent, idempotency_key)
                if existing is None:
                    raise
                return existing

    async def _start(
        self,
        executor: GraphExecutor,
        input: Mapping[str, Any],
        entry_point: str | None,
        idempotency_key: str | None,
        parent: str | None,
    ) -> ExecutionRecord:
        self._check_input(input, "input")
        record = executor.create(
            input, entry_point=entry_point, idempotency_key=idempotency_key, parent_id=parent
        )
        await self.journal.flush(record.id)
        self._launch(executor, record, resume=False)
        return record

    def _check_input(self, value: Any, what: str) -> None:
        """Refuse a value no store could keep, or one over the size limit, before storing."""
        check_value(value, what, self.limits.max_input_bytes)

    def _launch(self, executor: GraphExecutor, record: ExecutionRecord, *, resume: bool) -> None:
        if self._task_group is None:
            raise RuntimeError("the runtime is not running: use 'async with AgentRuntime(...)'")
        live = _Live(record)
        self._live[record.id] = live
        self._agent_of[record.id] = record.agent
        if len(self._agent_of) > 10_000:  # only recent executions still send events
            del self._agent_of[next(iter(self._agent_of))]
        self._task_group.start_soon(self._drive, executor, live, resume)

    async def _drive(self, executor: GraphExecutor, live: _Live, resume: bool) -> None:
        eid = live.record.id
        lost: StoreError | None = None
        try:
            with live.scope:
                holder = await self.presence.claim(eid)
                if holder is not None:
                    log.warning("execution %s runs in process %s; not here", eid, holder.pid)
                    return
                # Its writes from here on need this runtime's lease: should another
                # runtime take it over (this one seemed dead), they are refused.
                self.journal.fence(eid, self.presence.info.id)
                await self._take_slot(eid)
                live.started.set()
                if resume:
                    await executor.resume(eid)
                else:
                    await executor.start_execution(live.record)
        except Exception as exc:
            lost = store_failure(exc)
            if lost is None:
                log.exception("execution %s crashed", eid)
        finally:
            self.journal.unfence(eid)
            await self._release_slot(eid)
            self._live.pop(eid, None)
            live.finished.set()
        if lost is None:
            self._store_retries.pop(eid, None)
        else:
            self._resume_later(executor, eid, lost)

    async def _resume_when_stored(
        self, executor: GraphExecutor, execution_id: str, lost: StoreError
    ) -> None:
        """Resume an execution whose last writes the store refused, once it writes again.

        As after a crash, it goes on from what was stored. Tries again with a
        growing pause (0.5 s doubling to 30 s) while the store keeps refusing.
        """
        tries = self._store_retries[execution_id] = self._store_retries.get(execution_id, 0) + 1
        pause = min(0.5 * 2 ** (tries - 1), 30.0)
        log.warning(
            "execution %s stopped: %s; trying to resume it in %.1f s", execution_id, lost, pause
        )
        await anyio.sleep(pause)
        if execution_id in self._live:
            return
        try:
            record = await self.journal.store.get_execution(execution_id)
        except StoreError as exc:
            self._resume_later(executor, execution_id, exc)
            return
        if record is not None and not record.status.is_final:
            self._launch(executor, record, resume=True)

    def _resume_later(self, executor: GraphExecutor, execution_id: str, lost: StoreError) -> None:
        assert self._task_group is not None
        self._task_group.start_soon(self._resume_when_stored, executor, execution_id, lost)

    # The broker's park / unpark hooks, and the end of a drive.
    async def _take_slot(self, execution_id: str) -> None:
        live = self._live.get(execution_id)
        if live is not None:
            await self._slots.take(live.record)

    async def _release_slot(self, execution_id: str) -> None:
        self._slots.release(execution_id)

    async def attach(self, execution_id: str) -> None:
        """Make sure an unfinished execution is running here (resume it if not)."""
        if execution_id in self._live:
            return
        record = await self.get_execution(execution_id)
        if record.status in (ExecutionStatus.PENDING, ExecutionStatus.RUNNING):
            self._launch(self.executor(record.agent), record, resume=True)

    async def take_over(self) -> list[str]:
        """Resume the pending and running executions no live runtime holds; return their ids.

        A runtime that died (killed, its machine gone) leaves its executions
        leased to it; once it no longer counts as alive (its process is gone,
        on this machine, or its heartbeat is older than ``stale_after()``) they
        are resumed here, each by one runtime only: the lease is claimed in
        one statement. An execution with no lease yet is left alone while it
        is fresh (its starter claims it in a moment).
        """
        store = self.journal.store
        now = self._now()
        live = {r.id for r in await live_runtimes(store, now)}
        taken = []
        for record in await store.list_executions(statuses=_RUNNABLE, limit=100_000):
            if record.id in self._live or record.agent not in self.catalog.agents:
                continue
            holder = await store.execution_holder(record.id)
            if holder in live or (holder is None and record.updated_at > now - stale_after()):
                continue
            log.info("taking over execution %s (its runtime %s is gone)", record.id, holder)
            self._launch(self.executor(record.agent), record, resume=True)
            taken.append(record.id)
        return taken

    async def _keep_taking_over(self, every: float) -> None:
        while True:
            await self._sleep(every)
            try:
                await self.take_over()
            except Exception:  # the next round tries again; the server stays up
                log.exception("looking for executions to take over failed")

    async def resume_unfinished(self) -> list[str]:
        """Resume every execution the store holds as pending, running or waiting."""
        resumed = []
        for record in await self.journal.store.list_executions(statuses=_UNFINISHED, limit=100_000):
            if record.id in self._live or record.agent not in self.catalog.agents:
                continue
            self._launch(self.executor(record.agent), record, resume=True)
            resumed.append(record.id)
        return resumed

    # -- reading ----------------------------------------------------------

    async def get_execution(self, execution_id: str) -> ExecutionRecord:
        """The stored record (``UnknownExecutionError`` if there is none)."""
        record = await self.journal.store.get_execution(execution_id)
        if record is None:
            raise UnknownExecutionError(
                f"no execution {execution_id!r}; list_executions shows the known ones"
            )
        return record

    async def list_executions(
        self,
        *,
        agent: str | None = None,
        statuses: Collection[ExecutionStatus] | None = None,
        limit: int = 50,
    ) -> list[ExecutionRecord]:
        """Executions, newest first."""
        return await self.journal.store.list_executions(agent=agent, statuses=statuses, limit=limit)

    async def get_events(
        self,
        execution_id: str,
        *,
        after: int = 0,
        limit: int = 100,
        wait_seconds: float = 0.0,
        types: Collection[EventType] | None = None,
    ) -> list[Event]:
        """Events after ``after``; waits up to ``wait_seconds`` for one if there are none yet."""
        if not 1 <= limit <= self.limits.max_events_per_page:
            raise UsageError(f"limit must be between 1 and {self.limits.max_events_per_page}")
        if not 0 <= wait_seconds <= self.limits.max_wait_seconds:
            raise UsageError(f"wait_seconds must be between 0 and {self.limits.max_wait_seconds}")
        if after < 0:
            raise UsageError("after must be 0 or a sequence number from an earlier answer")
        # An execution started here needs no lookup first (the hot path of a
        # poller); an empty answer still checks it was not pruned meanwhile.
        started_here = execution_id in self._agent_of
        if not started_here:
            await self.get_execution(execution_id)
        events = await self.journal.wait_events(
            execution_id, after=after, limit=limit, wait_seconds=wait_seconds, types=types
        )
        if not events and started_here:
            await self.get_execution(execution_id)
        return events

    async def goal_progress(
        self, agent_name: str, *, limit: int = DEFAULT_GOAL_WINDOW
    ) -> GoalProgress:
        """How the agent does against its goal over its newest ``limit`` executions."""
        agent = self.catalog.get(agent_name)
        return await evaluate_goal(self.journal.store, agent.spec, limit=limit)

    # -- acting -----------------------------------------------------------

    async def send_input(self, execution_id: str, text: str, node_id: str | None = None) -> str:
        """Answer the node waiting for input; return its id.

        An execution parked by an earlier process is resumed first, so the
        answer reaches it however long it waited.
        """
        self._check_input(text, "text")
        record = await self.get_execution(execution_id)
        if record.status is not ExecutionStatus.WAITING_FOR_INPUT:
            raise UsageError(
                f"execution {execution_id!r} is {record.status.value}, not waiting for input; "
                "send input only while get_execution shows waiting_for_input"
            )
        if not self.broker.waiting_nodes(execution_id):
            if execution_id not in self._live:
                holder = await self._server_elsewhere(execution_id)
                if holder is not None:
                    payload = {"text": text, "node_id": node_id}
                    done = await self._forward(holder, execution_id, CommandKind.INPUT, payload)
                    return str(done.get("node_id"))
                self._launch(self.executor(record.agent), record, resume=True)
            await self._until_waiting(execution_id)
        waiter = self.broker.answer(execution_id, text, node_id)
        # "Delivered" only once the node has stored the answer: a crash after
        # this returns cannot take it back.
        with anyio.fail_after(self.limits.max_wait_seconds):
            return await waiter.taken()

    async def _until_waiting(self, execution_id: str) -> None:
        # The broker registers a waiter before its event is published, so
        # after any of these events the answer to "is it waiting?" is final.
        watched = [EventType.CLIENT_INPUT_REQUESTED, *_ENDINGS]
        with (
            self.journal.bus.subscribe(watched, execution_id=execution_id) as events,
            anyio.fail_after(30),
        ):
            while not self.broker.waiting_nodes(execution_id):
                if execution_id not in self._live:
                    raise UsageError(f"execution {execution_id!r} stopped before it took input")
                if (await events.receive()).type in _ENDINGS:
                    raise UsageError(f"execution {execution_id!r} ended before it took input")

    async def cancel(self, execution_id: str) -> bool:
        """Cancel an execution; ``False`` if it had already finished."""
        record = await self.get_execution(execution_id)
        if record.status.is_final:
            return False
        live = self._live.get(execution_id)
        if live is None:
            holder = await self._server_elsewhere(execution_id)
            if holder is not None:
                done = await self._forward(holder, execution_id, CommandKind.CANCEL, {})
                return bool(done.get("cancelled"))
        executor = self.executor(record.agent)
        executor.request_cancel(execution_id)
        if live is not None and live.started.is_set():
            live.scope.cancel()
            with anyio.fail_after(30):
                await live.finished.wait()
            return True
        # Queued here, or parked by an earlier process: record it directly,
        # with the delegates it waits for (no agent node is there to do it).
        if live is not None:
            live.scope.cancel()
        await record_cancelled(self.journal, record)
        for child in await self.journal.store.list_executions(
            parent=execution_id, statuses=_UNFINISHED, limit=1000
        ):
            try:
                await self.cancel(child.id)
            except UsageError as exc:
                log.warning("delegate %s of %s not cancelled: %s", child.id, execution_id, exc)
        await cancel_remote_delegates(
            executor.agent, execution_id, self.journal.store, self.toolbox
        )
        return True

    async def claim(self, execution_id: str) -> None:
        """Lease an execution that this process drives itself (``UsageError`` if another does)."""
        holder = await self.presence.claim(execution_id)
        if holder is not None:
            raise busy_error(execution_id, holder)

    async def _server_elsewhere(self, execution_id: str) -> RuntimeInfo | None:
        """The other live server running the execution; ``UsageError`` for a terminal session.

        Two MCP hosts may each start a server on one home: an answer or cancel
        that reaches the one not running the execution is passed on to the
        other through the store's command queue.
        """
        holder = await self.presence.elsewhere(execution_id)
        if holder is not None and holder.role != "server":
            raise busy_error(execution_id, holder)
        return holder

    async def _forward(
        self, holder: RuntimeInfo, execution_id: str, kind: CommandKind, payload: dict[str, Any]
    ) -> dict[str, Any]:
        done = await send_command(
            self.journal.store, holder, execution_id, kind, payload, clock=self._now
        )
        if done.error is not None:
            raise UsageError(done.error)
        return done.result or {}

    # -- retention ----------------------------------------------------------

    async def prune(self, policy: RetentionPolicy, *, dry_run: bool = False) -> PruneReport:
        """Forget the finished executions ``policy`` says to, with their files."""
        return await prune(
            self.journal.store, policy, data_dir=self._data_dir, now=self._now(), dry_run=dry_run
        )

    async def _keep_tidy(self, policy: RetentionPolicy) -> None:
        while True:
            try:
                # Runtimes sharing a store take turns: the one holding the lease prunes.
                if await self.presence.claim(RETENTION_LEASE) is None:
                    report = await self.prune(policy)
                    if report.executions:
                        log.info("retention removed %d executions", len(report.executions))
            except Exception:  # housekeeping must never take the server down
                log.exception("pruning old executions failed; trying again later")
            await self._sleep(self._retention_every)


async def record_cancelled(journal: Journal, record: ExecutionRecord) -> None:
    """Record an execution that runs nowhere (queued, or parked) as cancelled."""
    record.status = ExecutionStatus.CANCELLED
    record.waiting_for_input = None
    record.updated_at = time.time()
    await journal.open_execution(record.id)
    journal.emit(record.id, EventType.EXECUTION_CANCELLED)
    journal.put_execution(record)
    await journal.flush(record.id)
