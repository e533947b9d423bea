"""Goal progress across executions: Python, the CLI and the MCP resource."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourceUpdated
from mcp_types import INVALID_PARAMS

from hive_mcp.cli._main import main
from hive_mcp.errors import AgentFileError, UnknownAgentError, UsageError
from hive_mcp.events import EventType
from hive_mcp.graph import (
    Agent,
    AgentCatalog,
    GraphExecutor,
    SuccessCriterion,
    load_agent,
    parse_criterion,
)
from hive_mcp.runtime import AgentRuntime, GoalProgress, evaluate_goal
from hive_mcp.server import build_server, notify_resource_updates
from hive_mcp.store import ExecutionRecord, Journal
from tests import support
from tests.support import HANG

AGENTS = Path(__file__).resolve().parent / "agents"
REPO = AGENTS.parent.parent


@pytest.fixture
def agent() -> Agent:
    return load_agent(AGENTS / "goals" / "agent.yaml")


async def run_modes(journal: Journal, agent: Agent, *modes: str) -> list[ExecutionRecord]:
    executor = GraphExecutor(agent, journal)
    return [await executor.run({"mode": mode}) for mode in modes]


def criteria(progress: GoalProgress) -> dict[str, dict[str, Any]]:
    return {c.id: c.model_dump() for c in progress.criteria}


def constraints(progress: GoalProgress) -> dict[str, dict[str, Any]]:
    return {c.id: c.model_dump() for c in progress.constraints}


# -- evaluation ------------------------------------------------------------


@pytest.mark.anyio
async def test_executions_are_counted_by_status_and_each_criterion_measured_against_its_target(
    journal: Journal, agent: Agent
) -> None:
    await run_modes(journal, agent, "ok", "ok", "ok", "empty", "fail")
    GraphExecutor(agent, journal).create({"mode": "ok"})  # queued, never run: active
    await journal.flush()

    progress = await evaluate_goal(journal.store, agent.spec)

    assert progress.executions.model_dump() == {
        "total": 6,
        "completed": 4,
        "failed": 1,
        "cancelled": 0,
        "active": 1,
        "finished": 5,
    }
    assert progress.success_rate == 0.8
    found = criteria(progress)
    assert found["reliable"] | {"description": None} == {
        "id": "reliable",
        "description": None,
        "metric": "success_rate",
        "target": ">= 0.9",
        "value": 0.8,
        "status": "not_met",
        "progress": 0.8889,
        "weight": 2.0,
        "note": None,
    }
    # Three of the four completed runs answered something.
    assert (found["answered"]["value"], found["answered"]["status"]) == (0.75, "met")
    assert found["answered"]["progress"] == 1.0
    # Function nodes use no tokens: an at-most target is met.
    assert (found["cheap"]["value"], found["cheap"]["target"], found["cheap"]["status"]) == (
        0.0,
        "<= 1000",
        "met",
    )
    # Without a metric, a criterion follows the success rate, and the report says so.
    assert (found["style"]["status"], found["style"]["progress"]) == ("not_measured", 0.8)
    assert "no metric: its progress is the success rate" in found["style"]["note"]
    # Weighted mean: (2 * 0.8889 + 1 + 1 + 0.8) / 5.
    assert progress.overall_progress == 0.9156
    assert progress.recommendation == "needs_attention"
    assert progress.reason == "criterion 'reliable': success_rate is 0.8, target >= 0.9"
    assert all(c.violations == 0 for c in progress.constraints)


@pytest.mark.anyio
async def test_a_hard_constraint_violation_means_stop_and_review_and_names_the_last_execution(
    journal: Journal, agent: Agent
) -> None:
    records = await run_modes(journal, agent, "ok", "leak", "ok", "leak")

    progress = await evaluate_goal(journal.store, agent.spec)

    found = constraints(progress)
    assert found["no_secrets"] == {
        "id": "no_secrets",
        "description": "Never reveal a secret.",
        "kind": "hard",
        "violations": 2,
        "executions": 2,
        "last_execution_id": records[-1].id,
        "last_detail": "mode leak",
    }
    assert found["brief"]["violations"] == 0 and found["brief"]["last_execution_id"] is None
    assert progress.recommendation == "stop_and_review"
    assert progress.reason == (
        f"hard constraint 'no_secrets' was violated 2 times, last in {records[-1].id}: mode leak"
    )
    # The runs themselves completed: a violation is not a failure.
    assert progress.success_rate == 1.0


@pytest.mark.anyio
async def test_soft_and_undeclared_violations_need_attention_and_an_unknown_id_is_reported_as_such(
    journal: Journal, agent: Agent
) -> None:
    records = await run_modes(journal, agent, "ok", "long", "rogue")

    progress = await evaluate_goal(journal.store, agent.spec)

    found = constraints(progress)
    assert (found["brief"]["kind"], found["brief"]["violations"]) == ("soft", 1)
    assert found["made_up"] == {
        "id": "made_up",
        "description": None,
        "kind": "unknown",
        "violations": 1,
        "executions": 1,
        "last_execution_id": records[2].id,
        "last_detail": "mode rogue",
    }
    assert progress.recommendation == "needs_attention"
    assert "soft constraint 'brief' was violated 1 time" in progress.reason
    assert "undeclared constraint 'made_up' was reported 1 time; declare it" in progress.reason


@pytest.mark.anyio
async def test_every_criterion_met_and_no_violations_is_on_track(
    journal: Journal, agent: Agent
) -> None:
    await run_modes(journal, agent, "ok", "ok", "ok")

    progress = await evaluate_goal(journal.store, agent.spec)

    assert {c.id: c.status for c in progress.criteria} == {
        "reliable": "met",
        "answered": "met",
        "cheap": "met",
        "style": "not_measured",
    }
    assert progress.overall_progress == 1.0
    assert progress.recommendation == "on_track"
    assert progress.reason == (
        "3 of 3 finished executions completed; all 3 measured criteria met; "
        "no constraint violations"
    )


@pytest.mark.anyio
async def test_without_finished_executions_there_is_no_data(journal: Journal, agent: Agent) -> None:
    progress = await evaluate_goal(journal.store, agent.spec)
    assert progress.recommendation == "no_data"
    assert progress.reason == "no finished executions yet"
    assert progress.executions.total == 0
    assert progress.success_rate is None and progress.overall_progress is None
    assert {c.status for c in progress.criteria} == {"not_measured"}
    assert {c.progress for c in progress.criteria} == {None}

    GraphExecutor(agent, journal).create({"mode": "ok"})
    await journal.flush()
    progress = await evaluate_goal(journal.store, agent.spec)
    assert progress.recommendation == "no_data"
    assert progress.reason == "no finished executions yet (1 still active)"


@pytest.mark.anyio
async def test_a_high_failure_rate_needs_attention_even_when_the_goal_has_no_criteria(
    journal: Journal,
) -> None:
    bare = support.build([support.node("a", outputs=["x"])], [], goal={"description": "Do a."})

    def flaky(ctx: Any, **_: Any) -> dict[str, Any]:
        raise ValueError("flaky")

    await support.run(bare, journal, {"a": lambda ctx: {"x": 1}})
    for _ in range(2):
        await support.run(bare, journal, {"a": flaky})

    progress = await evaluate_goal(journal.store, bare.spec)

    assert progress.criteria == []
    assert progress.overall_progress == progress.success_rate == 0.3333
    assert "the goal has no success criteria: overall progress is the success rate" in (
        progress.notes
    )
    assert progress.recommendation == "needs_attention"
    assert progress.reason == "2 of 3 finished executions failed"


@pytest.mark.anyio
async def test_only_the_newest_executions_in_the_window_are_counted(
    journal: Journal, agent: Agent
) -> None:
    await run_modes(journal, agent, "fail", "ok", "ok")

    progress = await evaluate_goal(journal.store, agent.spec, limit=2)

    assert (progress.executions.total, progress.executions.failed) == (2, 0)
    assert progress.window == 2
    assert "only the newest 2 executions are counted" in progress.notes
    with pytest.raises(UsageError, match="limit must be between 1 and"):
        await evaluate_goal(journal.store, agent.spec, limit=0)


@pytest.mark.anyio
async def test_a_spec_built_in_python_without_validation_still_gets_a_clear_error(
    journal: Journal,
) -> None:
    goal = {"success_criteria": [{"id": "x", "description": "d", "metric": "nope", "target": 1}]}
    unchecked = support.build([support.node("a")], [], validate=False, goal=goal)
    with pytest.raises(UsageError, match="goal: success criterion 'x': unknown metric 'nope'"):
        await evaluate_goal(journal.store, unchecked.spec)


def test_at_most_targets_count_progress_the_other_way_round() -> None:
    def target(metric: str, value: Any) -> Any:
        measured = parse_criterion(
            SuccessCriterion(id="c", description="", metric=metric, target=value)
        )
        assert measured is not None
        return measured.target

    tokens = target("avg_tokens", 1000)
    assert str(tokens) == "<= 1000"
    assert (tokens.progress(500), tokens.progress(2000)) == (1.0, 0.5)
    # A spelt-out comparison wins over the metric's own direction.
    failures = target("failure_rate", ">= 0.1")
    assert str(failures) == ">= 0.1" and failures.met(0.2)
    assert target("completed_count", 10).progress(4) == 0.4


# -- load-time checks ------------------------------------------------------


@pytest.mark.parametrize(
    ("criterion", "message"),
    [
        (
            "{id: fast, description: d, metric: speed, target: 1}",
            "goal: success criterion 'fast': unknown metric 'speed'; known metrics: "
            "success_rate, failure_rate, completed_count, output_present:<key>, avg_tokens",
        ),
        (
            "{id: s, description: d, metric: success_rate}",
            "metric 'success_rate' needs a target, like target: 0.9",
        ),
        (
            "{id: s, description: d, metric: success_rate, target: 90}",
            "target 90: success_rate is a share between 0 and 1 (0.9 means 90%)",
        ),
        (
            "{id: s, description: d, metric: avg_tokens, target: lots}",
            "target 'lots' is not a number or a comparison like '>= 10' / '<= 10'",
        ),
        (
            "{id: s, description: d, metric: output_present, target: 0.5}",
            "unknown metric 'output_present'",
        ),
        (
            "{id: s, description: d, metric: 'output_present:nope', target: 0.5}",
            "reads output key 'nope', which no terminal node writes; the output has ['x']",
        ),
        (
            "{id: s, description: d, target: 0.5}",
            "sets target 0.5 but no metric; add a metric",
        ),
    ],
)
def test_a_bad_goal_metric_is_refused_at_load_with_a_message_that_says_what_to_write(
    tmp_path: Path, criterion: str, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\nentry_node: a\nterminal_nodes: [a]\n"
        f"goal: {{success_criteria: [{criterion}]}}\n"
        "nodes: [{id: a, type: function, function: 'tests.support:placeholder', output_keys: [x]}]\n"
    )
    with pytest.raises(AgentFileError) as caught:
        load_agent(path)
    assert message in str(caught.value)


def test_duplicate_criterion_and_constraint_ids_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dupes.yaml"
    path.write_text(
        "name: dupes\nentry_node: a\nterminal_nodes: [a]\n"
        "goal: {success_criteria: [{id: c, description: one}, {id: c, description: two}],"
        " constraints: [{id: k, description: one}, {id: k, description: two}]}\n"
        "nodes: [{id: a, type: function, function: 'tests.support:placeholder'}]\n"
    )
    with pytest.raises(AgentFileError) as caught:
        load_agent(path)
    assert "success criterion ids ['c'] are used more than once" in str(caught.value)
    assert "constraint ids ['k'] are used more than once" in str(caught.value)


# -- the runtime and the MCP resource --------------------------------------


@pytest.fixture
async def runtime(journal: Journal, agent: Agent, tmp_path: Path) -> AsyncIterator[AgentRuntime]:
    catalog = AgentCatalog()
    catalog.add(agent)
    async with AgentRuntime(catalog, journal, data_dir=tmp_path) as rt:
        yield rt


async def finish(runtime: AgentRuntime, mode: str) -> None:
    record = await runtime.start("goals", {"mode": mode})
    with runtime.journal.bus.subscribe(
        [EventType.EXECUTION_COMPLETED, EventType.EXECUTION_FAILED], execution_id=record.id
    ) as ends:
        if not (await runtime.get_execution(record.id)).status.is_final:
            with anyio.fail_after(HANG):
                await ends.receive()


@pytest.mark.anyio
async def test_the_runtime_evaluates_an_agent_by_name_and_refuses_unknown_ones(
    runtime: AgentRuntime,
) -> None:
    for mode in ("ok", "fail"):
        await finish(runtime, mode)
    progress = await runtime.goal_progress("goals")
    assert (progress.executions.completed, progress.executions.failed) == (1, 1)
    with pytest.raises(UnknownAgentError, match="no agent 'nope'; known agents: goals"):
        await runtime.goal_progress("nope")


@pytest.mark.anyio
async def test_the_goal_resource_reads_as_json_through_an_mcp_client(
    runtime: AgentRuntime,
) -> None:
    for mode in ("ok", "leak"):
        await finish(runtime, mode)
    async with Client(build_server(runtime)) as client:
        templates = (await client.list_resource_templates()).resource_templates
        assert "hive://agents/{name}/goal" in {t.uri_template for t in templates}
        content = (await client.read_resource("hive://agents/goals/goal")).contents[0]
        with pytest.raises(MCPError) as caught:
            await client.read_resource("hive://agents/nope/goal")
    assert content.mime_type == "application/json"
    data = json.loads(content.text)  # type: ignore[union-attr]
    assert data["agent"] == "goals"
    assert data["executions"]["completed"] == 2
    assert data["recommendation"] == "stop_and_review"
    assert {c["id"]: c["violations"] for c in data["constraints"]} == {
        "no_secrets": 1,
        "brief": 0,
    }
    assert caught.value.error.code == INVALID_PARAMS
    assert "no agent 'nope'" in caught.value.error.message


@pytest.mark.anyio
async def test_listeners_hear_when_an_execution_changes_the_agents_goal_progress(
    runtime: AgentRuntime,
) -> None:
    updates = InMemorySubscriptionBus()
    uri = "hive://agents/goals/goal"
    async with anyio.create_task_group() as tg:
        tg.start_soon(notify_resource_updates, runtime, updates)
        async with (
            Client(build_server(runtime, subscriptions=updates)) as client,
            client.listen(resource_subscriptions=[uri]) as listener,
        ):
            await finish(runtime, "ok")
            with anyio.fail_after(HANG):
                async for event in listener:
                    if isinstance(event, ResourceUpdated) and event.uri == uri:
                        break
        tg.cancel_scope.cancel()


# -- the command line ------------------------------------------------------


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HIVE_MCP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HIVE_MCP_AGENTS", str(AGENTS))
    monkeypatch.chdir(REPO)
    return tmp_path / "home"


def run_cli(*modes: str) -> None:
    for mode in modes:
        expected = 1 if mode == "fail" else 0
        assert main(["run", "goals", "--quiet", "--input", json.dumps({"mode": mode})]) == expected


def test_the_goal_command_prints_a_readable_table(
    cli_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_cli("ok", "ok", "fail", "leak")
    capsys.readouterr()

    assert main(["goal", "goals"]) == 0

    out = capsys.readouterr().out
    assert "goal of goals: Answer every request without leaking secrets." in out
    assert "executions: 4 (completed 3, failed 1, cancelled 0, active 0)" in out
    assert "success rate: 75%, overall progress: 88%" in out
    assert "not_met      reliable    success_rate = 0.75 (target >= 0.9), progress 83%" in out
    assert "not_measured style       no metric (follows the success rate), progress 75%" in out
    assert "hard         no_secrets  1 violation in 1 execution, last in ex_" in out
    assert "soft         brief       no violations" in out
    assert "recommendation: stop_and_review (hard constraint 'no_secrets' was violated" in out


def test_the_goal_command_prints_json_for_programs(
    cli_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_cli("ok", "empty")
    capsys.readouterr()

    assert main(["goal", "goals", "--json", "--limit", "5"]) == 0

    data = json.loads(capsys.readouterr().out)
    assert data["window"] == 5
    assert data["executions"]["completed"] == 2
    assert {c["id"]: c["value"] for c in data["criteria"]}["answered"] == 0.5
    assert data["recommendation"] == "on_track"


def test_the_goal_command_with_an_unknown_agent_exits_2_with_one_line(
    cli_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["goal", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no agent 'nope' in ")
    assert err.count("\n") == 1 and "Traceback" not in err
