"""One tool server connection: started on first use, shared, restarted after a crash.

A connection is owned by a task of the toolbox (the MCP client's context
must be entered and left in one task); callers in any execution share it.
Every failure reaches the caller as a ``ToolServerError`` the model is told,
and as a ``status`` event of the run that saw it; a failed server is started
again on the next call.

The protocol is negotiated per server: 2026-07-28 first (``server/discover``),
the 2025 handshake when the server does not speak it. A server found to speak
only the older protocol is started with the handshake alone afterwards (per
configuration, for the life of the process), so its restarts skip the probe.

A server that asks its user mid-call (``elicitation/create``) is answered by the
caller's ``Ask`` (see ``_asking``). On 2026-07-28 the question arrives inside the
call (the SDK retries it with the answer), so it belongs to that call. On a
legacy connection it arrives on the session with no mark of the call it belongs
to: it goes to the one call in flight, and is refused while several are.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import anyio
from anyio.abc import TaskGroup, TaskStatus

from hive_mcp.errors import ToolCallRefused, ToolServerError
from hive_mcp.events import emit_status
from hive_mcp.toolbox._config import Redactor, ServerConfig, expand
from hive_mcp.toolbox._refusal import Refusal

if TYPE_CHECKING:
    # The MCP SDK is imported on the first connection, not with the module:
    # commands that never reach a tool server (validate, the operator
    # commands) start without it (about 0.5 s of imports).
    from mcp import Client
    from mcp.client.session import ClientRequestContext
    from mcp_types import ElicitRequestParams, ElicitResult, ErrorData

    from hive_mcp.toolbox._asking import Ask
    from hive_mcp.toolbox._stdio import StdoutWatch

__all__ = ["ServerConnection", "ToolInfo"]


def _legacy(client: Client) -> bool:
    """Whether the session speaks a legacy (handshake) protocol version, not 2026-07-28."""
    from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

    return client.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS


log = logging.getLogger(__name__)

_STRAYS_LOGGED = 5  # per start: a server spraying its stdout must not flood our log

# Servers (by configuration) found to speak only the 2025 handshake, in this process.
_LEGACY_ONLY: set[str] = set()


@dataclass
class _Call:
    """A tool call in flight: who answers its questions, and its clock."""

    ask: Ask | None
    scope: anyio.CancelScope
    limit: float

    def restart_clock(self) -> None:
        self.scope.deadline = anyio.current_time() + self.limit


# The call running in this task; on 2026-07-28 the SDK answers a call's
# questions in tasks it starts inside that call, so they see it.
_CALL: ContextVar[_Call | None] = ContextVar("hive_mcp_call", default=None)


# What a stdio server inherits from us besides its own env: enough to find
# programs and a home, never our secrets.
@dataclass(frozen=True)
class ToolInfo:
    """A tool as its server lists it."""

    name: str
    description: str
    input_schema: dict[str, Any]


_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "PYTHONPATH")


class ServerConnection:
    """A client session to one tool server."""

    def __init__(
        self,
        name: str,
        config: ServerConfig,
        redactor: Redactor,
        task_group: TaskGroup,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._redact = redactor
        self._task_group = task_group
        self._env = dict(os.environ if env is None else env)
        self._client: Client | None = None
        self._stop = anyio.Event()
        self._lock = anyio.Lock()
        self._tools: list[ToolInfo] | None = None
        self._start_error: BaseException | None = None
        self._strays = 0
        self._refusal = Refusal(config)
        self._in_flight: dict[int, _Call] = {}  # legacy questions go to the only one
        self._calls = 0

    def _target(self, watch: StdoutWatch) -> Any:
        cfg, where = self.config, f"tool server {self.name!r}"

        def x(text: str, secret: bool = False) -> str:
            return expand(text, env=self._env, redactor=self._redact, where=where, secret=secret)

        if cfg.command is not None:
            env = {k: self._env[k] for k in _INHERITED if k in self._env}
            expanded = {k: x(v) for k, v in cfg.env.items()}
            env.update({k: v for k, v in expanded.items() if v})  # empty: leave unset
            command, args = cfg.command, [x(a) for a in cfg.args]
            if command in ("python", "python3"):
                command = sys.executable
            elif command == "hive-mcp":
                # Our own servers run on our interpreter, whether or not the
                # console script is on PATH (an unactivated virtualenv).
                command, args = sys.executable, ["-m", "hive_mcp", *args]
            from mcp.client.stdio import StdioServerParameters

            from hive_mcp.toolbox._stdio import stdio_transport

            params = StdioServerParameters(command=x(command), args=args, env=env, cwd=cfg.cwd)
            return stdio_transport(params, watch)
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        assert cfg.url is not None
        http = httpx2.AsyncClient(
            headers={k: x(v, secret=True) for k, v in cfg.headers.items()},
            timeout=httpx2.Timeout(30, read=cfg.timeout_seconds + 30),
            event_hooks={"response": [self._refusal.see]},
        )
        url = x(cfg.url)

        @asynccontextmanager
        async def transport() -> AsyncIterator[Any]:
            # The SDK leaves a client it was given open: its sockets are ours to close.
            async with http, streamable_http_client(url, http_client=http) as streams:
                yield streams

        return transport()

    @property
    def _era_key(self) -> str:
        return self.config.model_dump_json()

    async def _own(self, target: Any, *, task_status: TaskStatus[Client]) -> None:
        from mcp import Client

        stop = self._stop
        started = False
        legacy = self._era_key in _LEGACY_ONLY
        try:
            async with Client(
                target,
                mode="legacy" if legacy else "auto",
                elicitation_callback=self._on_elicit,
            ) as client:
                if _legacy(client):
                    _LEGACY_ONLY.add(self._era_key)
                task_status.started(client)
                started = True
                await stop.wait()
        except Exception as exc:  # a crash must never reach the toolbox's task group
            if not started:
                self._start_error = exc
                _LEGACY_ONLY.discard(self._era_key)  # it may have moved on: probe again
            log.warning("tool server %s stopped: %s", self.name, self._redact(_describe(exc)))
        finally:
            if self._client is not None and stop is self._stop:
                self._client = None

    async def client(self) -> Client:
        """The live client, starting (or restarting) the server if needed."""
        async with self._lock:
            if self._client is None:
                self._stop = anyio.Event()
                self._start_error = None
                self._strays = 0
                from hive_mcp.toolbox._stdio import StdoutWatch

                watch = StdoutWatch(on_stray=self._log_stray)
                self._refusal.clear()
                # The session's tasks copy this task's context: they must not
                # inherit the Ask of the call that happened to start the server.
                token = _CALL.set(None)
                try:
                    target = self._target(watch)
                    with anyio.fail_after(self.config.timeout_seconds):
                        self._client = await self._task_group.start(self._own, target)
                except Exception as exc:
                    refused = self._refusal.explain(self.name)
                    detail = refused or self._why_not_started(watch, exc)
                    emit_status(
                        "tool_server", "failed_to_start", {"server": self.name, "error": detail}
                    )
                    raise ToolServerError(
                        f"tool server {self.name!r} {detail}"
                        if refused
                        else f"tool server {self.name!r} did not start: {detail}; check its "
                        "command and environment in the mcpServers configuration"
                    ) from None
                finally:
                    _CALL.reset(token)
                emit_status("tool_server", "started", {"server": self.name})
            return self._client

    def _why_not_started(self, watch: StdoutWatch, exc: Exception) -> str:
        """What went wrong at the start, in words, from what the process did."""
        if watch.stray is not None and not watch.spoke:
            return (
                "it printed a line that is not an MCP message on stdout after "
                f"{watch.stray_after or 0:.1f} s, before answering its handshake: "
                f"{self._preview(watch.stray)}; a stdio server's stdout is for MCP messages "
                "only (logs belong on stderr)"
            )
        if watch.closed_after is not None and not watch.spoke:
            code = watch.exit_code
            how = f"exited with code {code}" if code is not None and code >= 0 else "closed stdout"
            return f"it {how} after {watch.closed_after:.1f} s, before answering its handshake"
        if isinstance(exc, TimeoutError):
            return f"no answer to its handshake within {self.config.timeout_seconds:g} s"
        # anyio reports a task that ended before starting generically; say why.
        return self._redact(_describe(self._start_error or exc))

    def _log_stray(self, line: bytes) -> None:
        self._strays += 1
        if self._strays <= _STRAYS_LOGGED:
            log.warning(
                "tool server %s printed a line that is not an MCP message on stdout (skipped): %s",
                self.name,
                self._preview(line),
            )
        elif self._strays == _STRAYS_LOGGED + 1:
            log.warning("tool server %s: further lines that are not MCP are not logged", self.name)

    def _preview(self, line: bytes, limit: int = 120) -> str:
        """The start of a line as readable text: bad bytes as \\xNN, secrets redacted."""
        # Redact the whole line before cutting it, or a cut could leave half a secret.
        text = self._redact(line.decode("utf-8", "backslashreplace"))
        shown = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
        return f"'{shown[:limit]}...'" if len(shown) > limit else f"'{shown}'"

    def reset(self) -> None:
        """Drop the session; the next call starts the server again."""
        self._client = None
        self._tools = None
        self._stop.set()

    async def list_tools(self) -> list[ToolInfo]:
        """The server's tools (asked once per session)."""
        if self._tools is None:
            client = await self.client()
            try:
                with anyio.fail_after(self.config.timeout_seconds):
                    listed = (await client.list_tools()).tools
            except Exception as exc:
                self._fail("list_tools", exc)
            self._tools = [
                ToolInfo(
                    name=t.name, description=t.description or "", input_schema=dict(t.input_schema)
                )
                for t in listed
            ]
        return self._tools

    async def call(self, tool: str, arguments: dict[str, Any], ask: Ask | None = None) -> str:
        """Call a tool; its text (and structured content) as one string.

        ``ask`` answers the server's questions during the call (the time a
        person takes is not counted in the server's timeout); without it they
        are refused.
        """
        client = await self.client()
        timeout = self.config.timeout_seconds
        self._calls += 1
        number, call = self._calls, _Call(ask, anyio.CancelScope(), timeout + 5)
        self._in_flight[number] = call
        token = _CALL.set(call)
        # On a legacy connection a question stops the clock of the call's one
        # request, which the SDK's own read timeout cannot do: ours can.
        legacy = _legacy(client)
        result = None
        try:
            with call.scope:
                call.restart_clock()
                result = await client.call_tool(
                    tool, arguments, read_timeout_seconds=None if legacy else timeout
                )
        except Exception as exc:
            if "timed out" in str(exc):
                exc = TimeoutError(f"no answer within {timeout:g} s")
            self._fail(tool, exc)
        finally:
            _CALL.reset(token)
            del self._in_flight[number]
        if result is None:
            self._fail(tool, TimeoutError(f"no answer within {timeout:g} s"))
        parts = [getattr(c, "text", "") for c in result.content if getattr(c, "text", None)]
        text = self._redact("\n".join(parts))
        if result.is_error:
            raise ToolCallRefused(f"{self.name}.{tool}: {text}")
        if not text and result.structured_content is not None:
            text = self._redact(json.dumps(result.structured_content))
        return text

    async def _on_elicit(
        self, context: ClientRequestContext, params: ElicitRequestParams
    ) -> ElicitResult | ErrorData:
        from mcp_types import INVALID_REQUEST, ErrorData

        from hive_mcp.toolbox._asking import elicit

        modern = self._client is not None and not _legacy(self._client)
        if modern:
            call = _CALL.get()
        elif len(self._in_flight) == 1:
            call = next(iter(self._in_flight.values()))
        else:
            return ErrorData(
                code=INVALID_REQUEST,
                message=f"hive-mcp cannot tell which of its {len(self._in_flight)} calls in "
                "flight asks (legacy protocol); ask again when one call runs",
            )
        if call is None or call.ask is None:
            return ErrorData(
                code=INVALID_REQUEST, message="hive-mcp has nobody to ask during this call"
            )
        call.scope.deadline = math.inf  # a person's time is not the server's
        try:
            return await elicit(call.ask, self.name, params)
        finally:
            call.restart_clock()

    def _fail(self, what: str, exc: BaseException) -> NoReturn:
        refused = self._refusal.explain(self.name)
        if refused:
            self.reset()
            emit_status(
                "tool_server", "failed", {"server": self.name, "call": what, "error": refused}
            )
            self._refusal.clear()
            raise ToolServerError(f"tool server {self.name!r} {refused} (during {what})")
        detail = self._redact(_describe(exc))
        self.reset()
        emit_status("tool_server", "failed", {"server": self.name, "call": what, "error": detail})
        raise ToolServerError(
            f"tool server {self.name!r} failed during {what}: {detail}. It will be started "
            "again on the next call."
        ) from None

    async def close(self) -> None:
        self.reset()


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
