"""The event-loop node, run through the executor with the scripted provider."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from hive_mcp.errors import RateLimitError
from hive_mcp.events import Event, EventType
from hive_mcp.graph import Agent, GraphExecutor
from hive_mcp.llm import LLMRequest
from hive_mcp.llm._scripted import ScriptedProvider, ScriptedTurn, call, say
from hive_mcp.store import ExecutionRecord, ExecutionStatus, Journal
from tests import loop_tools
from tests.support import HANG, build, edge, node

pytestmark = pytest.mark.anyio


def llm(
    id: str, outputs: list[str] | None = None, inputs: list[str] | None = None, **kw: Any
) -> dict[str, Any]:
    return {
        "id": id,
        "type": "event_loop",
        "input_keys": inputs or [],
        "output_keys": outputs or [],
        **kw,
    }


@pytest.fixture(autouse=True)
def _fresh_tools() -> Iterator[None]:
    loop_tools.CALLS.clear()
    loop_tools.GATES.clear()
    loop_tools.GATES.update(a=anyio.Event(), b=anyio.Event())
    yield


def executor(
    agent: Agent, journal: Journal, provider: Any, tmp_path: Path, **kw: Any
) -> GraphExecutor:
    return GraphExecutor(
        agent, journal, providers=lambda model, api_base: provider, data_dir=tmp_path / "data", **kw
    )


async def run(
    journal: Journal,
    tmp_path: Path,
    provider: Any,
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]] | None = None,
    input: dict[str, Any] | None = None,
    **graph: Any,
) -> tuple[ExecutionRecord, list[Event]]:
    agent = build(nodes, edges or [], **graph)
    record = await executor(agent, journal, provider, tmp_path).run(input or {})
    return record, await journal.read(record.id, limit=100_000)


def of(events: list[Event], kind: EventType) -> list[dict[str, Any]]:
    return [e.data for e in events if e.type is kind]


def tool_results(provider: ScriptedProvider, turn: int = -1) -> list[str]:
    """Contents of the tool messages the model saw in a request."""
    return [m.content for m in provider.requests[turn].messages if m.role == "tool"]


# -- turns, outputs, tools ------------------------------------------------


async def test_set_output_takes_json_values_and_a_plain_answer_accepts(
    journal: Journal, tmp_path: Path
) -> None:
    provider = ScriptedProvider.from_turns(
        {"*": [call("set_output", key="plan", value={"steps": [1, 2], "ok": True}), say("Done.")]}
    )
    record, events = await run(journal, tmp_path, provider, [llm("planner", ["plan"])])
    assert record.status is ExecutionStatus.COMPLETED, record.error
    assert record.output == {"plan": {"steps": [1, 2], "ok": True}}
    assert [d["verdict"] for d in of(events, EventType.JUDGE_VERDICT)] == ["CONTINUE", "ACCEPT"]
    text = "".join(d["content"] for d in of(events, EventType.LLM_TEXT_DELTA))
    assert text == "Done."
    assert of(events, EventType.NODE_LOOP_COMPLETED)[0]["status"] == "success"


async def test_unstorable_text_from_a_tool_or_the_model_is_replaced_and_the_run_completes(
    journal: Journal, tmp_path: Path
) -> None:
    provider = ScriptedProvider.from_turns(
        {
            "*": [
                call("unpaired", "thinking \udc80"),
                ScriptedTurn(
                    tool_calls=[("set_output", '{"key": "answer", "value": "ok \\ud800"}')]
                ),
                say("Done."),
            ]
        }
    )
    nodes = [llm("worker", ["answer"], tools=["tests.loop_tools:unpaired"])]
    record, events = await run(journal, tmp_path, provider, nodes)
    assert record.status is ExecutionStatus.COMPLETED, record.error
    assert tool_results(provider)[0] == "bad \ufffd text"
    assert provider.requests[1].messages[2].content == "thinking \ufffd"
    stored = await journal.store.get_execution(record.id)
    assert stored is not None and stored.output == {"answer": "ok \ufffd"}
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_a_python_tool_runs_and_its_result_goes_back_to_the_model(
    journal: Journal, tmp_path: Path
) -> None:
    provider = ScriptedProvider.from_turns(
        {
            "*": [
                call("lookup", query="bees", limit=2),
                call("set_output", key="answer", value="ok"),
                say("Done."),
            ]
        }
    )
    record, events = await run(
        journal,
        tmp_path,
        provider,
        [llm("research", ["answer"], tools=["tests.loop_tools:lookup"])],
    )
    assert record.status is ExecutionStatus.COMPLETED, record.error
    assert loop_tools.CALLS == ["lookup:bees"]
    assert json.loads(tool_results(provider, 1)[0]) == {
        "query": "bees",
        "hits": ["bees-0", "bees-1"],
    }
    started = of(events, EventType.TOOL_CALL_STARTED)
    assert next((d["name"], json.loads(d["arguments"])) for d in started) == (
        "lookup",
        {"query": "bees", "limit": 2},
    )
    offered = {t.name for t in provider.requests[0].tools}
    assert offered == {"lookup", "set_output", "load_data"}


async def test_independent_tool_calls_in_one_turn_run_in_parallel(
    journal: Journal, tmp_path: Path
) -> None:
    both = ScriptedTurn(tool_calls=[("meet_a", {}), ("meet_b", {})])
    provider = ScriptedProvider.from_turns(
        {"*": [both, call("set_output", key="x", value=1), say("ok")]}
    )
    record, _ = await run(
        journal,
        tmp_path,
        provider,
        [llm("n", ["x"], tools=["tests.loop_tools:meet_a", "tests.loop_tools:meet_b"])],
    )
    assert record.status is ExecutionStatus.COMPLETED, record.error
    assert sorted(tool_results(provider, 1)) == ["a met b", "b met a"]


async def test_tool_calls_beyond_the_per_turn_limit_get_an_error_instead(
    journal: Journal, tmp_path: Path
) -> None:
    three = ScriptedTurn(tool_calls=[("lookup", {"query": q}) for q in "xyz"])
    provider = ScriptedProvider.from_turns(
        {"*": [three, call("set_output", key="x", value=1), say("ok")]}
    )
    record, _ = await run(
        journal,
        tmp_path,
        provider,
        [llm("n", ["x"], tools=["tests.loop_tools:lookup"], config={"max_tool_calls_per_turn": 2})],
    )
    assert record.status is ExecutionStatus.COMPLETED
    assert sorted(loop_tools.CALLS) == ["lookup:x", "lookup:y"]
    assert any("too many tool calls in one turn (limit 2)" in r for r in tool_results(provider, 1))


@pytest.mark.parametrize(
    ("bad_call", "message"),
    [
        (
            ScriptedTurn(tool_calls=[("teleport", {})]),
            "unknown tool 'teleport'; available tools: [",
        ),
        (
            ScriptedTurn(tool_calls=[("lookup", {"query": 5})]),
            "invalid arguments for lookup: query: Input should be a valid string",
        ),
        (
            ScriptedTurn(tool_calls=[("lookup", {"q": "x"})]),
            "invalid arguments for lookup: query: Field required",
        ),
        (
            ScriptedTurn(tool_calls=[("lookup", '{"query": "bee')]),
            "lookup: arguments are not valid JSON",
        ),
        (
            ScriptedTurn(tool_calls=[("set_output", {"key": "secret", "value": 1})]),
            "'secret' is not an output of this step; declared outputs: ['x']",
        ),
    ],
)
async def test_a_model_that_misuses_tools_gets_an_error_it_can_recover_from(
    journal: Journal, tmp_path: Path, bad_call: ScriptedTurn, message: str
) -> None:
    provider = ScriptedProvider.from_turns(
        {"*": [bad_call, call("set_output", key="x", value=1), say("ok")]}
    )
    record, events = await run(
        journal, tmp_path, provider, [llm("n", ["x"], tools=["tests.loop_tools:lookup"])]
    )
    assert record.status is ExecutionStatus.COMPLETED, record.error
    (error,) = tool_results(provider, 1)
    assert error.startswith("Error: ") and message in error
    assert of(events, EventType.TOOL_CALL_COMPLETED)[0]["is_error"] is True


# -- judges and exit statuses ----------------------------------------------


async def test_finishing_without_required_outputs_gets_retry_feedback(
    journal: Journal, tmp_path: Path
) -> None:
    provider = ScriptedProvider.from_turns(
        {"*": [say("All done!"), call("set_output", key="x", value=1), say("ok")]}
    )
    record, events = await run(journal, tmp_path, provider, [llm("n", ["x"])])
    assert record.status is ExecutionStatus.COMPLETED
    verdicts = of(events, EventType.JUDGE_VERDICT)
    assert [v["verdict"] for v in verdicts] == ["RETRY", "CONTINUE", "ACCEPT"]
    assert "Required outputs are not set yet: ['x']" in verdicts[0]["feedback"]
    assert provider.requests[1].messages[-1].content == verdicts[0]["feedback"]


async def test_too_many_retries_in_a_row_fail_the_node(journal: Journal, tmp_path: Path) -> None:
    provider = ScriptedProvider(lambda request: f"I refuse, version {request.turn}")
    record, _ = await run(
        journal, tmp_path, provider, [llm("n", ["x"], config={"max_consecutive_retries": 2})]
    )
    assert record.status is ExecutionStatus.FAILED
    assert "the judge asked for a retry 3 times in a row" in (record.error or "")


async def test_a_custom_judge_can_escalate_and_the_failure_edge_takes_over(
    journal: Journal, tmp_path: Path
) -> None:
    provider = ScriptedProvider.from_turns(
        {"ask": [call("set_output", key="answer", value="unsure"), say("hmm")]}
    )
    nodes = [
        llm("ask", ["answer"], judge="tests.loop_tools:picky_judge"),
        node("human"),
        node("done"),
    ]
    edges = [
        edge("ask", "done"),
        edge("ask", "human", condition="on_failure"),
        edge("human", "done"),
    ]
    record, events = await run(journal, tmp_path, provider, nodes, edges)
    assert record.path == ["ask", "human", "done"]
    completed = next(d for d in of(events, EventType.NODE_COMPLETED))
    assert (completed["status"], completed["error"]) == ("escalated", "the model is unsure")


async def test_the_llm_judge_checks_success_criteria_and_can_send_back_feedback(
    journal: Journal, tmp_path: Path
) -> None:
    judged: list[str] = []

    def policy(request: LLMRequest) -> ScriptedTurn | str:
        if request.purpose == "judge":
            judged.append(request.messages[0].content)
            return "RETRY: mention the price" if len(judged) == 1 else "ACCEPT"
        last = request.messages[-1]
        if last.role == "user" and "price" in last.content:
            return call("set_output", key="answer", value="It costs 3 euros.")
        if last.role == "tool":
            return say("Set.")
        return call("set_output", key="answer", value="It is good.")

    record, events = await run(
        journal,
        tmp_path,
        ScriptedProvider(policy),
        [llm("n", ["answer"], judge="llm", success_criteria="The answer names a price.")],
    )
    assert record.output == {"answer": "It costs 3 euros."}
    assert "Criteria: The answer names a price." in judged[0]
    assert [v["verdict"] for v in of(events, EventType.JUDGE_VERDICT)][-3:] == [
        "RETRY",
        "CONTINUE",
        "ACCEPT",
    ]


async def test_identical_answers_turn_after_turn_end_the_node_as_stalled(
    journal: Journal, tmp_path: Path
) -> None:
    provider = ScriptedProvider(lambda request: "Let me think about it.")
    record, events = await run(
        journal, tmp_path, provider, [llm("n", ["x"], config={"max_consecutive_retries": 10})]
    )
    assert record.status is ExecutionStatus.FAILED
    assert "stalled: the same response 3 turns in a row" in (record.error or "")
    assert of(events, EventType.NODE_STALLED)[0]["iteration"] == 3
    assert of(events, EventType.NODE_COMPLETED)[0]["status"] == "stalled"


async def test_the_same_tool_calls_turn_after_turn_are_a_doom_loop(
    journal: Journal, tmp_path: Path
) -> None:
    provider = ScriptedProvider(lambda request: call("lookup", query="same"))
    record, _ = await run(
        journal, tmp_path, provider, [llm("n", ["x"], tools=["tests.loop_tools:lookup"])]
    )
    assert "doom loop: the same tool calls 3 turns in a row: lookup" in (record.error or "")
    assert loop_tools.CALLS == ["lookup:same"] * 3


async def test_the_iteration_limit_ends_the_node_as_a_failure(
    journal: Journal, tmp_path: Path
) -> None:
    provider = ScriptedProvider(lambda request: call("lookup", query=f"q{request.turn}"))
    record, _ = await run(
        journal,
        tmp_path,
        provider,
        [llm("n", ["x"], tools=["tests.loop_tools:lookup"], max_iterations=4)],
    )
    assert record.status is ExecutionStatus.FAILED
    assert "reached max_iterations (4) without finishing" in (record.error or "")
    assert len(loop_tools.CALLS) == 4


async def test_a_guard_refusal_ends_the_node_with_guard_failure_before_the_tool_runs(
    journal: Journal, tmp_path: Path
) -> None:
    provider = ScriptedProvider.from_turns({"*": [call("refund", amount=100)]})
    record, events = await run(
        journal,
        tmp_path,
        provider,
        [
            llm(
                "n",
                ["x"],
                tools=["tests.loop_tools:refund"],
                config={"guard": "tests.loop_tools:no_refunds"},
            )
        ],
    )
    assert loop_tools.CALLS == []
    completed = of(events, EventType.NODE_COMPLETED)[0]
    assert (completed["status"], completed["error"]) == (
        "guard_failure",
        "guard refused refund: refunds need a human",
    )
    assert record.status is ExecutionStatus.FAILED


async def test_a_retryable_model_error_retries_the_node_which_resumes_its_conversation(
    journal: Journal, tmp_path: Path
) -> None:
    turns = iter(
        [
            call("lookup", query="once"),
            RateLimitError("slow down"),
            call("set_output", key="x", value=1),
            say("ok"),
        ]
    )

    def policy(request: LLMRequest) -> ScriptedTurn:
        answer = next(turns)
        if isinstance(answer, Exception):
            raise answer
        return answer

    record, events = await run(
        journal,
        tmp_path,
        ScriptedProvider(policy),
        [
            llm(
                "n",
                ["x"],
                tools=["tests.loop_tools:lookup"],
                max_retries=1,
                retry_backoff_seconds=0,
            )
        ],
    )
    assert record.status is ExecutionStatus.COMPLETED, record.error
    assert loop_tools.CALLS == ["lookup:once"]  # not redone after the retry
    assert [d["resumed"] for d in of(events, EventType.NODE_LOOP_STARTED)] == [False, True]


# -- people ----------------------------------------------------------------


async def start_and_wait(
    ex: GraphExecutor, tg: Any, input: dict[str, Any] | None = None
) -> tuple[ExecutionRecord, Event]:
    record = ex.create(input or {})
    with ex.journal.bus.subscribe(
        [EventType.CLIENT_INPUT_REQUESTED], execution_id=record.id
    ) as sub:
        tg.start_soon(ex.start_execution, record)
        with anyio.fail_after(HANG):
            asked = await sub.receive()
    return record, asked


async def test_ask_user_parks_the_execution_until_input_arrives(
    journal: Journal, tmp_path: Path
) -> None:
    provider = ScriptedProvider.from_turns(
        {
            "*": [
                call("ask_user", prompt="Which city?", options=["Paris", "Rome"]),
                call("set_output", key="city", value="Rome"),
                say("ok"),
            ]
        }
    )
    agent = build([llm("intake", ["city"], client_facing=True)], [])
    ex = executor(agent, journal, provider, tmp_path)
    with anyio.fail_after(HANG):
        async with anyio.create_task_group() as tg:
            record, asked = await start_and_wait(ex, tg)
            assert asked.data == {
                "kind": "question",
                "prompt": "Which city?",
                "options": ["Paris", "Rome"],
            }
            stored = await journal.store.get_execution(record.id)
            assert stored is not None and stored.status is ExecutionStatus.WAITING_FOR_INPUT
            assert stored.waiting_for_input is not None
            assert stored.waiting_for_input["node_id"] == "intake"
            assert ex.send_input(record.id, "Rome") == "intake"
    final = await journal.store.get_execution(record.id)
    assert final is not None and final.status is ExecutionStatus.COMPLETED
    assert final.output == {"city": "Rome"} and final.waiting_for_input is None
    answer = [m for m in provider.requests[1].messages if m.role == "tool"][-1]
    assert (answer.name, answer.content) == ("ask_user", "Rome")


async def test_a_client_facing_node_that_asks_in_plain_text_waits_for_the_reply(
    journal: Journal, tmp_path: Path
) -> None:
    provider = ScriptedProvider.from_turns(
        {
            "*": [
                say("What is your name?"),
                call("set_output", key="name", value="Ada"),
                say("Hi Ada"),
            ]
        }
    )
    agent = build([llm("chat", ["name"], client_facing=True)], [])
    ex = executor(agent, journal, provider, tmp_path)
    with anyio.fail_after(HANG):
        async with anyio.create_task_group() as tg:
            record, asked = await start_and_wait(ex, tg)
            assert (
                asked.data["kind"] == "conversation"
                and asked.data["prompt"] == "What is your name?"
            )
            ex.send_input(record.id, "I am Ada")
    events = await journal.read(record.id, limit=10_000)
    assert provider.requests[1].messages[-1].content == "I am Ada"
    assert "".join(d["content"] for d in of(events, EventType.CLIENT_OUTPUT_DELTA)).startswith(
        "What is your name?"
    )


async def test_input_to_an_execution_that_is_not_waiting_is_refused(
    journal: Journal, tmp_path: Path
) -> None:
    from hive_mcp.errors import UsageError

    agent = build([llm("n", ["x"])], [])
    ex = executor(agent, journal, ScriptedProvider.from_turns({}), tmp_path)
    with pytest.raises(UsageError, match="is not waiting for input"):
        ex.send_input("ex_nope", "hello")


# Two lookups use up max_iterations=2; finishing takes two more turns.
EXTENSION_TURNS = [
    call("lookup", query="a"),
    call("lookup", query="b"),
    call("set_output", key="x", value=1),
    say("ok"),
]


def extension_agent() -> Agent:
    node = llm(
        "n",
        ["x"],
        tools=["tests.loop_tools:lookup"],
        max_iterations=2,
        config={"allow_iteration_extension": True},
    )
    return build([node], [])


@pytest.mark.parametrize(
    ("answer", "granted", "status"),
    [("approve", 2, "completed"), ("approve 3", 3, "completed"), ("deny", 0, "failed")],
)
async def test_iteration_extension_asks_at_the_limit_and_follows_the_answer(
    journal: Journal, tmp_path: Path, answer: str, granted: int, status: str
) -> None:
    provider = ScriptedProvider.from_turns({"*": EXTENSION_TURNS})
    agent = extension_agent()
    ex = executor(agent, journal, provider, tmp_path)
    with anyio.fail_after(HANG):
        async with anyio.create_task_group() as tg:
            record, asked = await start_and_wait(ex, tg)
            assert asked.data["kind"] == "iteration_extension"
            ex.send_input(record.id, answer)
    final = await journal.store.get_execution(record.id)
    assert final is not None and final.status.value == status
    events = await journal.read(record.id, limit=10_000)
    assert of(events, EventType.ITERATION_EXTENSION_REQUESTED) == [
        {"iterations": 2, "max_iterations": 2}
    ]
    resolved = of(events, EventType.ITERATION_EXTENSION_RESOLVED)[0]
    assert (resolved["approved"], resolved["granted"]) == (granted > 0, granted)
    if status == "failed":
        assert "the extension was denied" in (final.error or "")


async def test_a_pending_iteration_extension_survives_a_restart(tmp_path: Path) -> None:
    from hive_mcp.store import SQLiteStore

    turns = EXTENSION_TURNS
    agent = extension_agent()
    store = SQLiteStore(tmp_path / "store.db")
    async with Journal(store) as journal, anyio.create_task_group() as tg:
        first = ScriptedProvider.from_turns({"*": turns})
        ex = executor(agent, journal, first, tmp_path, on_cancel="suspend")
        record, _ = await start_and_wait(ex, tg)
        tg.cancel_scope.cancel()  # the server shuts down while the node is parked
    await store.close()

    store = SQLiteStore(tmp_path / "store.db")
    with anyio.fail_after(HANG):
        async with Journal(store) as journal, anyio.create_task_group() as tg:
            parked = await store.get_execution(record.id)
            assert parked is not None and parked.status is ExecutionStatus.WAITING_FOR_INPUT
            assert parked.waiting_for_input is not None
            assert parked.waiting_for_input["kind"] == "iteration_extension"
            second = ScriptedProvider.from_turns({"*": turns[2:]})
            ex = executor(agent, journal, second, tmp_path)
            with journal.bus.subscribe([EventType.CLIENT_INPUT_REQUESTED]) as sub:
                tg.start_soon(ex.resume, record.id)
                with anyio.fail_after(HANG):
                    asked = await sub.receive()
            assert asked.data["kind"] == "iteration_extension"
            ex.send_input(record.id, "approve")
    final = await store.get_execution(record.id)
    await store.close()
    assert final is not None and final.status is ExecutionStatus.COMPLETED, final
    assert len(second.requests) == 2  # no turn was asked for again
    assert loop_tools.CALLS == ["lookup:a", "lookup:b"]
    events = await SQLiteStore(tmp_path / "store.db").read_events(record.id, limit=1000)
    assert [e.type for e in events].count(EventType.EXECUTION_STARTED) == 1


async def test_a_recorded_conversation_replays_through_the_graph_offline(
    journal: Journal, tmp_path: Path
) -> None:
    from hive_mcp.llm import RecordingProvider

    cassette = tmp_path / "support.cassette.json"
    nodes = [
        llm("n", ["answer"], tools=["tests.loop_tools:lookup"], description="Find the answer.")
    ]
    recorder = RecordingProvider(
        ScriptedProvider.from_turns(
            {
                "*": [
                    call("lookup", query="q"),
                    call("set_output", key="answer", value="A"),
                    say("ok"),
                ]
            }
        ),
        cassette,
    )
    first, _ = await run(journal, tmp_path, recorder, nodes)
    assert first.output == {"answer": "A"}

    replayed = build(nodes, [], defaults={"model": f"replay:{cassette}", "max_retries": 0})
    again = await GraphExecutor(replayed, journal, data_dir=tmp_path / "data").run({})
    assert again.status is ExecutionStatus.COMPLETED, again.error
    assert again.output == {"answer": "A"}
    assert loop_tools.CALLS == [
        "lookup:q",
        "lookup:q",
    ]  # tools really ran again; the model was replayed

    changed = build(
        [{**nodes[0], "description": "A different task."}],
        [],
        defaults={"model": f"replay:{cassette}", "max_retries": 0},
    )
    diverged = await GraphExecutor(changed, journal, data_dir=tmp_path / "data").run({})
    assert diverged.status is ExecutionStatus.FAILED
    assert "replay diverged" in (diverged.error or "") and "'n'" in (diverged.error or "")


async def test_token_usage_of_the_loop_adds_up_on_the_execution(
    journal: Journal, tmp_path: Path
) -> None:
    provider = ScriptedProvider.from_turns({"*": [call("set_output", key="x", value=1), say("ok")]})
    record, events = await run(journal, tmp_path, provider, [llm("n", ["x"])])
    steps = of(events, EventType.JUDGE_VERDICT)
    assert record.input_tokens == sum(s["input_tokens"] for s in steps) > 0
    assert record.output_tokens == sum(s["output_tokens"] for s in steps) > 0


async def test_the_offline_provider_a_server_uses_does_not_keep_every_request() -> None:
    from hive_mcp.llm._resolve import resolve_provider

    provider = resolve_provider(None, policy=lambda request: "hello", agent="a")
    assert isinstance(provider, ScriptedProvider)
    request = LLMRequest(model="scripted", messages=[])
    answers = [event async for event in provider.stream(request)]
    assert answers  # it answered, and a long-running server keeps nothing of it
    assert provider.requests == []
