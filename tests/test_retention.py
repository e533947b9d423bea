"""Retention: old finished executions are forgotten with everything stored for them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from hive_mcp.cli._main import main
from hive_mcp.config import Settings
from hive_mcp.events import Event, EventType
from hive_mcp.graph import AgentCatalog
from hive_mcp.runtime import AgentRuntime
from hive_mcp.store import (
    Checkpoint,
    ExecutionRecord,
    ExecutionStatus,
    Journal,
    NodeState,
    RetentionPolicy,
    RowCounts,
    SQLiteStore,
    Store,
    WriteBatch,
    open_store,
    prune,
)
from tests.support import HANG

DAY = 86_400.0
NOW = 1_900_000_000.0
DONE, FAILED, CANCELLED = (
    ExecutionStatus.COMPLETED,
    ExecutionStatus.FAILED,
    ExecutionStatus.CANCELLED,
)
RUNNING, WAITING = ExecutionStatus.RUNNING, ExecutionStatus.WAITING_FOR_INPUT


def execution(
    id: str,
    status: ExecutionStatus,
    *,
    days_idle: float,
    parent: str | None = None,
    started_days_ago: float | None = None,
    now: float = NOW,
) -> ExecutionRecord:
    """An execution last active ``days_idle`` days before ``now``."""
    updated = now - days_idle * DAY
    created = updated - 60 if started_days_ago is None else now - started_days_ago * DAY
    return ExecutionRecord(
        id=id, agent="a", status=status, parent_id=parent, created_at=created, updated_at=updated
    )


async def fill(store: Store, data_dir: Path, *records: ExecutionRecord) -> None:
    """Store the executions, each with 3 events, a checkpoint, a node state and a spill file."""
    batch = WriteBatch(executions=list(records))
    for r in records:
        batch.events += [Event(execution_id=r.id, seq=n, type=EventType.CUSTOM) for n in (1, 2, 3)]
        batch.checkpoints.append(Checkpoint(execution_id=r.id, event_seq=3, state={"n": 1}))
        batch.node_states.append(NodeState(r.id, "loop", "{}"))
        spill = data_dir / r.id / "spill"
        spill.mkdir(parents=True)
        (spill / "result.txt").write_text("a large tool result")
    await store.write(batch)


async def kept(store: Store) -> set[str]:
    return {s.id for s in await store.execution_stubs()}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "store.db")
    yield store
    await store.close()


@pytest.mark.anyio
async def test_old_finished_executions_go_with_their_events_checkpoints_states_and_files(
    store: SQLiteStore, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    await fill(
        store,
        data,
        execution("old_done", DONE, days_idle=40),
        execution("old_failed", FAILED, days_idle=31),
        execution("recent_done", DONE, days_idle=1),
        execution("old_waiting", WAITING, days_idle=90),
        execution("old_running", RUNNING, days_idle=90),
    )
    report = await prune(store, RetentionPolicy(30, None), data_dir=data, now=NOW)

    assert sorted(s.id for s in report.executions) == ["old_done", "old_failed"]
    assert report.rows == RowCounts(executions=2, events=6, checkpoints=2, node_states=2)
    assert report.folders == 2
    assert await kept(store) == {"recent_done", "old_waiting", "old_running"}
    for gone in ("old_done", "old_failed"):
        assert await store.get_execution(gone) is None
        assert await store.read_events(gone) == []
        assert await store.last_checkpoint(gone) is None
        assert await store.load_node_state(gone, "loop") is None
        assert not (data / gone).exists()
    for stays in ("recent_done", "old_waiting", "old_running"):
        assert len(await store.read_events(stays)) == 3
        assert await store.last_checkpoint(stays) is not None
        assert (data / stays / "spill" / "result.txt").is_file()


@pytest.mark.anyio
async def test_delegates_stay_while_their_caller_is_unfinished_and_go_with_it_once_it_is_done(
    store: SQLiteStore, tmp_path: Path
) -> None:
    await fill(
        store,
        tmp_path / "data",
        # A caller still running: its finished delegate and that one's delegate stay.
        execution("running_caller", RUNNING, days_idle=50),
        execution("done_delegate", DONE, days_idle=50, parent="running_caller"),
        execution("done_grandchild", DONE, days_idle=50, parent="done_delegate"),
        # A finished caller whose delegate still waits: neither goes.
        execution("done_caller", CANCELLED, days_idle=50),
        execution("waiting_delegate", WAITING, days_idle=50, parent="done_caller"),
        # A finished family goes whole, though the delegate is recent.
        execution("old_caller", DONE, days_idle=45),
        execution("recent_delegate", DONE, days_idle=2, parent="old_caller"),
        execution("old_caller_2", DONE, days_idle=45),
        execution("old_delegate_2", DONE, days_idle=45, parent="old_caller_2"),
        # A delegate whose caller is no longer stored heads its own family.
        execution("orphan", DONE, days_idle=45, parent="ex_pruned_long_ago"),
    )
    report = await prune(store, RetentionPolicy(30, None), data_dir=None, now=NOW)

    assert sorted(s.id for s in report.executions) == [
        "old_caller_2",
        "old_delegate_2",
        "orphan",
    ]
    assert await kept(store) == {
        "running_caller",
        "done_delegate",
        "done_grandchild",
        "done_caller",
        "waiting_delegate",
        "old_caller",
        "recent_delegate",
    }


@pytest.mark.anyio
async def test_the_count_limit_keeps_the_newest_top_level_executions_with_their_delegates(
    store: SQLiteStore, tmp_path: Path
) -> None:
    await fill(
        store,
        tmp_path / "data",
        execution("first", DONE, days_idle=0, started_days_ago=5),
        execution("first_delegate", DONE, days_idle=0, started_days_ago=1, parent="first"),
        execution("second", FAILED, days_idle=0, started_days_ago=4),
        execution("third", RUNNING, days_idle=0, started_days_ago=3),
        execution("fourth", DONE, days_idle=0, started_days_ago=2),
        execution("fifth", DONE, days_idle=0, started_days_ago=1),
        execution("fifth_delegate", DONE, days_idle=0, started_days_ago=1, parent="fifth"),
    )
    report = await prune(store, RetentionPolicy(None, 2), data_dir=None, now=NOW)

    # Newest first: fifth, fourth (kept), third (beyond 2 but running), second, first.
    assert sorted(s.id for s in report.executions) == ["first", "first_delegate", "second"]
    assert await kept(store) == {"third", "fourth", "fifth", "fifth_delegate"}


@pytest.mark.anyio
async def test_age_and_count_both_apply(store: SQLiteStore, tmp_path: Path) -> None:
    await fill(
        store,
        tmp_path / "data",
        execution("old", DONE, days_idle=10, started_days_ago=10),
        execution("newer", DONE, days_idle=3, started_days_ago=3),
        execution("newest", DONE, days_idle=1, started_days_ago=1),
    )
    both = RetentionPolicy(max_age_days=7, max_executions=2)
    report = await prune(store, both, data_dir=None, now=NOW)
    assert [s.id for s in report.executions] == ["old"]
    report = await prune(
        store, RetentionPolicy(max_age_days=2, max_executions=2), data_dir=None, now=NOW
    )
    assert [s.id for s in report.executions] == ["newer"]
    assert await kept(store) == {"newest"}


@pytest.mark.anyio
async def test_a_dry_run_reports_what_would_go_and_changes_nothing(
    store: SQLiteStore, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    await fill(
        store,
        data,
        execution("old", DONE, days_idle=40),
        execution("recent", DONE, days_idle=1),
    )
    policy = RetentionPolicy(30, None)
    dry = await prune(store, policy, data_dir=data, now=NOW, dry_run=True)
    assert [s.id for s in dry.executions] == ["old"]
    assert dry.rows == RowCounts(executions=1, events=3, checkpoints=1, node_states=1)
    assert dry.folders == 1 and dry.dry_run
    assert await kept(store) == {"old", "recent"}
    assert len(await store.read_events("old")) == 3
    assert (data / "old" / "spill" / "result.txt").is_file()

    real = await prune(store, policy, data_dir=data, now=NOW)
    assert (real.executions, real.rows, real.folders) == (dry.executions, dry.rows, dry.folders)
    assert await kept(store) == {"recent"}


@pytest.mark.anyio
async def test_keeping_everything_removes_nothing(store: SQLiteStore, tmp_path: Path) -> None:
    await fill(store, tmp_path / "data", execution("ancient", DONE, days_idle=3650))
    report = await prune(store, RetentionPolicy(None, None), data_dir=tmp_path / "data", now=NOW)
    assert report.executions == [] and await kept(store) == {"ancient"}


class FakeSleep:
    """Stands in for the runtime's wait between prunes: the test decides when it ends."""

    def __init__(self) -> None:
        self.asleep_send, self.asleep = anyio.create_memory_object_stream[float](10)
        self.wake, self.wake_receive = anyio.create_memory_object_stream[None](10)

    async def __call__(self, seconds: float) -> None:
        await self.asleep_send.send(seconds)  # the prune before this one has finished
        await self.wake_receive.receive()

    def __enter__(self) -> FakeSleep:
        return self

    def __exit__(self, *_: object) -> None:
        for stream in (self.asleep_send, self.asleep, self.wake, self.wake_receive):
            stream.close()


