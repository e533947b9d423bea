"""The MCP client side meets real tool servers: ones that ask, speak one era, refuse us."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import ElicitResult
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hive_mcp.errors import ToolServerError
from hive_mcp.store import ExecutionStatus, SQLiteStore
from hive_mcp.toolbox import ServerConfig, Toolbox
from tests.fakes._serve import serve_in_thread
from tests.support import free_port
from tests.test_mcp_server import call
from tests.test_transports import authed, http_server

pytestmark = pytest.mark.anyio
HERE = Path(__file__).resolve().parent
ASKING = str(HERE / "tool_servers" / "asking.py")
AGENTS = HERE / "agents" / "asking"


def asking(era: str, ledger: Path) -> ServerConfig:
    return ServerConfig(
        command=sys.executable,
        args=[ASKING],
        env={"ASKING_ERA": era, "ASKING_LEDGER": str(ledger)},
        timeout_seconds=20,
    )


def ledger_lines(ledger: Path) -> list[dict[str, Any]]:
    if not ledger.exists():
        return []
    return [json.loads(line) for line in ledger.read_text().splitlines()]


@pytest.mark.parametrize(("era", "version"), [("modern", "2026-07-28"), ("legacy", "2025-11-25")])
async def test_a_server_of_either_era_alone_is_used_and_a_legacy_one_is_not_probed_again(
    tmp_path: Path, era: str, version: str
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    async with Toolbox({"s": asking(era, ledger)}) as tb:
        connection = tb.connection("s")
        with anyio.fail_after(60):
            first = await connection.call("echo", {"text": "hi"})
            connection.reset()  # a restart of the server
            second = await connection.call("echo", {"text": "again"})
    assert first == f"hi ({version})"
    assert second == f"again ({version})"
    probes = [line for line in ledger_lines(ledger) if "refused" in line]
    assert len(probes) == (1 if era == "legacy" else 0)  # the restart skipped the probe


@contextlib.contextmanager
def refusing(status: int) -> Any:
    started = threading.Event()

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        started.set()
        yield

    async def mcp(_: Request) -> JSONResponse:
        return JSONResponse({"error": "no"}, status, {"WWW-Authenticate": 'Bearer realm="x"'})

    app = Starlette(
        routes=[Route("/mcp", mcp, methods=["GET", "POST", "DELETE"])], lifespan=lifespan
    )
    with serve_in_thread(app, started, "refusing server") as port:
        yield f"http://127.0.0.1:{port}/mcp"


@pytest.mark.parametrize("status", [401, 403])
async def test_an_http_server_refusing_credentials_names_headers_and_variables_not_values(
    status: int,
) -> None:
    token = "tok-very-secret-991"
    with refusing(status) as url:
        config = ServerConfig(
            url=url,
            headers={"Authorization": "Bearer ${REMOTE_TOKEN}", "X-Team": "${TEAM_ID}"},
            timeout_seconds=20,
        )
        env = {"REMOTE_TOKEN": token, "TEAM_ID": "team-7"}
        async with Toolbox({"remote": config}, env=env) as tb:
            with anyio.fail_after(60), pytest.raises(ToolServerError) as caught:
                await tb.connection("remote").list_tools()
    message = str(caught.value)
    reason = {401: "Unauthorized", 403: "Forbidden"}[status]
    assert f"refused the credentials (HTTP {status} {reason})" in message
    assert "Authorization, X-Team" in message and "REMOTE_TOKEN, TEAM_ID" in message
    assert "Bearer authentication" in message
    assert token not in message and "team-7" not in message
    assert "check its command" not in message


async def test_an_http_server_refusing_a_config_without_headers_says_to_add_them() -> None:
    with refusing(401) as url:
        async with Toolbox({"team": ServerConfig(url=url, timeout_seconds=20)}) as tb:
            with anyio.fail_after(60), pytest.raises(ToolServerError) as caught:
                await tb.connection("team").list_tools()
    assert "sends no headers" in str(caught.value)
    assert "${TEAM_TOKEN}" in str(caught.value)


def serve_env(tmp_path: Path, era: str, hang: bool = False) -> dict[str, str]:
    return {
        "HIVE_MCP_AGENTS": str(AGENTS),
        "ASKING_SCRIPT": ASKING,
        "ASKING_ERA": era,
        "ASKING_LEDGER": str(tmp_path / "ledger.jsonl"),
        "ASKING_HANG": "1" if hang else "0",
    }


async def waiting(client: Client, execution_id: str, after: int = 0) -> tuple[dict[str, Any], int]:
    """Long-poll until a tool_server question; return it and the cursor after it."""
    with anyio.fail_after(90):
        while True:
            page = await call(
                client, "get_events", execution_id=execution_id, after=after, wait_seconds=5
            )
            for event in page["events"]:
                after = event["seq"]
                if event["type"] == "client_input_requested":
                    return event["data"], after
            assert page["status"] in ("pending", "running", "waiting_for_input"), page


async def finished(client: Client, execution_id: str) -> dict[str, Any]:
    with anyio.fail_after(90):
        while True:
            page = await call(
                client, "get_events", execution_id=execution_id, after=0, wait_seconds=5
            )
            if page["status"] not in ("pending", "running", "waiting_for_input"):
                return await call(client, "get_execution", execution_id=execution_id)


@contextlib.asynccontextmanager
async def hive(home: Path, env: dict[str, str]) -> AsyncIterator[tuple[Client, Any]]:
    port = free_port()
    with http_server(home, port, extra_env=env) as proc, authed(port) as http:
        url = f"http://127.0.0.1:{port}/mcp"
        async with http, Client(streamable_http_client(url, http_client=http)) as client:
            yield client, proc


@pytest.mark.parametrize("era", ["modern", "legacy"])
async def test_a_tool_servers_question_waits_for_send_input_and_a_bad_answer_is_asked_again(
    tmp_path: Path, era: str
) -> None:
    async with hive(tmp_path / "home", serve_env(tmp_path, era)) as (client, _):
        started = await call(client, "start_execution", agent="booking", input={"room": "4"})
        eid = started["execution_id"]
        question, after = await waiting(client, eid)
        assert question["kind"] == "tool_server" and question["server"] == "asking"
        assert question["prompt"] == "Book room 4?"
        assert question["requested_schema"]["properties"]["confirm"]["type"] == "boolean"
        record = await call(client, "get_execution", execution_id=eid)
        assert record["status"] == "waiting_for_input"
        assert record["waiting_for_input"]["server"] == "asking"

        await call(client, "send_input", execution_id=eid, text="maybe")
        again, _ = await waiting(client, eid, after)
        assert again["prompt"].startswith("That answer did not fit")
        await call(client, "send_input", execution_id=eid, text='{"confirm": true, "note": "w"}')
        done = await finished(client, eid)
    assert done["status"] == "completed", done
    assert done["output"]["told"] == 'accept: {"confirm": true, "note": "w"}'


async def test_decline_goes_back_to_the_tool_server_as_a_declined_elicitation(
    tmp_path: Path,
) -> None:
    async with hive(tmp_path / "home", serve_env(tmp_path, "legacy")) as (client, _):
        started = await call(client, "start_execution", agent="booking", input={"room": "5"})
        await waiting(client, started["execution_id"])
        await call(client, "send_input", execution_id=started["execution_id"], text="Decline")
        done = await finished(client, started["execution_id"])
    assert done["output"]["told"] == "decline: null"


async def test_a_question_survives_a_kill_and_the_rerun_call_asks_again(tmp_path: Path) -> None:
    home = tmp_path / "home"
    async with hive(home, serve_env(tmp_path, "legacy")) as (client, proc):
        started = await call(client, "start_execution", agent="booking", input={"room": "6"})
        eid = started["execution_id"]
        _, after = await waiting(client, eid)
        proc.send_signal(signal.SIGKILL)
    store = SQLiteStore(home / "store.db")
    record = await store.get_execution(eid)
    await store.close()
    assert record is not None and record.status is ExecutionStatus.WAITING_FOR_INPUT
    assert record.waiting_for_input is not None
    assert record.waiting_for_input["server"] == "asking"  # the question was kept
    async with hive(home, serve_env(tmp_path, "legacy")) as (client, _):
        await waiting(client, eid, after)  # the call ran again; the server asked again
        await call(client, "send_input", execution_id=eid, text='{"confirm": false}')
        done = await finished(client, eid)
    assert done["output"]["told"] == 'accept: {"confirm": false, "note": ""}'
    asked = [line for line in ledger_lines(tmp_path / "ledger.jsonl") if "asked" in line]
    assert len(asked) == 2  # the unrecorded call ran again after the restart, and asked again


async def test_an_answer_stored_before_a_kill_answers_the_rerun_call_without_asking(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    async with hive(home, serve_env(tmp_path, "legacy", hang=True)) as (client, proc):
        started = await call(client, "start_execution", agent="booking", input={"room": "7"})
        eid = started["execution_id"]
        await waiting(client, eid)
        # "delivered" once stored; the server then never answers the call: kill us.
        await call(client, "send_input", execution_id=eid, text='{"confirm": true}')
        proc.send_signal(signal.SIGKILL)
    async with hive(home, serve_env(tmp_path, "legacy")) as (client, _):
        done = await finished(client, eid)
        events = await call(client, "get_events", execution_id=eid, limit=1000)
    assert done["output"]["told"] == 'accept: {"confirm": true, "note": ""}'
    asked = [line for line in ledger_lines(tmp_path / "ledger.jsonl") if "asked" in line]
    assert len(asked) == 2  # asked by both processes' servers...
    questions = [e for e in events["events"] if e["type"] == "client_input_requested"]
    assert len(questions) == 1  # ...but a person only once


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_run_agent_hands_a_tool_servers_form_to_the_host_as_the_server_asked_it(
    tmp_path: Path, mode: str
) -> None:
    forms: list[dict[str, Any]] = []

    async def on_elicit(context: Any, params: Any) -> ElicitResult:
        forms.append(params.requested_schema)
        return ElicitResult(action="accept", content={"confirm": True, "note": "host"})

    port = free_port()
    env = serve_env(tmp_path, "legacy")
    url = f"http://127.0.0.1:{port}/mcp"
    with http_server(tmp_path / "home", port, extra_env=env), authed(port) as http:
        transport = streamable_http_client(url, http_client=http)
        async with http, Client(transport, mode=mode, elicitation_callback=on_elicit) as client:  # type: ignore[arg-type]
            result = await call(client, "run_booking", room="7")
    assert result["status"] == "completed", result
    assert result["output"]["told"] == 'accept: {"confirm": true, "note": "host"}'
    assert forms[0]["properties"]["confirm"]["type"] == "boolean"  # the server's own form
