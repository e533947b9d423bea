"""Every load-time validation problem, with the message a user sees."""

from __future__ import annotations

from typing import Any

import pytest

from hive_mcp.errors import AgentFileError
from tests.support import build, edge, node


def problems_of(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]], **graph: Any
) -> list[str]:
    with pytest.raises(AgentFileError) as info:
        build(nodes, edges, **graph)
    return info.value.problems


def test_a_sound_graph_has_no_problems() -> None:
    agent = build([node("a"), node("b")], [edge("a", "b")])
    assert agent.name == "test"


def test_duplicate_node_ids_are_refused() -> None:
    assert problems_of([node("a"), node("a"), node("b")], [edge("a", "b")]) == [
        "node id 'a' is used by 2 nodes; node ids must be unique"
    ]


def test_edges_to_unknown_nodes_name_the_edge_and_the_known_nodes() -> None:
    problems = problems_of([node("a"), node("b")], [edge("a", "b"), edge("a", "ghost")])
    assert problems == [
        "edge a -> ghost: target names unknown node 'ghost'; known nodes: ['a', 'b']"
    ]


def test_unknown_entry_and_terminal_nodes_are_refused() -> None:
    problems = problems_of(
        [node("a"), node("b")], [edge("a", "b")], entry_node="start", terminal_nodes=["finish"]
    )
    assert problems == [
        "entry_node names unknown node 'start'; known nodes: ['a', 'b']",
        "terminal_nodes names unknown node 'finish'; known nodes: ['a', 'b']",
    ]


def test_an_entry_point_naming_an_unknown_node_is_refused() -> None:
    problems = problems_of(
        [node("a"), node("b")],
        [edge("a", "b")],
        entry_points=[{"id": "hook", "entry_node": "nowhere", "trigger": "webhook"}],
    )
    assert problems == [
        "entry point 'hook': entry_node names unknown node 'nowhere'; known nodes: ['a', 'b']"
    ]


def test_an_input_key_nothing_provides_is_refused_as_a_likely_typo() -> None:
    problems = problems_of(
        [node("greet", ["name"], ["greeting"]), node("count", ["greting"], ["length"])],
        [edge("greet", "count")],
        input_schema={"type": "object", "properties": {"name": {"type": "string"}}},
    )
    assert problems == [
        "node 'count' reads input keys ['greting'], which no node outputs and the input does "
        "not declare; fix the name, or add the key to an output_keys or input_schema "
        "(known keys: ['greeting', 'length', 'name'])"
    ]


def test_input_keys_given_by_an_entry_point_or_an_edge_mapping_are_provided() -> None:
    build(
        [node("a", ["x"], ["y"]), node("side", ["topic"], ["y2"]), node("b", ["z", "fixed"])],
        [edge("a", "b", input_mapping={"z": "y"}), edge("side", "b")],
        entry_points=[
            {"id": "hook", "trigger": "webhook", "entry_node": "side"},
            {
                "id": "tick",
                "trigger": "timer",
                "config": {"interval_seconds": 60, "input": {"fixed": 1}},
            },
        ],
    )


def test_unreachable_nodes_are_refused() -> None:
    problems = problems_of(
        [node("a"), node("island"), node("b")], [edge("a", "b"), edge("island", "b")]
    )
    assert problems == [
        "node 'island' is unreachable from the entry node 'a'; add an edge to it or remove it"
    ]


def test_nodes_with_no_path_to_a_terminal_node_are_refused() -> None:
    problems = problems_of(
        [node("a"), node("dead_end"), node("b")],
        [edge("a", "b"), edge("a", "dead_end", priority=1)],
    )
    assert problems == [
        "node 'dead_end' has no path to a terminal node ['b']; "
        "add an edge onward or list it in terminal_nodes"
    ]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("score >", "condition 'score >' does not parse: invalid syntax"),
        ("__import__('os')", "uses a call to '__import__', which conditions do not allow"),
        ("score.real > 1", "uses attribute access ('.real'), which conditions do not allow"),
        ("[x for x in score]", "uses ListComp syntax, which conditions do not allow"),
        ("score ** 2 > 4", "uses the operator Pow, which conditions do not allow"),
        ("(lambda: 1)()", "uses a call to"),
    ],
)
def test_conditions_that_do_not_parse_or_use_disallowed_syntax_are_refused(
    expression: str, message: str
) -> None:
    problems = problems_of(
        [node("a", [], ["score"]), node("b")], [edge("a", "b", expression=expression)]
    )
    assert len(problems) == 1
    assert problems[0].startswith("edge a -> b: ")
    assert message in problems[0]


def test_conditions_reading_keys_no_node_writes_are_refused() -> None:
    problems = problems_of(
        [node("a", [], ["score"]), node("b")], [edge("a", "b", expression="scroe > 1")]
    )
    assert problems == [
        "edge a -> b: condition 'scroe > 1' reads ['scroe'], which no node outputs and the "
        "input does not declare; known keys: ['score']"
    ]


