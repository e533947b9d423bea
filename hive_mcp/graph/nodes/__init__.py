"""Node types: the protocol every node implements, and the built-in types."""

from hive_mcp.graph.nodes._base import Node, NodeContext, NodeFactory, NodeResult, NodeStatus
from hive_mcp.graph.nodes._function import FunctionNode, resolve_callable

__all__ = [
    "FunctionNode",
    "Node",
    "NodeContext",
    "NodeFactory",
    "NodeResult",
    "NodeStatus",
    "resolve_callable",
]
