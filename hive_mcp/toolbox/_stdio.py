"""The stdio transport to a tool server: the SDK's process handling, our own line reader.

The SDK's stdio client decodes a server's stdout as one strict UTF-8 text stream, so
one byte of invalid UTF-8 kills its reader and every answer after it is lost until the
caller's timeout. Here stdout is read as bytes and split into lines, and each line is
parsed on its own. A line that is not a JSON-RPC message (invalid UTF-8, not JSON, JSON
of another shape) is handed to the ``StdoutWatch`` and skipped. Before the first
message, though, such a line ends the connection at once: a process that prints
something else before it answers the handshake is not speaking MCP (a wrong command, a
server printing its logs to stdout), and waiting out the start timeout would only hide
what it printed. The watch keeps what the caller needs to say so: the first stray line,
whether the process closed its stdout (exited) first, its exit code and when.

Starting, stopping and killing the process tree are the SDK's (``mcp.client.stdio``,
pinned with the SDK): that is careful code we do not want a second copy of.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TextIO

import anyio
import anyio.lowlevel
import mcp_types
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.client import stdio as sdk
from mcp.client.stdio import StdioServerParameters
from mcp.shared.message import SessionMessage

from hive_mcp._values import clean

__all__ = ["StdoutWatch", "stdio_transport"]

log = logging.getLogger(__name__)

Streams = tuple[
    MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]
]


@dataclass
class StdoutWatch:
    """What one server process did on its stdout, kept for the message when it fails."""

    on_stray: Callable[[bytes], None] = lambda line: None
    """Called with each line that is not a JSON-RPC message once the server has spoken
    (the connection logs it and the line is skipped)."""
    started: float = field(default_factory=time.monotonic)
    spoke: bool = False
    """A JSON-RPC message arrived: the handshake is under way or done."""
    stray: bytes | None = None
    """The first line that was not a JSON-RPC message."""
    stray_after: float | None = None
    closed_after: float | None = None
    """When the server closed its stdout (exited), if it did before we stopped it."""
    exit_code: int | None = None

    def since_start(self) -> float:
        return time.monotonic() - self.started


def _parse(line: bytes) -> mcp_types.JSONRPCMessage:
    """One JSON-RPC message; ``ValueError`` when the line is none.

    The SDK's parser refuses the JSON escape of a lone surrogate (``"\\ud800"``)
    that a tool server may send; such an answer is taken with the surrogate
    replaced by U+FFFD rather than lost.
    """
    try:
        return mcp_types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValueError:
        if b"\\u" not in line:
            raise
        try:
            value = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ValueError("not JSON") from None
        return mcp_types.jsonrpc_message_adapter.validate_python(clean(value), by_name=False)


@asynccontextmanager
async def stdio_transport(
    server: StdioServerParameters, watch: StdoutWatch, errlog: TextIO = sys.stderr
) -> AsyncIterator[Streams]:
    """Run `server` as a subprocess and exchange JSON-RPC lines with it (an MCP Transport)."""
    command = await sdk._get_executable_command(server.command)
    process = await sdk._create_platform_compatible_process(
        command=command,
        args=server.args,
        env=sdk.get_default_environment() | (server.env or {}),
        errlog=errlog,
        cwd=server.cwd,
    )
    watch.started = time.monotonic()
    # As in the SDK: no awaits between the spawn and the task group, or a cancellation
    # delivered in the gap would leak the live process.
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)
    shutting_down = False
    writer_done = anyio.Event()

    async def deliver_lines() -> None:
        """Send each JSON-RPC line to the session until EOF, the session goes, or a stray
        line arrives before the first message."""
        assert process.stdout is not None
        buffer = b""
        async for chunk in process.stdout:
            *lines, buffer = (buffer + chunk).split(b"\n")
            for line in lines:
                if not line.strip():
                    continue
                try:
                    message = _parse(line)
                except ValueError:  # invalid UTF-8 and invalid JSON included
                    if watch.stray is None:
                        watch.stray, watch.stray_after = line, watch.since_start()
                    if not watch.spoke:
                        return  # the caller's start fails and says what it printed
                    watch.on_stray(line)
                    continue
                watch.spoke = True
                try:
                    await read_writer.send(SessionMessage(message))
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return  # the session is gone
        if not shutting_down:
            watch.closed_after = watch.since_start()

    async def stdout_reader() -> None:
        try:
            try:
                async with read_writer:  # closing it is the session's EOF
                    await deliver_lines()
            finally:
                # Keep a server flushing more output from blocking on a full pipe.
                await sdk._drain_stdout(process)
        except anyio.ClosedResourceError:
            pass  # our own shutdown closed stdout under the read
        except (anyio.BrokenResourceError, ConnectionError):
            if not shutting_down:
                log.exception("reading a tool server's stdout failed mid-session")

    async def stdin_writer() -> None:
        assert process.stdin is not None
        try:
            async with write_reader:
                async for session_message in write_reader:
                    message = session_message.message
                    line = message.model_dump_json(by_alias=True, exclude_unset=True)
                    await process.stdin.send((line + "\n").encode("utf-8"))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            # The server may still be alive: end the session rather than hang a request.
            await read_writer.aclose()
        finally:
            writer_done.set()

    async def shutdown() -> None:
        read_stream.close()
        write_stream.close()
        with anyio.move_on_after(sdk._WRITER_FLUSH_TIMEOUT):
            await writer_done.wait()
        await sdk._stop_server_process(process)
        await sdk._aclose_all(read_stream, write_stream, read_writer, write_reader)
        await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        tg.start_soon(stdout_reader)
        tg.start_soon(stdin_writer)
        try:
            yield read_stream, write_stream
        finally:
            shutting_down = True
            with anyio.CancelScope(shield=True):  # every wait inside is bounded
                await shutdown()
            watch.exit_code = process.returncode
            tg.cancel_scope.cancel()
