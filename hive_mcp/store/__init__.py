"""Stores: durable executions, event logs and checkpoints, and the journal over them."""

from hive_mcp.store._base import Store
from hive_mcp.store._journal import Journal
from hive_mcp.store._records import (
    Checkpoint,
    ExecutionRecord,
    ExecutionStatus,
    NodeState,
    WriteBatch,
)
from hive_mcp.store._sqlite import SCHEMA_VERSION, SQLiteStore

__all__ = [
    "SCHEMA_VERSION",
    "Checkpoint",
    "ExecutionRecord",
    "ExecutionStatus",
    "Journal",
    "NodeState",
    "SQLiteStore",
    "Store",
    "WriteBatch",
]
