"""The MCP server as a real process: stdio and Streamable HTTP, restarts, the demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from hive_mcp.store import SQLiteStore
from tests.support import HANG, free_port
from tests.test_mcp_server import call, follow

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parent.parent
TOKEN = "test-token-123"


# A raw client's handshake (legacy era), for tests that write JSON-RPC lines themselves.
RAW_HELLO: list[dict[str, Any]] = [
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    },
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
]


def env_for(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HIVE_MCP_HOME": str(home),
        "HIVE_MCP_AGENTS": str(REPO / "graph"),
        "PYTHONWARNINGS": "error",
    }


@contextmanager
def http_server(
    home: Path, port: int, token: str | None = TOKEN, extra_env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    args = [sys.executable, "-m", "hive_mcp", "serve", "--http", "--port", str(port)]
    env = env_for(home) | ({"HIVE_MCP_TOKEN": token} if token else {}) | (extra_env or {})
    with subprocess.Popen(
        args, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:  # the server says when it listens: no polling
            if "serving MCP on" in line:
                break
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)


@contextmanager
def authed(port: int, token: str = TOKEN) -> Iterator[Any]:
    yield httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30, read=60)
    )


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_serve_over_stdio_runs_an_agent_for_a_real_client(tmp_path: Path, mode: str) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "hive_mcp", "serve"], env=env_for(tmp_path)
    )
    with anyio.fail_after(60):
        async with Client(params, mode=mode) as client:  # type: ignore[arg-type]
            names = {t.name for t in (await client.list_tools()).tools}
            result = await call(client, "run_text_report", text="Owls hoot. Owls fly.")
    assert {"run_support_desk", "get_events", "send_input"} <= names
    assert result["status"] == "completed"
    assert result["output"]["result"]["words"]["top"][0] == ["owls", 2]


def test_nothing_but_json_rpc_reaches_stdout_when_serving_over_stdio(tmp_path: Path) -> None:
    messages = [
        *RAW_HELLO,
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "run_text_report", "arguments": {"text": "One. Two."}},
        },
    ]
    args = [sys.executable, "-m", "hive_mcp", "serve"]
    env = env_for(tmp_path) | {"LITELLM_LOG": "DEBUG"}
    with subprocess.Popen(
        args,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        for message in messages:
            proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
        replies: list[dict[str, Any]] = []
        # Keep stdin open until every answer is in: at end of input a server may drop requests.
        while {r.get("id") for r in replies} < {1, 2, 3}:
            line = proc.stdout.readline()
            assert line, "the server closed stdout early"
            replies.append(json.loads(line))  # every line must be a JSON-RPC message
        proc.stdin.close()
        rest = proc.stdout.read()
        proc.wait(timeout=30)
    replies += [json.loads(line) for line in rest.splitlines() if line.strip()]
    assert all(r["jsonrpc"] == "2.0" for r in replies)
    tool_result = next(r for r in replies if r.get("id") == 3)["result"]
    assert tool_result["structuredContent"]["status"] == "completed"


async def test_serve_over_http_with_a_bearer_token(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with http_server(tmp_path, port):
        async with httpx2.AsyncClient() as plain:
            health = await plain.get(f"{url}/health")
            assert health.status_code == 200 and health.json()["agents"] == [
                "files_assistant",
                "issue_triage",
                "support_desk",
                "text_report",
            ]
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
            assert (await plain.post(f"{url}/mcp", json=body)).status_code == 401
            wrong = await plain.post(
                f"{url}/mcp", json=body, headers={"Authorization": "Bearer nope"}
            )
            assert wrong.status_code == 401
            malformed = await plain.post(
                f"{url}/mcp",
                content=b"{not json",
                headers={
                    "Authorization": f"Bearer {TOKEN}",
                    "Content-Type": "application/json",
                    "Accept": "application/json, text/event-stream",
                },
            )
            assert 400 <= malformed.status_code < 500
            rebinding = await plain.post(
                f"{url}/mcp",
                json=body,
                headers={
                    "Authorization": f"Bearer {TOKEN}",
                    "Host": "evil.example:80",
                    "Accept": "application/json, text/event-stream",
                },
            )
            assert rebinding.status_code == 421  # DNS-rebinding protection is on
            hook = f"{url}/hooks/text_report/posted"
            assert (await plain.post(hook, json={"text": "Hi."})).status_code == 401
            posted = await plain.post(
                hook, json={"text": "Dogs bark."}, headers={"Authorization": f"Bearer {TOKEN}"}
            )
            assert posted.status_code == 202 and posted.json()["entry_point"] == "posted"
        for mode in ("auto", "legacy"):
            with authed(port) as http:
                async with (
                    http,
                    Client(
                        streamable_http_client(f"{url}/mcp", http_client=http), mode=mode
                    ) as client,
                ):  # type: ignore[arg-type]
                    result = await call(client, "run_text_report", text="Cats nap. Cats purr.")
            assert result["output"]["result"]["words"]["top"][0] == ["cats", 2]


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hive_mcp",
            "serve",
            "--http",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
        ],
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "refusing to serve on 0.0.0.0 without a bearer token: set HIVE_MCP_TOKEN" in done.stderr


async def test_a_waiting_execution_survives_a_server_kill_and_resumes_on_input(
    tmp_path: Path,
) -> None:
    port = free_port()
    with http_server(tmp_path, port) as first:
        with authed(port) as http:
            async with (
                http,
                Client(
                    streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)
                ) as client,
            ):
                started = await call(
                    client, "run_support_desk", customer="Ada", max_wait_seconds=10
                )
                if started["status"] != "waiting_for_input":  # slow machine: wait for it
                    await follow(client, started["execution_id"], "waiting_for_input")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

    port = free_port()
    with http_server(tmp_path, port), authed(port) as http:
        async with (
            http,
            Client(
                streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)
            ) as client,
        ):
            info = await call(client, "get_execution", execution_id=started["execution_id"])
            assert info["status"] == "waiting_for_input"
            assert info["waiting_for_input"]["prompt"] == "Hi Ada! What can I help you with?"
            await call(
                client, "send_input", execution_id=started["execution_id"], text="change my plan"
            )
            await follow(client, started["execution_id"], "completed")
            final = await call(client, "get_execution", execution_id=started["execution_id"])
    assert final["output"]["reply"].endswith("(see kb-102)")


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_sigterm_stops_the_server_cleanly_and_releases_what_it_held(
    tmp_path: Path, transport: str
) -> None:
    args = [sys.executable, "-m", "hive_mcp", "serve"]
    if transport == "http":
        args += ["--http", "--port", str(free_port())]
    with subprocess.Popen(
        args,
        env=env_for(tmp_path) | {"HIVE_MCP_TOKEN": TOKEN},
        stdin=subprocess.PIPE,  # a host keeps stdin open while it wants the server
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            with anyio.from_thread.start_blocking_portal() as portal:
                assert len(portal.call(runtimes_of, tmp_path, 1)) == 1  # up and registered
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=HANG)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    assert "SIGTERM received, stopping" in err
    with anyio.from_thread.start_blocking_portal() as portal:
        assert portal.call(runtimes_of, tmp_path, 0) == []  # gone: nobody waits for it to die


async def runtimes_of(home: Path, count: int) -> list[Any]:
    """The runtimes recorded in ``home``'s store, once there are ``count`` (10 s at most)."""
    with anyio.fail_after(HANG):
        while True:
            if (home / "store.db").exists():
                store = SQLiteStore(home / "store.db")
                try:
                    found = await store.list_runtimes()
                finally:
                    await store.close()
                if len(found) == count:
                    return found
            await anyio.sleep(0.05)


def test_the_demo_runs_the_server_end_to_end(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hive_mcp", "demo"],
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "tools: cancel_execution, get_events" in done.stdout
    assert "▶ send_input: 'How do I reset my password?'" in done.stdout
    assert '"reply": "Hi Ada, about' in done.stdout


def test_the_http_listening_socket_sends_small_writes_at_once() -> None:
    # Accepted connections inherit TCP_NODELAY; without it each HTTP answer
    # written in two parts waited 40 ms for the client's delayed ACK.
    import socket

    from hive_mcp.server._serve import _listen

    with _listen("127.0.0.1", 0) as listening:
        assert listening.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
