"""The structured results of the MCP tools: what hosts (and their LLMs) read.

Field names follow ARCHITECTURE.md section 3; they are public API.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from hive_mcp.events import Event
from hive_mcp.graph import Agent, AgentCatalog
from hive_mcp.store import ExecutionRecord

__all__ = [
    "AgentInfo",
    "AgentList",
    "CancelResult",
    "EntryPointInfo",
    "EventInfo",
    "EventPage",
    "ExecutionInfo",
    "ExecutionList",
    "ExecutionSummary",
    "InputResult",
    "StartResult",
    "WaitingForInput",
]


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).isoformat()


class WaitingForInput(BaseModel):
    """A node is blocked until someone answers: send the answer with send_input."""

    node_id: str
    prompt: str
    options: list[str] = Field(default_factory=list)
    kind: str = Field(
        default="question",
        description="question, conversation, iteration_extension "
        "(answer: approve, approve N, or deny), or tool_server (a tool server asks: "
        "answer with a JSON object matching requested_schema, or decline / cancel)",
    )
    server: str | None = Field(default=None, description="For tool_server: which one asks.")
    requested_schema: dict[str, Any] | None = Field(
        default=None, description="For tool_server: the JSON Schema of the answer it wants."
    )

    @classmethod
    def of(cls, record: ExecutionRecord) -> WaitingForInput | None:
        w = record.waiting_for_input
        if not w:
            return None
        return cls(
            node_id=str(w.get("node_id")),
            prompt=str(w.get("prompt", "")),
            options=[str(o) for o in w.get("options") or []],
            kind=str(w.get("kind", "question")),
            server=w.get("server"),
            requested_schema=w.get("requested_schema"),
        )


class EntryPointInfo(BaseModel):
    """A way the agent starts: manual, webhook (POST /hooks/AGENT/ID), timer or event."""

    id: str
    name: str
    trigger: str
    entry_node: str
    config: dict[str, Any] = Field(default_factory=dict)


class AgentInfo(BaseModel):
    name: str
    description: str
    input_schema: dict[str, Any]
    entry_points: list[EntryPointInfo]
    client_facing_nodes: list[str]

    @classmethod
    def of(cls, agent: Agent) -> AgentInfo:
        return cls.model_validate(agent.describe())


class LoadProblem(BaseModel):
    """An agent file (or the agents folder) that did not load, and why."""

    file: str
    problems: list[str]


class AgentList(BaseModel):
    agents: list[AgentInfo]
    agents_folder: str | None = None
    load_problems: list[LoadProblem] = []
    """Files that failed to load; a host shows these where a warning on stderr is hidden."""

    @classmethod
    def of(cls, catalog: AgentCatalog) -> AgentList:
        return cls(
            agents=[AgentInfo.of(a) for a in catalog],
            agents_folder=str(catalog.folder) if catalog.folder is not None else None,
            load_problems=[LoadProblem(file=e.source, problems=e.problems) for e in catalog.errors],
        )


class StartResult(BaseModel):
    execution_id: str
    status: str


class EventInfo(BaseModel):
    seq: int
    type: str
    node_id: str | None
    data: dict[str, Any]
    timestamp: str

    @classmethod
    def of(cls, event: Event) -> EventInfo:
        return cls(
            seq=event.seq,
            type=event.type.value,
            node_id=event.node_id,
            data=event.data,
            timestamp=_iso(event.timestamp),
        )


class EventPage(BaseModel):
    events: list[EventInfo]
    next_after: int = Field(description="Pass as 'after' in the next get_events call.")
    status: str
    waiting_for_input: WaitingForInput | None = None


class InputResult(BaseModel):
    delivered: bool
    node_id: str


class ExecutionInfo(BaseModel):
    execution_id: str
    agent: str
    status: str
    current_node: str | None
    path: list[str]
    output: dict[str, Any] | None
    error: str | None
    waiting_for_input: WaitingForInput | None
    token_usage: dict[str, int]
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, record: ExecutionRecord) -> ExecutionInfo:
        return cls(
            execution_id=record.id,
            agent=record.agent,
            status=record.status.value,
            current_node=record.current_node,
            path=record.path,
            output=record.output,
            error=record.error,
            waiting_for_input=WaitingForInput.of(record),
            token_usage={"input": record.input_tokens, "output": record.output_tokens},
            created_at=_iso(record.created_at),
            updated_at=_iso(record.updated_at),
        )


class ExecutionSummary(BaseModel):
    execution_id: str
    agent: str
    status: str
    created_at: str
    updated_at: str

    @classmethod
    def of(cls, record: ExecutionRecord) -> ExecutionSummary:
        return cls(
            execution_id=record.id,
            agent=record.agent,
            status=record.status.value,
            created_at=_iso(record.created_at),
            updated_at=_iso(record.updated_at),
        )


class ExecutionList(BaseModel):
    executions: list[ExecutionSummary]


class CancelResult(BaseModel):
    cancelled: bool
