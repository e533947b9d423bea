"""Goal progress across executions: Python, the CLI and the MCP resource."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hive_mcp.errors import AgentFileError
from hive_mcp.graph import SuccessCriterion, load_agent, parse_criterion

# -- goal metrics ----------------------------------------------------------


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
