"""Serving: the runtime and its MCP face over stdio or Streamable HTTP.

Over stdio nothing but the MCP transport writes to stdout: logs go to
stderr, and the SDK points file descriptor 1 at stderr while it serves.
Over HTTP the MCP endpoint is ``/mcp`` and ``/health`` answers without
auth; on an address other than loopback a bearer token is required, and
DNS-rebinding protection stays on.

SIGTERM (how MCP hosts, systemd and Docker stop a server) and Ctrl-C stop it
cleanly: HTTP requests in flight get a few seconds, executions are suspended
where they are (resumed on the next start), the server's leases are released.
A second signal cuts the wait short. uvicorn's own signal handling is off: it
re-raises the signal after its shutdown, which would kill the process before
the runtime could suspend its executions.
"""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from hive_mcp import __version__
from hive_mcp.config import Settings
from hive_mcp.errors import UsageError
from hive_mcp.runtime import AgentRuntime
from hive_mcp.server._app import build_server, notify_resource_updates, request_state_key
from hive_mcp.server._auth import ASGIApp, BearerAuth
from hive_mcp.server._event_store import BoundedEventStore
from hive_mcp.server._gc import collect_periodically, tune_for_serving
from hive_mcp.server._reload import watch_agents
from hive_mcp.server._run_tool import stop_serving
from hive_mcp.server._stdio import claim_stdout, serve_stdio
from hive_mcp.server._webhooks import webhook_route
from hive_mcp.store import Journal
from hive_mcp.toolbox import Toolbox

__all__ = ["http_app", "is_loopback", "serve"]

# How often a server looks for executions of runtimes that died (other
# servers sharing the store, killed or gone with their machine).
TAKEOVER_EVERY = 1.0


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def http_app(
    server: MCPServer, runtime: AgentRuntime, *, host: str, token: str | None
) -> Starlette:
    """A Starlette app with ``/mcp`` (the MCP endpoint), ``/health`` and ``/hooks/...``."""
    hosts = {"127.0.0.1", "localhost", host}
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{h}:*" for h in sorted(hosts)],
        allowed_origins=[f"http://{h}:*" for h in sorted(hosts)],
    )
    mcp_app: ASGIApp = server.streamable_http_app(
        streamable_http_path="/mcp",
        transport_security=security,
        event_store=BoundedEventStore(),  # a reconnect with Last-Event-ID gets what it missed
    )
    if token:
        mcp_app = BearerAuth(mcp_app, token)

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(
            {"status": "ok", "version": __version__, "agents": sorted(runtime.catalog.agents)}
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with server.session_manager.run():  # a mounted app's own lifespan never runs
            yield

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            webhook_route(runtime, token=token),
            Mount("/", app=mcp_app),
        ],
        lifespan=lifespan,
    )


async def serve(
    settings: Settings,
    *,
    http: bool = False,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    resume: bool = True,
) -> None:
    """Serve until cancelled; executions are suspended, not lost, on the way out."""
    if http and not is_loopback(host) and not token:
        raise UsageError(
            f"refusing to serve on {host} without a bearer token: set HIVE_MCP_TOKEN (or "
            "--token), or serve on 127.0.0.1"
        )
    listening = _listen(host, port) if http else None  # a port in use: said before anything runs
    wire_out = None if http else claim_stdout()  # before agent modules load (and may print)
    catalog = settings.load_catalog()
    for error in catalog.errors:
        print_err(f"warning: skipped {error}")
    store = settings.open_store()
    try:
        async with (
            _signals() as signals,  # from the start: a stop while starting is kept for later
            Journal(store) as journal,
            Toolbox(settings.tool_servers()) as toolbox,
            AgentRuntime(
                catalog,
                journal,
                data_dir=settings.data_dir,
                toolbox=toolbox,
                limits=settings.limits,
                triggers=True,
                retention=settings.retention,  # prunes on start, then hourly
                takeover_every=TAKEOVER_EVERY,
            ) as runtime,
        ):
            tune_for_serving()  # start-up is done, no execution runs yet: see _gc.py
            if resume:
                await runtime.resume_unfinished()
            updates = InMemorySubscriptionBus()
            server = build_server(
                runtime,
                state_key=await request_state_key(store, settings.home),
                subscriptions=updates,
            )
            async with anyio.create_task_group() as tg:
                stop = _stopping(tg.cancel_scope.cancel)
                tg.start_soon(collect_periodically)
                tg.start_soon(notify_resource_updates, runtime, updates)
                tg.start_soon(
                    watch_agents,
                    runtime,
                    server,
                    settings.agents_dir,
                    updates,
                    2.0,
                    settings.agents_origin,
                )
                if http:
                    app = http_app(server, runtime, host=host, token=token)
                    config = uvicorn.Config(
                        app,
                        host=host,
                        port=port,
                        log_level="warning",
                        lifespan="on",
                        timeout_graceful_shutdown=5,  # long-polls end; executions resume later
                    )
                    web = _Uvicorn(config)
                    tg.start_soon(_stop_on_signals, signals, _stopping(web.stop), stop)
                    print_err(f"hive-mcp serving MCP on http://{host}:{port}/mcp (health: /health)")
                    await web.serve(sockets=[listening] if listening else None)
                else:
                    tg.start_soon(_stop_on_signals, signals, stop, stop)
                    await serve_stdio(server, wire_out)
                stop()  # stdin ended (the host left) or the HTTP server stopped
    finally:
        await store.close()


def _stopping(then: Callable[[], None]) -> Callable[[], None]:
    """``then``, after telling run calls that what cuts them off now is the server stopping."""

    def stop() -> None:
        stop_serving()
        then()

    return stop


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket of the HTTP server, or a UsageError saying why there is none."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        listening = socket.create_server((host, port), family=family, backlog=2048)
        # Accepted connections inherit this: without it a response written in
        # two parts waits for the client's delayed ACK (40 ms on Linux).
        listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return listening
    except OSError as exc:
        raise UsageError(
            f"cannot serve on {host}:{port}: {exc.strerror or exc}; choose another --port "
            "(or --host), or stop what uses it"
        ) from None


class _Uvicorn(uvicorn.Server):
    """uvicorn without its signal handlers (``serve`` has its own, see the module doc)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def stop(self) -> None:
        self.should_exit = True


@contextlib.asynccontextmanager
async def _signals() -> AsyncIterator[AsyncIterator[int]]:
    """SIGTERM and SIGINT as they arrive (none on Windows: Ctrl-C stays KeyboardInterrupt)."""
    if sys.platform == "win32":
        yield _never()
        return
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
        yield received


async def _never() -> AsyncIterator[int]:
    await anyio.sleep_forever()
    yield 0  # pragma: no cover


async def _stop_on_signals(
    signals: AsyncIterator[int], stop: Callable[[], None], now: Callable[[], None]
) -> None:
    """On the first signal call ``stop``; on a second one, ``now``."""
    async for signum in signals:
        print_err(
            f"hive-mcp: {signal.Signals(signum).name} received, stopping; running "
            "executions are suspended and resume when a server starts again"
        )
        stop()
        stop = now


def print_err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
