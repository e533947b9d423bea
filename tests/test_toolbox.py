"""LLM nodes using MCP tool servers: lazily started, shared, restarted, never fatal."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from hive_mcp.errors import ToolServerError
from hive_mcp.events import EventType
from hive_mcp.graph import GraphExecutor
from hive_mcp.llm._scripted import ScriptedProvider, ScriptedTurn, call, say
from hive_mcp.store import ExecutionStatus, Journal
from hive_mcp.toolbox import ServerConfig, Toolbox
from tests.support import build

pytestmark = pytest.mark.anyio
FAULTY = str(Path(__file__).parent / "tool_servers" / "faulty.py")
SECRET = "s3cr3t-value-4242"


@pytest.fixture
async def toolbox() -> AsyncIterator[Toolbox]:
    servers = {
        "faulty": ServerConfig(
            command=sys.executable,
            args=[FAULTY],
            env={"SECRET_TOKEN": "${TEST_SECRET}"},
            # The start shares this timeout: under load (2 busy cores) a Python server
            # can take over 3 s to answer its handshake, so no less than this.
            timeout_seconds=10,
        ),
        "ghost": ServerConfig(command="/nonexistent/tool-server", timeout_seconds=3),
    }
    async with Toolbox(servers, env={"TEST_SECRET": SECRET, "PATH": "/usr/bin:/bin"}) as tb:
        yield tb


async def run_node(
    journal: Journal,
    tmp_path: Path,
    toolbox: Toolbox,
    tools: list[str],
    turns: list[ScriptedTurn | str],
) -> tuple[Any, list[Any], ScriptedProvider]:
    provider = ScriptedProvider.from_turns(
        {"*": [*turns, call("set_output", key="x", value=1), say("done")]}
    )
    agent = build(
        [
            {
                "id": "n",
                "type": "event_loop",
                "output_keys": ["x"],
                "tools": tools,
                "max_iterations": 20,
            }
        ],
        [],
    )
    ex = GraphExecutor(
        agent, journal, providers=lambda m, a: provider, data_dir=tmp_path, toolbox=toolbox
    )
    with anyio.fail_after(60):
        record = await ex.run({})
    return record, await journal.read(record.id, limit=10_000), provider


def results(provider: ScriptedProvider) -> list[str]:
    last = provider.requests[-1]
    return [m.content for m in last.messages if m.role == "tool"]


def statuses(events: list[Any]) -> list[tuple[str, str]]:
    return [
        (e.data["data"].get("server"), e.data["status"])
        for e in events
        if e.type is EventType.STATUS and e.data["name"] == "tool_server"
    ]


async def test_a_node_uses_the_tools_of_a_server_started_on_first_use(
    journal: Journal, tmp_path: Path, toolbox: Toolbox
) -> None:
    record, events, provider = await run_node(
        journal, tmp_path, toolbox, ["faulty.echo"], [call("echo", text="hi")]
    )
    assert record.status is ExecutionStatus.COMPLETED, record.error
    assert results(provider)[0] == "echo: hi"
    assert {t.name for t in provider.requests[0].tools} == {"echo", "set_output", "load_data"}
    assert statuses(events) == [("faulty", "started")]


async def run_step(
    journal: Journal, tmp_path: Path, toolbox: Toolbox, step: str, **settings: Any
) -> tuple[Any, list[Any]]:
    """Run a one-node agent whose function step is ``step`` of this module."""
    node = {"id": "n", "type": "function", "function": f"tests.test_toolbox:{step}"}
    agent = build([{**node, "output_keys": ["x"], **settings}], [])
    ex = GraphExecutor(agent, journal, data_dir=tmp_path, toolbox=toolbox)
    with anyio.fail_after(60):
        record = await ex.run({})
    return record, await journal.read(record.id, limit=10_000)


async def echo_then_fail_once(ctx: Any) -> dict[str, Any]:
    """A step that calls a tool, then fails on its first attempt (after the call)."""
    said = await ctx.call_tool("faulty.echo", {"text": "once"})
    if ctx.attempt == 1:
        raise RuntimeError("lost after the call")
    return {"x": said}


async def test_a_step_calls_a_tool_once_even_when_it_is_retried_after_the_call(
    journal: Journal, tmp_path: Path, toolbox: Toolbox
) -> None:
    record, events = await run_step(
        journal, tmp_path, toolbox, "echo_then_fail_once", max_retries=1, retry_backoff_seconds=0
    )
    assert record.status is ExecutionStatus.COMPLETED, record.error
    assert record.output == {"x": "echo: once"}
    assert [e.type for e in events].count(EventType.NODE_RETRYING) == 1
    calls = [e.data for e in events if e.type is EventType.TOOL_CALL_COMPLETED]
    assert calls == [  # logged like a model's call, and made once
        {
            "tool_call_id": calls[0]["tool_call_id"],
            "name": "faulty.echo",
            "is_error": False,
            "result": "echo: once",
        }
    ]


async def test_a_step_sees_a_failing_tool_as_a_tool_server_error_and_it_is_logged(
    journal: Journal, tmp_path: Path, toolbox: Toolbox
) -> None:
    record, events = await run_step(journal, tmp_path, toolbox, "call_ghost")
    assert record.output is not None and "did not start" in record.output["x"]
    [logged] = [e.data for e in events if e.type is EventType.TOOL_CALL_COMPLETED]
    assert logged["is_error"] is True and logged["name"] == "ghost.anything"


async def call_ghost(ctx: Any) -> dict[str, Any]:
    try:
        await ctx.call_tool("ghost.anything", {})
    except ToolServerError as exc:
        return {"x": str(exc)}
    raise AssertionError("a server that never starts answered")


async def test_a_server_that_crashes_mid_call_gives_a_tool_error_and_is_restarted(
    journal: Journal, tmp_path: Path, toolbox: Toolbox
) -> None:
    record, events, provider = await run_node(
        journal, tmp_path, toolbox, ["faulty"], [call("crash"), call("echo", text="after")]
    )
    assert record.status is ExecutionStatus.COMPLETED, record.error
    crashed, after = results(provider)[:2]
    assert crashed.startswith("Error: tool server 'faulty' failed during crash:")
    assert "started again on the next call" in crashed
    assert after == "echo: after"
    assert statuses(events) == [("faulty", "started"), ("faulty", "failed"), ("faulty", "started")]


async def test_a_server_that_hangs_past_its_timeout_gives_a_tool_error_and_the_next_call_works(
    journal: Journal, tmp_path: Path, toolbox: Toolbox
) -> None:
    record, _, provider = await run_node(
        journal, tmp_path, toolbox, ["faulty"], [call("hang"), call("echo", text="still here")]
    )
    assert record.status is ExecutionStatus.COMPLETED, record.error
    hung, after = results(provider)[:2]
    assert "failed during hang" in hung and "10 s" in hung
    assert after == "echo: still here"


async def test_a_malformed_result_is_a_tool_error(
    journal: Journal, tmp_path: Path, toolbox: Toolbox
) -> None:
    record, _, provider = await run_node(
        journal, tmp_path, toolbox, ["faulty"], [call("malformed"), call("echo", text="ok")]
    )
    assert record.status is ExecutionStatus.COMPLETED, record.error
    bad, good = results(provider)[:2]
    assert bad.startswith("Error: tool server 'faulty' failed during malformed")
    assert good == "echo: ok"


async def test_a_server_that_never_starts_does_not_fail_the_run(
    journal: Journal, tmp_path: Path, toolbox: Toolbox
) -> None:
    record, events, provider = await run_node(
        journal,
        tmp_path,
        toolbox,
        ["ghost.lookup", "faulty.echo"],
        [call("lookup", q="x"), call("echo", text="fine")],
    )
    assert record.status is ExecutionStatus.COMPLETED, record.error
    offered = {t.name: t.description for t in provider.requests[0].tools}
    assert offered["lookup"].startswith("Unavailable right now (tool server 'ghost' did not start")
    ghost_call, echo_result = results(provider)[:2]
    assert ghost_call.startswith("Error: tool server 'ghost' did not start")
    assert echo_result == "echo: fine"
    assert ("ghost", "failed_to_start") in statuses(events)


async def test_an_unknown_server_fails_the_node_naming_the_known_ones(
    journal: Journal, tmp_path: Path, toolbox: Toolbox
) -> None:
    record, _, _ = await run_node(journal, tmp_path, toolbox, ["nowhere"], [])
    assert record.status is ExecutionStatus.FAILED
    assert "no tool server 'nowhere' in the mcpServers configuration; known: faulty, ghost" in (
        record.error or ""
    )


async def test_a_secret_from_env_expansion_appears_in_no_event_result_or_log(
    journal: Journal, tmp_path: Path, toolbox: Toolbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    record, events, provider = await run_node(
        journal, tmp_path, toolbox, ["faulty"], [call("show_secret"), call("crash")]
    )
    assert record.status is ExecutionStatus.COMPLETED
    assert results(provider)[0] == "my token is [redacted]"
    assert SECRET not in json.dumps([e.to_dict() for e in events])
    assert SECRET not in json.dumps([m.model_dump() for r in provider.requests for m in r.messages])
    assert SECRET not in caplog.text


async def test_a_missing_environment_variable_for_a_server_is_a_clear_tool_error(
    journal: Journal, tmp_path: Path
) -> None:
    servers = {
        "needs": ServerConfig(
            command=sys.executable, args=[FAULTY], env={"SECRET_TOKEN": "${NOT_SET_ANYWHERE}"}
        )
    }
    async with Toolbox(servers, env={}) as tb:
        record, _, provider = await run_node(
            journal, tmp_path, tb, ["needs.echo"], [call("echo", text="x")]
        )
    assert record.status is ExecutionStatus.COMPLETED, record.error
    assert (
        "uses ${NOT_SET_ANYWHERE}, but NOT_SET_ANYWHERE is not set in the environment"
        in results(provider)[0]
    )


async def test_tools_of_two_servers_with_one_name_are_told_apart(
    journal: Journal, tmp_path: Path
) -> None:
    twin = ServerConfig(command=sys.executable, args=[FAULTY])
    async with Toolbox({"a": twin, "b": twin}) as tb:
        tools = await tb.tools(["a.echo", "b.echo"])
        assert [t.name for t in tools] == ["a__echo", "b__echo"]
        assert await tools[1].call({"text": "from b"}) == "echo: from b"


def test_env_defaults_fill_in_and_empty_values_are_left_out() -> None:
    from hive_mcp.toolbox import Redactor, expand

    redactor = Redactor()
    env = {"API_TOKEN": "value-1"}
    assert (
        expand("${API_TOKEN}/${UNSET:-fallback}/${UNSET:-}", env=env, redactor=redactor, where="x")
        == "value-1/fallback/"
    )
    assert redactor("it was value-1") == "it was [redacted]"


def test_only_secret_looking_variables_and_headers_are_redacted() -> None:
    from hive_mcp.toolbox import Redactor, expand

    redactor = Redactor()
    env = {"SMTP_HOST": "mail.example.com", "SMTP_SECURITY": "starttls", "SMTP_PASSWORD": "pw-1234"}
    for name in env:
        expand(f"${{{name}}}", env=env, redactor=redactor, where="x")
    expand("Bearer ${SMTP_HOST}", env=env, redactor=redactor, where="x", secret=True)
    assert redactor("Support starttls; pw-1234") == "Support starttls; [redacted]"
    assert redactor("via mail.example.com") == "via [redacted]"  # it went into a header


def test_the_shipped_registry_loads_and_names_our_servers() -> None:
    from hive_mcp.toolbox import load_servers_file

    servers = load_servers_file(
        Path(__file__).resolve().parent.parent / "tools" / "mcp_servers.json"
    )
    assert set(servers) == {"filesystem", "email", "github"}
    assert servers["github"].args == ["tool-server", "github"]


# -- a tool server's stdout: what is not MCP is skipped, and before the handshake it is
# reported at once (the timeouts below are the real default; fail_after bounds how soon)


def _patient(*args: str) -> ServerConfig:
    return ServerConfig(
        command=sys.executable,
        args=[FAULTY, *args],
        env={"SECRET_TOKEN": "${TEST_SECRET}"},
        timeout_seconds=60,
    )


async def test_a_line_of_invalid_utf8_before_an_answer_is_skipped_and_the_answer_taken(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    async with Toolbox({"faulty": _patient()}, env={"TEST_SECRET": SECRET}) as tb:
        [tool] = await tb.tools(["faulty.garbage_then_echo"])
        with anyio.fail_after(20):  # far below the 60 s call timeout: no waiting for it
            first = await tool.call({"text": "one"})
            second = await tool.call({"text": "two"})
    assert (first, second) == ("echo: one", "echo: two")
    assert "tool server faulty printed a line that is not an MCP message" in caplog.text
    assert r"\xff\xfe\xfd not json at all" in caplog.text


async def test_a_server_printing_garbage_before_its_handshake_fails_at_once_saying_what(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with Toolbox({"noisy": _patient("--garbage-first")}, env={"TEST_SECRET": SECRET}) as tb:
        with anyio.fail_after(20), pytest.raises(ToolServerError) as caught:
            await tb.tools(["noisy"])
    said = str(caught.value)
    assert said.startswith("tool server 'noisy' did not start: it printed a line that is not ")
    assert r"\xff\xfe banner [redacted]" in said
    assert "stdout is for MCP messages only" in said
    assert re.search(r"after \d+\.\d s", said), said
    assert SECRET not in said and SECRET not in caplog.text


async def test_a_server_exiting_before_its_handshake_fails_at_once_with_its_exit_code() -> None:
    async with Toolbox({"quitter": _patient("--exit-first")}, env={"TEST_SECRET": SECRET}) as tb:
        with anyio.fail_after(20), pytest.raises(ToolServerError) as caught:
            await tb.tools(["quitter"])
    said = str(caught.value)
    assert said.startswith("tool server 'quitter' did not start: it exited with code 3 after ")
    assert "before answering its handshake" in said
