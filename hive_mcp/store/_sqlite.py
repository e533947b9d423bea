"""The default store: one SQLite file in WAL mode.

Statements run on the event-loop thread. With WAL and ``synchronous=NORMAL``
a commit appends to the WAL without an fsync, which takes tens of
microseconds, while a hop to a worker thread costs about 200 µs on our
machines. The slow things happen off the loop: when another process holds the
write lock, the call waits for it in a worker thread; WAL checkpoints (the
only fsyncs) run in a worker thread on a connection of their own, every
``CHECKPOINT_EVERY_ROWS`` rows written. Scans and deletions that touch many
rows (retention) run in a worker thread too. A large group-commit batch is
written as several transactions of about ``CHUNK_ROWS`` rows (a saved
conversation counts one row per 2 KB), each holding
everything of its executions (so a checkpoint and its event still commit
together), with a yield between them: 500 busy executions batch thousands of
rows, and one transaction of them held the loop for 20-40 ms, which every MCP
request queued behind. ``path=":memory:"`` gives a
private in-memory store with the same code, for tests and benchmarks.

Opening never needs the write lock on a store that is up to date, and waits
for it (``BUSY_TIMEOUT_MS``) when it must add tables, so a command can open
the store while a server is writing to it. ``_sqlite_open`` does the opening:
it refuses a damaged, read-only or full store with a message saying which.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
from pydantic_core import PydanticSerializationError

from hive_mcp._values import clean_text
from hive_mcp.errors import LeaseLostError, StoreError, StoreWriteError
from hive_mcp.events import Event, EventType
from hive_mcp.store._records import (
    Checkpoint,
    ExecutionRecord,
    ExecutionStatus,
    WriteBatch,
    executions_of,
)
from hive_mcp.store._sqlite_open import BackgroundCheck, open_connection
from hive_mcp.store._sqlite_shared import SHARED_SCHEMA, SharedTables

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CHECKPOINT_EVERY_ROWS = 20_000
CHUNK_ROWS = 1024  # rows per transaction of a large batch (256 doubled the p50 under load)
BUSY_TIMEOUT_MS = 5_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_by_agent ON executions (agent, created_at);
CREATE INDEX IF NOT EXISTS executions_by_time ON executions (created_at);
CREATE INDEX IF NOT EXISTS executions_by_key
    ON executions (agent, json_extract(body, '$.idempotency_key'));
CREATE TABLE IF NOT EXISTS events (
    execution_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    node_id TEXT,
    timestamp REAL NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (execution_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    execution_id TEXT NOT NULL,
    event_seq INTEGER NOT NULL,
    created_at REAL NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (execution_id, event_seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS node_states (
    execution_id TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (execution_id, key)
) WITHOUT ROWID;
"""

T = TypeVar("T")


