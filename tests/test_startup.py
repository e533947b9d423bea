"""What starting hive-mcp costs: commands that never speak MCP leave the SDK unimported,
and agent files are read with libyaml exactly as the pure-Python loader reads them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hive_mcp._yaml import load_yaml
from tests.test_transports import REPO, env_for

# Imported only by what speaks MCP (serve, demo, a tool server, a node's tool
# call) or calls a real model: about half a second (litellm: seconds) at start.
HEAVY = ("mcp", "mcp_types", "litellm", "uvicorn", "starlette")


def imported_by(home: Path, *args: str) -> set[str]:
    """Every module the real ``hive-mcp ARGS`` process imported, from ``-X importtime``."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hive_mcp", *args],
        env=env_for(home),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # Lines read "import time: self | cumulative | <indent>module".
    return {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }


@pytest.mark.parametrize(
    "args",
    [
        ("validate", str(REPO / "graph")),
        ("agents",),
        ("run", "text_report", "--input", '{"text": "a b. c d."}'),
        ("executions",),
        ("schema",),
    ],
    ids=lambda args: args[0],
)
def test_commands_that_never_speak_mcp_do_not_import_the_sdk(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    modules = imported_by(tmp_path, *args)
    assert "hive_mcp.cli._main" in modules  # the check saw the command's imports
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == [], f"hive-mcp {args[0]} imported {heavy[:5]}"


@pytest.mark.parametrize("args", [("executions",), ("prune", "--dry-run")], ids=lambda a: a[0])
def test_operator_commands_load_no_agents_executor_or_tool_servers(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    # They read the store: the graph layer (pydantic models of agent files,
    # jsonschema, croniter), the executor and the tool-server client wait for
    # a command that runs a graph.
    modules = imported_by(tmp_path, *args)
    assert "hive_mcp.store" in modules
    unwanted = {"hive_mcp.graph", "hive_mcp.runtime._runtime", "hive_mcp.toolbox._connection"}
    assert sorted(unwanted & modules) == []
    assert "jsonschema" not in modules


def test_validate_loads_agents_without_the_executor(tmp_path: Path) -> None:
    modules = imported_by(tmp_path, "validate", str(REPO / "graph"))
    assert "hive_mcp.graph._loader" in modules
    assert "hive_mcp.graph._executor" not in modules
    assert "hive_mcp.runtime._runtime" not in modules


def test_serve_still_imports_the_sdk(tmp_path: Path) -> None:
    # The other side of the check above: the same probe does see the SDK when
    # a command needs it (``tool-server --help`` builds no server but imports it).
    modules = imported_by(tmp_path, "tool-server", "filesystem", "--help")
    assert "mcp" in modules


def test_the_shipped_agent_files_read_the_same_through_libyaml() -> None:
    assert yaml.__with_libyaml__  # the wheel ships it; without it the fast path is moot
    files = sorted((REPO / "graph").glob("*/agent.yaml"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert load_yaml(text) == yaml.safe_load(text), path


def test_a_document_deep_enough_to_crash_libyaml_is_refused_with_recursion_error() -> None:
    # 100,000 levels exhaust the C stack in libyaml's composer (a segfault);
    # such a text goes to the pure loader, which raises RecursionError, and
    # the agent loader turns that into "the file is nested too deeply".
    deep = "a: " + "[" * 100_000 + "]" * 100_000 + "\n"
    with pytest.raises(RecursionError):
        load_yaml(deep)


def test_yaml_errors_keep_the_pure_loaders_words_and_position() -> None:
    text = "name: x\nnodes: [\n  - a: b\n"
    with pytest.raises(yaml.YAMLError) as ours:
        load_yaml(text)
    with pytest.raises(yaml.YAMLError) as pure:
        yaml.safe_load(text)
    assert str(ours.value) == str(pure.value)
    # libyaml refuses this escape; the pure loader reads it (our checks then name it).
    assert json.dumps(load_yaml('d: "x\\ud800"\n')) == json.dumps(yaml.safe_load('d: "x\\ud800"\n'))
