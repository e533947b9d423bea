"""The bad-input battery, part two: CLI arguments and agent files.

A CLI mistake exits 2 with one line on stderr that names the problem, and
changes nothing stored. A broken agent file is reported with its name and what
is wrong, and the other agents of its folder load and serve as before.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from hive_mcp.cli._main import main
from hive_mcp.graph import load_catalog
from tests.test_mcp_server import call
from tests.test_operator_cli import REPO, _newest, home, park, stored
from tests.test_transports import env_for

__all__ = ["home"]  # the fixture (autouse): a fresh HIVE_MCP_HOME per test

DEEP = "[" * 100_000 + "]" * 100_000
BIG = "x" * 2_000_000  # over the 1 MB limit of an input or an answer
CLI_CASES: dict[str, tuple[list[str], str]] = {
    "--input with a surrogate escape": (["run", "text_report", "--input", '{"text": "x\\ud800"}'], "input.text contains a lone UTF-16 surrogate (U+D800) at character 1"),
    "--input with NaN": (["run", "text_report", "--input", '{"text": NaN}'], "input.text is nan, which JSON cannot carry"),
    "--input nested 100,000 deep": (["run", "text_report", "--input", '{"text": ' + DEEP + "}"], "--input is nested too deeply to read"),
    "--input with a 5,000-digit number": (["run", "text_report", "--input", '{"text": ' + "9" * 5000 + "}"], "--input has a number too long to read"),
    "--input that is a list": (["run", "text_report", "--input", '["text"]'], "--input must be a JSON object, not list"),
    "--input that is not UTF-8": (["run", "text_report", "--input", '{"text": "caf\udce9"}'], "--input is not valid UTF-8 (byte 0xe9 at character 13)"),
    "--answer that is not UTF-8": (["run", "support_desk", "--input", '{"customer": "A"}', "--answer", "a\udcffb"], "--answer is not valid UTF-8 (byte 0xff at character 1)"),
    "--answer of 2 MB": (["run", "support_desk", "--input", '{"customer": "A"}', "--answer", BIG], "--answer is 2000000 bytes, over the limit of 1000000"),
    "resume --answer of 2 MB": (["resume", "{parked}", "--answer", BIG], "--answer is 2000000 bytes, over the limit of 1000000"),
    "input TEXT that is not UTF-8": (["input", "{parked}", "a\udcffb"], "TEXT is not valid UTF-8 (byte 0xff at character 1)"),
    "input TEXT of 2 MB": (["input", "{parked}", BIG], "TEXT is 2000000 bytes, over the limit of 1000000"),
    "an execution id that is not UTF-8": (["events", "ex_\udcff"], "EXECUTION is not valid UTF-8 (byte 0xff at character 3)"),
    "cancel of such an id": (["cancel", "ex_\udcff"], "EXECUTION is not valid UTF-8"),
    "report of such an id": (["report", "ex_\udcff"], "EXECUTION is not valid UTF-8"),
    "--agent that is not UTF-8": (["executions", "--agent", "\udcff"], "--agent is not valid UTF-8 (byte 0xff at character 0)"),
    "events --after 10**20": (["events", "{done}", "--after", str(10**20)], "--after must be at most 9223372036854775807"),
    "executions --limit 10**20": (["executions", "--limit", str(10**20)], "--limit must be at most 9223372036854775807"),
}  # fmt: skip


@pytest.mark.parametrize("case", CLI_CASES)
def test_a_bad_cli_argument_exits_2_with_one_line_naming_it_and_changes_nothing(
    case: str, capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    assert main(["run", "text_report", "--quiet", "--input", '{"text": "One. Two."}']) == 0
    capsys.readouterr()
    done = _newest(capsys)
    parked = park(capsys)
    before = {done: stored(home, done), parked: stored(home, parked)}

    args, message = CLI_CASES[case]
    assert main([a.replace("{done}", done).replace("{parked}", parked) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err[:500]
    assert message in err
    assert {done: stored(home, done), parked: stored(home, parked)} == before


def test_argument_bytes_that_are_not_utf8_are_named_in_a_real_process(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hive_mcp", "events", b"ex_\xff\xfe"],
        env=env_for(tmp_path),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == (
        b"error: EXECUTION is not valid UTF-8 (byte 0xff at character 3); pass UTF-8 text\n"
    )


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "hive_mcp", "serve", "--http", "--port", str(port)],
            env=env_for(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: cannot serve on 127.0.0.1:{port}: Address already")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "store.db").exists()  # refused before anything opened


def test_serve_refuses_a_port_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--http", "--port", "99999999"])
    assert exited.value.code == 2
    assert "a port is a whole number from 0 to 65535, not '99999999'" in capsys.readouterr().err


# -- agent files ---------------------------------------------------------

AGENT = "entry_node: a\nterminal_nodes: [a]\nnodes:\n  - {id: a, type: function, function: 'm:f'}\n"
BROKEN: dict[str, tuple[bytes, str]] = {
    "not_utf8.yaml": (b"name: latin\ndescription: caf\xe9\n" + AGENT.encode(), "the file is not UTF-8 text (byte 0xe9 at offset 28); save it as UTF-8"),
    "deep.yaml": (b"name: deep\ndescription: " + b"[" * 10_000 + b"]" * 10_000 + b"\n", "the file is nested too deeply to read"),
    "deep.json": (b'{"name": "deepj", "description": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "the file is nested too deeply to read"),
    "nested.yaml": (("name: nested\ndescription: d\ninput_schema: {type: object, examples: " + "[" * 70 + "1" + "]" * 70 + "}\n" + AGENT).encode(), "input_schema.examples[0][0][0]"),
    "digits.yaml": (("name: digits\ndescription: d\nmax_steps: " + "9" * 5000 + "\n" + AGENT).encode(), "a value cannot be read: a number has more than 4300 digits"),
    "digits.json": (('{"name": "digitsj", "max_steps": ' + "9" * 5000 + "}").encode(), "a value cannot be read: a number has more than 4300 digits"),
    "surrogate.yaml": (b'name: surrogate\ndescription: "x\\ud800"\n' + AGENT.encode(), "description contains a lone UTF-16 surrogate (U+D800) at character 1"),
    "surrogate.json": (b'{"name": "surrogatej", "description": "x\\udfff", "entry_node": "a", "terminal_nodes": ["a"], "nodes": [{"id": "a", "type": "function", "function": "m:f"}]}', "description contains a lone UTF-16 surrogate (U+DFFF)"),
    "nan.json": (b'{"name": "nan", "description": "d", "max_steps": NaN, "entry_node": "a", "terminal_nodes": ["a"], "nodes": [{"id": "a", "type": "function", "function": "m:f"}]}', "max_steps: Input should be a finite number"),
    "nan.yaml": (b"name: nany\ndescription: d\ninput_schema: {type: object, default: .nan}\n" + AGENT.encode(), "input_schema.default is nan, which JSON cannot carry"),
}  # fmt: skip


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "agents"
    shutil.copytree(REPO / "graph" / "text_report", folder / "text_report")
    for name, (content, _) in BROKEN.items():
        (folder / name).write_bytes(content)
    return folder


def test_broken_agent_files_are_each_named_with_the_problem_and_the_rest_load(
    folder: Path,
) -> None:
    catalog = load_catalog(folder)
    assert set(catalog.agents) == {"text_report"}
    found = {Path(e.source).name: str(e) for e in catalog.errors}
    assert set(found) == set(BROKEN)
    for name, (_, problem) in BROKEN.items():
        assert problem in found[name], found[name]
        assert found[name].count("\n") == 1  # "FILE: 1 problem:" and the problem


@pytest.mark.parametrize("name", BROKEN)
def test_validate_names_the_problem_of_a_broken_agent_file(
    name: str, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(folder / name)]) == 1
    err = capsys.readouterr().err
    assert BROKEN[name][1] in err and "Traceback" not in err


@pytest.mark.anyio
async def test_the_server_serves_the_good_agents_of_a_folder_with_broken_files(
    folder: Path, tmp_path: Path
) -> None:
    env = env_for(tmp_path / "home") | {"HIVE_MCP_AGENTS": str(folder)}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "hive_mcp", "serve"], env=env
    )
    with anyio.fail_after(60):
        async with Client(params) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            result = await call(client, "run_text_report", text="Owls hoot.")
    assert "run_text_report" in names and not any("digits" in n or "deep" in n for n in names)
    assert result["status"] == "completed"


def test_serve_started_with_stdin_closed_stops_cleanly(tmp_path: Path) -> None:
    # How some launchers start a daemon: no descriptor 0 at all. Nothing to read: stop.
    done = subprocess.run(
        ["sh", "-c", 'exec "$0" -m hive_mcp serve <&-', sys.executable],
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
