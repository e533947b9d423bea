"""Which store a setting names: a PostgreSQL URL, or the path of a SQLite file.

SQLite in ``HIVE_MCP_HOME`` is the default and needs nothing more; a
``postgresql://`` (or ``postgres://``) URL selects the PostgreSQL store,
which is imported only then (its driver is the ``postgres`` extra). URLs are
shown with their password replaced, everywhere.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from hive_mcp.errors import UsageError
from hive_mcp.store._base import Store

__all__ = ["is_store_url", "open_store", "redact_url", "store_label"]

_SCHEMES = ("postgresql", "postgres")


def is_store_url(target: str | Path) -> bool:
    """Whether ``target`` names a PostgreSQL server rather than a SQLite file."""
    return isinstance(target, str) and target.split("://", 1)[0].lower() in _SCHEMES


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
        netloc = f"{user}:***@{host}{port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:  # unparseable: keep nothing after the scheme's user part
        scheme = url.split("://", 1)[0]
        return f"{scheme}://***"


def store_label(target: str | Path) -> str:
    """How messages name the store: the file, or the URL without its password."""
    return redact_url(str(target)) if is_store_url(target) else str(target)


def open_store(target: str | Path) -> Store:
    """The store ``target`` names; nothing connects until the first call."""
    if not is_store_url(target):
        from hive_mcp.store._sqlite import SQLiteStore

        return SQLiteStore(target)
    try:
        from hive_mcp.store._postgres import PostgresStore
    except ImportError as exc:
        raise UsageError(
            f"the store {redact_url(str(target))} is PostgreSQL, whose driver is not "
            f"installed ({exc.name}): pip install 'hive-mcp[postgres]'"
        ) from None
    return PostgresStore(str(target))