class SQLiteStore(SharedTables):
    """A ``Store`` on one SQLite file (created, with its folder, when missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._limiter = anyio.CapacityLimiter(1)
        self._in_thread = 0  # calls using the connection from a worker thread
        self._unyielded = 0  # reads answered without yielding to other tasks
        self._rows_since_checkpoint = 0
        self._background_check: BackgroundCheck | None = None
        self._closed = False
        self._conn = self._open()

    def _open(self) -> sqlite3.Connection:
        """Open the store, refusing damage with a StoreError that says what is wrong
        (see ``_sqlite_open``); a store too large to check at once is checked in a
        worker thread."""
        if self.path == ":memory:":
            conn = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=0
            )
            conn.executescript(_SCHEMA + SHARED_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            _add_key_index(conn, self.path)
            return conn
        conn, checked = open_connection(
            Path(self.path),
            schema=_SCHEMA + SHARED_SCHEMA,
            version=SCHEMA_VERSION,
            busy_timeout_ms=BUSY_TIMEOUT_MS,
        )
        if not checked:
            self._background_check = BackgroundCheck(Path(self.path))
        _add_key_index(conn, self.path)
        return conn

    async def _call(
        self, fn: Callable[[sqlite3.Connection], T], *, read: bool = True, off_loop: bool = False
    ) -> T:
        # A read answers at once: a yield would queue it behind every busy
        # execution (milliseconds under load). Every 16th read in a row still
        # yields, so a caller looping on reads that return at once (a poller
        # with events waiting) cannot starve the other tasks. Writes yield.
        self._unyielded += 1
        if not read or off_loop or self._unyielded >= 16:
            self._unyielded = 0
            await anyio.lowlevel.checkpoint()
        else:
            await anyio.lowlevel.checkpoint_if_cancelled()
        if not self._in_thread and not off_loop:
            try:
                return fn(self._conn)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise StoreError(f"store {self.path}: {exc}") from exc
            except sqlite3.Error as exc:
                raise StoreError(f"store {self.path}: {exc}") from exc
        # Another process holds the lock (or a waiting call is already queued,
        # or the work is long): wait in a worker thread, in order, so the loop
        # keeps running.
        self._in_thread += 1
        try:
            return await anyio.to_thread.run_sync(self._waiting, fn, limiter=self._limiter)
        finally:
            self._in_thread -= 1

    def _waiting(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        try:
            return fn(self._conn)
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: {exc}") from exc
        finally:
            self._conn.execute("PRAGMA busy_timeout=0")

    async def _maybe_checkpoint_wal(self, rows: int) -> None:
        self._rows_since_checkpoint += rows
        if self._rows_since_checkpoint < CHECKPOINT_EVERY_ROWS or self.path == ":memory:":
            return
        self._rows_since_checkpoint = 0

        def checkpoint() -> None:
            # Its own connection: a PASSIVE checkpoint never blocks our readers or writer.
            conn = sqlite3.connect(self.path, isolation_level=None)
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                conn.close()

        try:
            await anyio.to_thread.run_sync(checkpoint)
        except sqlite3.Error as exc:
            # The rows are committed (in the WAL); moving them into the main file
            # can wait for the next checkpoint, so this is no failed write.
            self._rows_since_checkpoint = CHECKPOINT_EVERY_ROWS
            log.warning("store %s: WAL checkpoint failed (%s); trying again later", self.path, exc)

    async def write(self, batch: WriteBatch) -> None:
        """Write the batch: each execution's part of it in one transaction.

        A transaction that fails is tried again one execution at a time, so
        one execution's failure leaves the others stored; ``StoreWriteError``
        names the executions that got nothing stored.
        """
        failed: dict[str, str] = {}
        leases = batch.leases
        for part in _by_execution(batch, CHUNK_ROWS):
            try:
                await self._write(part, leases)
            except StoreError as exc:
                singles = _by_execution(part, 0)  # one execution each
                if len(singles) == 1:
                    failed.update(dict.fromkeys(executions_of(part), str(exc)))
                    continue
                for single in singles:
                    try:
                        await self._write(single, leases)
                    except StoreError as single_exc:
                        failed.update(dict.fromkeys(executions_of(single), str(single_exc)))
        if failed:
            reasons = sorted(set(failed.values()))
            raise StoreWriteError(
                f"{len(failed)} execution(s) not stored: {'; '.join(reasons)}", failed
            )

    async def _write(self, batch: WriteBatch, leases: dict[str, str]) -> None:
        events = [
            (e.execution_id, e.seq, e.type.value, e.node_id, e.timestamp, _json(e.data))
            for e in batch.events
        ]
        checkpoints = [
            (c.execution_id, c.event_seq, c.created_at, _json(c.state)) for c in batch.checkpoints
        ]
        executions = [
            (r.id, r.agent, r.status.value, r.created_at, _record_json(r)) for r in batch.executions
        ]
        node_states = [(s.execution_id, s.key, clean_text(s.state_json)) for s in batch.node_states]

        fenced = {e: leases[e] for e in executions_of(batch) if e in leases}

        def run(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if fenced:
                    _check_leases(conn, fenced)
                if executions:
                    conn.executemany(
                        "INSERT INTO executions (id, agent, status, created_at, body) "
                        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                        "status = excluded.status, body = excluded.body",
                        executions,
                    )
                if events:
                    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", events)
                if checkpoints:
                    conn.executemany("INSERT INTO checkpoints VALUES (?, ?, ?, ?)", checkpoints)
                if node_states:
                    conn.executemany(
                        "INSERT INTO node_states VALUES (?, ?, ?) ON CONFLICT (execution_id, key) "
                        "DO UPDATE SET state = excluded.state",
                        node_states,
                    )
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already (a full disk)
                    conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

        await self._call(run, read=False)
        await self._maybe_checkpoint_wal(
            len(events) + len(checkpoints) + len(executions) + len(node_states)
        )

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        """Return the execution, or ``None``."""
        row = await self._call(
            lambda c: c.execute(
                "SELECT body FROM executions WHERE id = ?", (execution_id,)
            ).fetchone()
        )
        return None if row is None else ExecutionRecord.model_validate_json(row[0])

    async def find_execution(self, agent: str, idempotency_key: str) -> ExecutionRecord | None:
        """Return the execution started with this idempotency key."""
        row = await self._call(
            lambda c: c.execute(
                "SELECT body FROM executions WHERE agent = ? "
                "AND json_extract(body, '$.idempotency_key') = ? ORDER BY created_at LIMIT 1",
                (agent, idempotency_key),
            ).fetchone()
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
        sql = "SELECT body FROM executions"
        clauses: list[str] = []
        params: list[Any] = []
        if parent is not None:
            clauses.append("json_extract(body, '$.parent_id') = ?")
            params.append(parent)
        if entry_point is not None:
            clauses.append("json_extract(body, '$.entry_point') = ?")
            params.append(entry_point)
        if agent is not None:
            clauses.append("agent = ?")
            params.append(agent)
        if statuses:
            clauses.append(f"status IN ({', '.join('?' * len(statuses))})")
            params.extend(s.value for s in statuses)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY created_at DESC, id LIMIT ?"
        params.append(limit)
        rows = await self._call(lambda c: c.execute(sql, params).fetchall())
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
            "WHERE execution_id = ? AND seq > ?"
        )
        params: list[Any] = [execution_id, after]
        if types:
            sql += f" AND type IN ({', '.join('?' * len(types))})"
            params.extend(t.value for t in types)
        sql += " ORDER BY seq LIMIT ?"
        params.append(limit)
        rows = await self._call(lambda c: c.execute(sql, params).fetchall())
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

    async def watch(self, on_commit: Callable[[str, int], None]) -> None:
        """SQLite cannot tell of other processes' commits: waits end on their deadline."""

    async def last_seq(self, execution_id: str) -> int:
        """Return the highest stored sequence number of the execution."""
        row = await self._call(
            lambda c: c.execute(
                "SELECT MAX(seq) FROM events WHERE execution_id = ?", (execution_id,)
            ).fetchone()
        )
        return int(row[0] or 0)

    async def last_checkpoint(self, execution_id: str) -> Checkpoint | None:
        """Return the newest checkpoint of the execution."""
        row = await self._call(
            lambda c: c.execute(
                "SELECT event_seq, created_at, state FROM checkpoints "
                "WHERE execution_id = ? ORDER BY event_seq DESC LIMIT 1",
                (execution_id,),
            ).fetchone()
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
        row = await self._call(
            lambda c: c.execute(
                "SELECT state FROM node_states WHERE execution_id = ? AND key = ?",
                (execution_id, key),
            ).fetchone()
        )
        return None if row is None else dict(json.loads(row[0]))

    async def close(self) -> None:
        """Checkpoint the WAL into the database file and close the connection.

        Never raises: a checkpoint that fails (a full disk) leaves the WAL in place,
        where the next open applies it, so it is logged and the connection closed."""

        def finish() -> None:
            if self._closed:
                return
            self._closed = True
            try:
                if self._background_check is not None:
                    self._background_check.stop()
                if self.path != ":memory:":
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                log.warning(
                    "store %s: could not fold the write-ahead log into the file on close "
                    "(%s); nothing is lost, the next start applies it",
                    self.path,
                    " ".join(str(exc).split()),
                )
            finally:
                self._conn.close()

        with anyio.CancelScope(shield=True):  # closing must happen, even when cancelled
            await anyio.to_thread.run_sync(finish, limiter=self._limiter)


_KEY_INDEX = "executions_one_per_key"


def _add_key_index(conn: sqlite3.Connection, path: str) -> None:
    """One execution per agent and idempotency key, also across processes sharing the store.

    Added apart from the schema: a store written before it may hold two
    executions of one key (the race it closes), and must still open.
    """
    known = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (_KEY_INDEX,)
    ).fetchone()
    if known:
        return
    try:
        conn.execute(
            f"CREATE UNIQUE INDEX IF NOT EXISTS {_KEY_INDEX} ON executions "
            "(agent, json_extract(body, '$.idempotency_key')) "
            "WHERE json_extract(body, '$.idempotency_key') IS NOT NULL"
        )
    except sqlite3.IntegrityError:
        log.warning(
            "store %s holds two executions started with one idempotency key; processes "
            "sharing it may each start one for a key until those are pruned",
            path,
        )
    except sqlite3.OperationalError as exc:  # a read-only or busy store: next time
        log.warning("store %s: idempotency index not added (%s)", path, exc)


