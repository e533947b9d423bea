"""Which store a setting names: a PostgreSQL URL, or the path of a SQLite file.

SQLite in ``HIVE_MCP_HOME`` is the default and needs nothing more; a
``postgresql://`` (or ``postgres://``) URL selects the PostgreSQL store,
which is imported only then (its driver is the ``postgres`` extra). URLs are
shown with their password replaced, everywhere (``_pg_url.redact_url``).
"""

from __future__ import annotations

from pathlib import Path

from hive_mcp.errors import StoreError
from hive_mcp.store._base import Store
from hive_mcp.store._pg_url import is_postgres_url, redact_url

__all__ = ["is_store_url", "open_store", "store_label"]


def is_store_url(target: str | Path) -> bool:
    """Whether ``target`` names a PostgreSQL server rather than a SQLite file."""
    return isinstance(target, str) and is_postgres_url(target)


def store_label(target: str | Path) -> str:
    """How messages name the store: the file, or the URL without its password."""
    return redact_url(str(target)) if is_store_url(target) else str(target)


def open_store(target: str | Path, *, pool_size: int = 10) -> Store:
    """The store at ``target``: a PostgreSQL URL gives a ``PostgresStore`` (psycopg is
    imported only then, so SQLite users never load it); anything else is the path of
    a SQLite store file (or ``":memory:"``). ``pool_size`` bounds a PostgreSQL store's
    connections. Nothing connects to PostgreSQL before the first call."""
    if is_store_url(target):
        try:
            from hive_mcp.store._postgres import PostgresStore
        except ImportError as exc:
            raise StoreError(
                f"the store {redact_url(str(target))} is PostgreSQL, whose driver is not "
                f"installed ({exc.name}): pip install 'hive-mcp[postgres]'"
            ) from None
        return PostgresStore(str(target), pool_size=pool_size)
    from hive_mcp.store._sqlite import SQLiteStore

    return SQLiteStore(target)
