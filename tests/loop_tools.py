"""Python tools used by the event-loop tests (named as 'tests.loop_tools:NAME')."""

from __future__ import annotations

from typing import Any

import anyio

from hive_mcp.events import emit_status
from tests.support import HANG

CALLS: list[str] = []
GATES: dict[str, anyio.Event] = {}


def lookup(query: str, limit: int = 3) -> dict[str, Any]:
    """Look something up."""
    CALLS.append(f"lookup:{query}")
    return {"query": query, "hits": [f"{query}-{i}" for i in range(limit)]}


async def meet_a() -> str:
    """Wait until meet_b has started too: proves the two run in parallel."""
    GATES["a"].set()
    with anyio.fail_after(HANG):
        await GATES["b"].wait()
    return "a met b"


async def meet_b() -> str:
    """Wait until meet_a has started too."""
    GATES["b"].set()
    with anyio.fail_after(HANG):
        await GATES["a"].wait()
    return "b met a"


def big_report(size: int) -> str:
    """Return a large text."""
    return "".join(f"line {i:05d}\n" for i in range(size))


def indexing(corpus: str) -> str:
    """A long operation that reports its progress."""
    emit_status("indexing", "started", {"corpus": corpus})
    emit_status("indexing", "completed", {"documents": 3})
    return "indexed"


async def hang() -> str:
    """Block until cancelled."""
    CALLS.append("hang")
    await anyio.sleep_forever()
    return "never"


def no_refunds(tool: str, arguments: dict[str, Any]) -> str | None:
    """A guard: refuses refunds."""
    return "refunds need a human" if tool == "refund" else None


def refund(amount: int) -> str:
    """Refund money."""
    CALLS.append(f"refund:{amount}")
    return "refunded"


def picky_judge(turn: Any) -> tuple[str, str] | str:
    """Escalate whenever the output says so."""
    if turn.outputs.get("answer") == "unsure":
        return ("ESCALATE", "the model is unsure")
    return "ACCEPT" if not turn.missing_outputs and not turn.tool_call_count else "CONTINUE"


def unpaired() -> str:
    """Return text with a lone surrogate, as a tool server's JSON escape can produce."""
    return "bad \ud800 text"
