"""JSON values that can be stored: the doors' check and the store's last resort.

Text reaches hive-mcp from callers (MCP tools, webhooks, the CLI), tool
servers, models and user code. SQLite, pydantic and JSON parsers other than
Python's refuse a lone UTF-16 surrogate (``"\\ud800"``, which Python's
``json.loads`` happily produces), and NaN or Infinity are not JSON at all.

- ``value_problem`` is for the doors: it names the first thing wrong with a
  caller's value (a lone surrogate, NaN or Infinity, nesting deeper than
  ``MAX_DEPTH``) with where it is, so the caller gets a clear error before
  anything is stored.
- ``clean_text`` and ``clean`` are for data from the rest of the world (a tool
  result, a model's text): they replace lone surrogates with U+FFFD, the
  replacement character, as a UTF-8 decoder does with bytes it cannot read.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from hive_mcp.errors import InputError

__all__ = ["MAX_DEPTH", "check_value", "clean", "clean_text", "value_problem"]

MAX_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


def _text_problem(text: str) -> str | None:
    if text.isascii():
        return None
    found = _SURROGATE.search(text)
    if found is None:
        return None
    return (
        f"contains a lone UTF-16 surrogate (U+{ord(found.group()):04X}) at character "
        f"{found.start()}; send valid Unicode text (a surrogate must be half of a pair)"
    )


def value_problem(value: Any, where: str = "input", *, max_depth: int = MAX_DEPTH) -> str | None:
    """What makes ``value`` unstorable, as a sentence naming the place; ``None`` if nothing.

    Walks without recursion, so a value nested far too deep is reported, not
    a ``RecursionError``.
    """
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem is not None:
                return f"{path} {problem}"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{path} is {item}, which JSON cannot carry; send a finite number or null"
        elif isinstance(item, dict | list | tuple):
            if depth >= max_depth:
                return f"{path} is nested more than {max_depth} levels deep; flatten it"
            if isinstance(item, dict):
                for key, child in item.items():
                    if isinstance(key, str) and (problem := _text_problem(key)) is not None:
                        return f"a key in {path} {problem}"
                    stack.append((child, f"{path}.{key}", depth + 1))
            else:
                for index, child in enumerate(item):
                    stack.append((child, f"{path}[{index}]", depth + 1))
    return None


def check_value(value: Any, what: str, max_bytes: int) -> None:
    """``InputError`` when ``value`` (an input or an answer) is unstorable or over ``max_bytes``.

    The one check of every door that stores what a caller sends.
    """
    problem = value_problem(value, what)
    if problem is not None:
        raise InputError(problem)
    if isinstance(value, str):
        size = len(value.encode("utf-8"))
    else:
        size = len(json.dumps(value, ensure_ascii=False, default=str).encode("utf-8"))
    if size > max_bytes:
        raise InputError(
            f"the {what} is {size} bytes, over the limit of {max_bytes} "
            "(HIVE_MCP_MAX_INPUT_BYTES); pass large data by reference (a path or URL) instead"
        )


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (the same object when none)."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub("\ufffd", text)


def clean(value: Any) -> Any:
    """A copy of a JSON-like value with lone surrogates replaced, in keys and strings."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k) if isinstance(k, str) else k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value