@pytest.mark.anyio
async def test_the_runtime_prunes_on_start_and_then_after_every_interval(
    store: SQLiteStore, tmp_path: Path
) -> None:
    clock = [NOW]
    data = tmp_path / "data"
    await fill(
        store, data, execution("old", DONE, days_idle=40), execution("aging", DONE, days_idle=20)
    )
    with anyio.fail_after(HANG), FakeSleep() as sleep:
        async with (
            Journal(store) as journal,
            AgentRuntime(
                AgentCatalog(),
                journal,
                data_dir=data,
                retention=RetentionPolicy(30, None),
                retention_every=3600,
                now=lambda: clock[0],
                sleep=sleep,
            ),
        ):
            assert await sleep.asleep.receive() == 3600  # pruned once on start
            assert await kept(store) == {"aging"}
            assert not (data / "old").exists()

            clock[0] += 11 * DAY  # 'aging' is now 31 days idle
            await sleep.wake.send(None)
            assert await sleep.asleep.receive() == 3600
            assert await kept(store) == set()
            assert not (data / "aging").exists()


@pytest.mark.anyio
async def test_runtimes_sharing_a_store_take_turns_to_prune_it(
    shared_store: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    store, other = open_store(shared_store), open_store(shared_store)  # two processes' views

    async def serve(on: Store, sleep: FakeSleep, stop: anyio.Event, gone: anyio.Event) -> None:
        async with (
            Journal(on) as journal,
            AgentRuntime(
                AgentCatalog(),
                journal,
                data_dir=data,
                retention=RetentionPolicy(30, None),
                retention_every=3600,
                now=lambda: NOW,
                sleep=sleep,
            ),
        ):
            await stop.wait()
        gone.set()

    stop_a, stop_b, a_gone, b_gone = anyio.Event(), anyio.Event(), anyio.Event(), anyio.Event()
    with anyio.fail_after(HANG), FakeSleep() as sleep_a, FakeSleep() as sleep_b:
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve, store, sleep_a, stop_a, a_gone)
            assert await sleep_a.asleep.receive() == 3600  # A pruned on start: its turn
            tg.start_soon(serve, other, sleep_b, stop_b, b_gone)
            assert await sleep_b.asleep.receive() == 3600

            await fill(store, data, execution("old", DONE, days_idle=40))
            await sleep_b.wake.send(None)
            assert await sleep_b.asleep.receive() == 3600
            assert await kept(store) == {"old"}  # not B's turn while A runs
            await sleep_a.wake.send(None)
            assert await sleep_a.asleep.receive() == 3600
            assert await kept(store) == set()

            await fill(store, data, execution("older", DONE, days_idle=50))
            stop_a.set()
            await a_gone.wait()  # A has stopped and given up its turn
            await sleep_b.wake.send(None)
            assert await sleep_b.asleep.receive() == 3600
            assert await kept(store) == set()
            assert not (data / "older").exists()
            stop_b.set()
    await store.close()
    await other.close()


