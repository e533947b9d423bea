"""Node types: the protocol every node implements, and the built-in types."""

from hive_mcp.graph.nodes._base import Node, NodeContext, NodeFactory, NodeResult, NodeStatus
from hive_mcp.graph.nodes._delegate import DelegateNode
from hive_mcp.graph.nodes._event_loop import EventLoopNode, LoopSettings, event_loop_problems
from hive_mcp.graph.nodes._function import FunctionNode, resolve_callable

__all__ = [
    "DelegateNode",
    "EventLoopNode",
    "FunctionNode",
    "LoopSettings",
    "Node",
    "NodeContext",
    "NodeFactory",
    "NodeResult",
    "NodeStatus",
    "event_loop_problems",
    "resolve_callable",
]
