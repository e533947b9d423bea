"""Bearer tokens on the HTTP server: the MCP endpoint, and webhooks without an HMAC secret."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import JSONResponse

__all__ = ["ASGIApp", "BearerAuth", "bearer_matches", "unauthorized"]

Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


def bearer_matches(authorization: bytes, token: str) -> bool:
    """Whether an Authorization header carries ``token`` (compared in constant time)."""
    return hmac.compare_digest(authorization, f"Bearer {token}".encode())


def unauthorized() -> JSONResponse:
    return JSONResponse(
        {"error": "unauthorized: send 'Authorization: Bearer <token>'"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


class BearerAuth:
    """Requires ``Authorization: Bearer <token>`` on every HTTP request to ``app``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._token = token

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not bearer_matches(given, self._token):
                await unauthorized()(scope, receive, send)
                return
        await self._app(scope, receive, send)
