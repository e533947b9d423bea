"""The MCP server face: tools, run_<agent> tools, resources and transports."""

from hive_mcp.server._app import build_server, notify_resource_updates, request_state_key
from hive_mcp.server._run_tool import RunResult
from hive_mcp.server._serve import http_app, is_loopback, serve

__all__ = [
    "RunResult",
    "build_server",
    "http_app",
    "is_loopback",
    "notify_resource_updates",
    "request_state_key",
    "serve",
]
