"""Operator commands on the store a server uses: list, follow, answer, cancel, with or without it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from hive_mcp.cli._main import main
from hive_mcp.errors import RunError
from hive_mcp.events import EventType
from hive_mcp.graph import load_catalog
from hive_mcp.runtime import AgentRuntime, send_command
from hive_mcp.runtime._presence import HOST
from hive_mcp.store import (
    CommandKind,
    ExecutionStatus,
    Journal,
    RuntimeInfo,
    RuntimeRole,
    SQLiteStore,
)
from tests.support import HANG, free_port
from tests.test_mcp_server import call, follow
from tests.test_runtime import until
from tests.test_transports import http_server

REPO = Path(__file__).resolve().parent.parent
QUESTION = "Hi Ada! What can I help you with?"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HIVE_MCP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HIVE_MCP_AGENTS", str(REPO / "graph"))
    for name in ("HIVE_MCP_RETENTION_DAYS", "HIVE_MCP_RETENTION_MAX_EXECUTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(REPO)
    return tmp_path / "home"


def park(capsys: pytest.CaptureFixture[str], customer: str = "Ada") -> str:
    """Run support_desk until it asks its question; it stays parked (no server, no terminal)."""
    assert main(["run", "support_desk", "--quiet", "--input", json.dumps({"customer": customer})])
    err = capsys.readouterr().err
    return err.split("hive-mcp resume ")[1].split()[0]


def stored(home: Path, execution_id: str) -> tuple[ExecutionStatus, list[EventType]]:
    async def read() -> tuple[ExecutionStatus, list[EventType]]:
        store = SQLiteStore(home / "store.db")
        try:
            record = await store.get_execution(execution_id)
            events = await store.read_events(execution_id, limit=10_000)
        finally:
            await store.close()
        assert record is not None
        return record.status, [e.type for e in events]

    return anyio.run(read)


@asynccontextmanager
async def server_runtime(home: Path, role: RuntimeRole = "server") -> AsyncIterator[AgentRuntime]:
    """A runtime in this process on the home's store, as a server (or a CLI session) has one."""
    store = SQLiteStore(home / "store.db")
    try:
        async with (
            Journal(store) as journal,
            AgentRuntime(
                load_catalog(REPO / "graph"),
                journal,
                data_dir=home / "data",
                role=role,
            ) as runtime,
        ):
            yield runtime
    finally:
        await store.close()


async def cli(*args: str) -> int:
    """The CLI from a worker thread, so this test's event loop (and its runtime) keeps going."""
    return await anyio.to_thread.run_sync(main, list(args))


# -- looking -------------------------------------------------------------


