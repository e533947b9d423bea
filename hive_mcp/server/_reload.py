"""Agents added, changed and removed while the server runs.

``serve`` looks at the agents folder every few seconds; when a file changed,
it loads the folder again and brings the runtime and the ``run_<agent>``
tools in line: new agents are served, changed ones replaced (running
executions keep their version), removed ones stop taking new starts. An
edited Python module beside an agent file replaces that agent too, with the
module imported afresh. A file that no longer loads keeps its agent as it was
and says why on stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.subscriptions import (
    ResourcesListChanged,
    ResourceUpdated,
    SubscriptionBus,
    ToolsListChanged,
)

from hive_mcp.errors import AgentFileError
from hive_mcp.graph import AgentCatalog, load_catalog
from hive_mcp.runtime import AgentRuntime
from hive_mcp.server._run_tool import run_tool

__all__ = ["announce_changes", "sync_agents", "watch_agents"]

_WATCHED = {".yaml", ".yml", ".json", ".py"}


def _fingerprint(folder: Path) -> frozenset[tuple[str, int, int]]:
    found = set()
    for path in folder.rglob("*"):
        if path.suffix in _WATCHED and "__pycache__" not in path.parts:
            try:
                stat = path.stat()
            except OSError:
                continue
            found.add((str(path), stat.st_mtime_ns, stat.st_size))
    return frozenset(found)


def sync_agents(runtime: AgentRuntime, server: MCPServer, catalog: AgentCatalog) -> list[str]:
    """Make the runtime and the tools serve ``catalog``; return what changed, as lines."""
    changes = []
    runtime.catalog.errors = list(catalog.errors)  # hosts see the problems in list_agents
    broken = {Path(e.source).resolve() for e in catalog.errors}
    for name, agent in list(runtime.catalog.agents.items()):
        if name in catalog.agents:
            continue
        if agent.source is not None and agent.source.resolve() in broken:
            continue  # a file being edited: keep serving what loaded last
        runtime.remove_agent(name)
        server.remove_tool(f"run_{name}")
        changes.append(f"removed agent {name}")
    for name, agent in catalog.agents.items():
        old = runtime.catalog.agents.get(name)
        if old is not None and old.spec == agent.spec and old.code == agent.code:
            continue  # neither the file nor the Python modules beside it changed
        runtime.add_agent(agent, replace=True)
        if old is not None:
            server.remove_tool(f"run_{name}")
        # The SDK adds tools only from functions; ours carry their own schema.
        server._tool_manager._tools[f"run_{name}"] = run_tool(agent, runtime)
        changes.append(f"{'replaced' if old else 'added'} agent {name}")
    return changes


async def announce_changes(bus: SubscriptionBus) -> None:
    """Tell listening clients (2026-07-28 sessions) that tools and agents changed."""
    await bus.publish(ToolsListChanged())
    await bus.publish(ResourcesListChanged())
    await bus.publish(ResourceUpdated(uri="hive://agents"))


async def watch_agents(
    runtime: AgentRuntime,
    server: MCPServer,
    folder: Path,
    bus: SubscriptionBus | None = None,
    interval: float = 2.0,
    origin: str = "",
) -> None:
    """Follow the agents folder until cancelled; ``origin`` as for ``load_catalog``."""
    seen = _fingerprint(folder)
    while True:
        await anyio.sleep(interval)
        now = await anyio.to_thread.run_sync(_fingerprint, folder)
        if now == seen:
            continue
        seen = now
        catalog = load_catalog(folder, origin)
        problems_changed = _problems(catalog.errors) != _problems(runtime.catalog.errors)
        for error in catalog.errors:
            print(f"hive-mcp: agent file not loaded: {error}", file=sys.stderr, flush=True)
        changes = sync_agents(runtime, server, catalog)
        for line in changes:
            print(f"hive-mcp: {line}", file=sys.stderr, flush=True)
        if (changes or problems_changed) and bus is not None:
            await announce_changes(bus)


def _problems(errors: list[AgentFileError]) -> list[str]:
    return [str(e) for e in errors]
