"""The litellm provider against a fake OpenAI-compatible server on loopback.

Real litellm, real HTTP, real uvicorn: only the model at the far end is fake.
Retry pauses go through an injected sleep that records the delay and returns at
once, so the retry tests cost nothing in wall time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from hive_mcp.errors import (
    AuthenticationError,
    ContextWindowExceededError,
    LLMTimeoutError,
    ProviderError,
    RateLimitError,
)
from hive_mcp.llm import (
    Finish,
    LLMRequest,
    Message,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    Usage,
)
from hive_mcp.llm._litellm import LiteLLMProvider
from tests.fakes.openai_server import (
    FakeOpenAIServer,
    HTTPError,
    Malformed,
    PlannedToolCall,
    Reply,
    Stall,
    running_fake_openai,
)
from tests.support import HANG

pytestmark = [
    pytest.mark.anyio,
    # litellm 1.106.2 reads pydantic fields off model instances while it inspects
    # stream chunks, and its chunk types use ReadOnly TypedDict items; it silences
    # both warnings itself at import (litellm/__init__.py), but pytest puts its
    # "error" filter back in front for every test. Only these two are let through.
    pytest.mark.filterwarnings(
        "ignore:Accessing the 'model_(computed_)?fields' attribute on the instance is deprecated"
        ":pydantic.warnings.PydanticDeprecatedSince211:litellm\\."
    ),
    pytest.mark.filterwarnings(
        "ignore:Item '\\w+' on TypedDict class 'ChatCompletion\\w+' is using the `ReadOnly` qualifier"
        ":UserWarning:pydantic\\."
    ),
]

MODEL = "openai/fake-model"
KEY = "test-key"


class RecordingSleep:
    """Stands in for ``anyio.sleep`` between retries: records the delay, waits for nothing."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await anyio.lowlevel.checkpoint()


@pytest.fixture(scope="module")
def _server() -> Iterator[FakeOpenAIServer]:
    with running_fake_openai() as fake:
        yield fake


@pytest.fixture
def fake_openai(_server: FakeOpenAIServer) -> FakeOpenAIServer:
    _server.reset()
    return _server


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture(autouse=True)
async def _close_litellm_clients() -> AsyncIterator[None]:
    """Close the HTTP clients litellm cached during the test, and forget them.

    litellm keys its client cache by ``id()`` of the running event loop and never
    closes a client itself. Every test runs in a fresh loop, so otherwise the
    clients of finished loops would keep their sockets open, and a new loop that
    happened to get a dead loop's id would be handed a client bound to it.
    """
    yield
    litellm: Any = sys.modules.get("litellm")
    if litellm is not None:
        await litellm.close_litellm_async_clients()
        litellm.in_memory_llm_clients_cache.flush_cache()


def make_provider(fake: FakeOpenAIServer, sleep: RecordingSleep, **options: Any) -> LiteLLMProvider:
    options.setdefault("api_base", fake.base_url)
    return LiteLLMProvider(MODEL, api_key=KEY, sleep=sleep, **options)


def make_request(**fields: Any) -> LLMRequest:
    fields.setdefault("model", MODEL)
    fields.setdefault("messages", [Message(role="user", content="hi")])
    fields.setdefault("timeout_seconds", 5.0)
    return LLMRequest(**fields)


async def collect(provider: LiteLLMProvider, request: LLMRequest) -> list[StreamEvent]:
    with anyio.fail_after(HANG):
        return [event async for event in provider.stream(request)]


async def test_text_streams_as_several_text_deltas_then_one_finish_with_usage(
    fake_openai: FakeOpenAIServer, sleep: RecordingSleep
) -> None:
    fake_openai.plan(
        Reply(text=["The ", "answer ", "is 42."], prompt_tokens=21, completion_tokens=5)
    )

    events = await collect(make_provider(fake_openai, sleep), make_request())

    assert events == [
        TextDelta(text="The "),
        TextDelta(text="answer "),
        TextDelta(text="is 42."),
        Finish(stop_reason="stop", usage=Usage(input_tokens=21, output_tokens=5)),
    ]
    assert "tools" not in fake_openai.requests[0]