def test_executions_lists_newest_first_and_filters_by_agent_and_status(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "text_report", "--quiet", "--input", '{"text": "One. Two."}']) == 0
    parked = park(capsys)
    capsys.readouterr()

    assert main(["executions"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(parked) and "waiting_for_input" in lines[0]
    assert f"asks: {QUESTION}" in lines[0]
    assert "text_report" in lines[1] and "completed" in lines[1]
    assert 'output: {"result": {' in lines[1] and lines[1].endswith("…")  # a glimpse, clipped

    assert main(["executions", "--status", "completed", "failed", "--json"]) == 0
    [done] = json.loads(capsys.readouterr().out)
    assert done["agent"] == "text_report" and done["status"] == "completed"

    assert main(["executions", "--agent", "support_desk", "--status", "completed"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no executions" in captured.err

    assert main(["executions", "--limit", "1", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [parked]


def test_events_prints_one_line_per_event_or_one_json_object_per_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parked = park(capsys)
    assert main(["events", parked]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"    1 ▶ support_desk started (execution {parked})"
    assert any(line.endswith(f"? intake asks: {QUESTION}") for line in lines)

    assert main(["events", parked, "--after", "3", "--json"]) == 0
    objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert objects[0]["seq"] == 4
    assert [o["seq"] for o in objects] == list(range(4, 4 + len(objects)))
    assert {"type", "node_id", "data", "timestamp"} <= set(objects[0])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["executions", "--status", "done"], "--status 'done' is not a status; choose from"),
        (["executions", "--limit", "many"], "--limit must be a whole number of at least 1"),
        (["events", "ex_nope"], "no execution 'ex_nope' in the store at"),
        (["events", "{parked}", "--after", "-1"], "--after must be a whole number of at least 0"),
        (["input", "ex_nope", "hi"], "no execution 'ex_nope' in the store at"),
        (["input", "{parked}", "hi", "--node", "compose"], "node 'compose' of execution"),
        (["input", "{done}", "hi"], "is completed, not waiting for input"),
        (["cancel", "ex_nope"], "no execution 'ex_nope' in the store at"),
        (["prune", "--keep", "0"], "--keep must be a whole number of at least 1, not '0'"),
        (["prune", "--older-than", "soon"], "--older-than must be a number of days above 0"),
    ],
)
def test_mistakes_get_a_one_line_error_exit_2_and_change_nothing(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    assert main(["run", "text_report", "--quiet", "--input", '{"text": "One. Two."}']) == 0
    capsys.readouterr()
    done = _newest(capsys)
    parked = park(capsys)
    before = {done: stored(home, done), parked: stored(home, parked)}

    argv = [a.format(parked=parked, done=done) for a in args]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ")
    assert message in captured.err
    assert {done: stored(home, done), parked: stored(home, parked)} == before


def _newest(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["executions", "--limit", "1", "--json"]) == 0
    return str(json.loads(capsys.readouterr().out)[0]["id"])


def test_the_store_can_be_read_while_another_process_holds_its_write_lock(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    parked = park(capsys)
    writer = sqlite3.connect(home / "store.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # as a server does while committing
        assert main(["executions"]) == 0
        assert capsys.readouterr().out.startswith(parked)
    finally:
        writer.execute("ROLLBACK")
        writer.close()


# -- acting without a server ----------------------------------------------


def test_without_a_server_input_resumes_the_parked_execution_here_and_completes_it(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    parked = park(capsys)
    assert main(["input", parked, "How do I change my plan?"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["reply"].endswith("(see kb-102)")
    assert "✉ answer: How do I change my plan?" in captured.err
    assert stored(home, parked)[0] is ExecutionStatus.COMPLETED


def test_without_a_server_cancel_records_the_parked_execution_as_cancelled(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    parked = park(capsys)
    assert main(["cancel", parked]) == 0
    assert capsys.readouterr().out == "cancelled\n"
    status, events = stored(home, parked)
    assert status is ExecutionStatus.CANCELLED and events[-1] is EventType.EXECUTION_CANCELLED

    assert main(["cancel", parked]) == 0  # cancelling twice is harmless
    assert capsys.readouterr().out == "already cancelled; nothing to cancel\n"
    assert main(["input", parked, "too late"]) == 2
    assert "is cancelled, not waiting for input" in capsys.readouterr().err


def test_without_a_server_cancel_also_cancels_the_delegates_the_execution_waits_for(
    capsys: pytest.CaptureFixture[str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIVE_MCP_AGENTS", str(REPO / "tests" / "agents" / "delegation"))
    assert main(["run", "lead", "--quiet", "--input", json.dumps({"change": "drop it"})]) == 3
    parent = capsys.readouterr().err.split("hive-mcp resume ")[1].split()[0]
    assert main(["cancel", parent]) == 0
    assert capsys.readouterr().out == "cancelled\n"
    assert main(["executions", "--json"]) == 0
    rows = {row["agent"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["approver"]["parent_id"] == parent
    assert rows["approver"]["status"] == rows["lead"]["status"] == "cancelled"


def test_a_server_that_died_without_saying_goodbye_does_not_count(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    parked = park(capsys)

    async def leave_a_dead_server_behind() -> None:
        store = SQLiteStore(home / "store.db")
        dead = RuntimeInfo(id="rt_dead", pid=os.getpid(), host=HOST, role="server")
        dead.heartbeat_at -= 3600  # its last heartbeat, an hour ago
        await store.beat(dead)
        assert await store.claim_execution(parked, "rt_dead", live=[]) == "rt_dead"
        await store.close()

    anyio.run(leave_a_dead_server_behind)
    assert main(["cancel", parked]) == 0  # acts itself instead of queueing for the dead
    assert capsys.readouterr().out == "cancelled\n"
    assert stored(home, parked)[0] is ExecutionStatus.CANCELLED


# -- acting through a live process ----------------------------------------


@pytest.mark.anyio
async def test_resume_refuses_an_execution_a_live_server_runs(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    async with server_runtime(home) as server:
        record = await server.start("support_desk", {"customer": "Ada"})
        await until(server, record.id, ExecutionStatus.WAITING_FOR_INPUT)
        assert await cli("resume", record.id) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert f"'{record.id}' is being run by a hive-mcp server (pid {os.getpid()})" in err
        assert f"answer it with 'hive-mcp input {record.id} TEXT'" in err
        assert (await server.get_execution(record.id)).status is ExecutionStatus.WAITING_FOR_INPUT
        await server.cancel(record.id)


@pytest.mark.anyio
async def test_two_servers_on_one_home_never_run_the_same_execution(home: Path) -> None:
    async with server_runtime(home) as first, server_runtime(home) as second:
        record = await first.start("support_desk", {"customer": "Ada"})
        await until(first, record.id, ExecutionStatus.WAITING_FOR_INPUT)

        assert await second.resume_unfinished() == [record.id]  # tried, and left alone:
        await anyio.wait_all_tasks_blocked()
        events = await second.get_events(record.id, limit=1000)
        assert EventType.EXECUTION_RESUMED not in {e.type for e in events}
        # An answer reaching the second is passed on to the first, which runs it.
        assert await second.send_input(record.id, "How do I change my plan?") == "intake"
        await until(first, record.id, ExecutionStatus.COMPLETED)
        events = await second.get_events(record.id, limit=1000)
        assert EventType.EXECUTION_RESUMED not in {e.type for e in events}


def test_input_and_cancel_refuse_an_execution_a_terminal_session_runs(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    parked = park(capsys)

    async def while_a_session_holds_it() -> None:
        async with server_runtime(home, role="session") as session:
            await session.claim(parked)  # as 'hive-mcp resume' does while it asks in a terminal
            assert await cli("input", parked, "hello") == 2
            assert "is being run by another hive-mcp command" in capsys.readouterr().err
            assert await cli("cancel", parked) == 2

    anyio.run(while_a_session_holds_it)
    assert stored(home, parked)[0] is ExecutionStatus.WAITING_FOR_INPUT  # nothing changed


@pytest.mark.anyio
async def test_a_command_no_server_takes_is_withdrawn_and_changes_nothing(home: Path) -> None:
    store = SQLiteStore(home / "store.db")
    silent = RuntimeInfo(id="rt_silent", pid=os.getpid(), host=HOST, role="server")
    await store.beat(silent)  # alive by its heartbeat, but never looks at its commands
    with pytest.raises(RunError, match=r"did not take the cancel command within 0\.2 s"):
        await send_command(
            store, silent, "ex_x", CommandKind.CANCEL, clock=lambda: 0.0, wait_seconds=0.2
        )
    assert await store.take_commands("rt_silent", now=1.0) == []  # withdrawn, never applied
    await store.close()


@pytest.mark.anyio
async def test_input_and_cancel_reach_a_real_http_server_through_the_command_queue(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    port = free_port()
    with http_server(home, port, token=None):
        async with Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp")) as client:
            asked = await call(
                client, "start_execution", agent="support_desk", input={"customer": "Ada"}
            )
            dropped = await call(
                client, "start_execution", agent="support_desk", input={"customer": "Bo"}
            )
            for started in (asked, dropped):
                await follow(client, started["execution_id"], "waiting_for_input")

            answer = "How do I change my plan?"
            assert await cli("input", asked["execution_id"], answer) == 0
            captured = capsys.readouterr()
            assert captured.out == "delivered to intake\n"
            assert "the server (pid" in captured.err

            assert await cli("events", asked["execution_id"], "--follow") == 0
            lines = capsys.readouterr().out.splitlines()
            assert f"✉ answer: {answer}" in "\n".join(lines)
            assert lines[-2].endswith("■ completed")  # --follow ended with the execution
            assert lines[-1].strip().startswith('output: {"reply": "Hi Ada, about')

            assert await cli("cancel", dropped["execution_id"]) == 0
            assert capsys.readouterr().out == "cancelled\n"

            final = await call(client, "get_execution", execution_id=asked["execution_id"])
            gone = await call(client, "get_execution", execution_id=dropped["execution_id"])
    assert final["status"] == "completed" and final["output"]["reply"].endswith("(see kb-102)")
    assert gone["status"] == "cancelled"


def test_ctrl_c_stops_following_quietly_with_exit_130(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    parked = park(capsys)
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    with subprocess.Popen(
        [sys.executable, "-m", "hive_mcp", "events", parked, "--follow"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as follower:
        assert follower.stdout is not None and follower.stderr is not None
        for line in follower.stdout:
            if "■ paused" in line:  # it has printed the log so far and now waits for more
                break
        follower.send_signal(signal.SIGINT)
        code = follower.wait(timeout=HANG)
        err = follower.stderr.read()
    assert code == 130
    assert err == ""


def test_store_option_names_the_store_every_command_opens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HIVE_MCP_STORE", raising=False)
    other = tmp_path / "elsewhere.db"
    run = ["run", "text_report", "--quiet", "--input", '{"text": "One. Two."}']
    assert main(["--store", str(other), *run]) == 0
    capsys.readouterr()
    assert other.is_file()
    assert main(["executions"]) == 0  # the default store, in HIVE_MCP_HOME, has none
    assert "no executions in the store at" in capsys.readouterr().err
    assert main(["--store", str(other), "executions", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["agent"] == "text_report" and listed["status"] == "completed"


def test_the_operator_commands_work_the_same_on_a_postgresql_store(
    pg_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HIVE_MCP_STORE", pg_url)
    assert main(["run", "text_report", "--quiet", "--input", '{"text": "One. Two."}']) == 0
    parked = park(capsys)  # support_desk, waiting for its answer
    other = park(capsys, customer="Bo")
    capsys.readouterr()

    assert main(["executions", "--json"]) == 0
    listed = {r["id"]: r["status"] for r in json.loads(capsys.readouterr().out)}
    assert list(listed.values()).count("waiting_for_input") == 2 and len(listed) == 3
    assert main(["events", parked, "--json"]) == 0
    types = [json.loads(line)["type"] for line in capsys.readouterr().out.splitlines()]
    assert "client_input_requested" in types

    assert main(["input", parked, "My order is late."]) == 0  # resumed here, answered
    assert main(["cancel", other]) == 0
    assert "cancelled" in capsys.readouterr().out
    assert main(["executions", "--json"]) == 0
    after = {r["id"]: r["status"] for r in json.loads(capsys.readouterr().out)}
    assert (after[parked], after[other]) == ("completed", "cancelled")
    assert main(["prune", "--dry-run", "--keep", "1"]) == 0
    assert "2" in capsys.readouterr().out  # two of the three finished ones would go