def test_a_conditional_edge_needs_an_expression_and_others_must_not_have_one() -> None:
    problems = problems_of(
        [node("a", [], ["ok"]), node("b")],
        [
            edge("a", "b", condition="conditional"),
            edge("a", "b", condition="always", expression="ok"),
        ],
    )
    assert problems == [
        "edge a -> b is conditional but has no expression; add one, like 'score > 0.5'",
        "edge a -> b has an expression but condition 'always'; "
        "use condition: conditional or drop the expression",
    ]


def test_overlapping_output_keys_among_parallel_branches_are_refused() -> None:
    problems = problems_of(
        [
            node("split"),
            node("left", [], ["summary"]),
            node("right", [], ["summary"]),
            node("join"),
        ],
        [
            edge("split", "left"),
            edge("split", "right"),
            edge("left", "join"),
            edge("right", "join"),
        ],
    )
    assert problems == [
        "fan-out from 'split' to ['left', 'right'] (joining at 'join'): parallel branches "
        "'left' (node 'left') and 'right' (node 'right') both write 'summary'; give each "
        "branch its own output key, or if these edges never fire together, give them "
        "different priorities"
    ]


def test_exclusive_routes_with_distinct_priorities_may_write_the_same_key() -> None:
    build(
        [
            node("split", [], ["ok"]),
            node("left", [], ["summary"]),
            node("right", [], ["summary"]),
            node("join"),
        ],
        [
            edge("split", "left", expression="ok", priority=1),
            edge("split", "right"),
            edge("left", "join"),
            edge("right", "join"),
        ],
    )


def test_more_than_one_client_facing_node_in_one_fanout_is_refused() -> None:
    problems = problems_of(
        [
            node("split"),
            node("ask_a", client_facing=True),
            node("ask_b", client_facing=True),
            node("join"),
        ],
        [
            edge("split", "ask_a"),
            edge("split", "ask_b"),
            edge("ask_a", "join"),
            edge("ask_b", "join"),
        ],
    )
    assert problems == [
        "fan-out from 'split' to ['ask_a', 'ask_b'] (joining at 'join'): 2 client-facing nodes "
        "['ask_a', 'ask_b'] in one fan-out would ask the user at the same time; keep at most "
        "one client-facing node per fan-out"
    ]


def test_a_loop_whose_nodes_cannot_be_revisited_is_refused() -> None:
    problems = problems_of(
        [node("draft", max_node_visits=3), node("check", [], ["ok"]), node("done")],
        [
            edge("draft", "check"),
            edge("check", "draft", expression="not ok"),
            edge("check", "done"),
        ],
    )
    assert problems == [
        "feedback edge check -> draft: nodes ['check'] on this loop have max_node_visits 1, "
        "so the loop can never run; raise max_node_visits on them (or in defaults)"
    ]


def test_edges_leaving_a_terminal_node_are_refused() -> None:
    problems = problems_of(
        [node("a"), node("b", max_node_visits=2), node("c", max_node_visits=2)],
        [edge("a", "b"), edge("b", "c"), edge("c", "b", expression="True")],
        terminal_nodes=["b", "c"],
    )
    assert problems == [
        "edge b -> c: 'b' is a terminal node, so this edge would never be followed; "
        "remove the edge or take the node out of terminal_nodes",
        "edge c -> b: 'c' is a terminal node, so this edge would never be followed; "
        "remove the edge or take the node out of terminal_nodes",
    ]


def test_function_nodes_must_name_an_importable_callable() -> None:
    problems = problems_of(
        [
            {**node("a"), "function": None},
            {**node("b"), "function": "no_colon"},
            {**node("c"), "function": "tests.support:missing"},
            {**node("d"), "function": "surely_not_a_module_x:f"},
            node("e"),
        ],
        [edge("a", "b"), edge("b", "c"), edge("c", "d"), edge("d", "e")],
    )
    assert (
        problems[0]
        == "node 'a' is a function node but has no 'function'; set it to 'module:callable'"
    )
    assert problems[1] == "node 'b': function 'no_colon' must look like 'module:callable'"
    assert problems[2] == (
        "node 'c': function 'tests.support:missing': "
        "module 'tests.support' has no attribute 'missing'"
    )
    assert problems[3].startswith(
        "node 'd': function 'surely_not_a_module_x:f': cannot import module 'surely_not_a_module_x'"
    )


def test_nullable_output_keys_must_be_output_keys() -> None:
    problems = problems_of(
        [node("a", [], ["x"], nullable_output_keys=["y"]), node("b")], [edge("a", "b")]
    )
    assert problems == [
        "node 'a': nullable_output_keys ['y'] are not in its output_keys; "
        "add them to output_keys or remove them"
    ]


def test_an_invalid_input_schema_is_refused() -> None:
    problems = problems_of(
        [node("a"), node("b")], [edge("a", "b")], input_schema={"type": "objekt"}
    )
    assert len(problems) == 1
    assert problems[0].startswith("input_schema is not a valid JSON Schema: ")


def test_all_problems_are_reported_at_once() -> None:
    problems = problems_of(
        [node("a", [], ["x"], nullable_output_keys=["y"]), node("b")],
        [edge("a", "b", expression="nope")],
    )
    assert len(problems) == 2
