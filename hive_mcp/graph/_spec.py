"""The agent graph model: Goal, NodeSpec, EdgeSpec, EntryPointSpec, GraphSpec.

These pydantic models are both the Python API and the schema of agent files
(YAML or JSON): ``GraphSpec.model_validate(yaml.safe_load(...))`` and
``GraphSpec(name=..., nodes=[...], edges=[...])`` build the same object.
Unknown fields are refused so a typo in a file is reported, not ignored.
"""

from __future__ import annotations

from enum import StrEnum
from functools import partial
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from hive_mcp.errors import InputError
from hive_mcp.toolbox import ServerConfig

__all__ = [
    "Constraint",
    "DelegateSpec",
    "EdgeCondition",
    "EdgeSpec",
    "EntryPointSpec",
    "Goal",
    "GraphDefaults",
    "GraphSpec",
    "NodeSpec",
    "NodeType",
    "SuccessCriterion",
]

_ID = r"^[A-Za-z_][A-Za-z0-9_\-]*$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _named_items(value: Any, prefix: str) -> Any:
    # Criteria and constraints may be written as plain strings.
    if isinstance(value, list):
        return [
            {"id": f"{prefix}{i + 1}", "description": item} if isinstance(item, str) else item
            for i, item in enumerate(value)
        ]
    return value


class SuccessCriterion(_Model):
    """One measurable sign that the goal is met."""

    id: str
    description: str
    metric: str | None = Field(
        default=None,
        description="Measured across executions: success_rate, failure_rate, completed_count, "
        "output_present:<key> or avg_tokens (see docs/goals.md); without one, progress "
        "follows the success rate.",
    )
    target: Any = Field(
        default=None,
        description="The metric's target: a number (at least it, or at most it for "
        "failure_rate and avg_tokens) or a comparison like '>= 0.9' or '<= 5000'.",
    )
    weight: float = Field(
        default=1.0, ge=0, description="The criterion's share of the overall progress, relative."
    )


class Constraint(_Model):
    """A rule the agent must (hard) or should (soft) keep."""

    id: str
    description: str
    kind: Literal["hard", "soft"] = "hard"


class Goal(_Model):
    """What the agent is for, how success is judged and what it must not do.

    Criteria and constraints may be plain strings; they get ids by position.
    """

    description: str = ""
    success_criteria: Annotated[
        list[SuccessCriterion],
        BeforeValidator(
            partial(_named_items, prefix="criterion"),
            json_schema_input_type=list[SuccessCriterion | str],
        ),
    ] = Field(default_factory=list)
    constraints: Annotated[
        list[Constraint],
        BeforeValidator(
            partial(_named_items, prefix="constraint"),
            json_schema_input_type=list[Constraint | str],
        ),
    ] = Field(default_factory=list)


class NodeType(StrEnum):
    """How a node does its work."""

    FUNCTION = "function"
    EVENT_LOOP = "event_loop"
    AGENT = "agent"


class DelegateSpec(_Model):
    """What an ``agent`` node delegates to: another agent, here or on another server."""

    agent: str = Field(description="Name of the agent to run.")
    server: str | None = Field(
        default=None,
        description="An mcpServers entry that is another hive-mcp server; "
        "omit to run the agent in this process.",
    )
    input: dict[str, str] = Field(
        default_factory=dict,
        description="The delegate's input keys mapped to this node's input keys; "
        "by default the node's inputs are passed as they are.",
    )
    output: dict[str, str] = Field(
        default_factory=dict,
        description="This node's output keys mapped to the delegate's output keys; "
        "by default each output key is read under its own name.",
    )
    poll_seconds: float = Field(
        default=20.0,
        gt=0,
        le=60,
        description="How long one long-poll for the delegate's events waits.",
    )


class NodeSpec(_Model):
    """One step of the graph and its contract with shared memory.

    A node reads ``input_keys`` and must write every key of ``output_keys``
    except those in ``nullable_output_keys``; it may write nothing else.
    """

    id: str = Field(pattern=_ID)
    name: str | None = None
    description: str = ""
    type: NodeType = NodeType.EVENT_LOOP
    function: str | None = Field(
        default=None, description="For function nodes: 'module:callable', sync or async."
    )
    input_keys: list[str] = Field(default_factory=list)
    output_keys: list[str] = Field(default_factory=list)
    nullable_output_keys: list[str] = Field(default_factory=list)
    max_retries: int | None = Field(default=None, ge=0)
    retry_backoff_seconds: float | None = Field(default=None, ge=0)
    max_node_visits: int | None = Field(default=None, ge=1)
    client_facing: bool = False
    tools: list[str] = Field(default_factory=list)
    model: str | None = None
    system_prompt: str | None = None
    success_criteria: str | None = None
    max_iterations: int | None = Field(default=None, ge=1)
    judge: str | None = None
    delegate: DelegateSpec | None = Field(
        default=None, description="For agent nodes: the agent this node runs and waits for."
    )
    config: dict[str, Any] = Field(default_factory=dict)


class EdgeCondition(StrEnum):
    """When an edge fires, given how its source node ended."""

    ALWAYS = "always"
    ON_SUCCESS = "on_success"
    ON_FAILURE = "on_failure"
    CONDITIONAL = "conditional"
    LLM_DECIDE = "llm_decide"


