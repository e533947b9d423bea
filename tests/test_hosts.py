"""What an MCP host sees when it launches hive-mcp: config snippets, load problems."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from hive_mcp.graph import load_catalog
from hive_mcp.runtime import AgentRuntime
from hive_mcp.server import build_server
from hive_mcp.store import Journal
from tests.support import HANG
from tests.test_mcp_server import call, error_of
from tests.test_transports import RAW_HELLO

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parent.parent
GRAPH = REPO / "graph"
AGENTS = REPO / "tests" / "agents"
HOST_PATH = "/usr/bin:/bin"  # what a host launched from a desktop session typically has


def readme_block(marker: str) -> dict[str, Any]:
    """The JSON block after ``<!-- marker -->`` in the README."""
    text = (REPO / "README.md").read_text()
    found = re.search(rf"<!-- {marker} -->\n```json\n(.*?)```", text, re.S)
    assert found, f"README has no JSON block marked {marker}"
    parsed: dict[str, Any] = json.loads(found.group(1))
    return parsed


def broken_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "agents"
    shutil.copytree(GRAPH / "text_report", folder / "text_report")
    (folder / "broken.yaml").write_text("name: broken\nnodes: [\n")
    return folder


@pytest.fixture
async def runtime(journal: Journal, tmp_path: Path) -> AsyncIterator[AgentRuntime]:
    async with AgentRuntime(
        load_catalog(broken_folder(tmp_path)), journal, data_dir=tmp_path / "data"
    ) as rt:
        yield rt


async def test_the_readme_host_snippet_works_when_launched_as_a_host_does(tmp_path: Path) -> None:
    server = readme_block("host-config")["mcpServers"]["hive"]
    program = Path(sys.executable).parent / "hive-mcp"
    if not program.is_file():
        pytest.skip(f"no hive-mcp console script beside {sys.executable}")
    assert server["command"].endswith("/bin/hive-mcp")
    assert server["env"]["HIVE_MCP_AGENTS"].startswith("/")
    env = {"PATH": HOST_PATH, "HOME": str(tmp_path)} | server["env"]
    env["HIVE_MCP_AGENTS"] = str(GRAPH)
    params = StdioServerParameters(command=str(program), args=server["args"], env=env, cwd="/")
    with anyio.fail_after(60):
        async with Client(params) as client:
            listed = await call(client, "list_agents")
            result = await call(client, "run_text_report", text="Owls hoot. Owls fly.")
    assert "text_report" in {a["name"] for a in listed["agents"]}
    assert listed["load_problems"] == []
    assert result["status"] == "completed"


def test_the_readme_uvx_snippet_runs_hive_mcp_serve_from_a_local_clone() -> None:
    server = readme_block("host-config-uvx")["mcpServers"]["hive"]
    assert server["command"] == "uvx"
    source = server["args"][server["args"].index("--from") + 1]
    assert source.startswith("/")
    assert server["args"][-2:] == ["hive-mcp", "serve"]


async def test_a_relative_agents_path_from_a_host_is_explained_in_list_agents(
    tmp_path: Path,
) -> None:
    env = {
        "PATH": HOST_PATH,
        "HOME": str(tmp_path),
        "HIVE_MCP_AGENTS": "no-such-agents-folder",
    }
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "hive_mcp", "serve"], env=env, cwd="/"
    )
    with anyio.fail_after(60):
        async with Client(params) as client:
            listed = await call(client, "list_agents")
            resource = json.loads(
                (await client.read_resource("hive://agents")).contents[0].text  # type: ignore[union-attr]
            )
            unknown = await error_of(client, "start_execution", agent="support_desk")
    assert listed["agents"] == []
    [problem] = listed["load_problems"]
    assert problem["file"] == "/no-such-agents-folder"
    [why] = problem["problems"]
    assert "the agents folder does not exist" in why
    assert "HIVE_MCP_AGENTS='no-such-agents-folder'" in why
    assert "relative path resolved against the working directory /" in why
    assert "absolute path" in why
    assert resource == listed
    assert "1 agent file failed to load: /no-such-agents-folder" in unknown


async def test_a_broken_agent_file_is_listed_with_its_reason_beside_the_agents_that_loaded(
    runtime: AgentRuntime,
) -> None:
    async with Client(build_server(runtime)) as client:
        listed = await call(client, "list_agents")
        resource = json.loads(
            (await client.read_resource("hive://agents")).contents[0].text  # type: ignore[union-attr]
        )
    assert [a["name"] for a in listed["agents"]] == ["text_report"]
    [problem] = listed["load_problems"]
    assert problem["file"].endswith("broken.yaml")
    assert problem["problems"][0].startswith("invalid YAML at line 3")
    assert resource == listed


async def test_starting_an_unknown_agent_says_how_many_files_failed_and_why(
    runtime: AgentRuntime,
) -> None:
    async with Client(build_server(runtime)) as client:
        message = await error_of(client, "start_execution", agent="broken")
    assert "no agent 'broken'" in message
    assert "known agents: text_report" in message
    assert "1 agent file failed to load:" in message
    assert "files failed" not in message
    assert "broken.yaml" in message


def test_a_step_that_prints_never_reaches_the_stdio_wire(tmp_path: Path) -> None:
    """print, sys.stdout.write and os.write(1) from a thread, with buffered stdout."""
    messages = [
        *RAW_HELLO,
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "run_noisy", "arguments": {"text": "hi"}},
        },
    ]
    env = {"PATH": HOST_PATH, "HOME": str(tmp_path), "HIVE_MCP_AGENTS": str(AGENTS / "noisy")}
    with subprocess.Popen(
        [sys.executable, "-m", "hive_mcp", "serve"],
        env=env,  # no PYTHONUNBUFFERED: stdout is block-buffered, as under a host
        cwd="/",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        for message in messages:
            proc.stdin.write(json.dumps(message).encode() + b"\n")
        proc.stdin.flush()
        lines = []
        while not any(b'"id":2' in line.replace(b" ", b"") for line in lines):
            line = proc.stdout.readline()
            assert line, "the server closed stdout early"
            lines.append(line)
        out, err = proc.communicate(timeout=HANG)  # closes stdin: the server stops, flushing
    assert proc.returncode == 0, err.decode(errors="replace")
    lines += out.splitlines(keepends=True)
    replies = [json.loads(line) for line in lines if line.strip()]  # each one JSON
    assert all(r["jsonrpc"] == "2.0" for r in replies)
    assert b"NOISY" not in b"".join(lines)
    result = next(r for r in replies if r.get("id") == 2)["result"]
    assert result["structuredContent"]["status"] == "completed"
    for text in (
        b"NOISY import-time print",
        b"NOISY print hi",
        b"NOISY sys.stdout.write no newline",
        b"NOISY raw write from a thread",
    ):
        assert text in err
