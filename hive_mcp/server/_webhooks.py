"""Webhook entry points: ``POST /hooks/AGENT/ENTRY_POINT`` starts an execution.

The JSON body (an object) is the input. An entry point with ``secret_env``
requires an HMAC-SHA256 signature in its signature header (GitHub's
``sha256=HEX`` form): of the raw body, or, when the sender adds
``X-Hive-Timestamp`` (seconds since 1970), of ``TIMESTAMP.`` and the body;
a timestamp more than ``REPLAY_WINDOW`` seconds from the server's clock is
refused. One without ``secret_env`` requires the server's bearer token when
the server has one.

Replays: a signed delivery starts at most one execution. Its signature is
the idempotency key, so the same signed request sent again (a retry, or
someone replaying a captured one) returns the first execution; a delivery id
header cannot serve, as nothing signs it. For unsigned entry points
``Idempotency-Key`` (or GitHub's ``X-GitHub-Delivery``) does the same.

Every refusal is a 4xx with a one-line reason, and starts nothing. Answers
sent before the caller is authenticated name nothing of the server (no
paths, no agent list).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hive_mcp._values import value_problem
from hive_mcp.errors import InputError, UsageError
from hive_mcp.graph._triggers import WebhookTrigger, trigger_config
from hive_mcp.runtime import AgentRuntime
from hive_mcp.server._auth import bearer_matches, unauthorized

__all__ = ["REPLAY_WINDOW", "TIMESTAMP_HEADER", "signature", "webhook_route"]

TIMESTAMP_HEADER = "X-Hive-Timestamp"
REPLAY_WINDOW = 300.0  # seconds a timestamped delivery stays valid, either side of now


def signature(secret: str, body: bytes, timestamp: str | None = None) -> str:
    """The signature header value for ``body`` (``sha256=HEX``), with its timestamp if any."""
    signed = body if timestamp is None else timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def webhook_route(
    runtime: AgentRuntime,
    *,
    token: str | None,
    env: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
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
        except UsageError:  # its message names the agents folder: not for strangers
            return _error(404, f"no webhook {ep_id!r} of an agent {agent_name!r} here")
        config = trigger_config(ep)
        if not isinstance(config, WebhookTrigger):
            return _error(404, f"no webhook {ep_id!r} of an agent {agent_name!r} here")

        limit = runtime.limits.max_input_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:  # refuse before reading it
            return _error(413, f"the body is {declared} bytes, over the limit of {limit}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return _error(413, f"the body is over the limit of {limit} bytes")

        key: str | None
        if config.secret_env is not None:
            secret = environ.get(config.secret_env)
            if not secret:
                return _error(
                    503,
                    f"the webhook secret is not configured: set {config.secret_env} in the "
                    "server's environment",
                )
            refused = _check_signature(request, config, secret, bytes(body), clock())
            if refused is not None:
                return refused
            given = request.headers[config.signature_header]
            key = f"signed:{ep_id}:{given.removeprefix('sha256=')}"
        elif token is not None and not bearer_matches(
            request.headers.get("authorization", "").encode(), token
        ):
            return unauthorized()
        else:
            key = request.headers.get("idempotency-key") or request.headers.get("x-github-delivery")

        data, problem = _parse(bytes(body))
        if problem is not None:
            return _error(400, problem)
        try:
            # One start per key, however many arrive at once: the runtime's start sees to it.
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


def _check_signature(
    request: Request, config: WebhookTrigger, secret: str, body: bytes, now: float
) -> JSONResponse | None:
    """The refusal of a delivery whose signature (or timestamp) does not hold, else ``None``."""
    header = config.signature_header
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    if timestamp is not None and not (timestamp.isascii() and timestamp.isdigit()):
        return _error(400, f"{TIMESTAMP_HEADER} must be whole seconds since 1970 (UTC)")
    given = request.headers.get(header, "")
    if not hmac.compare_digest(given.encode(), signature(secret, body, timestamp).encode()):
        what = "the body" if timestamp is None else f"{TIMESTAMP_HEADER}, '.' and the body"
        return _error(401, f"bad or missing signature in {header} (sha256=HEX of {what})")
    if timestamp is not None and abs(now - int(timestamp)) > REPLAY_WINDOW:
        return _error(
            401,
            f"{TIMESTAMP_HEADER} is {abs(now - int(timestamp)):.0f} s from the server's clock, "
            f"over {REPLAY_WINDOW:.0f} s: a replayed or delayed delivery; sign a fresh timestamp",
        )
    return None


def _parse(body: bytes) -> tuple[dict[str, Any], str | None]:
    """The body as an input object, or the reason it cannot be one."""
    if not body:
        return {}, None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return {}, f"the body is not UTF-8 text (byte 0x{body[exc.start]:02x} at {exc.start})"
    try:
        data = json.loads(text)
    except RecursionError:
        return {}, "the body is nested too deeply to read; flatten it"
    except json.JSONDecodeError as exc:
        return {}, f"the body is not JSON: {exc}"
    except ValueError:  # Python's cap on the digits of an integer literal
        return {}, "the body has a number too long to read; send it as a string"
    if not isinstance(data, dict):
        return {}, f"the body must be a JSON object, not {type(data).__name__}"
    problem = value_problem(data, "body")
    return (data, None) if problem is None else ({}, problem)
