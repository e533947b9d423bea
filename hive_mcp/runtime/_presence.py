"""A runtime's presence in the store, and how other processes reach it.

Processes that share a store cannot call each other: a server started by an
MCP host has no address an operator could connect to. So each runtime
records itself in the store and beats about once a second; it leases every
execution it runs, so a second process never runs the same execution; and a
server runtime polls the store for operator commands (``hive-mcp input``,
``hive-mcp cancel``) addressed to it, applies them through its own
``send_input`` and ``cancel``, and records the outcome for the sender.

A runtime counts as alive while its heartbeat is fresh and, when it is on
this machine, its process exists (so a killed server stops counting at once,
not only when its heartbeat goes stale).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import TaskGroup

from hive_mcp.errors import HiveError, RunError, StoreError, UsageError
from hive_mcp.store import Command, CommandKind, RuntimeInfo, RuntimeRole, Store

__all__ = [
    "HEARTBEAT_EVERY",
    "Presence",
    "busy_error",
    "holder_of",
    "is_alive",
    "live_runtimes",
    "send_command",
    "stale_after",
]

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 1.0
ENV_LEASE_EXPIRY = "HIVE_MCP_LEASE_EXPIRY"
DEFAULT_LEASE_EXPIRY = 8.0


def stale_after() -> float:
    """Seconds without a heartbeat after which a runtime counts as gone: its executions
    are taken over. ``HIVE_MCP_LEASE_EXPIRY`` (default 8: with a scan every second, a
    dead server's runs resume within 10 s); every process sharing a store must use the
    same value."""
    text = os.environ.get(ENV_LEASE_EXPIRY, "").strip()
    if not text:
        return DEFAULT_LEASE_EXPIRY
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value >= 2 * HEARTBEAT_EVERY or math.isinf(value):
        raise UsageError(
            f"{ENV_LEASE_EXPIRY} must be a number of seconds of at least {2 * HEARTBEAT_EVERY:g} "
            f"(two heartbeats), not {text!r}"
        )
    return value


POLL_EVERY = 0.25  # how often a server looks for operator commands
FORGET_AFTER = 86_400.0  # entries of runtimes that died without saying goodbye
HOST = socket.gethostname()

Clock = Callable[[], float]


def is_alive(runtime: RuntimeInfo, now: float) -> bool:
    """Whether ``runtime`` still runs: a fresh heartbeat and, on this host, a process."""
    if runtime.heartbeat_at < now - stale_after():
        return False
    return runtime.host != HOST or _process_exists(runtime.pid)


def _process_exists(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill would terminate it there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


async def live_runtimes(store: Store, now: float) -> list[RuntimeInfo]:
    """The runtimes alive at ``now``, most recent heartbeat first."""
    return [r for r in await store.list_runtimes() if is_alive(r, now)]


async def holder_of(store: Store, execution_id: str, now: float) -> RuntimeInfo | None:
    """The live runtime that runs the execution, if any."""
    holder = await store.execution_holder(execution_id)
    if holder is None:
        return None
    return next((r for r in await live_runtimes(store, now) if r.id == holder), None)


def busy_error(execution_id: str, holder: RuntimeInfo) -> UsageError:
    """The error for acting on an execution that another process runs."""
    if holder.role == "server":
        return UsageError(
            f"execution {execution_id!r} is being run by a hive-mcp server (pid {holder.pid}); "
            f"answer it with 'hive-mcp input {execution_id} TEXT' or stop it with "
            f"'hive-mcp cancel {execution_id}'"
        )
    return UsageError(
        f"execution {execution_id!r} is being run by another hive-mcp command "
        f"(pid {holder.pid}); answer it in that terminal, or stop that command first"
    )


class Presence:
    """One runtime's heartbeat, leases and (for a server) operator command queue."""

    def __init__(
        self,
        store: Store,
        *,
        role: RuntimeRole,
        clock: Clock,
        on_input: Callable[[str, str, str | None], Awaitable[str]],
        on_cancel: Callable[[str], Awaitable[bool]],
    ) -> None:
        stale_after()  # a bad HIVE_MCP_LEASE_EXPIRY is refused before anything runs
        now = clock()
        self.info = RuntimeInfo(
            id=f"rt_{uuid.uuid4().hex[:12]}",
            pid=os.getpid(),
            host=HOST,
            role=role,
            started_at=now,
            heartbeat_at=now,
        )
        self._store = store
        self._clock = clock
        self._on_input = on_input
        self._on_cancel = on_cancel

    async def open(self) -> None:
        """Record this runtime (alive from now on) and forget long-dead ones."""
        await self._store.beat(self.info)
        now = self._clock()
        for runtime in await self._store.list_runtimes():
            if runtime.heartbeat_at < now - FORGET_AFTER:
                await self._store.forget_runtime(runtime.id)

    async def run(self) -> None:
        """Beat, and as a server apply operator commands, until cancelled."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._beat)
            if self.info.role == "server":
                tg.start_soon(self._take_commands, tg)

    async def close(self) -> None:
        """Say goodbye: this runtime and its leases leave the store."""
        with anyio.CancelScope(shield=True):
            try:
                await self._store.forget_runtime(self.info.id)
            except StoreError:
                log.warning("could not remove runtime %s from the store", self.info.id)

    async def claim(self, execution_id: str) -> RuntimeInfo | None:
        """Lease the execution to this runtime; return the live runtime holding it instead."""
        live = await live_runtimes(self._store, self._clock())
        holder = await self._store.claim_execution(
            execution_id, self.info.id, live=[r.id for r in live if r.id != self.info.id]
        )
        if holder == self.info.id:
            return None
        return next(r for r in live if r.id == holder)

    async def elsewhere(self, execution_id: str) -> RuntimeInfo | None:
        """The live runtime other than this one that runs the execution, if any."""
        holder = await holder_of(self._store, execution_id, self._clock())
        return None if holder is None or holder.id == self.info.id else holder

    async def _beat(self) -> None:
        while True:
            await anyio.sleep(HEARTBEAT_EVERY)
            self.info.heartbeat_at = self._clock()
            try:
                await self._store.beat(self.info)
            except StoreError as exc:
                log.warning("heartbeat not recorded: %s", exc)

    async def _take_commands(self, tg: TaskGroup) -> None:
        while True:
            try:
                commands = await self._store.take_commands(self.info.id, now=self._clock())
            except StoreError as exc:
                log.warning("could not read operator commands: %s", exc)
                commands = []
            for command in commands:
                tg.start_soon(self._apply, command)
            await anyio.sleep(POLL_EVERY)

    async def _apply(self, command: Command) -> None:
        result: dict[str, Any] | None = None
        error: str | None = None
        try:
            if command.kind is CommandKind.INPUT:
                text, node = command.payload.get("text"), command.payload.get("node_id")
                delivered_to = await self._on_input(command.execution_id, str(text), node)
                result = {"delivered": True, "node_id": delivered_to}
            else:
                result = {"cancelled": await self._on_cancel(command.execution_id)}
        except HiveError as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("operator command %s failed", command.id)
            error = f"internal error: {exc!r}"
        with anyio.CancelScope(shield=True):
            try:
                await self._store.finish_command(
                    command.id, result=result, error=error, now=self._clock()
                )
            except StoreError as exc:  # the sender times out and says so; we keep serving
                log.warning("outcome of operator command %s not recorded: %s", command.id, exc)


async def send_command(
    store: Store,
    runtime: RuntimeInfo,
    execution_id: str,
    kind: CommandKind,
    payload: dict[str, Any] | None = None,
    *,
    clock: Clock,
    wait_seconds: float = 15.0,
    poll: float = 0.1,
) -> Command:
    """Queue a command for ``runtime`` and wait for its outcome (``RunError`` if none comes).

    If the runtime has not taken the command when the time runs out, the
    command is withdrawn, so it can never be applied later by surprise.
    """
    command = Command(
        execution_id=execution_id,
        runtime_id=runtime.id,
        kind=kind,
        payload=payload or {},
        created_at=clock(),
    )
    command_id = await store.add_command(command)
    with anyio.move_on_after(wait_seconds):
        while True:
            current = await store.get_command(command_id)
            if current is not None and current.done_at is not None:
                return current
            await anyio.sleep(poll)
    if await store.withdraw_command(command_id):
        raise RunError(
            f"the hive-mcp server (pid {runtime.pid}) did not take the {kind.value} command "
            f"within {wait_seconds:g} s, so it was withdrawn and nothing changed; check that the "
            "server is not stuck, then try again"
        )
    raise RunError(
        f"the hive-mcp server (pid {runtime.pid}) took the {kind.value} command but did not "
        f"finish it within {wait_seconds:g} s; 'hive-mcp events {execution_id}' shows what happens"
    )
