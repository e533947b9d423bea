"""The PostgreSQL store: the ``Store`` contract on a database many hosts can share.

Each call checks a connection out of a psycopg ``AsyncConnectionPool``
(``pool_size`` connections at most), runs its statements in autocommit or in
one transaction, and gives the connection back. The pool is opened on first
use: ``_postgres_open`` makes the first connection alone, so a wrong
password or an unreachable server is reported as such, and creates or checks
the schema. Where SQLite serialises writers with its file lock, this store
relies on row locks: ``claim_execution`` is one ``INSERT ... ON CONFLICT DO
UPDATE ... WHERE`` on the lease row, ``take_commands`` updates the rows it
locked with ``FOR UPDATE SKIP LOCKED``, so two takers never get one command,
and retention locks the final executions it deletes.

A write is one transaction; when it fails it is tried again one execution at
a time, as the SQLite store does, so ``StoreWriteError`` names exactly the
executions that got nothing stored. Runtimes, leases, commands and retention
are in ``_postgres_shared``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from typing import Any

import anyio
import psycopg
import psycopg_pool

from hive_mcp._values import clean_text
from hive_mcp.errors import LeaseLostError, StoreError, StoreWriteError
from hive_mcp.events import Event, EventType
from hive_mcp.store._pg_url import redact_url
from hive_mcp.store._postgres_open import check_url, ensure_schema, explain, scrub
from hive_mcp.store._postgres_shared import Conn, SharedTables
from hive_mcp.store._records import (
    Checkpoint,
    ExecutionRecord,
    ExecutionStatus,
    WriteBatch,
    executions_of,
)
from hive_mcp.store._sqlite import _by_execution, _json, _record_json

__all__ = ["PostgresStore"]

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10
CHANNEL = "hive_mcp_commits"  # NOTIFY payload: "<execution id> <last seq>"
LISTEN_RETRY_S = (0.5, 5.0)  # first and longest pause before listening again


class PostgresStore(SharedTables):
    """A ``Store`` in a PostgreSQL database (its tables created on first use)."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = check_url(url)
        self.shown = redact_url(url)
        self.pool_size = pool_size
        self._pool: psycopg_pool.AsyncConnectionPool[Conn] | None = None
        self._opening = anyio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresStore({self.shown!r})"

    # -- connections -------------------------------------------------------

    async def _open_pool(self) -> psycopg_pool.AsyncConnectionPool[Conn]:
        async with self._opening:
            if self._closed:
                raise StoreError(f"the PostgreSQL store {self.shown} is closed")
            if self._pool is not None:
                return self._pool
            try:
                first = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
                )
            except (psycopg.Error, OSError) as exc:
                raise explain(exc, self.url) from None  # the cause may quote the password
            try:
                await ensure_schema(first, self.url)
            except psycopg.Error as exc:
                raise explain(exc, self.url) from None
            finally:
                await first.close()
            pool: psycopg_pool.AsyncConnectionPool[Conn] = psycopg_pool.AsyncConnectionPool(
                self.url,
                min_size=1,
                max_size=self.pool_size,
                kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
                name="hive-mcp",
                open=False,
            )
            await pool.open()
            self._pool = pool
            log.debug("store %s: pool of up to %d connections open", self.shown, self.pool_size)
            return pool

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Conn]:
        """A pooled connection; psycopg's errors come out as a ``StoreError``."""
        pool = self._pool or await self._open_pool()
        try:
            async with pool.connection() as conn:
                yield conn
        except psycopg_pool.PoolTimeout as exc:
            raise StoreError(
                f"store {self.shown}: no database connection free or possible in "
                f"{pool.timeout:g} s ({scrub(str(exc), self.url)}): is the server up?"
            ) from None
        except psycopg_pool.PoolClosed:
            raise StoreError(f"the PostgreSQL store {self.shown} is closed") from None
        except (psycopg.Error, UnicodeEncodeError) as exc:
            said = scrub(" ".join(str(exc).split()), self.url)
            raise StoreError(f"store {self.shown}: {said}") from None

    # -- executions, events, checkpoints -------------------------------------

    async def write(self, batch: WriteBatch) -> None:
        """Write the batch in one transaction; if that fails, each execution's part alone.

        ``StoreWriteError`` names the executions that got nothing stored.
        """
        if not batch:
            return
        try:
            await self._write(batch, batch.leases)
            return
        except StoreError as exc:
            singles = _by_execution(batch, 0)  # one execution each
            if len(singles) == 1:
                failed = dict.fromkeys(executions_of(batch), str(exc))
                raise StoreWriteError(
                    f"{len(failed)} execution(s) not stored: {exc}", failed
                ) from None
        failed = {}
        for single in singles:
            try:
                await self._write(single, batch.leases)
            except StoreError as single_exc:
                failed.update(dict.fromkeys(executions_of(single), str(single_exc)))
        if failed:
            reasons = sorted(set(failed.values()))
            raise StoreWriteError(
                f"{len(failed)} execution(s) not stored: {'; '.join(reasons)}", failed
            )

    async def _write(self, batch: WriteBatch, leases: dict[str, str]) -> None:
        executions = [
            (
                r.id,
                r.agent,
                r.status.value,
                r.created_at,
                r.updated_at,
                r.parent_id,
                r.entry_point,
                r.idempotency_key,
                _record_json(r),
            )
            for r in batch.executions
        ]
        events = [
            (e.execution_id, e.seq, e.type.value, e.node_id, e.timestamp, _json(e.data))
            for e in batch.events
        ]
        checkpoints = [
            (c.execution_id, c.event_seq, c.created_at, _json(c.state)) for c in batch.checkpoints
        ]
        node_states = [(s.execution_id, s.key, clean_text(s.state_json)) for s in batch.node_states]
        fenced = {e: leases[e] for e in executions_of(batch) if e in leases}
        async with self._conn() as conn, conn.transaction(), conn.cursor() as cur:
            if fenced:
                await _check_leases(cur, fenced)
            if executions:
                await cur.executemany(
                    "INSERT INTO executions (id, agent, status, created_at, updated_at, "
                    "parent_id, entry_point, idempotency_key, body) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
                    "status = EXCLUDED.status, updated_at = EXCLUDED.updated_at, "
                    "parent_id = EXCLUDED.parent_id, entry_point = EXCLUDED.entry_point, "
                    "idempotency_key = EXCLUDED.idempotency_key, body = EXCLUDED.body",
                    executions,
                )
            if events:
                await cur.executemany(
                    "INSERT INTO events (execution_id, seq, type, node_id, timestamp, data) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    events,
                )
            if checkpoints:
                await cur.executemany(
                    "INSERT INTO checkpoints (execution_id, event_seq, created_at, state) "
                    "VALUES (%s, %s, %s, %s)",
                    checkpoints,
                )
            if events:  # delivered to every listener when (and only if) this commits
                last: dict[str, int] = {}
                for e in batch.events:
                    last[e.execution_id] = max(e.seq, last.get(e.execution_id, 0))
                await cur.executemany(
                    "SELECT pg_notify(%s, %s)",
                    [(CHANNEL, f"{eid} {seq}") for eid, seq in last.items()],
                )
            if node_states:
                await cur.executemany(
                    "INSERT INTO node_states (execution_id, key, state) VALUES (%s, %s, %s) "
                    "ON CONFLICT (execution_id, key) DO UPDATE SET state = EXCLUDED.state",
                    node_states,
                )

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        """Return the execution, or ``None``."""
        row = await self._fetchone("SELECT body FROM executions WHERE id = %s", (execution_id,))
        return None if row is None else ExecutionRecord.model_validate_json(row[0])

    async def find_execution(self, agent: str, idempotency_key: str) -> ExecutionRecord | None:
        """Return the execution started with this idempotency key."""
        row = await self._fetchone(
            "SELECT body FROM executions WHERE agent = %s AND idempotency_key = %s "
            "ORDER BY created_at LIMIT 1",
            (agent, idempotency_key),
        )
        return None if row is None else ExecutionRecord.model_validate_json(row[0])

    async def list_executions(
        self,
        *,
        agent: str | None = None,
        statuses: Collection[ExecutionStatus] | None = None,
        limit: int = 100,
        parent: str | None = None,
        entry_point: str | None = None,
    ) -> list[ExecutionRecord]:
        """Return executions, newest first."""
        clauses: list[str] = []
        params: list[Any] = []
        filters = (("parent_id", parent), ("entry_point", entry_point), ("agent", agent))
        for column, value in filters:
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        if statuses:
            clauses.append("status = ANY(%s::text[])")
            params.append([s.value for s in statuses])
        sql = "SELECT body FROM executions"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        # COLLATE "C": ties ordered by id as SQLite orders text, whatever the database's locale.
        sql += ' ORDER BY created_at DESC, id COLLATE "C" LIMIT %s'
        params.append(limit)
        rows = await self._fetchall(sql, params)
        return [ExecutionRecord.model_validate_json(r[0]) for r in rows]

    async def read_events(
        self,
        execution_id: str,
        *,
        after: int = 0,
        limit: int = 1000,
        types: Collection[EventType] | None = None,
    ) -> list[Event]:
        """Return stored events with ``seq > after``, in order."""
        sql = (
            "SELECT seq, type, node_id, timestamp, data FROM events "
            "WHERE execution_id = %s AND seq > %s"
        )
        params: list[Any] = [execution_id, after]
        if types:
            sql += " AND type = ANY(%s::text[])"
            params.append([t.value for t in types])
        sql += " ORDER BY seq LIMIT %s"
        params.append(limit)
        rows = await self._fetchall(sql, params)
        return [
            Event(
                execution_id=execution_id,
                seq=seq,
                type=EventType(kind),
                node_id=node_id,
                timestamp=ts,
                data=json.loads(data),
            )
            for seq, kind, node_id, ts, data in rows
        ]

    async def last_seq(self, execution_id: str) -> int:
        """Return the highest stored sequence number of the execution."""
        row = await self._fetchone(
            "SELECT MAX(seq) FROM events WHERE execution_id = %s", (execution_id,)
        )
        return int(row[0] or 0) if row else 0

    async def last_checkpoint(self, execution_id: str) -> Checkpoint | None:
        """Return the newest checkpoint of the execution."""
        row = await self._fetchone(
            "SELECT event_seq, created_at, state FROM checkpoints "
            "WHERE execution_id = %s ORDER BY event_seq DESC LIMIT 1",
            (execution_id,),
        )
        if row is None:
            return None
        event_seq, created_at, state = row
        return Checkpoint(
            execution_id=execution_id,
            event_seq=event_seq,
            created_at=created_at,
            state=json.loads(state),
        )

    async def load_node_state(self, execution_id: str, key: str) -> dict[str, Any] | None:
        """Return the node state saved under ``key``."""
        row = await self._fetchone(
            "SELECT state FROM node_states WHERE execution_id = %s AND key = %s",
            (execution_id, key),
        )
        return None if row is None else dict(json.loads(row[0]))

    async def watch(self, on_commit: Callable[[str, int], None]) -> None:
        """Listen for commits (``LISTEN``) on a connection of its own, until cancelled.

        A lost connection is opened again after a pause (0.5 s doubling to 5 s);
        commits made meanwhile are seen by waits when they end.
        """
        pause = LISTEN_RETRY_S[0]
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
                )
            except (psycopg.Error, OSError) as exc:
                log.warning(
                    "store %s: cannot listen for commits (%s)", self.shown, explain(exc, self.url)
                )
            else:
                try:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    pause = LISTEN_RETRY_S[0]
                    async for notify in conn.notifies():
                        execution_id, _, seq = notify.payload.partition(" ")
                        if seq.isdigit():
                            on_commit(execution_id, int(seq))
                except psycopg.Error as exc:
                    log.warning(
                        "store %s: stopped listening for commits (%s)",
                        self.shown,
                        scrub(str(exc), self.url),
                    )
                finally:
                    with anyio.CancelScope(shield=True):
                        await conn.close()
            await anyio.sleep(pause)
            pause = min(pause * 2, LISTEN_RETRY_S[1])

    async def close(self) -> None:
        """Close the pool's connections; the store cannot be used afterwards."""
        with anyio.CancelScope(shield=True):  # closing must happen, even when cancelled
            async with self._opening:
                self._closed = True
                pool, self._pool = self._pool, None
            if pool is not None:
                await pool.close()


async def _check_leases(cur: Any, fenced: dict[str, str]) -> None:
    """Refuse the write when an execution's lease moved to another runtime.

    ``FOR SHARE`` holds the lease rows until the write commits, so a takeover
    (an update of the row) waits for it: what was written before the lease
    moved is the old holder's, nothing after it.
    """
    await cur.execute(
        "SELECT execution_id, runtime_id FROM leases WHERE execution_id = ANY(%s) FOR SHARE",
        (list(fenced),),
    )
    for execution_id, holder in await cur.fetchall():
        if holder != fenced[execution_id]:
            raise LeaseLostError(
                f"execution {execution_id} was taken over by runtime {holder}; "
                f"runtime {fenced[execution_id]} no longer writes it"
            )