async def test_reasoning_content_arrives_as_reasoning_deltas_before_the_text(
    fake_openai: FakeOpenAIServer, sleep: RecordingSleep
) -> None:
    fake_openai.plan(Reply(reasoning=["Six ", "times seven."], text=["42"]))

    events = await collect(make_provider(fake_openai, sleep), make_request())

    assert events[:3] == [
        ReasoningDelta(text="Six "),
        ReasoningDelta(text="times seven."),
        TextDelta(text="42"),
    ]
    assert isinstance(events[-1], Finish)


async def test_a_tool_call_streamed_in_fragments_arrives_as_one_complete_call(
    fake_openai: FakeOpenAIServer, sleep: RecordingSleep
) -> None:
    fragments = ['{"que', 'ry": "wea', "ther in ", 'Paris", "days"', ": 3}"]
    fake_openai.plan(
        Reply(tool_calls=[PlannedToolCall(id="call_abc", name="search", fragments=fragments)])
    )

    events = await collect(make_provider(fake_openai, sleep), make_request())

    calls = [e for e in events if isinstance(e, ToolCallEvent)]
    assert len(calls) == 1
    assert calls[0].call == ToolCall(
        id="call_abc", name="search", arguments='{"query": "weather in Paris", "days": 3}'
    )
    assert calls[0].call.parse() == {"query": "weather in Paris", "days": 3}
    assert events[-1] == Finish(
        stop_reason="tool_calls", usage=Usage(input_tokens=11, output_tokens=7)
    )
    assert len([e for e in events if isinstance(e, Finish)]) == 1


async def test_parallel_tool_calls_arrive_complete_and_in_their_order(
    fake_openai: FakeOpenAIServer, sleep: RecordingSleep
) -> None:
    fake_openai.plan(
        Reply(
            text=["Looking both up."],
            tool_calls=[
                PlannedToolCall(id="call_1", name="lookup", fragments=['{"city":', ' "Oslo"}']),
                PlannedToolCall(
                    id="call_2", name="convert", fragments=['{"from": "C",', ' "to": "F"}']
                ),
            ],
        )
    )

    events = await collect(make_provider(fake_openai, sleep), make_request())

    assert [
        (e.call.id, e.call.name, e.call.parse()) for e in events if isinstance(e, ToolCallEvent)
    ] == [
        ("call_1", "lookup", {"city": "Oslo"}),
        ("call_2", "convert", {"from": "C", "to": "F"}),
    ]
    assert events[0] == TextDelta(text="Looking both up.")
    assert isinstance(events[-1], Finish)


async def test_a_rate_limited_call_is_retried_after_a_jittered_pause_and_succeeds(
    fake_openai: FakeOpenAIServer, sleep: RecordingSleep
) -> None:
    fake_openai.plan(
        HTTPError(
            status=429,
            message="Rate limit reached for requests",
            type="requests",
            code="rate_limit_exceeded",
        ),
        Reply(text=["ok"]),
    )
    provider = make_provider(fake_openai, sleep)

    events = await collect(provider, make_request())

    assert events[0] == TextDelta(text="ok")
    assert len(fake_openai.requests) == 2
    assert len(sleep.delays) == 1
    assert 0.0 <= sleep.delays[0] <= provider.backoff_base_seconds


async def test_server_errors_are_retried_with_a_growing_bound_until_one_succeeds(
    fake_openai: FakeOpenAIServer, sleep: RecordingSleep
) -> None:
    fake_openai.plan(
        HTTPError(status=503, message="The server is overloaded", type="server_error"),
        HTTPError(status=500, message="Internal error", type="server_error"),
        Reply(text=["recovered"]),
    )

    events = await collect(
        make_provider(fake_openai, sleep, backoff_base_seconds=1.0, backoff_max_seconds=1.5),
        make_request(),
    )

    assert events[0] == TextDelta(text="recovered")
    assert len(fake_openai.requests) == 3
    assert len(sleep.delays) == 2
    assert 0.0 <= sleep.delays[0] <= 1.0
    assert 0.0 <= sleep.delays[1] <= 1.5  # 2.0 by the exponent, capped


