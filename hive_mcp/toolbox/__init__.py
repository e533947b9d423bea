"""The MCP client side: tool servers for nodes (registry, connections, tools)."""

from typing import TYPE_CHECKING

from hive_mcp._lazy import lazy_exports
from hive_mcp.toolbox._config import TOOL_REF, Redactor, ServerConfig, expand, load_servers_file

if TYPE_CHECKING:
    from hive_mcp.toolbox._agents import AgentGateway, ChildPage, ChildResult, RemoteAgents
    from hive_mcp.toolbox._asking import ANSWER_HINT, Ask
    from hive_mcp.toolbox._connection import ServerConnection, ToolInfo
    from hive_mcp.toolbox._toolbox import RemoteTool, Toolbox

__getattr__ = lazy_exports(
    __name__,
    {
        "ANSWER_HINT": "_asking",
        "Ask": "_asking",
        "AgentGateway": "_agents",
        "ChildPage": "_agents",
        "ChildResult": "_agents",
        "RemoteAgents": "_agents",
        "ServerConnection": "_connection",
        "ToolInfo": "_connection",
        "RemoteTool": "_toolbox",
        "Toolbox": "_toolbox",
    },
)

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
