"""The hive-mcp command line: results on stdout, progress and errors on stderr."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from hive_mcp import __version__
from hive_mcp.cli._main import main
from hive_mcp.store import SQLiteStore
from tests.support import HANG

REPO = Path(__file__).resolve().parent.parent
TEXT = "The fox ran. The dog ran after the fox. A fox is quick, a dog is not."


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HIVE_MCP_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HIVE_MCP_AGENTS", raising=False)
    monkeypatch.chdir(REPO)
    return tmp_path / "home"


def test_run_prints_the_output_as_json_on_stdout_and_progress_on_stderr() -> None:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hive_mcp",
            "run",
            "text_report",
            "--input",
            json.dumps({"text": TEXT}),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout)  # nothing but the JSON on stdout
    assert output["result"]["words"]["total"] == 17
    assert "▶ text_report started" in done.stderr
    assert "⇉ parallel: count_words, measure_sentences (join at compose)" in done.stderr
    assert done.stderr.rstrip().endswith("■ completed")


def test_run_quiet_shows_no_progress(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "text_report", "--quiet", "--input", json.dumps({"text": TEXT})]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["result"]["sentences"]["count"] == 3
    assert captured.err == ""


def test_validate_reports_every_shipped_agent_as_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate"]) == 0
    assert "ok   text_report" in capsys.readouterr().out


def test_validate_refuses_llm_nodes_with_no_model_and_no_scripted_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nomodel.yaml"
    path.write_text(
        "name: nomodel\nentry_node: a\nterminal_nodes: [b]\n"
        "nodes: [{id: a, output_keys: [x]}, {id: b, model: openai/gpt-4o-mini, input_keys: [x]}]\n"
        "edges: [{source: a, target: b}]\n"
    )
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: 1 problem:" in err
    assert "node 'a' is an LLM node with no model and the agent has no scripted_policy" in err
    path.write_text(path.read_text().replace("nodes: [{id: a,", "nodes: [{id: a, model: x/y,"))
    assert main(["validate", str(path)]) == 0


def test_validate_a_broken_file_lists_its_problems_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "name: broken\nentry_node: a\nterminal_nodes: [b]\n"
        "defaults: {model: openai/gpt-4o-mini}\n"
        "nodes: [{id: a}, {id: b}]\nedges: [{source: a, target: c}]\n"
    )
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: 1 problem:" in err
    assert "edge a -> c: target names unknown node 'c'" in err


def test_agents_lists_names_and_descriptions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agents", "--json"]) == 0
    agents = {a["name"]: a for a in json.loads(capsys.readouterr().out)}
    assert set(agents) == {"files_assistant", "issue_triage", "support_desk", "text_report"}
    assert agents["text_report"]["input_schema"]["required"] == ["text"]
    assert agents["support_desk"]["client_facing_nodes"] == ["intake"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "nope"], "error: no agent 'nope' in "),
        (["run", "text_report", "--input", "{text: 1}"], "error: --input is not valid JSON"),
        (["run", "text_report", "--input", "[1]"], "must be a JSON object, not list"),
        (["run", "text_report", "--input", '{"text": ""}'], "text: '' should be non-empty"),
        (
            ["run", "text_report", "--input", '{"text": "x"}', "--entry-point", "hook"],
            "has no entry point 'hook'",
        ),
        (["resume", "ex_missing"], "error: no execution 'ex_missing' in the store"),
    ],
)
def test_user_mistakes_exit_2_with_a_message_and_no_traceback(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_a_missing_agents_folder_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HIVE_MCP_AGENTS", str(tmp_path / "nowhere"))
    assert main(["agents"]) == 2
    err = capsys.readouterr().err
    assert f"the agents folder {tmp_path / 'nowhere'} does not exist" in err
    assert "point HIVE_MCP_AGENTS at a folder" in err


def test_version_and_help_say_what_they_should(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"hive-mcp {__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "$HIVE_MCP_AGENTS" in text and "$HIVE_MCP_HOME" in text
    assert "3 waiting for input (parked)" in text


def test_a_corrupt_store_is_reported_clearly_and_left_alone(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home.mkdir(parents=True)
    (home / "store.db").write_bytes(b"garbage" * 1000)
    assert main(["run", "text_report", "--input", json.dumps({"text": TEXT})]) == 2
    err = capsys.readouterr().err
    assert "is not a SQLite database" in err and "Traceback" not in err
    assert (home / "store.db").read_bytes() == b"garbage" * 1000


def test_resuming_a_finished_execution_is_refused(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "text_report", "--input", json.dumps({"text": TEXT})]) == 0
    first_line = capsys.readouterr().err.splitlines()[0]
    execution_id = first_line.split("execution ")[1].rstrip(")")
    assert main(["resume", execution_id]) == 2
    assert (
        "is already completed; only unfinished executions can be resumed" in capsys.readouterr().err
    )


def test_a_failed_execution_exits_1_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "agents" / "fails"
    folder.mkdir(parents=True)
    (folder / "steps.py").write_text("def boom():\n    raise ValueError('no luck')\n")
    (folder / "agent.yaml").write_text(
        "name: fails\nentry_node: a\nterminal_nodes: [a]\ndefaults: {max_retries: 0}\n"
        "nodes: [{id: a, type: function, function: 'steps:boom'}]\n"
    )
    monkeypatch.setenv("HIVE_MCP_AGENTS", str(tmp_path / "agents"))
    assert main(["run", "fails"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "failed: node 'a' failed: ValueError: no luck" in captured.err


def test_schema_prints_the_agent_file_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "hive-mcp agent file"
    assert "nodes" in schema["required"]


def test_run_answers_questions_from_answer_flags(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["run", "support_desk", "--input", '{"customer": "Ada"}', "--answer", "reset my password"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(captured.out)["reply"].endswith("(see kb-101)")
    assert "model: scripted policy (offline, no model)" in captured.err
    assert "? intake asks: Hi Ada! What can I help you with?" in captured.err
    assert "✉ answer: reset my password" in captured.err


def test_an_unanswerable_question_leaves_the_execution_parked_for_resume(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal, no --answer
    assert main(["run", "support_desk", "--quiet", "--input", '{"customer": "Bo"}']) == 3
    err = capsys.readouterr().err
    assert "waits for input: Hi Bo! What can I help you with?" in err
    execution_id = err.split("hive-mcp resume ")[1].split()[0]
    assert main(["resume", execution_id, "--quiet", "--answer", "export my data"]) == 0
    assert json.loads(capsys.readouterr().out)["reply"].endswith("(see kb-103)")
    assert main(["report", execution_id, "--steps"]) == 0
    report = capsys.readouterr().out
    assert f"execution {execution_id} (support_desk): completed" in report
    assert "research: success, 1 visits" in report
    assert "⚙ search_kb(" in report


def test_report_of_an_unknown_execution_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "ex_nope"]) == 2
    assert "no execution 'ex_nope' in the store" in capsys.readouterr().err


def test_report_json_has_the_three_levels(capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", "text_report", "--quiet", "--input", json.dumps({"text": TEXT})])
    capsys.readouterr()
    import anyio

    from hive_mcp.config import Settings
    from hive_mcp.store import SQLiteStore

    async def first_id() -> str:
        store = SQLiteStore(Settings.load().store_path)
        (record,) = await store.list_executions()
        await store.close()
        return record.id

    execution_id = anyio.run(first_id)
    assert main(["report", execution_id, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"summary", "nodes", "steps"}
    assert data["summary"]["status"] == "completed"
    assert {n["node_id"] for n in data["nodes"]} >= {"prepare", "compose", "publish"}


SLOW_AGENT = """
name: slowpoke
description: One step that takes a minute.
entry_node: nap
terminal_nodes: [nap]
nodes:
  - {id: nap, type: function, function: "steps:nap", output_keys: [rested]}
