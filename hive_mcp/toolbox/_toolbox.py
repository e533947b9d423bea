"""The toolbox: the registry of tool servers and the tools nodes get from them.

A node names tools by server: ``github`` (every tool of the server) or
``github.list_issues`` (one tool). The model sees each tool under its own
name, or ``server__tool`` when two servers of one node share a name.
Servers start on first use and are shared by all executions of the process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

import anyio
from anyio.abc import TaskGroup

from hive_mcp.errors import UsageError
from hive_mcp.toolbox._asking import Ask
from hive_mcp.toolbox._config import Redactor, ServerConfig
from hive_mcp.toolbox._connection import ServerConnection, ToolInfo

__all__ = ["RemoteTool", "Toolbox"]


class ToolCaller(Protocol):
    def __call__(self, arguments: dict[str, Any], ask: Ask | None = None) -> Awaitable[str]: ...


@dataclass(frozen=True)
class RemoteTool:
    """A tool of a tool server, as a node gets it.

    ``call(arguments, ask)`` raises ToolServerError; ``ask`` answers the
    server's questions during the call (see ``ServerConnection.call``).
    """

    name: str
    description: str
    input_schema: dict[str, Any]
    server: str
    call: ToolCaller


class Toolbox:
    """Shared connections to tool servers; use as ``async with Toolbox(servers) as tb:``."""

    def __init__(
        self, servers: Mapping[str, ServerConfig], *, env: Mapping[str, str] | None = None
    ) -> None:
        self.servers = dict(servers)
        self.redact = Redactor()
        self._env = env
        self._connections: dict[tuple[str, str], ServerConnection] = {}
        self._task_group: TaskGroup | None = None

    async def __aenter__(self) -> Toolbox:
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._task_group is not None
        for connection in self._connections.values():
            connection.reset()
        self._task_group.cancel_scope.cancel()
        return await self._task_group.__aexit__(exc_type, exc, tb)

    def connection(
        self, server: str, scope: str = "", local: Mapping[str, ServerConfig] | None = None
    ) -> ServerConnection:
        """The (lazy) connection to ``server``; ``UsageError`` names the known servers.

        Servers in ``local`` (an agent's own) win over global ones of the same
        name; their connections are kept apart under ``scope``.
        """
        local = local or {}
        key = (scope, server) if server in local else ("", server)
        if key not in self._connections:
            config = local.get(server) or self.servers.get(server)
            if config is None:
                known = ", ".join(sorted({*self.servers, *local})) or "none configured"
                raise UsageError(
                    f"no tool server {server!r} in the mcpServers configuration; known: {known}"
                )
            if self._task_group is None:
                raise RuntimeError("the toolbox is not running: use 'async with Toolbox(...)'")
            self._connections[key] = ServerConnection(
                server, config, self.redact, self._task_group, env=self._env
            )
        return self._connections[key]

    async def tools(
        self, refs: list[str], scope: str = "", local: Mapping[str, ServerConfig] | None = None
    ) -> list[RemoteTool]:
        """The tools for a node's server-qualified tool names."""
        chosen: list[tuple[ServerConnection, ToolInfo]] = []
        for ref in refs:
            server, _, name = ref.partition(".")
            connection = self.connection(server, scope, local)
            specs = await connection.list_tools()
            if not name:
                chosen += [(connection, s) for s in specs]
                continue
            match = [s for s in specs if s.name == name]
            if not match:
                available = ", ".join(sorted(s.name for s in specs))
                raise UsageError(
                    f"tool server {server!r} has no tool {name!r}; it has: {available}"
                )
            chosen.append((connection, match[0]))
        counts: dict[str, int] = {}
        for _, spec in chosen:
            counts[spec.name] = counts.get(spec.name, 0) + 1
        return [
            self._tool(
                connection,
                spec,
                f"{connection.name}__{spec.name}" if counts[spec.name] > 1 else spec.name,
            )
            for connection, spec in chosen
        ]

    def _tool(self, connection: ServerConnection, spec: ToolInfo, exposed: str) -> RemoteTool:
        async def call(arguments: dict[str, Any], ask: Ask | None = None) -> str:
            return await connection.call(spec.name, arguments, ask)

        return RemoteTool(
            name=exposed,
            description=spec.description,
            input_schema=spec.input_schema,
            server=connection.name,
            call=call,
        )
