"""The litellm provider: one streaming call per turn to any model litellm can reach.

litellm is imported on the first call, never when hive-mcp is imported, with
its logging kept off stdout (``_litellm_import.py``).

Retries are ours alone (litellm's and the OpenAI SDK's are turned off): bounded,
exponential backoff with full jitter, and only while nothing has been yielded
for the call, so partial output is never replayed.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import anyio

from hive_mcp.errors import (
    AuthenticationError,
    ContextWindowExceededError,
    LLMError,
    LLMTimeoutError,
    ProviderError,
    RateLimitError,
)
from hive_mcp.llm._litellm_import import INSTALL_HINT, import_litellm
from hive_mcp.llm._types import (
    Finish,
    LLMRequest,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
)

__all__ = ["LiteLLMProvider"]

Sleep = Callable[[float], Awaitable[None]]

_MESSAGE_LIMIT = 300
# Environment variables whose values may be credentials, scrubbed from messages.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
_SECRET_SHAPES = re.compile(r"\b(sk-[A-Za-z0-9_\-]{6,}|Bearer\s+\S+)")
# litellm stacks its class names in front of the provider's own words.
_LITELLM_PREFIX = re.compile(r"^\s*(litellm\.\w+:\s*|\w+(Error|Exception)\s*(:|-)\s*)")


@dataclass(slots=True)
class _PartialToolCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class LiteLLMProvider:
    """Streams model turns through litellm (OpenAI, Anthropic, Ollama, any OpenAI-compatible API).

    ``model`` names the default model and the label; a request's own ``model``
    wins. API keys come from the environment (``OPENAI_API_KEY`` and so on, as
    litellm reads them) unless ``api_key`` is given. Retryable failures (rate
    limits, timeouts, 5xx, lost connections) are retried up to ``max_retries``
    times with full-jitter exponential backoff, but only before the first event
    of the call has been yielded. ``sleep`` is injectable for tests.
    """

    offline = False

    def __init__(
        self,
        model: str = "",
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        max_retries: int = 3,
        backoff_base_seconds: float = 0.5,
        backoff_max_seconds: float = 20.0,
        sleep: Sleep | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, not {max_retries}")
        self.model = model
        self.label = f"litellm {model}" if model else "litellm"
        self.api_base = api_base
        self._api_key = api_key
        self.max_retries = max_retries
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self._sleep: Sleep = sleep or anyio.sleep

    def backoff_delay(self, retry: int) -> float:
        """The pause before retry number ``retry`` (0 for the first): full jitter.

        A uniform draw between zero and the capped exponential bound, so that
        many clients refused at once do not come back in step.
        """
        bound = min(self.backoff_max_seconds, self.backoff_base_seconds * 2**retry)
        return random.uniform(0.0, bound)

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamEvent]:
        """Stream the model's answer to ``request``: deltas, complete tool calls, one ``Finish``.

        Raises an ``LLMError`` subclass whose message says what to do; a retryable
        failure is raised only once the retries are spent, or at once when part of
        the answer had already been yielded (it is never replayed).
        """
        litellm = import_litellm()
        model = request.model or self.model
        if not model:
            raise ProviderError(
                "no model given: name one in the node (for example 'openai/gpt-4o-mini')"
            )
        arguments = self._arguments(litellm, request, model)
        retry = 0
        while True:
            yielded = False
            async with aclosing(self._attempt(litellm, arguments)) as events:
                try:
                    async for event in events:
                        yielded = True
                        yield event
                    return
                except LLMError as error:
                    if yielded:
                        _append(error, "after part of the answer had streamed; not retried")
                        raise
                    if not error.retryable:
                        raise
                    if retry >= self.max_retries:
                        if retry:
                            _append(error, f"gave up after {retry + 1} attempts")
                        raise
            await self._sleep(self.backoff_delay(retry))
            retry += 1

    def _arguments(self, litellm: Any, request: LLMRequest, model: str) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": model,
            "messages": [m.to_openai() for m in request.messages],
            "stream": True,
            "timeout": request.timeout_seconds,
            # Ours are the only retries: litellm's wrapper (num_retries) and the
            # OpenAI SDK (max_retries) would otherwise retry underneath, unseen.
            "num_retries": 0,
            "max_retries": 0,
        }
        if request.tools:
            arguments["tools"] = [t.to_openai() for t in request.tools]
            # Given any tools, litellm 1.106.2 first loads its MCP gateway (proxy
            # code that needs the `mcp` package) to look for gateway-hosted tools;
            # ours are plain functions, and this is its own switch for skipping that.
            arguments["_skip_mcp_handler"] = True
        if _supports_stream_usage(litellm, model):
            arguments["stream_options"] = {"include_usage": True}
        api_base = request.api_base or self.api_base
        if api_base:
            arguments["api_base"] = api_base
        if self._api_key:
            arguments["api_key"] = self._api_key
        if request.temperature is not None:
            arguments["temperature"] = request.temperature
        if request.max_tokens is not None:
            arguments["max_tokens"] = request.max_tokens
        return arguments

    async def _attempt(
        self, litellm: Any, arguments: dict[str, Any]
    ) -> AsyncGenerator[StreamEvent, None]:
        model: str = arguments["model"]
        try:
            response = await litellm.acompletion(**arguments)
        except Exception as exc:
            raise self._error(litellm, exc, model, arguments["timeout"]) from exc
        calls: dict[int, _PartialToolCall] = {}
        stop_reason: str | None = None
        usage = Usage()
        chunks = aiter(response)
        try:
            while True:
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    raise self._error(litellm, exc, model, arguments["timeout"]) from exc
                reported = getattr(chunk, "usage", None)
                if reported is not None:
                    usage = Usage(
                        input_tokens=int(getattr(reported, "prompt_tokens", 0) or 0),
                        output_tokens=int(getattr(reported, "completion_tokens", 0) or 0),
                    )
                for choice in getattr(chunk, "choices", None) or ():
                    stop_reason = getattr(choice, "finish_reason", None) or stop_reason
                    delta = getattr(choice, "delta", None)
                    if delta is None:
                        continue
                    reasoning = getattr(delta, "reasoning_content", None)
                    if reasoning:
                        yield ReasoningDelta(text=str(reasoning))
                    content = getattr(delta, "content", None)
                    if content:
                        yield TextDelta(text=str(content))
                    for fragment in getattr(delta, "tool_calls", None) or ():
                        _add_fragment(calls, fragment)
        finally:
            close = getattr(response, "aclose", None)
            if close is not None:
                await close()
        for index in sorted(calls):
            yield ToolCallEvent(call=_complete(calls[index], index, model))
        yield Finish(
            stop_reason=stop_reason or ("tool_calls" if calls else "stop"),
            usage=usage,
        )

    def _error(self, litellm: Any, exc: Exception, model: str, timeout: float) -> LLMError:
        """Our typed error for whatever litellm (or the layers under it) raised."""
        if isinstance(exc, LLMError):
            return exc
        httpx = importlib.import_module("httpx")
        chain = list(_chain(exc))
        answered = _answered_status(chain, httpx)
        status = answered if answered is not None else _reported_status(chain)
        said = self._redact(_provider_words(exc))
        where = f"litellm {model}"

        def has(*names: str) -> bool:
            kinds = tuple(getattr(litellm, n) for n in names if hasattr(litellm, n))
            return any(isinstance(e, kinds) for e in chain)

        # litellm imports parts of itself on first use and reports a missing
        # dependency as a connection error, which retrying cannot fix.
        missing = next((e for e in chain if isinstance(e, ImportError)), None)
        if missing is not None:
            package = missing.name or "the missing package"
            return ProviderError(
                f"{where}: litellm could not load a module it needs ({missing}); "
                f"install it (pip install {package.split('.')[0]}) or reinstall "
                f"with {INSTALL_HINT}"
            )
        # Only a response that was itself a success can carry broken stream data;
        # an error page that is not JSON is reported under its status below.
        if answered is None and any(isinstance(e, json.JSONDecodeError) for e in chain):
            return ProviderError(
                f"{where}: the provider sent stream data that is not valid JSON ({said}); "
                "check that api_base points at an OpenAI-compatible endpoint "
                "(a proxy in between can also garble the stream)"
            )
        if has("ContextWindowExceededError"):
            return ContextWindowExceededError(
                f"{where}: the conversation no longer fits the model's context window ({said}); "
                "shorten the input, compact the conversation, "
                "or choose a model with a larger window"
            )
        if status == 429 or has("RateLimitError"):
            return RateLimitError(
                f"{where}: the provider is rate limiting requests (HTTP 429: {said}); "
                "wait and try again, or raise the account's rate limit or quota"
            )
        if status in (401, 403) or has("AuthenticationError", "PermissionDeniedError"):
            return AuthenticationError(
                f"{where}: the provider refused the credentials (HTTP {status or 401}: {said}); "
                f"{self._key_hint(litellm, model)}"
            )
        timeouts = tuple(
            t for t in (getattr(litellm, "Timeout", None), httpx.TimeoutException) if t
        )
        if any(isinstance(e, (*timeouts, TimeoutError)) for e in chain):
            return LLMTimeoutError(
                f"{where}: no answer within {timeout:g} s; "
                "try again later or raise the node's timeout_seconds"
            )
        if (status is not None and status >= 500) or has("APIConnectionError"):
            if status is not None:
                reason = f"HTTP {status}"
            elif any(type(e).__name__ == "MidStreamFallbackError" for e in chain):
                reason = "the stream broke off"
            else:
                reason = "connection failed"
            return ProviderError(
                f"{where}: the provider failed ({reason}: {said}); this is usually "
                "temporary: try again later, and check api_base if it persists",
                retryable=True,
            )
        reason = f"HTTP {status}: " if status is not None else ""
        return ProviderError(f"{where}: the provider refused the request ({reason}{said})")

    def _key_hint(self, litellm: Any, model: str) -> str:
        if self._api_key:
            return "check the api_key given to the litellm provider"
        try:
            missing = [str(k) for k in litellm.validate_environment(model=model)["missing_keys"]]
        except Exception:
            missing = []
        if missing:
            return f"set {' or '.join(missing)} in the environment"
        prefix = model.split("/", 1)[0].upper() + "_"
        held = sorted(n for n in os.environ if n.startswith(prefix) and _SECRET_NAME.search(n))
        if held:
            return f"check {' and '.join(held)}: the key set there was refused"
        return "check the API key set in the environment for this provider"

    def _redact(self, text: str) -> str:
        secrets = {v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= 8}
        if self._api_key:
            secrets.add(self._api_key)
        # Longest first, so a key that contains another is hidden whole.
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return _SECRET_SHAPES.sub("***", text)


def _supports_stream_usage(litellm: Any, model: str) -> bool:
    try:
        supported = litellm.get_supported_openai_params(model=model) or []
    except Exception:
        # Unknown to litellm's tables: an OpenAI-compatible API most likely accepts it.
        return True
    return "stream_options" in supported


def _add_fragment(calls: dict[int, _PartialToolCall], fragment: Any) -> None:
    index = getattr(fragment, "index", None)
    call = calls.setdefault(int(index) if index is not None else len(calls), _PartialToolCall())
    if getattr(fragment, "id", None):
        call.id = str(fragment.id)
    function = getattr(fragment, "function", None)
    if function is None:
        return
    if getattr(function, "name", None):
        call.name = str(function.name)
    if getattr(function, "arguments", None):
        call.arguments.append(str(function.arguments))


def _complete(call: _PartialToolCall, index: int, model: str) -> ToolCall:
    if not call.name:
        raise ProviderError(
            f"litellm {model}: the provider streamed tool call #{index} without a name; "
            "the model or its API does not support tool calling as sent"
        )
    return ToolCall(
        id=call.id or f"call_{index}", name=call.name, arguments="".join(call.arguments) or "{}"
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: litellm's ``original_exception``, causes, contexts."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending and len(seen) < 32:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for inner in (
            getattr(current, "original_exception", None),
            current.__cause__,
            current.__context__,
        ):
            if isinstance(inner, BaseException):
                pending.append(inner)


def _answered_status(chain: list[BaseException], httpx: Any) -> int | None:
    """The error status of the provider's real HTTP response, as httpx recorded it."""
    for exc in chain:
        if isinstance(exc, httpx.HTTPStatusError):
            return int(exc.response.status_code)
    return None


def _reported_status(chain: list[BaseException]) -> int | None:
    """A status some exception in the chain claims, for paths that bypass httpx's record.

    litellm makes statuses up (a broken stream becomes a "500", a timeout a
    "408"), so its connection and mid-stream wrappers are not believed.
    """
    for exc in chain:
        if type(exc).__name__ in ("MidStreamFallbackError", "APIConnectionError", "Timeout"):
            continue
        status = getattr(exc, "status_code", None)
        if isinstance(status, int) and 400 <= status < 600 and status != 408:
            return status
    return None


def _provider_words(exc: BaseException) -> str:
    """What the provider said, without litellm's stacked class-name prefixes."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        text = body["message"]
    else:
        text = str(getattr(exc, "message", None) or exc) or type(exc).__name__
    text = text.split(" Original exception:", 1)[0]
    while (stripped := _LITELLM_PREFIX.sub("", text, count=1)) != text:
        text = stripped
    text = " ".join(text.split())
    if len(text) > _MESSAGE_LIMIT:
        text = text[: _MESSAGE_LIMIT - 3] + "..."
    return text or type(exc).__name__


def _append(error: LLMError, note: str) -> None:
    error.args = (f"{error} ({note})", *error.args[1:])
