"""The edge-condition language: what it evaluates, and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from hive_mcp.errors import ExpressionError
from hive_mcp.graph import compile_expression


@pytest.mark.parametrize(
    ("source", "memory", "expected"),
    [
        ("approved", {"approved": True}, True),
        ("not approved", {}, True),  # unset keys read as None
        ("score >= 0.5 and len(items) > 1", {"score": 0.7, "items": [1, 2]}, True),
        ("score >= 0.5 or fallback", {"score": 0.1, "fallback": 0}, False),
        ("'urgent' in labels", {"labels": ["bug", "urgent"]}, True),
        ("result['status'] == 'ok'", {"result": {"status": "ok"}}, True),
        ("items[-1] == 3", {"items": [1, 2, 3]}, True),
        ("items[1:] == [2, 3]", {"items": [1, 2, 3]}, True),
        ("1 < n <= 3", {"n": 3}, True),
        ("1 < n <= 3", {"n": 4}, False),
        ("lower(name) == 'ada'", {"name": "ADA"}, True),
        ("reason is None", {}, True),
        ("(n % 2 == 0) if n else False", {"n": 4}, True),
        ("max(a, b) - min(a, b) == 3", {"a": 1, "b": 4}, True),
        ("{'k': 1}['k'] + -n", {"n": 1}, 0),
    ],
)
def test_conditions_evaluate_against_memory(
    source: str, memory: dict[str, Any], expected: Any
) -> None:
    assert compile_expression(source).evaluate(memory) == expected


def test_a_condition_lists_the_memory_keys_it_reads() -> None:
    assert compile_expression("len(items) > limit and ok").names == {"items", "limit", "ok"}


@pytest.mark.parametrize(
    "source",
    [
        "x.__class__",
        "open('f')",
        "(lambda: 1)()",
        "[y for y in x]",
        "x := 1",
        "{**x}",
        "f'{x}'",
        "len(*x)",
        "len(x=1)",
        "2 ** 8",
        "x @ y",
        "b'bytes'",
    ],
)
def test_anything_outside_the_whitelist_is_refused_at_compile_time(source: str) -> None:
    with pytest.raises(ExpressionError, match=r"which conditions do not allow|does not parse"):
        compile_expression(source)


def test_run_time_errors_name_the_condition() -> None:
    with pytest.raises(ExpressionError, match=r"condition 'n > 3' failed: TypeError"):
        compile_expression("n > 3").evaluate({"n": "x"})


def test_huge_repetition_is_refused_instead_of_exhausting_memory() -> None:
    with pytest.raises(ExpressionError, match="repeating a sequence"):
        compile_expression("'x' * 100000000 == ''").evaluate({})