class EdgeSpec(_Model):
    """A directed edge; ``expression`` alone implies ``condition: conditional``.

    ``input_mapping`` maps the target's input keys to the memory keys they are
    read from when the target runs after this edge.
    """

    source: str
    target: str
    condition: EdgeCondition = EdgeCondition.ON_SUCCESS
    expression: str | None = None
    priority: int = 0
    input_mapping: dict[str, str] = Field(default_factory=dict)
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _expression_implies_conditional(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("expression") and "condition" not in data:
            data = {**data, "condition": EdgeCondition.CONDITIONAL.value}
        return data

    @property
    def label(self) -> str:
        """How messages name this edge."""
        return f"edge {self.source} -> {self.target}"


class EntryPointSpec(_Model):
    """A way an execution can start: by hand, a webhook, a timer or an event."""

    id: str = Field(pattern=_ID)
    name: str | None = None
    entry_node: str | None = Field(
        default=None, description="Node to start at; the graph's entry_node when omitted."
    )
    trigger: Literal["manual", "webhook", "timer", "event"] = "manual"
    config: dict[str, Any] = Field(
        default_factory=dict, description="The trigger's settings (docs/entry-points.md)."
    )
    max_concurrent: int | None = Field(
        default=None,
        ge=1,
        description="Executions of this entry point running at once; more wait as pending.",
    )
    isolation: Literal["isolated", "shared"] = Field(
        default="isolated",
        description="'shared': start with the memory of the agent's running primary "
        "execution, limited to the keys the entry node reads.",
    )


class GraphDefaults(_Model):
    """Values a node gets when it does not set its own."""

    model: str | None = None
    api_base: str | None = Field(
        default=None, description="Base URL of an OpenAI-compatible server (Ollama, vLLM)."
    )
    max_retries: int = Field(default=2, ge=0)
    retry_backoff_seconds: float = Field(default=0.5, ge=0)
    max_node_visits: int = Field(default=1, ge=1)
    max_iterations: int = Field(default=50, ge=1)


class GraphSpec(_Model):
    """A whole agent: its goal, its nodes and edges, and how it starts and ends."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]{0,47}$")
    description: str = ""
    version: str = "1"
    goal: Goal = Field(default_factory=Goal)
    input_schema: dict[str, Any] | None = Field(
        default=None,
        description="JSON Schema of the input; by default the entry node's input_keys.",
    )
    entry_node: str
    terminal_nodes: list[str] = Field(min_length=1)
    entry_points: list[EntryPointSpec] = Field(default_factory=list)
    max_steps: int = Field(default=100, ge=1)
    defaults: GraphDefaults = Field(default_factory=GraphDefaults)
    mcp_servers: dict[str, ServerConfig] = Field(
        default_factory=dict,
        alias="mcpServers",
        description="Tool servers of this agent (the mcpServers shape); they take precedence "
        "over servers of the same name in the global registry.",
    )
    scripted_policy: str | None = Field(
        default=None,
        description="'module:callable' answering LLM turns offline when no model is set "
        "(the scripted provider): the offline default for demos and tests.",
    )
    nodes: list[NodeSpec] = Field(min_length=1)
    edges: list[EdgeSpec] = Field(default_factory=list)

    def node(self, node_id: str) -> NodeSpec:
        """Return the node with ``node_id``; ``KeyError`` when there is none."""
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def max_retries(self, node: NodeSpec) -> int:
        """Retries allowed for ``node``, after the graph defaults."""
        return node.max_retries if node.max_retries is not None else self.defaults.max_retries

    def retry_backoff(self, node: NodeSpec) -> float:
        """Base backoff in seconds between retries of ``node``."""
        if node.retry_backoff_seconds is not None:
            return node.retry_backoff_seconds
        return self.defaults.retry_backoff_seconds

    def max_visits(self, node: NodeSpec) -> int:
        """How many times ``node`` may be entered through edges."""
        if node.max_node_visits is not None:
            return node.max_node_visits
        return self.defaults.max_node_visits

    def entry_point(self, entry_point_id: str) -> EntryPointSpec:
        """Return the entry point with this id; ``InputError`` naming the known ones if none."""
        for ep in self.entry_points:
            if ep.id == entry_point_id:
                return ep
        known = ", ".join(ep.id for ep in self.entry_points) or "none declared"
        raise InputError(
            f"agent {self.name!r} has no entry point {entry_point_id!r} (known: {known})"
        )

    def effective_input_schema(self, entry_point: str | None = None) -> dict[str, Any]:
        """The declared input schema, or one built from the entry node's input keys.

        ``input_schema`` describes the input of the graph's entry node; an
        entry point that starts at another node gets one built from that
        node's input keys.
        """
        entry = self.entry_node
        for ep in self.entry_points:
            if ep.id == entry_point and ep.entry_node:
                entry = ep.entry_node
        if self.input_schema is not None and entry == self.entry_node:
            return self.input_schema
        try:
            keys = self.node(entry).input_keys
        except KeyError:
            keys = []
        return {
            "type": "object",
            "properties": {key: {} for key in keys},
            "required": list(keys),
        }
