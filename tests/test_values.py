"""The storable-value check used at every door, and the cleaning used for outside data."""

from __future__ import annotations

import json

from hive_mcp._values import MAX_DEPTH, clean, clean_text, value_problem


def test_a_lone_surrogate_is_named_with_its_place() -> None:
    problem = value_problem({"text": "x\ud800y"})
    assert problem is not None
    assert problem.startswith("input.text contains a lone UTF-16 surrogate (U+D800) at character 1")


def test_a_surrogate_in_a_key_or_a_list_is_found() -> None:
    assert "a key in input.a" in str(value_problem({"a": {"b\udc80": 1}}))
    assert "input.items[1]" in str(value_problem({"items": ["ok", "a\udc80b"]}))


def test_nan_and_infinity_are_refused() -> None:
    assert "is nan" in str(value_problem({"x": float("nan")}))
    assert "is inf" in str(value_problem([float("inf")], "answer"))


def test_a_value_nested_too_deep_is_refused_without_recursion() -> None:
    deep: object = "leaf"
    for _ in range(10_000):
        deep = [deep]
    assert f"more than {MAX_DEPTH} levels" in str(value_problem(deep))


def test_valid_values_pass_including_non_bmp_text() -> None:
    assert value_problem({"text": "héllo 😀", "n": [1, 2.5, None, True]}) is None


def test_cleaning_replaces_lone_surrogates_and_keeps_the_rest() -> None:
    assert clean_text("a\ud800b😀") == "a\ufffdb😀"
    same = "plain"
    assert clean_text(same) is same
    cleaned = clean({"k\udc80": ["x\ud800", 1]})
    assert cleaned == {"k\ufffd": ["x\ufffd", 1]}
    json.dumps(cleaned, ensure_ascii=False).encode("utf-8")  # now encodable
