"""A fake OpenAI-compatible chat completions server, scripted per request by the test.

It speaks real HTTP over loopback (uvicorn in a background thread, its own event
loop) so the client under test runs its whole stack: litellm, the OpenAI SDK,
httpx and the SSE parser. Each request pops the next planned response; the
request bodies are recorded so tests can check what the client sent.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes._serve import serve_in_thread

__all__ = [
    "FakeOpenAIServer",
    "HTTPError",
    "Malformed",
    "PlannedToolCall",
    "Reply",
    "Stall",
    "running_fake_openai",
]


@dataclass(frozen=True, kw_only=True)
class PlannedToolCall:
    """One streamed tool call; ``fragments`` are the pieces its arguments arrive in."""

    id: str
    name: str
    fragments: list[str]


@dataclass(frozen=True, kw_only=True)
class Reply:
    """A successful stream: reasoning, then text, then tool calls, then the finish.

    ``error_after_text`` ends the stream after the text with an error event, the
    way OpenAI reports a failure part way through an answer.
    """

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    tool_calls: list[PlannedToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    prompt_tokens: int = 11
    completion_tokens: int = 7
    error_after_text: str | None = None


@dataclass(frozen=True, kw_only=True)
class HTTPError:
    """An error status with an OpenAI-style error body."""

    status: int
    message: str
    type: str = "invalid_request_error"
    code: str | None = None


@dataclass(frozen=True, kw_only=True)
class Stall:
    """Never answer (until the test is over): longer than any client timeout."""


@dataclass(frozen=True, kw_only=True)
class Malformed:
    """A 200 stream whose data line is not JSON, after ``text_before`` good chunks."""

    raw: str = "{not json"
    text_before: list[str] = field(default_factory=list)


Planned = Reply | HTTPError | Stall | Malformed

_CHUNK_ID = "chatcmpl-fake"


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
    body = {
        "id": _CHUNK_ID,
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "fake-model",
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    return f"data: {json.dumps(body)}\n\n"


def _usage_chunk(reply: Reply) -> str:
    body = {
        "id": _CHUNK_ID,
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "fake-model",
        "choices": [],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }
    return f"data: {json.dumps(body)}\n\n"


class FakeOpenAIServer:
    """The scripted server; ``plan`` queues responses, ``requests`` records bodies.

    ``arrivals`` counts every request, even one whose client gave up before its
    body could be read (after a client timeout, say); ``wait_for_arrivals``
    lets a test wait for the server to catch up instead of sleeping.
    """

    def __init__(self) -> None:
        self._planned: deque[Planned] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.arrivals = 0
        self._arrived = threading.Condition()
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None
        self.app = Starlette(
            routes=[Route("/v1/chat/completions", self._completions, methods=["POST"])],
            lifespan=self._lifespan,
        )
        self.started = threading.Event()

    def plan(self, *responses: Planned) -> None:
        """Queue the responses for the next requests, in order."""
        self._planned.extend(responses)

    def wait_for_arrivals(self, count: int, timeout: float = 10.0) -> None:
        """Block until ``count`` requests have arrived; ``TimeoutError`` after ``timeout``."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: self.arrivals >= count, timeout):
                raise TimeoutError(f"{self.arrivals} requests arrived, not {count}")

    @asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        self._release = asyncio.Event()
        self.started.set()
        yield

    def release_stalls(self) -> None:
        """Let stalled handlers finish (they answer 503 to a client long gone)."""
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)
            # Handlers stalled from now on wait on a fresh event.
            self._release = asyncio.Event()

    def reset(self) -> None:
        """Forget earlier plans and records, so one server can serve many tests."""
        self.release_stalls()
        self._planned.clear()
        self.requests.clear()
        self.headers.clear()
        with self._arrived:
            self.arrivals = 0

    async def _stall(self) -> None:
        release = self._release
        assert release is not None
        await release.wait()

    async def _completions(self, request: Request) -> Response:
        # Taken on arrival: a request whose client has gone still uses up its plan.
        planned = self._planned.popleft() if self._planned else None
        with self._arrived:
            self.arrivals += 1
            self._arrived.notify_all()
        try:
            body = await request.json()
        except ClientDisconnect:
            return Response(status_code=499)
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if planned is None:
            # 400 is not retried by the client, so a missing plan fails the test at once.
            return _error_response(
                HTTPError(status=400, message="fake server: no response planned")
            )
        if isinstance(planned, HTTPError):
            return _error_response(planned)
        if isinstance(planned, Stall):
            await self._stall()
            return _error_response(HTTPError(status=503, message="fake server: stopped"))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            self._events(planned, include_usage=include_usage), media_type="text/event-stream"
        )

    async def _events(
        self, planned: Reply | Malformed, *, include_usage: bool
    ) -> AsyncIterator[str]:
        yield _chunk({"role": "assistant", "content": ""})
        if isinstance(planned, Malformed):
            for piece in planned.text_before:
                yield _chunk({"content": piece})
            yield f"data: {planned.raw}\n\n"
            yield "data: [DONE]\n\n"
            return
        for piece in planned.reasoning:
            yield _chunk({"reasoning_content": piece})
        for piece in planned.text:
            yield _chunk({"content": piece})
        if planned.error_after_text is not None:
            error = {"message": planned.error_after_text, "type": "server_error", "code": None}
            yield f"data: {json.dumps({'error': error})}\n\n"
            return
        for index, call in enumerate(planned.tool_calls):
            yield _chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": ""},
                        }
                    ]
                }
            )
            for fragment in call.fragments:
                yield _chunk(
                    {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
                )
        finish = planned.finish_reason or ("tool_calls" if planned.tool_calls else "stop")
        yield _chunk({}, finish_reason=finish)
        if include_usage:
            yield _usage_chunk(planned)
        yield "data: [DONE]\n\n"


def _error_response(error: HTTPError) -> JSONResponse:
    body = {
        "error": {"message": error.message, "type": error.type, "param": None, "code": error.code}
    }
    return JSONResponse(body, status_code=error.status)


@contextmanager
def running_fake_openai() -> Iterator[FakeOpenAIServer]:
    """Serve a fresh fake on 127.0.0.1 (an OS-chosen port) for the duration of the block."""
    fake = FakeOpenAIServer()
    with serve_in_thread(fake.app, fake.started, "OpenAI server") as port:
        fake.base_url = f"http://127.0.0.1:{port}/v1"
        try:
            yield fake
        finally:
            fake.release_stalls()