# -- the command and its settings -----------------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HIVE_MCP_HOME", str(tmp_path / "home"))
    for name in ("HIVE_MCP_RETENTION_DAYS", "HIVE_MCP_RETENTION_MAX_EXECUTIONS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


def test_the_prune_command_prints_what_it_removes_and_a_dry_run_changes_nothing(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = time.time()

    async def setup() -> None:
        store = SQLiteStore(home / "store.db")
        await fill(
            store,
            home / "data",
            execution("ex_old", DONE, days_idle=10, now=now),
            execution("ex_week", FAILED, days_idle=5, now=now),
            execution("ex_today", DONE, days_idle=0, now=now),
            execution("ex_parked", WAITING, days_idle=60, now=now),
        )
        await store.close()

    anyio.run(setup)
    assert main(["prune", "--dry-run", "--older-than", "7"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("would remove ex_old  a  completed  ")
    assert lines[-1] == (
        "would remove 1 executions (3 events, 1 checkpoints, 1 node states, 1 spill folders); "
        "policy: remove finished executions older than 7 days"
    )
    assert (home / "data" / "ex_old").is_dir()

    assert main(["prune", "--older-than", "7"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("removed 1 executions (3 events")
    assert not (home / "data" / "ex_old").exists()

    assert main(["prune", "--keep", "1"]) == 0  # the newest is ex_today; ex_parked is waiting
    out = capsys.readouterr().out
    assert "removed ex_week  a  failed" in out and "removed 1 executions" in out

    assert main(["executions", "--json"]) == 0
    assert "ex_today" in capsys.readouterr().out


def test_with_retention_off_the_prune_command_removes_nothing_and_says_so(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HIVE_MCP_RETENTION_DAYS", "0")
    monkeypatch.setenv("HIVE_MCP_RETENTION_MAX_EXECUTIONS", "")
    assert main(["prune"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "retention is off" in captured.err


def test_retention_comes_from_config_yaml_and_the_environment_and_0_keeps_forever(
    tmp_path: Path,
) -> None:
    def policy(env: dict[str, str], config: str | None = None) -> RetentionPolicy:
        if config is not None:
            (tmp_path / "config.yaml").write_text(config)
        return Settings.load({"HIVE_MCP_HOME": str(tmp_path), **env}, cwd=tmp_path).retention

    assert policy({}) == RetentionPolicy(max_age_days=30, max_executions=10_000)
    assert policy({}, "retention: {days: 7, max_executions: 100}\n") == RetentionPolicy(7, 100)
    assert policy({"HIVE_MCP_RETENTION_DAYS": "1.5"}) == RetentionPolicy(1.5, 100)
    assert policy({"HIVE_MCP_RETENTION_MAX_EXECUTIONS": "0"}) == RetentionPolicy(7, None)
    assert policy({}, "retention: {days: 0, max_executions: null}\n") == RetentionPolicy(None, None)
    assert policy({"HIVE_MCP_RETENTION_DAYS": ""}, "retention: {days: 3}\n") == RetentionPolicy(
        None, 10_000
    )


@pytest.mark.parametrize(
    ("env", "config", "message"),
    [
        (
            {"HIVE_MCP_RETENTION_DAYS": "a month"},
            None,
            "HIVE_MCP_RETENTION_DAYS must be a number of days (0 keeps forever), not 'a month'",
        ),
        ({"HIVE_MCP_RETENTION_DAYS": "-1"}, None, "HIVE_MCP_RETENTION_DAYS must be a number"),
        (
            {"HIVE_MCP_RETENTION_MAX_EXECUTIONS": "2.5"},
            None,
            "HIVE_MCP_RETENTION_MAX_EXECUTIONS must be a whole number of executions",
        ),
        ({}, "retention: {days: -3}\n", "retention.days: Input should be greater than or equal"),
        ({}, "retention: {keep: 3}\n", "retention.keep: Extra inputs are not permitted"),
    ],
)
def test_bad_retention_settings_are_a_one_line_error_with_exit_2(
    env: dict[str, str],
    config: str | None,
    message: str,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if config is not None:
        home.mkdir(parents=True)
        (home / "config.yaml").write_text(config)
    assert main(["prune"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err
    assert not (home / "store.db").exists()  # refused before touching anything


def test_a_policy_refuses_bounds_that_make_no_sense() -> None:
    with pytest.raises(ValueError, match="max_age_days must be above 0"):
        RetentionPolicy(max_age_days=0)
    with pytest.raises(ValueError, match="max_executions must be at least 1"):
        RetentionPolicy(max_executions=0)
