"""The MCP client side: tool servers for nodes (registry, connections, tools)."""

from hive_mcp.toolbox._agents import AgentGateway, ChildPage, ChildResult, RemoteAgents
from hive_mcp.toolbox._asking import ANSWER_HINT, Ask
from hive_mcp.toolbox._config import Redactor, ServerConfig, expand, load_servers_file
from hive_mcp.toolbox._connection import ServerConnection, ToolInfo
from hive_mcp.toolbox._toolbox import TOOL_REF, RemoteTool, Toolbox

__all__ = [
    "ANSWER_HINT",
    "TOOL_REF",
    "AgentGateway",
    "Ask",
    "ChildPage",
    "ChildResult",
    "Redactor",
    "RemoteAgents",
    "RemoteTool",
    "ServerConfig",
    "ServerConnection",
    "ToolInfo",
    "Toolbox",
    "expand",
    "load_servers_file",
]
