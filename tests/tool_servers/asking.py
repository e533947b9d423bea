"""A tool server (official SDK) that asks its user mid-call, and may speak only one era.

``book(room)`` asks "Book room ROOM?" with the form schema ``{confirm: boolean,
note: string}`` (elicitation: ``ctx.elicit`` on a legacy connection, an
``InputRequiredResult`` on 2026-07-28) and answers what it was told. ``echo(text)``
answers its text and the protocol version of the call. Every start of a ``book``
call appends one JSON line to the file named by ``ASKING_LEDGER`` (when set), so a
test can count how often the server asked. With ``ASKING_HANG=1`` a told ``book``
call never returns (so a test can kill hive-mcp after the answer was given).

``ASKING_ERA`` restricts the protocol: ``modern`` refuses ``initialize`` (the
2025 handshake) with error -32022 naming only 2026-07-28; ``legacy`` answers
``server/discover`` with "Method not found", as servers written before
2026-07-28 do; anything else (default) speaks both.

Run: python tests/tool_servers/asking.py (stdio).
"""

import json
import os
from typing import Any

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types.version import is_version_at_least
from pydantic import BaseModel

ERA = os.environ.get("ASKING_ERA", "both")
LEDGER = os.environ.get("ASKING_LEDGER")

server = MCPServer("asking", log_level="WARNING")


class Booking(BaseModel):
    confirm: bool
    note: str = ""


def _mark(room: str) -> None:
    if LEDGER:
        with open(LEDGER, "a", encoding="utf-8") as ledger:
            ledger.write(json.dumps({"asked": room, "pid": os.getpid()}) + "\n")


def _told(action: str, content: Any) -> str:
    return f"{action}: {json.dumps(content, sort_keys=True)}"


@server.tool()
async def book(room: str, ctx: Context) -> str | types.InputRequiredResult:
    """Book a room, after asking the user to confirm."""
    message = f"Book room {room}?"
    if is_version_at_least(ctx.protocol_version or "", "2026-07-28"):
        reply = (ctx.input_responses or {}).get("confirm")
        if reply is None:
            _mark(room)
            return types.InputRequiredResult(
                input_requests={
                    "confirm": types.ElicitRequest(
                        params=types.ElicitRequestFormParams(
                            message=message, requested_schema=Booking.model_json_schema()
                        )
                    )
                },
                request_state=room,
            )
        assert isinstance(reply, types.ElicitResult)
        await _hang_if_asked()
        return _told(reply.action, reply.content)
    _mark(room)
    answer = await ctx.elicit(message, Booking)
    content = answer.data.model_dump() if answer.action == "accept" else None
    await _hang_if_asked()
    return _told(answer.action, content)


async def _hang_if_asked() -> None:
    """With ``ASKING_HANG=1``, never answer once told: the caller is to be killed."""
    if os.environ.get("ASKING_HANG") == "1":
        await anyio.Event().wait()


@server.tool()
async def echo(text: str, ctx: Context) -> str:
    """Echo the text and the protocol version of this call."""
    return f"{text} ({ctx.protocol_version})"


def _refusal(message: types.JSONRPCMessage) -> types.JSONRPCError | None:
    if not isinstance(message, types.JSONRPCRequest):
        return None
    if ERA == "modern" and message.method == "initialize":
        data = types.UnsupportedProtocolVersionErrorData(
            supported=["2026-07-28"],
            requested=str((message.params or {}).get("protocolVersion", "")),
        )
        error = types.ErrorData(
            code=types.UNSUPPORTED_PROTOCOL_VERSION,
            message="this server speaks only 2026-07-28",
            data=data.model_dump(mode="json", by_alias=True),
        )
        return types.JSONRPCError(jsonrpc="2.0", id=message.id, error=error)
    if ERA == "legacy" and message.method == "server/discover":
        if LEDGER:
            with open(LEDGER, "a", encoding="utf-8") as ledger:
                ledger.write(json.dumps({"refused": "server/discover"}) + "\n")
        error = types.ErrorData(code=types.METHOD_NOT_FOUND, message="Method not found")
        return types.JSONRPCError(jsonrpc="2.0", id=message.id, error=error)
    return None


async def _filter(
    incoming: MemoryObjectReceiveStream[SessionMessage | Exception],
    inner: MemoryObjectSendStream[SessionMessage | Exception],
    outgoing: MemoryObjectSendStream[SessionMessage],
) -> None:
    async with inner:
        async for item in incoming:
            refusal = None if isinstance(item, Exception) else _refusal(item.message)
            if refusal is not None:
                await outgoing.send(SessionMessage(refusal))
            else:
                await inner.send(item)


async def main() -> None:
    lowlevel = server._lowlevel_server
    async with stdio_server() as (read_stream, write_stream), anyio.create_task_group() as tg:
        send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](16)
        tg.start_soon(_filter, read_stream, send, write_stream)
        await lowlevel.run(receive, write_stream, lowlevel.create_initialization_options())
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
