"""Cassettes: recording a provider's turns and replaying them offline."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path

import anyio
import pytest

from hive_mcp.errors import ProviderError, ReplayDivergedError, UsageError
from hive_mcp.llm._cassette import RecordingProvider, ReplayProvider
from hive_mcp.llm._provider import LLMProvider
from hive_mcp.llm._types import (
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

pytestmark = pytest.mark.anyio

SEARCH = ToolSpec(name="search", description="Search the web")


class PlannedProvider:
    """The inner provider: answers each request with the next planned turn.

    A planned turn may hold an exception, raised when the stream reaches it.
    """

    label = "planned"
    offline = True

    def __init__(self, *turns: list[StreamEvent | Exception]) -> None:
        self.turns = list(turns)
        self.requests: list[LLMRequest] = []

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(request)
        for event in self.turns.pop(0):
            if isinstance(event, Exception):
                raise event
            yield event


def request(
    node_id: str,
    turn: int,
    *messages: Message,
    execution_id: str = "run-1",
    purpose: str = "turn",
) -> LLMRequest:
    return LLMRequest(
        model="openai/gpt-4o-mini",
        messages=[Message(role="system", content=f"You are {node_id}."), *messages],
        tools=[SEARCH],
        execution_id=execution_id,
        node_id=node_id,
        turn=turn,
        purpose=purpose,  # type: ignore[arg-type]
    )


def user(text: str) -> Message:
    return Message(role="user", content=text)


def answer(text: str) -> list[StreamEvent | Exception]:
    return [TextDelta(text=text), Finish(usage=Usage(input_tokens=10, output_tokens=2))]


async def collect(provider: LLMProvider, req: LLMRequest) -> list[StreamEvent]:
    return [event async for event in provider.stream(req)]


def interactions(path: Path) -> list[dict[str, object]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["version"] == 1
    found: list[dict[str, object]] = data["interactions"]
    return found


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_replay_yields_exactly_the_events_that_were_recorded(tmp_path: Path) -> None:
    call = ToolCall(id="call_abc", name="search", arguments='{"query": "anyio"}')
    first: list[StreamEvent | Exception] = [
        ReasoningDelta(text="I should "),
        ReasoningDelta(text="search."),
        TextDelta(text="Let me look."),
        ToolCallEvent(call=call),
        Finish(stop_reason="tool_calls", usage=Usage(input_tokens=42, output_tokens=7)),
    ]
    second = answer("anyio is a structured concurrency library.")
    req1 = request("researcher", 0, user("What is anyio?"))
    req2 = request(
        "researcher",
        1,
        user("What is anyio?"),
        Message(role="assistant", content="Let me look.", tool_calls=[call]),
        Message(role="tool", tool_call_id="call_abc", name="search", content="anyio: ..."),
    )
    path = tmp_path / "run.cassette.json"
    recorder = RecordingProvider(PlannedProvider(first, second), path)

    recorded = [await collect(recorder, req1), await collect(recorder, req2)]
    replayer = ReplayProvider(path)
    replayed = [await collect(replayer, req1), await collect(replayer, req2)]

    assert recorded == [first, second]
    assert replayed == recorded


async def test_the_cassette_is_version_1_json_rewritten_after_each_turn(tmp_path: Path) -> None:
    path = tmp_path / "run.cassette.json"
    recorder = RecordingProvider(PlannedProvider(answer("one"), answer("two")), path)

    await collect(recorder, request("writer", 0, user("first")))
    after_one = interactions(path)
    await collect(recorder, request("writer", 1, user("second")))
    after_two = interactions(path)

    assert [(i["node_id"], i["turn"]) for i in after_one] == [("writer", 0)]
    assert [(i["node_id"], i["turn"]) for i in after_two] == [("writer", 0), ("writer", 1)]
    assert after_two[1]["purpose"] == "turn"
    assert after_two[1]["model"] == "openai/gpt-4o-mini"
    assert after_two[1]["summary"] == "user: second"
    assert str(after_two[1]["fingerprint"]).startswith("sha256:")
    assert files_in(tmp_path) == [path.name]  # no temp files left behind


async def test_the_recording_label_names_inner_provider_and_path_and_mirrors_offline(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.cassette.json"
    recorder = RecordingProvider(PlannedProvider(), path)
    await _record_conversation(path)
    replayer = ReplayProvider(path)

    assert recorder.label == f"recording planned -> {path}"
    assert recorder.offline is True
    assert replayer.label == f"replay {path} (offline)"
    assert replayer.offline is True


async def _record_conversation(path: Path) -> dict[str, LLMRequest]:
    """Record turns of nodes a and b (and a judge call of a) in one order."""
    reqs = {
        "a0": request("a", 0, user("a, first")),
        "b0": request("b", 0, user("b, first")),
        "a1": request("a", 1, user("a, second")),
        "aj": request("a", 1, user("judge a"), purpose="judge"),
        "b1": request("b", 1, user("b, second")),
    }
    inner = PlannedProvider(*(answer(f"answer {key}") for key in reqs))
    recorder = RecordingProvider(inner, path)
    for req in reqs.values():
        await collect(recorder, req)
    return reqs


@pytest.mark.parametrize(
    "order",
    [
        ["a0", "b0", "a1", "aj", "b1"],
        ["b0", "b1", "a0", "a1", "aj"],
        ["a0", "aj", "a1", "b0", "b1"],
        ["b0", "aj", "a0", "b1", "a1"],
    ],
)
async def test_replay_matches_requests_per_node_and_purpose_in_any_interleaving(
    tmp_path: Path, order: list[str]
) -> None:
    path = tmp_path / "run.cassette.json"
    reqs = await _record_conversation(path)
    replayer = ReplayProvider(path)

    for key in order:
        events = await collect(replayer, reqs[key])
        assert events[0] == TextDelta(text=f"answer {key}")


async def test_a_changed_message_raises_replay_diverged_naming_node_turn_and_how_to_fix(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.cassette.json"
    recorder = RecordingProvider(PlannedProvider(answer("ok")), path)
    await collect(recorder, request("writer", 3, user("Summarise the report")))

    replayer = ReplayProvider(path)
    with pytest.raises(ReplayDivergedError) as caught:
        await collect(replayer, request("writer", 3, user("Summarise the reports")))

    message = str(caught.value)
    assert "node 'writer' turn 3" in message
    assert (
        "--- recorded\n+++ asked\n-user: Summarise the report\n+user: Summarise the reports"
        in message
    )
    assert f"re-record the cassette {path}" in message
    assert not caught.value.retryable


async def test_a_change_before_the_last_message_is_reported_as_such(tmp_path: Path) -> None:
    path = tmp_path / "run.cassette.json"
    recorder = RecordingProvider(PlannedProvider(answer("ok")), path)
    await collect(recorder, request("writer", 0, user("draft"), user("go on")))

    replayer = ReplayProvider(path)
    with pytest.raises(ReplayDivergedError, match="an earlier message or the tools differ"):
        await collect(replayer, request("writer", 0, user("other draft"), user("go on")))


async def test_asking_for_more_turns_than_recorded_raises_replay_diverged(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.cassette.json"
    recorder = RecordingProvider(PlannedProvider(answer("ok")), path)
    await collect(recorder, request("writer", 0, user("hello")))

    replayer = ReplayProvider(path)
    await collect(replayer, request("writer", 0, user("hello")))
    with pytest.raises(ReplayDivergedError) as caught:
        await collect(replayer, request("writer", 1, user("hello again")))

    message = str(caught.value)
    assert "node 'writer' turn 1" in message
    assert "recorded 1 turn request(s) for this node and this is request 2" in message
    assert "re-record the cassette" in message


async def test_a_node_the_cassette_never_saw_raises_replay_diverged(tmp_path: Path) -> None:
    path = tmp_path / "run.cassette.json"
    await _record_conversation(path)

    with pytest.raises(ReplayDivergedError, match="node 'c' turn 0"):
        await collect(ReplayProvider(path), request("c", 0, user("hi")))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "does not exist"),
        ('{"version": 1, "interactions": [', "is not readable JSON"),
        ('{"version": 2, "interactions": []}', "has version 2"),
        ('{"interactions": []}', "has no version"),
        ('{"version": 1, "interactions": [{"node_id": "a"}]}', "does not fit the cassette format"),
    ],
)
async def test_an_unusable_cassette_raises_usage_error_naming_the_path(
    tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "run.cassette.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")

    with pytest.raises(UsageError) as caught:
        ReplayProvider(path)

    message = str(caught.value)
    assert f"cassette {path} {problem}" in message
    assert "RecordingProvider" in message


async def test_an_inner_provider_error_propagates_and_records_nothing(tmp_path: Path) -> None:
    path = tmp_path / "run.cassette.json"
    failing: list[StreamEvent | Exception] = [
        TextDelta(text="partial"),
        ProviderError("upstream 502", retryable=True),
    ]
    recorder = RecordingProvider(PlannedProvider(failing, answer("ok"), failing), path)

    with pytest.raises(ProviderError, match="upstream 502"):
        await collect(recorder, request("writer", 0, user("hello")))
    assert not path.exists()

    await collect(recorder, request("writer", 0, user("hello")))
    with pytest.raises(ProviderError, match="upstream 502"):
        await collect(recorder, request("writer", 1, user("more")))
    assert [i["turn"] for i in interactions(path)] == [0]


async def test_a_turn_the_caller_abandons_before_its_finish_is_not_recorded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.cassette.json"
    recorder = RecordingProvider(PlannedProvider(answer("ok")), path)

    async with aclosing(recorder.stream(request("writer", 0, user("hello")))) as stream:
        async for event in stream:
            assert event == TextDelta(text="ok")
            break

    assert not path.exists()


async def test_ids_that_differ_between_runs_do_not_break_replay(tmp_path: Path) -> None:
    def conversation(call_id: str) -> tuple[Message, ...]:
        call = ToolCall(id=call_id, name="search", arguments='{"query": "x"}')
        return (
            user("find x"),
            Message(role="assistant", tool_calls=[call]),
            Message(role="tool", tool_call_id=call_id, name="search", content="x found"),
        )

    path = tmp_path / "run.cassette.json"
    recorder = RecordingProvider(PlannedProvider(answer("done")), path)
    await collect(recorder, request("a", 2, *conversation("call_1"), execution_id="run-1"))

    first_run = ReplayProvider(path)
    second_run = ReplayProvider(path)
    assert await collect(first_run, request("a", 2, *conversation("call_1"), execution_id="run-2"))
    assert await collect(second_run, request("a", 2, *conversation("tc-9f3"), execution_id="run-3"))


async def test_replay_keeps_track_of_which_tool_result_answers_which_call(
    tmp_path: Path,
) -> None:
    calls = [ToolCall(id=i, name="search", arguments=f'{{"query": "{i}"}}') for i in ("p", "q")]

    def conversation(first_result_for: str) -> tuple[Message, ...]:
        other = "q" if first_result_for == "p" else "p"
        return (
            user("find p and q"),
            Message(role="assistant", tool_calls=calls),
            Message(role="tool", tool_call_id=first_result_for, name="search", content="one"),
            Message(role="tool", tool_call_id=other, name="search", content="two"),
        )

    path = tmp_path / "run.cassette.json"
    recorder = RecordingProvider(PlannedProvider(answer("done")), path)
    await collect(recorder, request("a", 0, *conversation("p")))

    with pytest.raises(ReplayDivergedError):
        await collect(ReplayProvider(path), request("a", 0, *conversation("q")))


async def test_recording_into_a_missing_folder_raises_usage_error_naming_the_path(
    tmp_path: Path,
) -> None:
    path = tmp_path / "no-such-folder" / "run.cassette.json"
    recorder = RecordingProvider(PlannedProvider(answer("ok")), path)

    with pytest.raises(UsageError, match=re.escape(f"cannot write cassette {path}")):
        await collect(recorder, request("writer", 0, user("hello")))


async def test_branches_recording_at_the_same_time_all_land_in_the_cassette(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.cassette.json"
    nodes = [f"branch-{i}" for i in range(5)]
    recorder = RecordingProvider(PlannedProvider(*(answer("ok") for _ in range(10))), path)

    async def branch(node_id: str) -> None:
        for turn in range(2):
            await collect(recorder, request(node_id, turn, user(f"{node_id} {turn}")))

    async with anyio.create_task_group() as tg:
        for node_id in nodes:
            tg.start_soon(branch, node_id)

    assert len(interactions(path)) == 10
    replayer = ReplayProvider(path)
    for node_id in reversed(nodes):
        for turn in range(2):
            await collect(replayer, request(node_id, turn, user(f"{node_id} {turn}")))
