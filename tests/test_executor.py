"""The executor's rules, each shown on a small graph of in-test Python nodes."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from hive_mcp.events import EventType, emit_status
from hive_mcp.graph import GraphExecutor
from hive_mcp.graph.nodes import NodeResult, NodeStatus
from hive_mcp.store import ExecutionStatus, Journal
from tests.support import HANG, build, edge, executor, kinds, node, run

pytestmark = pytest.mark.anyio


async def test_a_linear_graph_passes_outputs_along_and_returns_the_terminal_outputs(
    journal: Journal,
) -> None:
    agent = build(
        [node("a", ["x"], ["y"]), node("b", ["y"], ["z"])],
        [edge("a", "b")],
    )
    record, events = await run(
        agent,
        journal,
        {"a": lambda ctx, x: {"y": x + 1}, "b": lambda ctx, y: {"z": y * 10}},
        {"x": 1},
    )
    assert record.status is ExecutionStatus.COMPLETED
    assert record.output == {"z": 20}
    assert record.path == ["a", "b"]
    assert kinds(events, "node_started", "execution_completed") == [
        ("node_started", "a"),
        ("node_started", "b"),
        ("execution_completed", None),
    ]


async def test_event_sequence_numbers_are_gap_free_from_one(journal: Journal) -> None:
    agent = build([node("a"), node("b")], [edge("a", "b")])
    _, events = await run(agent, journal)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_edges_fire_by_priority_and_the_highest_firing_priority_wins(
    journal: Journal,
) -> None:
    agent = build(
        [node("a", [], ["n"]), node("low"), node("high"), node("end")],
        [
            edge("a", "low", priority=1),
            edge("a", "high", priority=5, expression="n > 3"),
            edge("low", "end"),
            edge("high", "end"),
        ],
    )
    record, _ = await run(agent, journal, {"a": lambda ctx: {"n": 7}})
    assert record.path == ["a", "high", "end"]
    record, _ = await run(agent, journal, {"a": lambda ctx: {"n": 1}})
    assert record.path == ["a", "low", "end"]


async def test_several_firing_edges_run_branches_in_parallel_and_join_once(
    journal: Journal,
) -> None:
    both_running = anyio.Event()
    started: list[str] = []

    async def branch(name: str) -> dict[str, Any]:
        started.append(name)
        if len(started) == 2:
            both_running.set()
        # Each branch finishes only once the other has started: proof of concurrency.
        with anyio.fail_after(HANG):
            await both_running.wait()
        return {f"{name}_out": name.upper()}

    agent = build(
        [
            node("split"),
            node("left", [], ["left_out"]),
            node("right", [], ["right_out"]),
            node("join", ["left_out", "right_out"], ["both"]),
        ],
        [
            edge("split", "left"),
            edge("split", "right"),
            edge("left", "join"),
            edge("right", "join"),
        ],
    )
    record, events = await run(
        agent,
        journal,
        {
            "left": lambda ctx: branch("left"),
            "right": lambda ctx: branch("right"),
            "join": lambda ctx, left_out, right_out: {"both": left_out + right_out},
        },
    )
    assert record.status is ExecutionStatus.COMPLETED, record.error
    assert record.output == {"both": "LEFTRIGHT"}
    assert record.path.count("join") == 1
    fanout = next(e for e in events if e.type is EventType.FANOUT_STARTED)
    assert fanout.data == {"branches": ["left", "right"], "join": "join"}
    assert kinds(events, "fanin_completed") == [("fanin_completed", "join")]


async def test_parallel_branches_writing_one_key_fail_naming_both_branches(
    journal: Journal,
) -> None:
    # Validation refuses this graph; bypass it to show the run-time guard too.
    agent = build(
        [
            node("split"),
            node("left", [], ["result"]),
            node("right", [], ["result"]),
            node("join", ["result"], []),
        ],
        [
            edge("split", "left"),
            edge("split", "right"),
            edge("left", "join"),
            edge("right", "join"),
        ],
        validate=False,
    )
    record, events = await run(
        agent, journal, {"left": lambda ctx: {"result": 1}, "right": lambda ctx: {"result": 2}}
    )
    assert record.status is ExecutionStatus.FAILED
    assert "'left' and 'right' both wrote 'result'" in (record.error or "")
    assert "join" not in record.path  # never a silent overwrite
    assert events[-1].type is EventType.EXECUTION_FAILED


async def test_a_feedback_edge_loops_until_max_node_visits_then_is_skipped(
    journal: Journal,
) -> None:
    agent = build(
        [
            node("draft", [], ["n"], max_node_visits=3),
            node("check", ["n"], ["ok"], max_node_visits=3),
            node("done"),
        ],
        [
            edge("draft", "check"),
            edge("check", "done", expression="ok"),
            edge("check", "draft", expression="not ok"),
            edge("check", "done", condition="always", priority=-1),
        ],
    )
    count = 0

    def draft(ctx: Any) -> dict[str, Any]:
        nonlocal count
        count += 1
        return {"n": count}

    record, events = await run(
        agent, journal, {"draft": draft, "check": lambda ctx, n: {"ok": False}}
    )
    assert record.status is ExecutionStatus.COMPLETED, record.error
    assert record.path == ["draft", "check", "draft", "check", "draft", "check", "done"]
    limit = [e for e in events if e.type is EventType.NODE_VISIT_LIMIT_REACHED]
    assert [(e.node_id, e.data["max_node_visits"]) for e in limit] == [("draft", 3)]
    feedback = [e.data["feedback"] for e in events if e.type is EventType.EDGE_TRAVERSED]
    assert feedback.count(True) == 2


async def test_exhausted_visits_with_no_other_edge_fail_the_execution_clearly(
    journal: Journal,
) -> None:
    agent = build(
        [
            node("draft", [], [], max_node_visits=2),
            node("check", [], ["ok"], max_node_visits=2),
            node("done"),
        ],
        [
            edge("draft", "check"),
            edge("check", "done", expression="ok"),
            edge("check", "draft", expression="not ok"),
        ],
    )
    record, _ = await run(agent, journal, {"check": lambda ctx: {"ok": False}})
    assert record.status is ExecutionStatus.FAILED
    assert "node 'check' succeeded but none of its edges fired" in (record.error or "")


async def test_a_retry_is_not_a_new_visit(journal: Journal) -> None:
    agent = build(
        [node("flaky", [], ["v"], max_retries=2, max_node_visits=1), node("end")],
        [edge("flaky", "end")],
    )
    attempts: list[tuple[int, int]] = []

    def flaky(ctx: Any) -> dict[str, Any]:
        attempts.append((ctx.attempt, ctx.visit))
        if ctx.attempt < 3:
            raise RuntimeError("not yet")
        return {"v": "ok"}

    record, events = await run(agent, journal, {"flaky": flaky})
    assert record.status is ExecutionStatus.COMPLETED, record.error
    assert attempts == [(1, 1), (2, 1), (3, 1)]
    assert record.path == ["flaky", "end"]
    retries = [e.data["attempt"] for e in events if e.type is EventType.NODE_RETRYING]
    assert retries == [1, 2]


async def test_retries_back_off_exponentially_from_the_node_setting(journal: Journal) -> None:
    agent = build(
        [node("flaky", max_retries=3, retry_backoff_seconds=0.5), node("end")],
        [edge("flaky", "end")],
    )
    delays: list[float] = []

    async def record_sleep(seconds: float) -> None:
        delays.append(seconds)

    def always_fails(ctx: Any) -> None:
        raise RuntimeError("down")

    ex = executor(agent, journal, {"flaky": always_fails}, sleep=record_sleep)
    record = await ex.run({})
    assert delays == [0.5, 1.0, 2.0]
    assert record.status is ExecutionStatus.FAILED
    assert record.error == "node 'flaky' failed: RuntimeError: down"


async def test_an_on_failure_edge_catches_a_failed_node(journal: Journal) -> None:
    agent = build(
        [node("risky"), node("happy"), node("rescue", [], ["handled"]), node("end")],
        [
            edge("risky", "happy"),
            edge("risky", "rescue", condition="on_failure"),
            edge("happy", "end"),
            edge("rescue", "end"),
        ],
    )
    record, events = await run(
        agent,
        journal,
        {"risky": lambda ctx: 1 / 0, "rescue": lambda ctx: {"handled": True}},
    )
    assert record.status is ExecutionStatus.COMPLETED
    assert record.path == ["risky", "rescue", "end"]
    completed = next(e for e in events if e.type is EventType.NODE_COMPLETED)
    assert completed.data["status"] == "failure"
    assert "ZeroDivisionError" in completed.data["error"]


async def test_nullable_outputs_are_cleared_when_a_node_is_revisited(journal: Journal) -> None:
    agent = build(
        [
            node(
                "decide",
                [],
                ["approved", "reason"],
                nullable_output_keys=["reason"],
                max_node_visits=2,
            ),
            node("gate", [], ["again"], max_node_visits=2),
            node("end", [], ["reason_seen"]),
        ],
        [
            edge("decide", "gate"),
            edge("gate", "decide", expression="again"),
            edge("gate", "end", condition="always", priority=-1),
        ],
    )
    visits = 0

    def decide(ctx: Any) -> dict[str, Any]:
        nonlocal visits
        visits += 1
        if visits == 1:
            return {"approved": False, "reason": "too vague"}
        assert "reason" not in ctx.memory  # the stale reason is gone on the revisit
        return {"approved": True}

    record, _ = await run(
        agent,
        journal,
        {
            "decide": decide,
            "gate": lambda ctx: {"again": visits == 1},
            "end": lambda ctx: {"reason_seen": ctx.memory.get("reason")},
        },
    )
    assert record.status is ExecutionStatus.COMPLETED, record.error
    assert record.output == {"reason_seen": None}


async def test_max_steps_stops_a_runaway_graph(journal: Journal) -> None:
    agent = build(
        [node("a", max_node_visits=100), node("b", max_node_visits=100), node("end")],
        [edge("a", "b"), edge("b", "a"), edge("b", "end", condition="on_failure")],
        max_steps=7,
    )
    record, _ = await run(agent, journal)
    assert record.status is ExecutionStatus.FAILED
    assert record.error is not None and record.error.startswith("max_steps (7) reached")
    assert len(record.path) == 7


async def test_input_mapping_renames_memory_keys_for_the_target(journal: Journal) -> None:
    agent = build(
        [node("a", [], ["draft_text"]), node("b", ["text"], ["length"])],
        [edge("a", "b", input_mapping={"text": "draft_text"})],
    )
    record, _ = await run(
        agent,
        journal,
        {"a": lambda ctx: {"draft_text": "hello"}, "b": lambda ctx, text: {"length": len(text)}},
    )
    assert record.output == {"length": 5}


async def test_a_node_missing_an_input_key_fails_with_what_to_do(journal: Journal) -> None:
    # 'a' may leave its nullable output unset, so 'end' finds it missing only at run time.
    first = node("a", [], ["missing"], nullable_output_keys=["missing"])
    agent = build([first, node("end", ["missing"])], [edge("a", "end")])
    record, _ = await run(agent, journal)
    assert record.status is ExecutionStatus.FAILED
    assert "input keys ['missing'] are not in memory" in (record.error or "")


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ({"y": 1, "extra": 2}, "wrote ['extra'], which are not among its output_keys"),
        ({}, "did not write required outputs ['y']"),
        ({"y": {1, 2}}, "not a JSON value"),
    ],
)
async def test_a_node_breaking_its_output_contract_fails_without_retrying(
    journal: Journal, outputs: dict[str, Any], message: str
) -> None:
    agent = build([node("a", [], ["y"], max_retries=3), node("end")], [edge("a", "end")])
    calls = 0

    def a(ctx: Any) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return outputs

    record, _ = await run(agent, journal, {"a": a})
    assert record.status is ExecutionStatus.FAILED
    assert message in (record.error or "")
    assert calls == 1


async def test_a_node_status_other_than_success_takes_the_failure_path(journal: Journal) -> None:
    agent = build(
        [node("loop"), node("ok"), node("escalate"), node("end")],
        [
            edge("loop", "ok"),
            edge("loop", "escalate", condition="on_failure"),
            edge("ok", "end"),
            edge("escalate", "end"),
        ],
    )
    record, _ = await run(
        agent,
        journal,
        {"loop": lambda ctx: NodeResult(status=NodeStatus.ESCALATED, error="needs a human")},
    )
    assert record.path == ["loop", "escalate", "end"]


async def test_llm_decide_edges_without_a_provider_fail_with_a_clear_message(
    journal: Journal,
) -> None:
    agent = build([node("a"), node("b")], [edge("a", "b", condition="llm_decide")])
    record, _ = await run(agent, journal)
    assert record.status is ExecutionStatus.FAILED
    assert "uses 'llm_decide', which needs an LLM provider" in (record.error or "")


async def test_llm_decide_edges_ask_the_edge_decider(journal: Journal) -> None:
    agent = build(
        [node("a", [], ["topic"]), node("b"), node("c"), node("end")],
        [
            edge("a", "b", condition="llm_decide", priority=1),
            edge("a", "c", condition="always"),
            edge("b", "end"),
            edge("c", "end"),
        ],
    )
    asked: list[str] = []

    async def decider(edge: Any, memory: Any) -> bool:
        asked.append(f"{edge.target}:{memory['topic']}")
        return True

    record, _ = await run(agent, journal, {"a": lambda ctx: {"topic": "x"}}, edge_decider=decider)
    assert asked == ["b:x"]
    assert record.path == ["a", "b", "end"]


async def test_a_condition_that_fails_at_run_time_fails_the_execution_naming_the_edge(
    journal: Journal,
) -> None:
    agent = build([node("a", [], ["n"]), node("b")], [edge("a", "b", expression="n > 3")])
    record, _ = await run(agent, journal, {"a": lambda ctx: {"n": "text"}})
    assert record.status is ExecutionStatus.FAILED
    assert record.error is not None
    assert record.error.startswith("edge a -> b: condition 'n > 3' failed: TypeError")


async def test_cancelling_leaves_a_consistent_stored_state(journal: Journal) -> None:
    agent = build(
        [node("a", [], ["v"]), node("slow"), node("end")], [edge("a", "slow"), edge("slow", "end")]
    )
    entered = anyio.Event()

    async def slow(ctx: Any) -> None:
        entered.set()
        await anyio.sleep_forever()

    ex = executor(agent, journal, {"a": lambda ctx: {"v": 1}, "slow": slow})
    record = ex.create({})
    async with anyio.create_task_group() as tg:
        tg.start_soon(ex.start_execution, record)
        with anyio.fail_after(HANG):
            await entered.wait()
        tg.cancel_scope.cancel()

    stored = await journal.store.get_execution(record.id)
    assert stored is not None and stored.status is ExecutionStatus.CANCELLED
    events = await journal.read(record.id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].type is EventType.EXECUTION_CANCELLED
    checkpoint = await journal.store.last_checkpoint(record.id)
    assert checkpoint is not None
    assert checkpoint.state["root"]["node"] == "slow"
    assert checkpoint.state["root"]["writes"] == {"v": 1}


async def test_a_checkpoint_follows_every_node_with_the_walk_already_advanced(
    journal: Journal,
) -> None:
    agent = build([node("a", [], ["v"]), node("b")], [edge("a", "b")])
    record, events = await run(agent, journal, {"a": lambda ctx: {"v": 1}})
    completed = [e.seq for e in events if e.type is EventType.NODE_COMPLETED]
    checkpoints = [e.seq for e in events if e.type is EventType.CHECKPOINT_WRITTEN]
    assert len(checkpoints) == len(completed) == 2
    assert all(c > n for c, n in zip(checkpoints, completed, strict=True))
    last = await journal.store.last_checkpoint(record.id)
    assert last is not None and last.event_seq == checkpoints[-1]
    assert last.state["root"]["node"] is None  # nothing left to run


async def test_a_bad_input_is_refused_before_anything_is_stored(journal: Journal) -> None:
    from hive_mcp.errors import InputError

    agent = build([node("a", ["text"]), node("b")], [edge("a", "b")])
    with pytest.raises(InputError, match="text"):
        executor(agent, journal, {}).create({"other": 1})
    assert await journal.store.list_executions() == []


def _emit_from_a_worker_thread(ctx: Any) -> dict[str, Any]:
    for i in range(20):
        ctx.emit(EventType.CUSTOM, {"i": i})
    emit_status("thread", "done")
    return {}


async def test_a_sync_function_node_emits_from_its_thread_through_the_loop(
    journal: Journal,
) -> None:
    threads: set[int] = set()
    emit = journal.emit

    def spy(*args: Any, **kwargs: Any) -> Any:
        threads.add(threading.get_ident())
        return emit(*args, **kwargs)

    journal.emit = spy  # type: ignore[method-assign]
    agent = build([node("sync", function="tests.test_executor:_emit_from_a_worker_thread")], [])
    record = await GraphExecutor(agent, journal).run({})
    events = await journal.read(record.id, limit=1000)
    assert record.status is ExecutionStatus.COMPLETED
    assert [e.data["i"] for e in events if e.type is EventType.CUSTOM] == list(range(20))
    assert any(e.type is EventType.STATUS and e.data["name"] == "thread" for e in events)
    assert threads == {threading.get_ident()}  # the journal only ever ran on the loop


async def test_a_run_that_never_waits_stores_its_last_checkpoint_in_the_same_commit_as_its_end(
    journal: Journal,
) -> None:
    # Between the last node's checkpoint and the execution's end nothing has an
    # effect, so the two go in one group commit: a crash keeps both or neither.
    agent = build([node("a", output_keys=["x"]), node("b", output_keys=["y"])], [edge("a", "b")])
    commits: list[list[str]] = []
    write = journal.store.write

    async def counting(batch: Any) -> None:
        commits.append([e.type.value for e in batch.events])
        await write(batch)

    journal.store.write = counting  # type: ignore[method-assign]
    record, events = await run(
        agent, journal, {"a": lambda ctx: {"x": 1}, "b": lambda ctx: {"y": 2}}
    )
    assert record.status is ExecutionStatus.COMPLETED
    last = commits[-1]
    assert last[-2:] == ["checkpoint_written", "execution_completed"]
    # The checkpoint after the first node still commits before the second runs.
    assert any(c[-1] == "checkpoint_written" for c in commits[:-1])
    assert [e.type for e in events].count(EventType.CHECKPOINT_WRITTEN) == 2