async def test_the_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    provider = LiteLLMProvider(MODEL, backoff_base_seconds=0.5, backoff_max_seconds=3.0)

    for retry, bound in enumerate([0.5, 1.0, 2.0, 3.0, 3.0]):
        delays = [provider.backoff_delay(retry) for _ in range(200)]
        assert all(0.0 <= d <= bound for d in delays)
        assert len(set(delays)) > 100  # jittered, not a fixed schedule


async def test_the_provider_tells_people_which_model_it_calls() -> None:
    provider = LiteLLMProvider("openai/gpt-4o-mini")

    assert provider.label == "litellm openai/gpt-4o-mini"
    assert provider.offline is False


async def test_a_provider_that_never_answers_raises_a_timeout_after_bounded_retries(
    fake_openai: FakeOpenAIServer, sleep: RecordingSleep
) -> None:
    fake_openai.plan(Stall(), Stall(), Stall())
    provider = make_provider(fake_openai, sleep, max_retries=2)

    with pytest.raises(LLMTimeoutError) as caught:
        await collect(provider, make_request(timeout_seconds=0.2))

    assert len(sleep.delays) == 2
    message = str(caught.value)
    assert "no answer within 0.2 s" in message
    assert "timeout_seconds" in message
    assert "gave up after 3 attempts" in message
    # The server may lag behind the client's timeouts; wait for it, then check
    # that no fourth attempt was made.
    await anyio.to_thread.run_sync(fake_openai.wait_for_arrivals, 3)
    assert fake_openai.arrivals == 3


async def test_a_failure_after_part_of_the_answer_is_raised_without_replaying_it(
    fake_openai: FakeOpenAIServer, sleep: RecordingSleep
) -> None:
    fake_openai.plan(
        Reply(
            text=["Half an ans"],
            error_after_text="The server had an error while processing your request.",
        ),
        Reply(text=["never asked for"]),
    )
    received: list[StreamEvent] = []

    with pytest.raises(ProviderError) as caught, anyio.fail_after(HANG):
        async for event in make_provider(fake_openai, sleep).stream(make_request()):
            received.append(event)

    assert caught.value.retryable is True  # retryable, and still not retried
    assert received == [TextDelta(text="Half an ans")]
    assert len(fake_openai.requests) == 1
    assert sleep.delays == []
    assert "not retried" in str(caught.value)
    assert "The server had an error" in str(caught.value)


async def test_a_malformed_stream_chunk_raises_a_clear_provider_error_without_retrying(
    fake_openai: FakeOpenAIServer, sleep: RecordingSleep
) -> None:
    fake_openai.plan(Malformed(raw="{not json"), Reply(text=["never asked for"]))

    with pytest.raises(ProviderError) as caught:
        await collect(make_provider(fake_openai, sleep), make_request())

    assert caught.value.retryable is False
    assert "not valid JSON" in str(caught.value)
    assert "api_base" in str(caught.value)
    assert len(fake_openai.requests) == 1
    assert sleep.delays == []


async def test_refused_credentials_raise_authentication_error_at_once_without_the_key(
    fake_openai: FakeOpenAIServer, sleep: RecordingSleep
) -> None:
    fake_openai.plan(
        HTTPError(status=401, message=f"Incorrect API key provided: {KEY}.", code="invalid_api_key")
    )

    with pytest.raises(AuthenticationError) as caught:
        await collect(make_provider(fake_openai, sleep), make_request())

    message = str(caught.value)
    assert KEY not in message
    assert "HTTP 401" in message
    assert "check the api_key" in message
    assert len(fake_openai.requests) == 1
    assert sleep.delays == []


