"""The PostgreSQL tables that processes sharing a store use, and retention's deletions.

``runtimes``, ``leases`` and ``commands`` (see ``_control``). ``PostgresStore``
gets these methods from ``SharedTables``. Where the SQLite store serialises
these on its file's write lock, here row locks decide: a claim is one upsert
whose ``WHERE`` leaves a live holder's lease alone, a take updates only the
rows it locked with ``FOR UPDATE SKIP LOCKED``, and retention locks the final
executions it deletes, a batch of them per transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from typing import Any

import psycopg

from hive_mcp.errors import StoreError
from hive_mcp.store._control import Command, CommandKind, RuntimeInfo
from hive_mcp.store._records import ExecutionStatus, ExecutionStub, RowCounts

__all__ = ["Conn", "SharedTables"]

DELETE_BATCH = 500  # executions per retention transaction
_FINAL = [s.value for s in ExecutionStatus if s.is_final]
_COMMAND_COLUMNS = (
    "id, execution_id, runtime_id, kind, payload, created_at, taken_at, done_at, result, error"
)

Conn = psycopg.AsyncConnection[tuple[Any, ...]]


class SharedTables:
    """Runtimes, leases, commands and retention, for ``PostgresStore``."""

    shown: str  # the store's URL, password redacted

    def _conn(self) -> AbstractAsyncContextManager[Conn]:  # PostgresStore._conn
        raise NotImplementedError

    async def _fetchall(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        async with self._conn() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

    async def _fetchone(self, sql: str, params: Any = None) -> tuple[Any, ...] | None:
        async with self._conn() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchone()

    async def _execute(self, sql: str, params: Any = None) -> int:
        async with self._conn() as conn:
            cur = await conn.execute(sql, params)
            return cur.rowcount

    # -- processes sharing the store -------------------------------------

    async def secret(self, name: str, first: bytes) -> bytes:
        """The key stored under ``name``; ``first`` becomes it when there is none yet."""
        await self._execute(
            "INSERT INTO secrets (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
            (name, first),
        )
        row = await self._fetchone("SELECT value FROM secrets WHERE name = %s", (name,))
        assert row is not None  # inserted above, and secrets are never deleted
        return bytes(row[0])

    async def beat(self, runtime: RuntimeInfo) -> None:
        """Record the runtime, or refresh its heartbeat."""
        await self._execute(
            "INSERT INTO runtimes (id, pid, host, role, started_at, heartbeat_at) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) "
            "DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at",
            (
                runtime.id,
                runtime.pid,
                runtime.host,
                runtime.role,
                runtime.started_at,
                runtime.heartbeat_at,
            ),
        )

    async def forget_runtime(self, runtime_id: str) -> None:
        """Remove the runtime, its leases and the commands it never took."""
        async with self._conn() as conn, conn.transaction():
            await conn.execute("DELETE FROM runtimes WHERE id = %s", (runtime_id,))
            await conn.execute("DELETE FROM leases WHERE runtime_id = %s", (runtime_id,))
            await conn.execute(
                "DELETE FROM commands WHERE runtime_id = %s AND taken_at IS NULL", (runtime_id,)
            )

    async def list_runtimes(self) -> list[RuntimeInfo]:
        """Every recorded runtime, most recent heartbeat first."""
        rows = await self._fetchall(
            "SELECT id, pid, host, role, started_at, heartbeat_at FROM runtimes "
            "ORDER BY heartbeat_at DESC"
        )
        return [
            RuntimeInfo(id=i, pid=p, host=h, role=r, started_at=s, heartbeat_at=b)
            for i, p, h, r, s, b in rows
        ]

    async def claim_execution(
        self, execution_id: str, runtime_id: str, *, live: Collection[str]
    ) -> str:
        """Lease the execution to ``runtime_id`` unless a live runtime holds it.

        One statement decides: the upsert's ``WHERE`` leaves a lease held by
        another live runtime alone (and locks it), and the holder is then read
        under that lock.
        """
        async with self._conn() as conn, conn.transaction():
            won = await (
                await conn.execute(
                    "INSERT INTO leases (execution_id, runtime_id, leased_at) "
                    "VALUES (%s, %s, %s) "
                    "ON CONFLICT (execution_id) DO UPDATE SET runtime_id = EXCLUDED.runtime_id, "
                    "leased_at = EXCLUDED.leased_at WHERE leases.runtime_id = EXCLUDED.runtime_id "
                    "OR NOT (leases.runtime_id = ANY(%s::text[])) RETURNING runtime_id",
                    (execution_id, runtime_id, time.time(), list(live)),
                )
            ).fetchone()
            if won is not None:
                return str(won[0])
            holder = await (
                await conn.execute(
                    "SELECT runtime_id FROM leases WHERE execution_id = %s", (execution_id,)
                )
            ).fetchone()
            if holder is None:  # unreachable: the conflicting row is locked until we commit
                raise StoreError(f"store {self.shown}: the lease of {execution_id} vanished")
            return str(holder[0])

    async def execution_holder(self, execution_id: str) -> str | None:
        """The runtime that last leased the execution, if any."""
        row = await self._fetchone(
            "SELECT runtime_id FROM leases WHERE execution_id = %s", (execution_id,)
        )
        return None if row is None else str(row[0])

    async def add_command(self, command: Command) -> int:
        """Queue the command; return its id."""
        row = await self._fetchone(
            "INSERT INTO commands (execution_id, runtime_id, kind, payload, created_at) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (
                command.execution_id,
                command.runtime_id,
                command.kind.value,
                json.dumps(command.payload),
                command.created_at,
            ),
        )
        assert row is not None  # INSERT ... RETURNING always returns the row
        return int(row[0])

    async def take_commands(self, runtime_id: str, *, now: float) -> list[Command]:
        """Take the runtime's queued commands, oldest first; a command another taker
        holds (locked, not yet committed) is skipped, so each is taken once."""
        rows = await self._fetchall(
            "UPDATE commands SET taken_at = %s WHERE taken_at IS NULL AND id IN ("
            "SELECT id FROM commands WHERE runtime_id = %s AND taken_at IS NULL "
            f"ORDER BY id FOR UPDATE SKIP LOCKED) RETURNING {_COMMAND_COLUMNS}",
            (now, runtime_id),
        )
        return sorted((_command(r) for r in rows), key=lambda c: c.id)

    async def finish_command(
        self, command_id: int, *, result: dict[str, Any] | None, error: str | None, now: float
    ) -> None:
        """Record the command's outcome."""
        await self._execute(
            "UPDATE commands SET done_at = %s, result = %s, error = %s WHERE id = %s",
            (now, None if result is None else json.dumps(result), error, command_id),
        )

    async def get_command(self, command_id: int) -> Command | None:
        """Return the command, or ``None``."""
        row = await self._fetchone(
            f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE id = %s", (command_id,)
        )
        return None if row is None else _command(row)

    async def withdraw_command(self, command_id: int) -> bool:
        """Delete the command unless it was taken."""
        deleted = await self._execute(
            "DELETE FROM commands WHERE id = %s AND taken_at IS NULL", (command_id,)
        )
        return deleted > 0

    # -- retention ----------------------------------------------------------

    async def execution_stubs(self) -> list[ExecutionStub]:
        """The fields retention decides on, for every execution."""
        rows = await self._fetchall(
            "SELECT id, agent, status, parent_id, created_at, updated_at FROM executions"
        )
        return [
            ExecutionStub(
                id=i,
                agent=a,
                status=ExecutionStatus(s),
                parent_id=p,
                created_at=c,
                updated_at=u,
            )
            for i, a, s, p, c, u in rows
        ]

    async def delete_executions(self, ids: Collection[str], *, dry_run: bool = False) -> RowCounts:
        """Delete the final executions among ``ids`` and their rows, a batch per transaction."""
        pending = list(ids)
        total = RowCounts()
        for start in range(0, len(pending), DELETE_BATCH):
            counts = await self._delete_batch(pending[start : start + DELETE_BATCH], dry_run)
            total = RowCounts(
                executions=total.executions + counts.executions,
                events=total.events + counts.events,
                checkpoints=total.checkpoints + counts.checkpoints,
                node_states=total.node_states + counts.node_states,
            )
        return total

    async def _delete_batch(self, ids: list[str], dry_run: bool) -> RowCounts:
        # Deleting locks the final executions first, so none turns back to running
        # (a resume) between the choice and the deletion. A dry run only reads.
        lock = "" if dry_run else " FOR UPDATE"
        async with self._conn() as conn, conn.transaction():
            doomed = [
                r[0]
                for r in await (
                    await conn.execute(
                        "SELECT id FROM executions WHERE id = ANY(%s::text[]) "
                        f"AND status = ANY(%s::text[]){lock}",
                        (ids, _FINAL),
                    )
                ).fetchall()
            ]
            if not doomed:
                return RowCounts()
            counts: dict[str, int] = {}
            for table in ("events", "checkpoints", "node_states"):
                where = f"FROM {table} WHERE execution_id = ANY(%s::text[])"
                if dry_run:
                    row = await (
                        await conn.execute(f"SELECT COUNT(*) {where}", (doomed,))
                    ).fetchone()
                    counts[table] = int(row[0]) if row else 0
                else:
                    cur = await conn.execute(f"DELETE {where}", (doomed,))
                    counts[table] = cur.rowcount
            if not dry_run:
                for sql in (
                    "DELETE FROM leases WHERE execution_id = ANY(%s::text[])",
                    "DELETE FROM commands WHERE execution_id = ANY(%s::text[])",
                    "DELETE FROM executions WHERE id = ANY(%s::text[])",
                ):
                    await conn.execute(sql, (doomed,))
            return RowCounts(executions=len(doomed), **counts)


def _command(row: tuple[Any, ...]) -> Command:
    id, execution_id, runtime_id, kind, payload, created, taken, done, result, error = row
    return Command(
        id=id,
        execution_id=execution_id,
        runtime_id=runtime_id,
        kind=CommandKind(kind),
        payload=json.loads(payload),
        created_at=created,
        taken_at=taken,
        done_at=done,
        result=None if result is None else json.loads(result),
        error=error,
    )
