"""Stores: durable executions, event logs and checkpoints, and the journal over them.

``open_store`` picks the backend: SQLite (``SQLiteStore``) for a path,
PostgreSQL (``PostgresStore``, in ``hive_mcp.store._postgres``, imported only
when used) for a ``postgresql://`` URL.
"""

from hive_mcp.store._base import Store
from hive_mcp.store._control import Command, CommandKind, RuntimeInfo, RuntimeRole
from hive_mcp.store._journal import Journal
from hive_mcp.store._open import is_store_url, open_store, store_label
from hive_mcp.store._pg_url import redact_url
from hive_mcp.store._records import (
    Checkpoint,
    ExecutionRecord,
    ExecutionStatus,
    ExecutionStub,
    NodeState,
    RowCounts,
    WriteBatch,
)
from hive_mcp.store._retention import (
    DEFAULT_RETENTION,
    PruneReport,
    RetentionPolicy,
    prune,
    select_prunable,
)
from hive_mcp.store._sqlite import SCHEMA_VERSION, SQLiteStore

__all__ = [
    "DEFAULT_RETENTION",
    "SCHEMA_VERSION",
    "Checkpoint",
    "Command",
    "CommandKind",
    "ExecutionRecord",
    "ExecutionStatus",
    "ExecutionStub",
    "Journal",
    "NodeState",
    "PruneReport",
    "RetentionPolicy",
    "RowCounts",
    "RuntimeInfo",
    "RuntimeRole",
    "SQLiteStore",
    "Store",
    "WriteBatch",
    "is_store_url",
    "open_store",
    "prune",
    "redact_url",
    "select_prunable",
    "store_label",
]