async def test_a_refused_key_from_the_environment_is_named_but_never_shown(
    fake_openai: FakeOpenAIServer, sleep: RecordingSleep, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-proj-ThisIsNotARealKey0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    fake_openai.plan(HTTPError(status=401, message=f"Incorrect API key provided: {secret}"))
    provider = LiteLLMProvider(MODEL, api_base=fake_openai.base_url, sleep=sleep)

    with pytest.raises(AuthenticationError) as caught:
        await collect(provider, make_request())

    assert fake_openai.headers[0]["authorization"] == f"Bearer {secret}"
    assert secret not in str(caught.value)
    assert "OPENAI_API_KEY" in str(caught.value)


async def test_a_conversation_too_long_for_the_model_is_reported_as_such_and_not_retried(
    fake_openai: FakeOpenAIServer, sleep: RecordingSleep
) -> None:
    fake_openai.plan(
        HTTPError(
            status=400,
            message="This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
            code="context_length_exceeded",
        )
    )

    with pytest.raises(ContextWindowExceededError) as caught:
        await collect(make_provider(fake_openai, sleep), make_request())

    assert "8192" in str(caught.value)
    assert len(fake_openai.requests) == 1


async def test_a_rate_limit_that_outlasts_the_retries_raises_rate_limit_error(
    fake_openai: FakeOpenAIServer, sleep: RecordingSleep
) -> None:
    fake_openai.plan(*[HTTPError(status=429, message="Slow down") for _ in range(2)])

    with pytest.raises(RateLimitError):
        await collect(make_provider(fake_openai, sleep, max_retries=1), make_request())

    assert len(fake_openai.requests) == 2


async def test_the_server_receives_our_messages_and_tools_in_openai_shape(
    fake_openai: FakeOpenAIServer, sleep: RecordingSleep
) -> None:
    messages = [
        Message(role="system", content="You are terse."),
        Message(role="user", content="Weather in Oslo?"),
        Message(
            role="assistant",
            tool_calls=[ToolCall(id="call_1", name="lookup", arguments='{"city": "Oslo"}')],
        ),
        Message(role="tool", content='{"temp_c": 3}', tool_call_id="call_1", name="lookup"),
    ]
    tools = [
        ToolSpec(
            name="lookup",
            description="Current weather for a city.",
            parameters={
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        )
    ]
    fake_openai.plan(Reply(text=["3 °C."]))

    await collect(
        make_provider(fake_openai, sleep),
        make_request(messages=messages, tools=tools, temperature=0.2, max_tokens=64),
    )

    body = fake_openai.requests[0]
    assert set(body) == {
        "model",
        "messages",
        "tools",
        "stream",
        "stream_options",
        "temperature",
        "max_tokens",
    }  # nothing of litellm's own (retry counts, internal switches) leaks to the provider
    assert body["model"] == "fake-model"
    assert body["messages"] == [m.to_openai() for m in messages]
    assert body["tools"] == [t.to_openai() for t in tools]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 64
    assert fake_openai.headers[0]["authorization"] == f"Bearer {KEY}"


async def test_the_request_api_base_decides_where_the_call_goes(
    fake_openai: FakeOpenAIServer, sleep: RecordingSleep
) -> None:
    fake_openai.plan(Reply(text=["here"]))
    provider = LiteLLMProvider(MODEL, api_key=KEY, sleep=sleep)

    events = await collect(provider, make_request(api_base=fake_openai.base_url))

    assert events[0] == TextDelta(text="here")
    assert len(fake_openai.requests) == 1


async def test_without_litellm_installed_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "litellm", None)  # what a missing package looks like

    with pytest.raises(ProviderError, match=r"pip install 'hive-mcp\[litellm\]'"):
        await collect(LiteLLMProvider(MODEL), make_request())


async def test_importing_hive_mcp_does_not_import_litellm() -> None:
    code = (
        "import sys, hive_mcp, hive_mcp.llm, hive_mcp.llm._litellm\n"
        "assert 'litellm' not in sys.modules, 'litellm was imported'\n"
    )
    result = await anyio.run_process([sys.executable, "-c", code], check=False)

    assert result.returncode == 0, result.stderr.decode()


_STREAM_ONE_COMPLETION = """
import asyncio, logging, sys
from hive_mcp.llm import LLMRequest, Message
from hive_mcp.llm._litellm import LiteLLMProvider

# A host that lowers the root level: with litellm's own handler this alone would
# put its INFO and DEBUG lines on stdout.
logging.basicConfig(level=logging.DEBUG)

async def main():
    provider = LiteLLMProvider("openai/fake-model", api_base=sys.argv[1], api_key="test-key")
    request = LLMRequest(model="openai/fake-model", messages=[Message(role="user", content="hi")])
    kinds = [event.kind async for event in provider.stream(request)]
    print("EVENTS", kinds, file=sys.stderr)

asyncio.run(main())
"""


async def test_streaming_through_litellm_writes_nothing_to_stdout(
    fake_openai: FakeOpenAIServer,
) -> None:
    fake_openai.plan(Reply(text=["quiet"]))
    # DEBUG makes litellm log as much as it can: all of it must land on stderr.
    env = {**os.environ, "LITELLM_LOG": "DEBUG"}

    with anyio.fail_after(30):
        result = await anyio.run_process(
            [sys.executable, "-c", _STREAM_ONE_COMPLETION, fake_openai.base_url],
            env=env,
            check=False,
        )

    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert result.stdout == b""
    assert "EVENTS ['text', 'finish']" in stderr
    assert "LiteLLM" in stderr  # its debug lines were routed, not silenced


async def test_an_event_loop_node_with_a_real_model_name_runs_through_litellm(
    fake_openai: FakeOpenAIServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hive_mcp.graph import GraphExecutor
    from hive_mcp.store import Journal, SQLiteStore
    from tests.support import build

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake_openai.plan(
        Reply(
            tool_calls=[
                PlannedToolCall(
                    id="c1", name="set_output", fragments=['{"key": "ans', 'wer", "value": 42}']
                )
            ]
        ),
        Reply(text=["All ", "set."]),
    )
    agent = build(
        [{"id": "n", "type": "event_loop", "output_keys": ["answer"]}],
        [],
        defaults={"model": MODEL, "api_base": fake_openai.base_url, "max_retries": 0},
    )
    store = SQLiteStore(":memory:")
    async with Journal(store) as journal:
        with anyio.fail_after(30):
            record = await GraphExecutor(agent, journal, data_dir=tmp_path).run({})
        events = await journal.read(record.id, limit=1000)
    assert record.status.value == "completed", record.error
    assert record.output == {"answer": 42}
    assert len(fake_openai.requests) == 2
    sent = fake_openai.requests[1]["messages"]
    assert sent[-1] == {
        "role": "tool",
        "content": "output 'answer' set",
        "tool_call_id": "c1",
        "name": "set_output",
    }
    started = next(e for e in events if e.type.value == "node_loop_started")
    assert started.data["provider"] == f"litellm {MODEL}"


async def test_the_suite_refuses_connections_beyond_loopback() -> None:
    import socket

    with socket.socket() as s, pytest.raises(ConnectionRefusedError, match="loopback only"):
        s.connect(("203.0.113.7", 443))  # TEST-NET-3: would be a real provider's address


async def test_a_real_provider_call_in_the_tests_fails_clearly_instead_of_leaving_the_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-a-real-key")

    async def no_wait(seconds: float) -> None:
        return None

    provider = LiteLLMProvider("openai/gpt-4o-mini", max_retries=0, sleep=no_wait)
    with pytest.raises(ProviderError) as info:
        await collect(provider, make_request(model="openai/gpt-4o-mini", timeout_seconds=5.0))
    assert "sk-not-a-real-key" not in str(info.value)
