"""Choosing the store backend from one setting: a PostgreSQL URL or a SQLite path."""

from __future__ import annotations

from pathlib import Path

from hive_mcp.errors import StoreError
from hive_mcp.store._base import Store
from hive_mcp.store._pg_url import is_postgres_url
from hive_mcp.store._sqlite import SQLiteStore

__all__ = ["open_store"]


def open_store(target: str | Path, *, pool_size: int = 10) -> Store:
    """The store at ``target``: a ``postgresql://`` or ``postgres://`` URL gives a
    ``PostgresStore`` (psycopg is imported only then, so SQLite users never load it);
    anything else is the path of a SQLite store file (or ``":memory:"``).
    ``pool_size`` bounds a PostgreSQL store's connections."""
    if isinstance(target, str) and is_postgres_url(target):
        try:
            from hive_mcp.store._postgres import PostgresStore
        except ImportError as exc:
            raise StoreError(
                f"a PostgreSQL store needs psycopg ({exc}): pip install 'hive-mcp[postgres]'"
            ) from None
        return PostgresStore(target, pool_size=pool_size)
    return SQLiteStore(target)
