"""The bad-input battery, part three: what a tool server sends back.

A tool server is outside code: its answers may hold what the store cannot keep
(the JSON escape of a lone surrogate) or lines that are not JSON-RPC at all.
The call either gets the answer (cleaned) or a clear ToolServerError in time,
and the connection goes on serving.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hive_mcp.toolbox import ServerConfig, Toolbox

pytestmark = pytest.mark.anyio
RAW_ODD = str(Path(__file__).parent / "tool_servers" / "raw_odd.py")


@pytest.fixture
async def odd() -> AsyncIterator[dict[str, object]]:
    servers = {"odd": ServerConfig(command=sys.executable, args=[RAW_ODD], timeout_seconds=5)}
    async with Toolbox(servers) as toolbox:
        yield {t.name: t for t in await toolbox.tools(["odd"])}


async def test_a_raw_tool_server_answers_through_the_toolbox(odd: dict[str, object]) -> None:
    assert await odd["echo"].call({}) == "echo: plain"  # type: ignore[attr-defined]


async def test_a_line_of_invalid_utf8_before_an_answer_loses_nothing(
    odd: dict[str, object],
) -> None:
    assert await odd["garbage_then_echo"].call({}) == "echo: after garbage"  # type: ignore[attr-defined]
    assert await odd["echo"].call({}) == "echo: plain"  # type: ignore[attr-defined]


async def test_a_lone_surrogate_in_a_tool_answer_arrives_replaced(odd: dict[str, object]) -> None:
    assert await odd["surrogate_text"].call({}) == "a\ufffdb"  # type: ignore[attr-defined]
    assert await odd["echo"].call({}) == "echo: plain"  # type: ignore[attr-defined]
