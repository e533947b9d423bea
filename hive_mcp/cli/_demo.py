"""``hive-mcp demo``: the server end to end, the way an MCP host uses it.

Starts ``hive-mcp serve`` as a subprocess, connects with the official MCP
client over stdio, lists the tools, starts the support_desk agent (offline,
on its scripted policy), follows its events live with get_events, answers
the question its client-facing node asks with send_input, and prints the
output.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from hive_mcp.cli._render import describe
from hive_mcp.config import Settings
from hive_mcp.events import Event, EventType

__all__ = ["run_demo"]

AGENT = "support_desk"


def _say(text: str) -> None:
    print(text, flush=True)


async def _call(client: Client, name: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    if result.is_error:
        text = " ".join(getattr(c, "text", "") for c in result.content)
        raise SystemExit(f"demo: {name} failed: {text}")
    return result.structured_content or {}


async def _demo(settings: Settings, customer: str, answer: str) -> int:
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "SYSTEMROOT")},
        "HIVE_MCP_HOME": str(settings.home),
        "HIVE_MCP_AGENTS": str(settings.agents_dir),
    }
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "hive_mcp", "serve"], env=env
    )
    _say("▶ starting `hive-mcp serve` over stdio and connecting with the MCP client")
    _say(
        f"  store: {settings.store_label} "
        "(HIVE_MCP_STORE or HIVE_MCP_HOME; 'hive-mcp executions' lists what ran)"
    )
    async with Client(server) as client:
        tools = sorted(t.name for t in (await client.list_tools()).tools)
        _say(f"  tools: {', '.join(tools)}")
        started = await _call(client, "start_execution", agent=AGENT, input={"customer": customer})
        execution_id = started["execution_id"]
        _say(f"▶ start_execution({AGENT}) → {execution_id}  [scripted policy: offline, no model]")
        after, answered = 0, False
        with anyio.fail_after(120):
            while True:
                page = await _call(
                    client, "get_events", execution_id=execution_id, after=after, wait_seconds=10
                )
                for data in page["events"]:
                    line = describe(
                        Event(
                            execution_id=execution_id,
                            seq=data["seq"],
                            type=EventType(data["type"]),
                            node_id=data["node_id"],
                            data=data["data"],
                        )
                    )
                    if line:
                        _say(line)
                after = page["next_after"]
                waiting = page["waiting_for_input"]
                if page["status"] == "waiting_for_input" and waiting and not answered:
                    _say(f"▶ send_input: {answer!r}")
                    await _call(client, "send_input", execution_id=execution_id, text=answer)
                    answered = True
                elif page["status"] in ("completed", "failed", "cancelled"):
                    break
        info = await _call(client, "get_execution", execution_id=execution_id)
    _say(f"▶ {info['status']}; output:")
    _say(json.dumps(info["output"], indent=2, ensure_ascii=False))
    return 0 if info["status"] == "completed" else 1


def run_demo(settings: Settings, *, customer: str, answer: str) -> int:
    """Run the demo; return the exit code."""
    return anyio.run(_demo, settings, customer, answer)
