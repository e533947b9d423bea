"""What the store keeps so processes sharing it can coordinate.

Several processes may open one store: a server started by an MCP host, an
HTTP server, ``hive-mcp`` commands typed by an operator. They meet here:

- ``RuntimeInfo``: each runtime beats about once a second, so others can
  tell whether it is alive;
- leases: a runtime leases each execution it runs, so no other process runs
  the same execution at the same time;
- ``Command``: an operator's ``input`` or ``cancel`` addressed to the runtime
  that runs the execution, which applies it and records the outcome.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["Command", "CommandKind", "RuntimeInfo", "RuntimeRole"]

RuntimeRole = Literal["server", "session"]


class RuntimeInfo(BaseModel):
    """One runtime's entry: who it is and when it last showed signs of life.

    A ``server`` takes operator commands for any execution; a ``session``
    (``hive-mcp run`` or ``resume``) only drives its own execution and takes none.
    """

    id: str
    pid: int
    host: str
    role: RuntimeRole
    started_at: float = Field(default_factory=time.time)
    heartbeat_at: float = Field(default_factory=time.time)


class CommandKind(StrEnum):
    """What an operator asked for."""

    INPUT = "input"
    CANCEL = "cancel"


class Command(BaseModel):
    """An operator command queued for one runtime, and its outcome once applied."""

    id: int = 0
    execution_id: str
    runtime_id: str = Field(description="The runtime that is to apply it.")
    kind: CommandKind
    payload: dict[str, Any] = Field(default_factory=dict)
    created_at: float = Field(default_factory=time.time)
    taken_at: float | None = None
    done_at: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
