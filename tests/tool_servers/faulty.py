"""A tool server that misbehaves on request, for the toolbox's fault tests.

Tools misbehave when called; the first argument makes the process misbehave before
its handshake: ``--garbage-first`` prints a line of invalid UTF-8 (with the secret it
was given) on stdout and then serves normally, ``--exit-first`` exits with code 3.
"""

import os
import sys
import time

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import CallToolResult, TextContent

server = MCPServer("faulty", log_level="WARNING")
# The SDK diverts fd 1 to stderr while it serves; a duplicate taken first still writes
# on the wire the client reads, as a server's stray print at the C level would.
WIRE = os.dup(sys.stdout.fileno())


@server.tool()
def echo(text: str) -> str:
    """Echo the text."""
    return f"echo: {text}"


@server.tool()
def crash() -> str:
    """Kill the server in the middle of the call."""
    os._exit(1)


@server.tool()
def hang() -> str:
    """Never answer."""
    time.sleep(3600)
    return "never"


@server.tool()
def garbage_then_echo(text: str) -> str:
    """Print a line of invalid UTF-8 on stdout (not MCP), then answer like echo."""
    os.write(WIRE, b"\xff\xfe\xfd not json at all\n")
    return f"echo: {text}"


@server.tool()
def show_secret() -> str:
    """Return the secret it was started with (a tool that leaks)."""
    return f"my token is {os.environ.get('SECRET_TOKEN')}"


class _NoArgs(ArgModelBase):
    pass


async def _malformed() -> CallToolResult:
    # Declares an output schema, then breaks it: the client must refuse the result.
    return CallToolResult(
        content=[TextContent(type="text", text="?")], structured_content={"n": "x"}
    )


server._tool_manager._tools["malformed"] = Tool(
    fn=_malformed,
    name="malformed",
    title=None,
    description="Return a result that breaks its own schema.",
    parameters={"type": "object", "properties": {}},
    fn_metadata=FuncMetadata(
        arg_model=_NoArgs,
        output_schema={
            "type": "object",
            "properties": {"n": {"type": "integer"}},
            "required": ["n"],
        },
    ),
    is_async=True,
    context_kwarg=None,
    annotations=None,
)

if __name__ == "__main__":
    if "--exit-first" in sys.argv:
        print("faulty: exiting before the handshake", file=sys.stderr)
        sys.exit(3)
    if "--garbage-first" in sys.argv:
        secret = os.environ.get("SECRET_TOKEN", "")
        os.write(sys.stdout.fileno(), b"\xff\xfe banner " + secret.encode() + b"\n")
    server.run()
