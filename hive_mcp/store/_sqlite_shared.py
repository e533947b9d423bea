"""The SQLite tables that processes sharing a store use, and retention's deletions.

``runtimes`` (who is alive), ``leases`` (who runs which execution) and
``commands`` (operator commands queued for a runtime); see ``_control`` for
what they mean. ``SQLiteStore`` gets these methods from ``SharedTables``;
they run through its ``_call``, like everything else it does, and
retention's scans and deletions run off the event loop, a batch of
executions per transaction so writers get their turn in between.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any, TypeVar

from hive_mcp.store._control import Command, CommandKind, RuntimeInfo
from hive_mcp.store._records import ExecutionStatus, ExecutionStub, RowCounts

__all__ = ["SHARED_SCHEMA", "SharedTables"]

DELETE_BATCH = 500  # executions per retention transaction
_FINAL = tuple(s.value for s in ExecutionStatus if s.is_final)

SHARED_SCHEMA = """
CREATE TABLE IF NOT EXISTS runtimes (
    id TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    role TEXT NOT NULL,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    execution_id TEXT PRIMARY KEY,
    runtime_id TEXT NOT NULL,
    leased_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS leases_by_runtime ON leases (runtime_id);
CREATE TABLE IF NOT EXISTS commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    execution_id TEXT NOT NULL,
    runtime_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    taken_at REAL,
    done_at REAL,
    result TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS commands_untaken ON commands (runtime_id) WHERE taken_at IS NULL;
CREATE INDEX IF NOT EXISTS commands_by_execution ON commands (execution_id);
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
"""
_COMMAND_COLUMNS = (
    "id, execution_id, runtime_id, kind, payload, created_at, taken_at, done_at, result, error"
)

T = TypeVar("T")


class SharedTables:
    """Runtimes, leases, commands and retention, for ``SQLiteStore``."""

    async def _call(
        self, fn: Callable[[sqlite3.Connection], T], *, off_loop: bool = False
    ) -> T:  # SQLiteStore._call
        raise NotImplementedError

    # -- processes sharing the store -------------------------------------

    async def beat(self, runtime: RuntimeInfo) -> None:
        """Record the runtime, or refresh its heartbeat."""
        row = (
            runtime.id,
            runtime.pid,
            runtime.host,
            runtime.role,
            runtime.started_at,
            runtime.heartbeat_at,
        )
        await self._call(
            lambda c: c.execute(
                "INSERT INTO runtimes VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) "
                "DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                row,
            )
        )

    async def forget_runtime(self, runtime_id: str) -> None:
        """Remove the runtime, its leases and the commands it never took."""

        def run(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                conn.execute("DELETE FROM runtimes WHERE id = ?", (runtime_id,))
                conn.execute("DELETE FROM leases WHERE runtime_id = ?", (runtime_id,))
                conn.execute(
                    "DELETE FROM commands WHERE runtime_id = ? AND taken_at IS NULL", (runtime_id,)
                )

        await self._call(run)

    async def list_runtimes(self) -> list[RuntimeInfo]:
        """Every recorded runtime, most recent heartbeat first."""
        rows = await self._call(
            lambda c: c.execute(
                "SELECT id, pid, host, role, started_at, heartbeat_at FROM runtimes "
                "ORDER BY heartbeat_at DESC"
            ).fetchall()
        )
        return [
            RuntimeInfo(id=i, pid=p, host=h, role=r, started_at=s, heartbeat_at=b)
            for i, p, h, r, s, b in rows
        ]

    async def secret(self, name: str, first: bytes) -> bytes:
        """The key stored under ``name``; ``first`` becomes it when there is none yet."""

        def run(conn: sqlite3.Connection) -> bytes:
            with _transaction(conn):
                conn.execute("INSERT OR IGNORE INTO secrets VALUES (?, ?)", (name, first))
                return bytes(
                    conn.execute("SELECT value FROM secrets WHERE name = ?", (name,)).fetchone()[0]
                )

        return await self._call(run)

    async def claim_execution(
        self, execution_id: str, runtime_id: str, *, live: Collection[str]
    ) -> str:
        """Lease the execution to ``runtime_id`` unless a live runtime holds it."""

        def run(conn: sqlite3.Connection) -> str:
            with _transaction(conn):
                row = conn.execute(
                    "SELECT runtime_id FROM leases WHERE execution_id = ?", (execution_id,)
                ).fetchone()
                if row is not None and row[0] != runtime_id and row[0] in live:
                    return str(row[0])
                conn.execute(
                    "INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT (execution_id) DO UPDATE "
                    "SET runtime_id = excluded.runtime_id, leased_at = excluded.leased_at",
                    (execution_id, runtime_id, time.time()),
                )
                return runtime_id

        return await self._call(run)

    async def execution_holder(self, execution_id: str) -> str | None:
        """The runtime that last leased the execution, if any."""
        row = await self._call(
            lambda c: c.execute(
                "SELECT runtime_id FROM leases WHERE execution_id = ?", (execution_id,)
            ).fetchone()
        )
        return None if row is None else str(row[0])

    async def add_command(self, command: Command) -> int:
        """Queue the command; return its id."""
        row = (
            command.execution_id,
            command.runtime_id,
            command.kind.value,
            json.dumps(command.payload),
            command.created_at,
        )
        cursor = await self._call(
            lambda c: c.execute(
                "INSERT INTO commands (execution_id, runtime_id, kind, payload, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                row,
            )
        )
        return int(cursor.lastrowid or 0)

    async def take_commands(self, runtime_id: str, *, now: float) -> list[Command]:
        """Take the runtime's queued commands, oldest first."""

        def run(conn: sqlite3.Connection) -> list[Any]:
            # The common case, nothing queued, is a read: no write lock every poll.
            if not conn.execute(
                "SELECT 1 FROM commands WHERE runtime_id = ? AND taken_at IS NULL LIMIT 1",
                (runtime_id,),
            ).fetchone():
                return []
            return conn.execute(
                "UPDATE commands SET taken_at = ? WHERE runtime_id = ? AND taken_at IS NULL "
                f"RETURNING {_COMMAND_COLUMNS}",
                (now, runtime_id),
            ).fetchall()

        rows = await self._call(run)
        return sorted((_command(r) for r in rows), key=lambda c: c.id)

    async def finish_command(
        self, command_id: int, *, result: dict[str, Any] | None, error: str | None, now: float
    ) -> None:
        """Record the command's outcome."""
        row = (now, None if result is None else json.dumps(result), error, command_id)
        await self._call(
            lambda c: c.execute(
                "UPDATE commands SET done_at = ?, result = ?, error = ? WHERE id = ?", row
            )
        )

    async def get_command(self, command_id: int) -> Command | None:
        """Return the command, or ``None``."""
        row = await self._call(
            lambda c: c.execute(
                f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE id = ?", (command_id,)
            ).fetchone()
        )
        return None if row is None else _command(row)

    async def withdraw_command(self, command_id: int) -> bool:
        """Delete the command unless it was taken."""
        cursor = await self._call(
            lambda c: c.execute(
                "DELETE FROM commands WHERE id = ? AND taken_at IS NULL", (command_id,)
            )
        )
        return cursor.rowcount > 0

    # -- retention ----------------------------------------------------------

    async def execution_stubs(self) -> list[ExecutionStub]:
        """The fields retention decides on, for every execution (read off the loop)."""

        def run(conn: sqlite3.Connection) -> list[ExecutionStub]:
            rows = conn.execute(
                "SELECT id, agent, status, json_extract(body, '$.parent_id'), created_at, "
                "json_extract(body, '$.updated_at') FROM executions"
            )
            return [
                ExecutionStub(
                    id=i,
                    agent=a,
                    status=ExecutionStatus(s),
                    parent_id=p,
                    created_at=c,
                    updated_at=c if u is None else u,
                )
                for i, a, s, p, c, u in rows
            ]

        return await self._call(run, off_loop=True)

    async def delete_executions(self, ids: Collection[str], *, dry_run: bool = False) -> RowCounts:
        """Delete the final executions among ``ids`` and their rows, a batch per transaction."""
        pending = list(ids)
        total = RowCounts()
        for start in range(0, len(pending), DELETE_BATCH):
            batch = pending[start : start + DELETE_BATCH]
            counts = await self._call(
                functools.partial(_delete_batch, batch, dry_run=dry_run), off_loop=True
            )
            total = RowCounts(
                executions=total.executions + counts.executions,
                events=total.events + counts.events,
                checkpoints=total.checkpoints + counts.checkpoints,
                node_states=total.node_states + counts.node_states,
            )
        return total


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection, *, write: bool = True) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; a read-only one (``write=False``) rolls back."""
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT" if write else "ROLLBACK")


def _command(row: Any) -> Command:
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


def _delete_batch(ids: list[str], conn: sqlite3.Connection, *, dry_run: bool) -> RowCounts:
    # A dry run reads in a plain transaction and rolls back: it never takes the write lock.
    with _transaction(conn, write=not dry_run):
        marks = ", ".join("?" * len(ids))
        doomed = [
            r[0]
            for r in conn.execute(
                f"SELECT id FROM executions WHERE id IN ({marks}) "
                f"AND status IN ({', '.join('?' * len(_FINAL))})",
                [*ids, *_FINAL],
            )
        ]
        if not doomed:
            return RowCounts()
        marks = ", ".join("?" * len(doomed))
        counts: dict[str, int] = {}
        for table in ("events", "checkpoints", "node_states"):
            where = f"FROM {table} WHERE execution_id IN ({marks})"
            if dry_run:
                counts[table] = conn.execute(f"SELECT COUNT(*) {where}", doomed).fetchone()[0]
            else:
                counts[table] = conn.execute(f"DELETE {where}", doomed).rowcount
        if not dry_run:
            conn.execute(f"DELETE FROM leases WHERE execution_id IN ({marks})", doomed)
            conn.execute(f"DELETE FROM commands WHERE execution_id IN ({marks})", doomed)
            conn.execute(f"DELETE FROM executions WHERE id IN ({marks})", doomed)
        return RowCounts(executions=len(doomed), **counts)
