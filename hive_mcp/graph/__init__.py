"""Agent graphs: the spec and file format, validation, and the executor."""

from typing import TYPE_CHECKING

from hive_mcp._lazy import lazy_exports
from hive_mcp.graph._agent import Agent
from hive_mcp.graph._expr import Expression, compile_expression
from hive_mcp.graph._loader import AgentCatalog, discover_agent_files, load_agent, load_catalog
from hive_mcp.graph._metrics import METRICS, MeasuredCriterion, Metric, Target, parse_criterion
from hive_mcp.graph._spec import (
    Constraint,
    DelegateSpec,
    EdgeCondition,
    EdgeSpec,
    EntryPointSpec,
    Goal,
    GraphDefaults,
    GraphSpec,
    NodeSpec,
    NodeType,
    SuccessCriterion,
)
from hive_mcp.graph._topology import Topology
from hive_mcp.graph._validate import check_agent, find_problems

if TYPE_CHECKING:
    from hive_mcp.graph._executor import DEFAULT_NODE_TYPES, EdgeDecider, GraphExecutor

__getattr__ = lazy_exports(
    __name__,
    {
        "DEFAULT_NODE_TYPES": "_executor",
        "EdgeDecider": "_executor",
        "GraphExecutor": "_executor",
    },
)

__all__ = [
    "DEFAULT_NODE_TYPES",
    "METRICS",
    "Agent",
    "AgentCatalog",
    "Constraint",
    "DelegateSpec",
    "EdgeCondition",
    "EdgeDecider",
    "EdgeSpec",
    "EntryPointSpec",
    "Expression",
    "Goal",
    "GraphDefaults",
    "GraphExecutor",
    "GraphSpec",
    "MeasuredCriterion",
    "Metric",
    "NodeSpec",
    "NodeType",
    "SuccessCriterion",
    "Target",
    "Topology",
    "check_agent",
    "compile_expression",
    "discover_agent_files",
    "find_problems",
    "load_agent",
    "load_catalog",
    "parse_criterion",
]
