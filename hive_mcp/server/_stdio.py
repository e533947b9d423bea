"""MCP over stdio: one JSON-RPC message a line, and an error for every line we cannot take.

The SDK's stdio transport drops a line it cannot parse without a word: text
that is not JSON, a batch (an array), a request whose ``id`` is an object
(read as a notification, so never answered). Its caller waits forever. Over
HTTP the same body gets ``-32700`` (parse error) or ``-32600`` (invalid
request); here it gets the same, one line with ``"id": null`` (or the
request's own id when it has a usable one) and a message saying what is wrong.

So we read stdin ourselves and hand the server parsed messages; the SDK's
transport still does the writing, on a private duplicate of the real stdout
that ``claim_stdout`` takes before anything else runs: file descriptor 1 then
points at stderr for the rest of the process, so ``print()`` in a user's step,
``sys.stdout`` writes, C libraries and threads writing to fd 1, buffered text
flushed at exit and modules printing at import time all land on stderr.
Each line is parsed once with Python's ``json``, which, like the HTTP
transport, reads ``"\\ud800"`` escapes, NaN and big numbers. A request
carrying a value no store can keep (a lone surrogate, NaN: see
``hive_mcp._values``) is refused here with the place named: the SDK would
otherwise echo such text into an answer it cannot encode, and stop.
Responses and notifications pass as they are.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

import anyio
import mcp_types
from anyio.streams.memory import MemoryObjectSendStream
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR, ErrorData, JSONRPCError
from pydantic import ValidationError

from hive_mcp._stdout import claim_stdout
from hive_mcp._values import value_problem
from hive_mcp.server._run_tool import stop_serving

__all__ = ["claim_stdout", "parse_line", "serve_stdio"]

log = logging.getLogger("hive_mcp.server")

_ANY_DEPTH = sys.maxsize  # depth is the tools' rule (and json's recursion limit), not the wire's


def _error(code: int, message: str, id: Any = None) -> JSONRPCError:
    return JSONRPCError(jsonrpc="2.0", id=id, error=ErrorData(code=code, message=message))


def _usable_id(value: Any) -> bool:
    return (isinstance(value, str) and value_problem(value) is None) or (
        isinstance(value, int) and not isinstance(value, bool)
    )


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value)) or repr(value)  # a number with a fraction, or inf


def parse_line(line: bytes) -> mcp_types.JSONRPCMessage | JSONRPCError | None:
    """The message on one line of stdin, or the error to answer; ``None`` for a blank line.

    A notification that cannot be taken is answered too when it is not even
    a message (JSON-RPC's rule for invalid requests); one that is well formed
    but carries a bad value is dropped, as notifications get no answers.
    """
    if not line.strip():
        return None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _error(
            PARSE_ERROR,
            f"Parse error: the line is not UTF-8 (byte 0x{line[exc.start]:02x} at position "
            f"{exc.start}); send UTF-8 JSON, one message a line",
        )
    try:
        data = json.loads(text)
    except RecursionError:
        return _error(PARSE_ERROR, "Parse error: the message is nested too deeply to read")
    except json.JSONDecodeError as exc:
        return _error(PARSE_ERROR, f"Parse error: the line is not JSON ({exc})")
    except ValueError:  # Python's cap on the digits of an integer literal
        return _error(
            PARSE_ERROR,
            f"Parse error: a number has more than {sys.get_int_max_str_digits()} digits; "
            "send it as a string",
        )
    if isinstance(data, list):
        return _error(
            INVALID_REQUEST,
            "Invalid Request: a batch (a JSON array) is not supported; send one message a line",
        )
    if not isinstance(data, dict):
        return _error(
            INVALID_REQUEST, f"Invalid Request: a message is a JSON object, not {_json_type(data)}"
        )
    given = data.get("id")
    id = given if _usable_id(given) else None
    try:
        message = mcp_types.jsonrpc_message_adapter.validate_python(data, by_name=False)
    except ValidationError as exc:
        return _error(INVALID_REQUEST, f"Invalid Request: {_first_problem(exc)}", id)
    if "id" in data and isinstance(message, mcp_types.JSONRPCNotification):
        # The notification model ignores unknown keys, so a request whose id is
        # malformed would be taken as a notification: owed an answer, never sent one.
        return _error(
            INVALID_REQUEST,
            f"Invalid Request: id must be a string or an integer, not {_json_type(given)}",
        )
    if isinstance(message, mcp_types.JSONRPCRequest):
        for key, value in data.items():
            problem = value_problem(value, key, max_depth=_ANY_DEPTH)
            if problem is not None:
                code = INVALID_PARAMS if key == "params" else INVALID_REQUEST
                kind = "Invalid params" if key == "params" else "Invalid Request"
                return _error(code, f"{kind}: {problem}", id)
    elif isinstance(message, mcp_types.JSONRPCNotification) and (
        value_problem(data, "notification", max_depth=_ANY_DEPTH) is not None
    ):
        log.warning("dropped a notification %r carrying a value no store can keep", message.method)
        return None
    return message


def _first_problem(exc: ValidationError) -> str:
    """The first complaint of the model the message looks like, as ``field: message``."""
    errors = exc.errors()
    first = errors[0]
    place = ".".join(str(p) for p in first["loc"][1:]) or "the message"
    return f"{place}: {first['msg']}"


async def serve_stdio(server: MCPServer, wire_out: BinaryIO | None = None) -> None:
    """Serve ``server`` over stdin and ``wire_out`` (from ``claim_stdout``) until stdin ends."""
    lowlevel = server._lowlevel_server  # what MCPServer.run_stdio_async drives
    out = wire_out if wire_out is not None else claim_stdout()
    writer = anyio.wrap_file(io.TextIOWrapper(out, encoding="utf-8", newline="\n"))
    with _claimed_stdin() as wire:
        # The SDK's transport does the writing; its reader gets nothing to read.
        async with stdio_server(stdin=cast(anyio.AsyncFile[str], _NoLines()), stdout=writer) as (
            unused,
            write,
        ):
            await unused.aclose()
            messages, received = anyio.create_memory_object_stream[SessionMessage | Exception](0)
            async with anyio.create_task_group() as tg:
                tg.start_soon(_read, wire, messages, write)
                await lowlevel.run(received, write, lowlevel.create_initialization_options())
                tg.cancel_scope.cancel()


async def _read(
    wire: BinaryIO,
    messages: MemoryObjectSendStream[SessionMessage | Exception],
    replies: Any,
) -> None:
    async with messages:
        while True:
            line = await anyio.to_thread.run_sync(wire.readline, abandon_on_cancel=True)
            if not line:
                # End of input: the host left. The server stops, and the run
                # calls it cuts off leave their executions to resume, not cancelled.
                stop_serving()
                return
            parsed = parse_line(line)
            if parsed is None:
                continue
            try:
                if isinstance(parsed, JSONRPCError):
                    await replies.send(SessionMessage(parsed))
                else:
                    await messages.send(SessionMessage(parsed))
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return  # the server stopped meanwhile


class _NoLines:
    """An empty stdin for the SDK's transport, which then only writes."""

    def __aiter__(self) -> _NoLines:
        return self

    async def __anext__(self) -> str:
        raise StopAsyncIteration


def _private_copy_of_stdin(stdin: Any) -> int | None:
    """A duplicate of descriptor 0 above the standard ones, if ``stdin`` reads it."""
    try:
        if stdin.buffer.fileno() != 0:
            return None
        if sys.platform == "win32":  # pragma: no cover
            return os.dup(0)
        import fcntl

        return fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    except (AttributeError, OSError, ValueError):
        return None


@contextlib.contextmanager
def _claimed_stdin() -> Iterator[BinaryIO]:
    """The process's stdin, for this transport alone.

    While serving, file descriptor 0 reads the null device (as under the
    SDK's own transport), so a child process or a stray ``input()`` cannot
    take messages meant for the server. The private copy is never closed: a
    reader thread left blocked on it at shutdown must not see it recycled.
    """
    # Python leaves sys.stdin None when the process started with fd 0 closed:
    # then fd 0 may well be another file of ours by now, never to be diverted.
    stdin = sys.stdin
    if stdin is None:
        yield io.BytesIO()  # nothing to read: the server stops at once
        return
    private = _private_copy_of_stdin(stdin)
    if private is None:
        yield stdin.buffer  # not ours to divert: read it in place
        return
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        yield os.fdopen(private, "rb", closefd=False)
    finally:
        os.dup2(private, 0)
