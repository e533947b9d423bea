"""Opening the PostgreSQL store: connect, check the schema version, say what is wrong.

The first connection is made on its own, before the pool: a pool retries a
refused connection in the background until its timeout and then reports
only that it timed out, while the user needs to hear *why* (wrong password,
no server on that port, no such database, no permission). ``explain`` turns
a psycopg error into a one-line ``StoreError`` that says which and what to
do; every message shows the URL through ``redact_url`` and is scrubbed of
the password in case libpq quoted it.

The tables are hive-mcp's own, created by it (``IF NOT EXISTS``) under a
transaction-scoped advisory lock, so two processes opening a new database at
once do not race on ``CREATE TABLE``. ``hive_mcp_schema`` holds one row, the
schema version; a database at a newer version than this code is refused.
JSON is kept as ``TEXT``, not ``JSONB``: ``JSONB`` refuses ``\\u0000`` and
reorders keys, and the store hands back exactly the JSON it was given, as
the SQLite store does. The fields the queries filter on (parent, entry
point, idempotency key, last update) are columns of their own.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import psycopg
from psycopg import errors as pg_errors

from hive_mcp.errors import StoreError
from hive_mcp.store._pg_url import redact_url, secrets_of

__all__ = ["PG_SCHEMA_VERSION", "SCHEMA", "check_url", "ensure_schema", "explain", "scrub"]

PG_SCHEMA_VERSION = 1
_LOCK_KEY = 0x6869_7665_6D63_70  # "hivemcp": the advisory lock schema changes take

SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY,
    agent TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    parent_id TEXT,
    entry_point TEXT,
    idempotency_key TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_by_agent ON executions (agent, created_at);
CREATE INDEX IF NOT EXISTS executions_by_time ON executions (created_at);
CREATE INDEX IF NOT EXISTS executions_by_parent ON executions (parent_id);
CREATE UNIQUE INDEX IF NOT EXISTS executions_one_per_key
    ON executions (agent, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS events (
    execution_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    type TEXT NOT NULL,
    node_id TEXT,
    timestamp DOUBLE PRECISION NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (execution_id, seq)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    execution_id TEXT NOT NULL,
    event_seq BIGINT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (execution_id, event_seq)
);
CREATE TABLE IF NOT EXISTS node_states (
    execution_id TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (execution_id, key)
);
CREATE TABLE IF NOT EXISTS runtimes (
    id TEXT PRIMARY KEY,
    pid BIGINT NOT NULL,
    host TEXT NOT NULL,
    role TEXT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    heartbeat_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    execution_id TEXT PRIMARY KEY,
    runtime_id TEXT NOT NULL,
    leased_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS leases_by_runtime ON leases (runtime_id);
CREATE TABLE IF NOT EXISTS commands (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id TEXT NOT NULL,
    runtime_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    taken_at DOUBLE PRECISION,
    done_at DOUBLE PRECISION,
    result TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS commands_untaken ON commands (runtime_id) WHERE taken_at IS NULL;
CREATE INDEX IF NOT EXISTS commands_by_execution ON commands (execution_id);
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
"""

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS hive_mcp_schema (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    version INTEGER NOT NULL
)
"""


def check_url(url: str) -> str:
    """Refuse a URL that psycopg cannot use, before any connection is tried; return it
    with its scheme in lower case (libpq takes no other). The errors chain no cause:
    psycopg's message may quote the URL, password and all."""
    scheme, sep, rest = url.partition("://")
    url = scheme.lower() + sep + rest
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number raises here
    except ValueError as exc:
        raise StoreError(
            f"bad PostgreSQL URL {shown}: {scrub(str(exc), url)}; write it as "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from None
    try:
        psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error as exc:
        raise StoreError(
            f"bad PostgreSQL URL {shown}: {_first_line(exc, url)}; write it as "
            "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from None
    return url


async def ensure_schema(conn: psycopg.AsyncConnection[tuple[object, ...]], url: str) -> None:
    """Create or upgrade hive-mcp's tables; refuse a database from a newer hive-mcp."""
    stored = await _stored_version(conn)
    _check_version(stored, url)
    if stored == PG_SCHEMA_VERSION:
        return  # up to date: opening needs no lock and no CREATE permission
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        await conn.execute(_VERSION_TABLE)
        stored = await _stored_version(conn)  # another process may have been first
        _check_version(stored, url)
        if stored == PG_SCHEMA_VERSION:
            return
        await conn.execute(SCHEMA)
        await conn.execute(
            "INSERT INTO hive_mcp_schema (one, version) VALUES (TRUE, %s) "
            "ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version",
            (PG_SCHEMA_VERSION,),
        )


async def _stored_version(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> int | None:
    exists = await (
        await conn.execute("SELECT to_regclass('hive_mcp_schema') IS NOT NULL")
    ).fetchone()
    if not exists or not exists[0]:
        return None
    row = await (await conn.execute("SELECT version FROM hive_mcp_schema")).fetchone()
    return None if row is None else int(str(row[0]))


def _check_version(stored: int | None, url: str) -> None:
    if stored is not None and stored > PG_SCHEMA_VERSION:
        raise StoreError(
            f"the PostgreSQL store {redact_url(url)} has schema version {stored}, newer than "
            f"this hive-mcp understands ({PG_SCHEMA_VERSION}). Upgrade hive-mcp, or point it "
            "at another database"
        )


def explain(exc: BaseException, url: str) -> StoreError:
    """The ``StoreError`` that says what ``exc``, met opening the store at ``url``, means."""
    shown = redact_url(url)
    said = _first_line(exc, url)
    low = said.lower()
    parts = _parts(url)
    user, host, database = parts["user"], parts["host"], parts["database"]
    if isinstance(exc, pg_errors.InsufficientPrivilege) or "permission denied" in low:
        return StoreError(
            f"missing permission on the PostgreSQL store {shown}: {said}. The role {user!r} "
            f"must be able to connect to {database!r} and create tables in its schema (GRANT "
            "CONNECT, CREATE), or have the database's owner open it once to create them"
        )
    if isinstance(exc, pg_errors.InvalidAuthorizationSpecification) or any(
        s in low
        for s in (
            "password authentication failed",
            "no password supplied",
            "authentication failed",
            'role "',
        )
    ):
        return StoreError(
            f"wrong credentials for the PostgreSQL store {shown}: the server refused user "
            f"{user!r} ({said}). Check the user and password in the URL"
        )
    if 'database "' in low and "does not exist" in low:
        return StoreError(
            f"the PostgreSQL server at {host} has no database {database!r} ({shown}): create "
            f"it (createdb {database}) or name an existing one in the URL"
        )
    if isinstance(exc, psycopg.OperationalError) and any(
        s in low
        for s in (
            "connection refused",
            "could not translate host name",
            "name or service not known",
            "timeout expired",
            "no route to host",
            "network is unreachable",
            "could not connect",
            "connection timed out",
            "no such file or directory",
        )
    ):
        return StoreError(
            f"cannot reach the PostgreSQL server for {shown} ({said}): check that it runs "
            "and that the host and port in the URL are right"
        )
    return StoreError(f"cannot open the PostgreSQL store {shown}: {said}")


def scrub(text: str, url: str) -> str:
    """``text`` without any password of ``url`` in it."""
    for secret in secrets_of(url):
        text = text.replace(secret, "***")
    return text


def _first_line(exc: BaseException, url: str) -> str:
    # libpq's messages run over lines ("connection failed: ...\n\tIs the server running...").
    said = " ".join(str(exc).split()) or type(exc).__name__
    return scrub(said.removeprefix("connection failed: "), url)


def _parts(url: str) -> dict[str, str]:
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port
    except ValueError:
        return {"user": "?", "host": "?", "database": "?"}
    return {
        "user": unquote(parts.username or "") or "(default)",
        "host": f"{host}:{port}" if port else host,
        "database": unquote(parts.path.lstrip("/")) or "(default)",
    }
