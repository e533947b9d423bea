"""A host that cancels its run_<agent> call cancels the execution it never got the id of."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.support import HANG
from tests.test_mcp_server import call
from tests.test_transports import RAW_HELLO

pytestmark = pytest.mark.anyio
AGENTS = Path(__file__).resolve().parent / "agents"


def server_env(home: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HIVE_MCP_HOME": str(home),
        "HIVE_MCP_AGENTS": str(AGENTS / "waiter"),
    }


async def executions_of(client: Client) -> list[dict[str, Any]]:
    listed = await call(client, "list_executions", agent="waiter")
    found: list[dict[str, Any]] = listed["executions"]
    return found


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_cancelling_a_run_call_cancels_its_execution_before_the_side_effect(
    tmp_path: Path, mode: str
) -> None:
    go, effect = tmp_path / "go", tmp_path / "effect"
    env = server_env(tmp_path)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "hive_mcp", "serve"], env=env
    )
    with anyio.fail_after(HANG):
        async with Client(params, mode=mode) as client:  # type: ignore[arg-type]
            async with anyio.create_task_group() as tg:
                arguments = {"go": str(go), "effect": str(effect)}
                tg.start_soon(client.call_tool, "run_waiter", arguments)
                while not (running := await executions_of(client)):  # noqa: ASYNC110 - in another process
                    await anyio.sleep(0.02)
                tg.cancel_scope.cancel()  # the user pressed stop in the host
            [execution] = running
            while (
                state := await call(client, "get_execution", execution_id=execution["execution_id"])
            )["status"] != "cancelled":
                assert state["status"] in ("pending", "running"), state
                await call(
                    client, "get_events", execution_id=execution["execution_id"], wait_seconds=1
                )
            go.write_text("go")
            again = await call(client, "get_execution", execution_id=execution["execution_id"])
    assert again["status"] == "cancelled"
    assert not effect.exists()


def test_a_host_that_quits_mid_run_leaves_the_execution_to_resume_not_cancelled(
    tmp_path: Path,
) -> None:
    go, effect = tmp_path / "go", tmp_path / "effect"
    env = server_env(tmp_path)
    run = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {
            "name": "run_waiter",
            "arguments": {"go": str(go), "effect": str(effect)},
            "_meta": {"progressToken": 7},  # progress says when the node runs
        },
    }
    args = [sys.executable, "-m", "hive_mcp", "serve"]
    with subprocess.Popen(
        args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        for message in [*RAW_HELLO, run]:
            proc.stdin.write(json.dumps(message).encode() + b"\n")
        proc.stdin.flush()
        while b'"progress"' not in proc.stdout.readline():  # the node is running
            pass
        _, err = proc.communicate(timeout=HANG)  # closes stdin: the host quit
    assert proc.returncode == 0, err
    store = sqlite3.connect(tmp_path / "store.db")
    [(status,)] = store.execute("SELECT status FROM executions").fetchall()
    store.close()
    assert status in ("running", "pending")  # suspended, resumed at the next start
    assert not effect.exists()
