"""Webhook entry points: ``POST /hooks/AGENT/ENTRY_POINT`` starts an execution.

The JSON body (an object) is the input. An entry point with ``secret_env``
requires an HMAC-SHA256 signature of the raw body in its signature header
(GitHub's ``sha256=HEX`` form); one without it requires the server's bearer
token when the server has one. ``Idempotency-Key`` (or GitHub's
``X-GitHub-Delivery``) makes a redelivered request return the first
execution. Every refusal is a 4xx with a message, and starts nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hive_mcp.errors import InputError, UsageError
from hive_mcp.graph._triggers import WebhookTrigger, trigger_config
from hive_mcp.runtime import AgentRuntime
from hive_mcp.server._auth import bearer_matches, unauthorized

__all__ = ["signature", "webhook_route"]


def signature(secret: str, body: bytes) -> str:
    """The signature header value for ``body`` (``sha256=HEX``)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def webhook_route(
    runtime: AgentRuntime, *, token: str | None, env: Mapping[str, str] | None = None
) -> Route:
    """The route serving every webhook entry point of the runtime's agents."""
    environ = os.environ if env is None else env

    async def hook(request: Request) -> JSONResponse:
        agent_name = request.path_params["agent"]
        ep_id = request.path_params["entry_point"]
        if request.method != "POST":  # said here: a route refusing it would fall through to 404
            response = _error(405, f"webhooks take POST; this was {request.method}")
            response.headers["Allow"] = "POST"
            return response
        try:
            ep = runtime.catalog.get(agent_name).spec.entry_point(ep_id)
        except UsageError as exc:  # no such agent or entry point
            return _error(404, str(exc))
        config = trigger_config(ep)
        if not isinstance(config, WebhookTrigger):
            return _error(404, f"entry point {ep_id!r} of {agent_name!r} is not a webhook")

        limit = runtime.limits.max_input_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:  # refuse before reading it
            return _error(413, f"the body is {declared} bytes, over the limit of {limit}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return _error(413, f"the body is over the limit of {limit} bytes")
        if config.secret_env is not None:
            secret = environ.get(config.secret_env)
            if not secret:
                return _error(
                    503,
                    f"the webhook secret is not configured: set {config.secret_env} in the "
                    "server's environment",
                )
            given = request.headers.get(config.signature_header, "")
            if not hmac.compare_digest(given.encode(), signature(secret, bytes(body)).encode()):
                return _error(
                    401, f"bad or missing signature in {config.signature_header} (sha256=HEX)"
                )
        elif token is not None and not bearer_matches(
            request.headers.get("authorization", "").encode(), token
        ):
            return unauthorized()

        try:
            data = json.loads(body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return _error(400, f"the body is not JSON: {exc}")
        if not isinstance(data, dict):
            return _error(400, f"the body must be a JSON object, not {type(data).__name__}")
        key = request.headers.get("idempotency-key") or request.headers.get("x-github-delivery")
        try:
            record = await runtime.trigger(agent_name, ep_id, data, idempotency_key=key)
        except InputError as exc:
            return _error(422, str(exc))
        except UsageError as exc:
            return _error(400, str(exc))
        return JSONResponse(
            {
                "execution_id": record.id,
                "status": record.status.value,
                "agent": agent_name,
                "entry_point": ep_id,
            },
            status_code=202,
        )

    return Route("/hooks/{agent}/{entry_point}", hook, methods=["GET", "POST", "PUT", "DELETE"])
