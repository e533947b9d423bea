"""A process killed mid-run resumes from its last checkpoint in a new process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hive_mcp.events import Event, EventType
from hive_mcp.store import ExecutionStatus, SQLiteStore
from tests.support import HANG

AGENTS = Path(__file__).parent / "agents"


def cli(home: Path, *args: str, hang: bool = False) -> subprocess.Popen[str]:
    env = {**os.environ, "HIVE_MCP_HOME": str(home), "HIVE_MCP_AGENTS": str(AGENTS)}
    env["HIVE_TEST_HANG"] = "1" if hang else "0"
    return subprocess.Popen(
        [sys.executable, "-m", "hive_mcp", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_until(
    home: Path, agent: str, input: dict[str, object], marker: str, sig: int
) -> tuple[str, int]:
    """Run AGENT with its hang point on; at MARKER on stderr send SIG; return (execution id, exit code).

    The progress lines on stderr are the synchronisation: no sleeps.
    """
    execution_id = None
    with cli(home, "run", agent, "--input", json.dumps(input), hang=True) as victim:
        assert victim.stderr is not None
        for line in victim.stderr:
            if "started (execution" in line:
                execution_id = line.split("execution ")[1].rstrip(")\n")
            if marker in line:
                break
        victim.send_signal(sig)
        code = victim.wait(timeout=HANG)
    assert execution_id is not None
    return execution_id, code


@pytest.mark.anyio
async def test_a_sigkilled_run_resumes_from_its_checkpoint_with_the_same_output(
    tmp_path: Path,
) -> None:
    # Reference: the same input run without interruption.
    clean_log = tmp_path / "clean.log"
    with cli(
        tmp_path / "clean",
        "run",
        "resumable",
        "--input",
        json.dumps({"log": str(clean_log), "n": 1}),
    ) as clean:
        clean_out, _ = clean.communicate(timeout=30)
    assert clean.returncode == 0
    assert json.loads(clean_out) == {"answer": 100}

    home, log = tmp_path / "home", tmp_path / "calls.log"
    execution_id, _ = run_until(
        home, "resumable", {"log": str(log), "n": 1}, "hang: waiting to be killed", signal.SIGKILL
    )
    calls = log.read_text().split()
    assert calls[0] == "start" and sorted(calls[1:3]) == ["left", "right"]
    assert calls[3:] == ["join", "hang"]

    store = SQLiteStore(home / "store.db")
    before = await store.read_events(execution_id, limit=10_000)
    checkpoint = await store.last_checkpoint(execution_id)
    record = await store.get_execution(execution_id)
    assert record is not None and record.status is ExecutionStatus.RUNNING  # died running
    assert checkpoint is not None and checkpoint.state["root"]["node"] == "hang"
    await store.close()

    with cli(home, "resume", execution_id) as resumed:
        out, err = resumed.communicate(timeout=30)
    assert resumed.returncode == 0, err
    assert json.loads(out) == json.loads(clean_out)

    # Nodes finished before the checkpoint did not run again; the one in flight did.
    assert log.read_text().split()[-3:] == ["hang", "hang", "finish"]
    assert sorted(log.read_text().split()) == sorted(
        ["start", "left", "right", "join", "hang", "hang", "finish"]
    )

    store = SQLiteStore(home / "store.db")
    after = await store.read_events(execution_id, limit=10_000)
    record = await store.get_execution(execution_id)
    await store.close()
    assert record is not None and record.status is ExecutionStatus.COMPLETED
    assert [e.seq for e in after] == list(range(1, len(after) + 1))
    assert after[: len(before)] == before  # the old log is intact, nothing rewritten
    resumed_at = after[len(before)]
    assert resumed_at.type is EventType.EXECUTION_RESUMED
    assert resumed_at.data == {"from_checkpoint": checkpoint.event_seq}
    completed = [e.node_id for e in after if e.type is EventType.NODE_COMPLETED]
    for node in ("start", "left", "right", "join", "hang", "finish"):
        assert completed.count(node) == 1, node


@pytest.mark.anyio
async def test_ctrl_c_cancels_the_run_and_records_it_as_cancelled(tmp_path: Path) -> None:
    home, log = tmp_path / "home", tmp_path / "calls.log"
    execution_id, code = run_until(
        home, "resumable", {"log": str(log), "n": 1}, "hang: waiting to be killed", signal.SIGINT
    )
    assert code == 130  # promptly, though the step still sleeps in its thread

    store = SQLiteStore(home / "store.db")
    record = await store.get_execution(execution_id)
    events = await store.read_events(execution_id, limit=10_000)
    await store.close()
    assert record is not None and record.status is ExecutionStatus.CANCELLED
    assert events[-1].type is EventType.EXECUTION_CANCELLED
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


@pytest.mark.anyio
async def test_a_loop_killed_mid_turn_resumes_without_redoing_a_recorded_tool_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, log = tmp_path / "home", tmp_path / "tools.log"
    monkeypatch.setenv("HIVE_TEST_LOG", str(log))  # inherited by both processes
    execution_id, _ = run_until(
        home, "loop_resume", {"log": str(log)}, "hang_tool: waiting to be killed", signal.SIGKILL
    )
    assert log.read_text().split() == ["record:one", "hang_tool"]

    with cli(home, "resume", execution_id) as resumed:
        out, err = resumed.communicate(timeout=30)
    assert resumed.returncode == 0, err
    assert json.loads(out) == {"result": {"ok": True}}
    # record's result was stored before the kill: not run again; hang_tool's was not: run again.
    assert log.read_text().split() == ["record:one", "hang_tool", "hang_tool"]

    store = SQLiteStore(home / "store.db")
    events = await store.read_events(execution_id, limit=10_000)
    await store.close()
    resumed_at = next(i for i, e in enumerate(events) if e.type is EventType.EXECUTION_RESUMED)
    after = events[resumed_at:]
    hang_calls = [
        e.data["tool_call_id"]
        for e in events
        if e.type is EventType.TOOL_CALL_STARTED and e.data["name"] == "hang_tool"
    ]
    assert (
        len(hang_calls) == 2 and hang_calls[0] == hang_calls[1]
    )  # the same recorded call, not a new turn
    first_iteration_after = next(
        e.data["iteration"] for e in after if e.type is EventType.NODE_LOOP_ITERATION
    )
    assert first_iteration_after == 3  # turn 2 was not asked of the model again
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def _events(home: Path, execution_id: str) -> list[Event]:
    store = SQLiteStore(home / "store.db")
    try:
        return await store.read_events(execution_id, limit=10_000)
    finally:
        await store.close()


@pytest.mark.anyio
async def test_a_kill_between_parallel_tool_results_runs_only_the_unrecorded_calls_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, log = tmp_path / "home", tmp_path / "tools.log"
    monkeypatch.setenv("HIVE_TEST_LOG", str(log))
    execution_id, _ = run_until(
        home, "parallel_resume", {"log": str(log)}, "hang: waiting to be killed", signal.SIGKILL
    )
    assert sorted(log.read_text().split()) == sorted([f"fetch:f{i}" for i in range(7)] + ["slow"])

    with cli(home, "resume", execution_id) as resumed:
        out, err = resumed.communicate(timeout=30)
    assert resumed.returncode == 0, err
    expected = sorted([f"content of f{i}" for i in range(7)] + ["content of slow"])
    assert json.loads(out) == {"index": expected}  # every call answered before the next turn
    runs = log.read_text().split()
    assert runs.count("slow") == 2  # unrecorded before the kill: run on resume
    assert all(runs.count(f"fetch:f{i}") == 1 for i in range(7))  # recorded: never again
    events = await _events(home, execution_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


@pytest.mark.anyio
async def test_a_node_in_a_parallel_branch_resumes_as_the_same_visit_from_its_saved_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, log = tmp_path / "home", tmp_path / "tools.log"
    monkeypatch.setenv("HIVE_TEST_LOG", str(log))
    execution_id, _ = run_until(
        home, "branch_resume", {"log": str(log)}, "hang: waiting to be killed", signal.SIGKILL
    )
    assert log.read_text().split() == ["side_effect", "slow"]

    with cli(home, "resume", execution_id) as resumed:
        out, err = resumed.communicate(timeout=30)
    assert resumed.returncode == 0, err
    assert json.loads(out) == {"both": ["quick done", "worked"]}
    assert log.read_text().split() == ["side_effect", "slow", "slow"]  # the side effect once
    events = await _events(home, execution_id)
    worker_visits = [
        e.data["visit"]
        for e in events
        if e.type is EventType.NODE_STARTED and e.node_id == "worker"
    ]
    assert worker_visits == [1, 1]
    loops = [e.data["resumed"] for e in events if e.type is EventType.NODE_LOOP_STARTED]
    assert loops == [False, True]