edges: []
"""


def test_sigterm_suspends_a_run_instead_of_cancelling_it(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "agents"
    folder.mkdir()
    (folder / "slowpoke.yaml").write_text(SLOW_AGENT)
    (folder / "steps.py").write_text(
        "import anyio\n\n\nasync def nap():\n    await anyio.sleep(60)\n    return {'rested': True}\n"
    )
    env = {**os.environ, "HIVE_MCP_AGENTS": str(folder), "HIVE_MCP_HOME": str(home)}
    with subprocess.Popen(
        [sys.executable, "-m", "hive_mcp", "run", "slowpoke"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:  # wait until the step runs
            if "● nap" in line:
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "stopped by SIGTERM: execution ex_" in err and "is suspended, not cancelled" in err
    capsys.readouterr()
    assert main(["executions", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["status"] == "running"  # resumable: 'hive-mcp resume' picks it up
    assert row["id"] in err

    async def runtimes() -> list[Any]:
        store = SQLiteStore(home / "store.db")
        try:
            return await store.list_runtimes()
        finally:
            await store.close()

    assert anyio.run(runtimes) == []  # the session let go of its lease on the way out


def test_run_writes_only_the_output_json_to_stdout_when_a_step_prints(tmp_path: Path) -> None:
    noisy = Path(__file__).parent / "agents" / "noisy"
    done = subprocess.run(
        [sys.executable, "-m", "hive_mcp", "run", "noisy", "--input", '{"text": "hi"}'],
        env={**os.environ, "HIVE_MCP_HOME": str(tmp_path), "HIVE_MCP_AGENTS": str(noisy)},
        capture_output=True,
        timeout=HANG,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"echo": "hi"}
    assert b"NOISY import-time print" in done.stderr
    assert b"NOISY raw write from a thread" in done.stderr
