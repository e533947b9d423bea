"""Status events, spillover with load_data, and the compaction tiers of the loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hive_mcp.errors import ProviderError
from hive_mcp.events import EventType, emit_status
from hive_mcp.llm import LLMRequest, Message
from hive_mcp.llm._scripted import ScriptedProvider, ScriptedTurn, call, say
from hive_mcp.loop import LoopState, compact_if_needed, estimate_tokens, load_data, spill
from hive_mcp.loop._compaction import PRUNED
from hive_mcp.loop._state import SavedMessages
from hive_mcp.loop._tools import ToolError
from hive_mcp.store import ExecutionStatus, Journal
from tests.test_event_loop import llm, of, run, tool_results

pytestmark = pytest.mark.anyio


async def test_status_events_from_inside_a_tool_are_interleaved_in_order(
    journal: Journal, tmp_path: Path
) -> None:
    provider = ScriptedProvider.from_turns(
        {"*": [call("indexing", corpus="docs"), call("set_output", key="x", value=1), say("ok")]}
    )
    record, events = await run(
        journal, tmp_path, provider, [llm("n", ["x"], tools=["tests.loop_tools:indexing"])]
    )
    assert record.status is ExecutionStatus.COMPLETED
    kinds = [
        (e.type.value, e.data.get("name"), e.data.get("status"))
        for e in events
        if e.type in (EventType.TOOL_CALL_STARTED, EventType.STATUS, EventType.TOOL_CALL_COMPLETED)
    ][:4]
    assert kinds == [
        ("tool_call_started", "indexing", None),
        ("status", "indexing", "started"),
        ("status", "indexing", "completed"),
        ("tool_call_completed", "indexing", None),
    ]
    status = of(events, EventType.STATUS)[0]
    assert status["data"] == {"corpus": "docs"}
    assert all(e.node_id == "n" for e in events if e.type is EventType.STATUS)


def test_emit_status_outside_a_run_does_nothing() -> None:
    assert emit_status("anything", "started") is False


async def test_a_large_tool_result_spills_to_a_file_and_load_data_reads_it_back(
    journal: Journal, tmp_path: Path
) -> None:
    def policy(request: LLMRequest) -> ScriptedTurn | str:
        last = request.messages[-1]
        if request.turn == 1:
            return call("big_report", size=2000)
        if request.turn == 2:
            name = last.content.split("saved as '")[1].split("'")[0]
            return call("load_data", name=name, offset=11 * 1500, limit=22)
        if request.turn == 3:
            return call("load_data", name="../../etc/passwd")
        if request.turn == 4:
            return call("set_output", key="x", value=1)
        return say("done")

    provider = ScriptedProvider(policy)
    record, _ = await run(
        journal,
        tmp_path,
        provider,
        [
            llm(
                "n",
                ["x"],
                tools=["tests.loop_tools:big_report"],
                config={"max_tool_result_chars": 1000},
            )
        ],
    )
    assert record.status is ExecutionStatus.COMPLETED, record.error
    preview = tool_results(provider, 1)[0]
    assert (
        preview.startswith("line 00000\n")
        and "The full result (22000 characters) was saved as" in preview
    )
    assert len(preview) < 1400
    spilled = list((tmp_path / "data" / record.id / "spill").glob("*.txt"))
    assert len(spilled) == 1 and len(spilled[0].read_text()) == 22000
    page = tool_results(provider, 2)[-1]
    assert page.endswith("line 01500\nline 01501\n")
    assert "characters 16500-16522 of 22000" in page
    refused = tool_results(provider, 3)[-1]
    assert refused.startswith("Error: load_data reads only saved results by name")


def test_spill_keeps_small_results_inline(tmp_path: Path) -> None:
    assert spill(tmp_path, "c1", "short", limit=100) == "short"
    assert not (tmp_path / "spill").exists()


def test_load_data_names_the_saved_results_when_asked_for_a_missing_one(tmp_path: Path) -> None:
    spill(tmp_path, "c1", "x" * 50, limit=10)
    with pytest.raises(ToolError, match=r"no saved result 'nope.txt'; saved results: \['c1.txt'\]"):
        load_data(tmp_path, "nope.txt")


def conversation(turns: int, size: int, thinking: int = 0) -> LoopState:
    state = LoopState(
        messages=[Message(role="system", content="sys"), Message(role="user", content="task")]
    )
    for i in range(turns):
        calls = [{"id": f"c{i}", "name": "fetch", "arguments": "{}"}]
        state.messages.append(Message(role="assistant", content="t" * thinking, tool_calls=calls))  # type: ignore[arg-type]
        state.messages.append(
            Message(role="tool", content="r" * size, tool_call_id=f"c{i}", name="fetch")
        )
        state.tool_history.append(f"fetch(call {i})")
    return state


async def compact(state: LoopState, provider: Any, context_tokens: int) -> str | None:
    return await compact_if_needed(
        state,
        provider=provider,
        model="scripted",
        execution_id="e",
        node_id="n",
        context_tokens=context_tokens,
        threshold=0.8,
        keep_recent=4,
    )


async def test_compaction_first_prunes_old_tool_results_without_a_model_call() -> None:
    state = conversation(turns=6, size=400)
    provider = ScriptedProvider(lambda request: None)
    before = len(state.messages)
    assert await compact(state, provider, context_tokens=500) == "prune"
    assert provider.requests == []
    assert len(state.messages) == before  # structure kept
    assert [m.content for m in state.messages if m.role == "tool"][:4] == [PRUNED] * 4
    assert state.messages[-1].content == "r" * 400  # recent results kept in full


async def test_compaction_then_asks_the_model_for_a_summary_keeping_the_tool_history() -> None:
    state = conversation(turns=6, size=400, thinking=800)  # old reasoning: pruning cannot help
    provider = ScriptedProvider(
        lambda request: "We fetched six pages." if request.purpose == "compaction" else None
    )
    assert await compact(state, provider, context_tokens=1200) == "summary"
    (note,) = [
        m for m in state.messages if m.content.startswith("[Summary of the earlier conversation]")
    ]
    assert "We fetched six pages." in note.content
    assert "fetch(call 0)" in note.content and "fetch(call 5)" in note.content
    assert state.messages[0].role == "system"
    assert state.messages[note and state.messages.index(note) + 1].role != "tool"


async def test_compaction_falls_back_to_a_deterministic_summary_when_the_model_fails() -> None:
    state = conversation(turns=6, size=400, thinking=800)

    def failing(request: LLMRequest) -> str:
        raise ProviderError("model unavailable")

    assert await compact(state, ScriptedProvider(failing), context_tokens=1200) == "emergency"
    assert (
        "(the earlier conversation was dropped to fit the context window)"
        in state.messages[1].content
    )
    assert "fetch(call 5)" in state.messages[1].content


async def test_compaction_reports_start_and_end_as_status_events(
    journal: Journal, tmp_path: Path
) -> None:
    def policy(request: LLMRequest) -> ScriptedTurn | str | None:
        if request.purpose == "compaction":
            return "summary"
        if request.turn <= 3:
            return call("big_report", size=150 + request.turn)
        if request.turn == 4:
            return call("set_output", key="x", value=1)
        return say("ok")

    record, events = await run(
        journal,
        tmp_path,
        ScriptedProvider(policy),
        [
            llm(
                "n",
                ["x"],
                tools=["tests.loop_tools:big_report"],
                config={"context_tokens": 500, "keep_recent_messages": 2},
            )
        ],
    )
    assert record.status is ExecutionStatus.COMPLETED, record.error
    statuses = [(d["name"], d["status"]) for d in of(events, EventType.STATUS)]
    assert statuses[:2] == [("compaction", "started"), ("compaction", "completed")]
    assert of(events, EventType.STATUS)[1]["data"]["tier"] in ("prune", "summary", "emergency")


def test_token_estimate_counts_content_and_tool_arguments() -> None:
    messages = [Message(role="user", content="x" * 40)]
    assert estimate_tokens(messages) == 10


def test_the_saved_conversation_always_equals_a_fresh_serialisation() -> None:
    saved = SavedMessages()
    messages = [Message(role="system", content="s"), Message(role="user", content="u")]

    def fresh() -> str:
        return ",".join(m.model_dump_json() for m in messages)

    assert saved.json(messages) == fresh()
    messages.append(Message(role="assistant", content="a"))  # a turn: appended
    assert saved.json(messages) == fresh()
    messages[1] = messages[1].model_copy(update={"content": "pruned"})  # compaction's prune
    assert saved.json(messages) == fresh()
    messages[1:] = [Message(role="user", content="summary")]  # compaction's summary
    assert saved.json(messages) == fresh()
    assert saved.chars == len(fresh()) - (len(messages) - 1)  # the JSON, without the commas