def _json(value: Any) -> str:
    """JSON text any SQLite column takes: no lone surrogate, nothing unserialisable.

    Non-ASCII is written as is (``ensure_ascii=False``), so a lone surrogate
    appears in the text itself, where ``clean_text`` replaces it; escaped it
    would come back out of every read and fail there instead.
    """
    return clean_text(json.dumps(value, ensure_ascii=False, default=str))


def _record_json(record: ExecutionRecord) -> str:
    try:
        return record.model_dump_json()
    except PydanticSerializationError:  # a lone surrogate, from data no door checked
        return _json(record.model_dump(mode="json"))


def _check_leases(conn: sqlite3.Connection, fenced: dict[str, str]) -> None:
    """Refuse the write when an execution's lease moved to another runtime."""
    marks = ",".join("?" * len(fenced))
    rows = conn.execute(
        f"SELECT execution_id, runtime_id FROM leases WHERE execution_id IN ({marks})",
        list(fenced),
    ).fetchall()
    for execution_id, holder in rows:
        if holder != fenced[execution_id]:
            raise LeaseLostError(
                f"execution {execution_id} was taken over by runtime {holder}; "
                f"runtime {fenced[execution_id]} no longer writes it"
            )


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _by_execution(batch: WriteBatch, rows: int) -> list[WriteBatch]:
    """Split ``batch`` into parts of about ``rows`` rows (see ``_rows``), never splitting
    an execution."""
    if _rows(batch) <= rows:
        return [batch]
    parts: dict[str, WriteBatch] = {}
    for event in batch.events:
        parts.setdefault(event.execution_id, WriteBatch()).events.append(event)
    for checkpoint in batch.checkpoints:
        parts.setdefault(checkpoint.execution_id, WriteBatch()).checkpoints.append(checkpoint)
    for record in batch.executions:
        parts.setdefault(record.id, WriteBatch()).executions.append(record)
    for state in batch.node_states:
        parts.setdefault(state.execution_id, WriteBatch()).node_states.append(state)
    chunks: list[WriteBatch] = []
    current, size = WriteBatch(), 0
    for part in parts.values():
        part_rows = _rows(part)
        if size and size + part_rows > rows:
            chunks.append(current)
            current, size = WriteBatch(), 0
        current.events += part.events
        current.checkpoints += part.checkpoints
        current.executions += part.executions
        current.node_states += part.node_states
        size += part_rows
    chunks.append(current)
    return chunks


def _rows(batch: WriteBatch) -> int:
    """Rows, counting a saved conversation (node state) as one row per 2 KB of it."""
    states = sum(1 + len(s.state_json) // 2048 for s in batch.node_states)
    return len(batch.events) + len(batch.checkpoints) + len(batch.executions) + states
