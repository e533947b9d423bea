"""Entry points: webhooks over real HTTP, timers on a clock the tests move, events, limits."""

from __future__ import annotations

import datetime as dt
import inspect
import json
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from hive_mcp.errors import UsageError
from hive_mcp.graph import load_agent, load_catalog
from hive_mcp.graph._triggers import TimerTrigger, missed_fire
from hive_mcp.graph.nodes import resolve_callable
from hive_mcp.runtime import AgentRuntime
from hive_mcp.server import build_server
from hive_mcp.server._reload import sync_agents
from hive_mcp.server._webhooks import signature
from hive_mcp.store import ExecutionRecord, ExecutionStatus, Journal, SQLiteStore, open_store
from tests.support import HANG, free_port
from tests.test_mcp_server import call
from tests.test_transports import TOKEN, authed, http_server

pytestmark = pytest.mark.anyio
AGENTS = Path(__file__).resolve().parent / "agents" / "triggers"
SECRET = "s3cret-for-tests"
START = dt.datetime(2026, 1, 1, 2, 58, tzinfo=dt.UTC).timestamp()  # two minutes before 03:00


class FakeClock:
    """A clock that moves only when the test says so."""

    def __init__(self, now: float) -> None:
        self.t = now
        self._moved = anyio.Event()

    def now(self) -> float:
        return self.t

    async def sleep_until(self, when: float) -> None:
        while self.t < when:
            moved = self._moved
            await moved.wait()

    def advance(self, seconds: float) -> None:
        self.t += seconds
        moved, self._moved = self._moved, anyio.Event()
        moved.set()


@pytest.fixture
async def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def runtime(
    journal: Journal, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[AgentRuntime]:
    async with AgentRuntime(
        load_catalog(AGENTS), journal, data_dir=tmp_path, triggers=True, clock=clock
    ) as rt:
        yield rt


async def executions(
    rt: AgentRuntime, agent: str, count: int, where: Callable[[ExecutionRecord], bool] = bool
) -> list[ExecutionRecord]:
    """Wait until ``count`` executions of ``agent`` (matching ``where``) have completed."""
    with anyio.fail_after(HANG):
        while True:
            found = [r for r in await rt.list_executions(agent=agent, limit=500) if where(r)]
            done = [r for r in found if r.status is ExecutionStatus.COMPLETED]
            if len(done) >= count:
                return sorted(found, key=lambda r: r.created_at)
            await anyio.sleep(0.01)


async def eventually(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await anyio.sleep(0.01)
    raise AssertionError("the condition did not come true within 5 s")


def via(entry_point: str) -> Callable[[ExecutionRecord], bool]:
    return lambda r: r.entry_point == entry_point


async def test_timers_fire_on_their_interval_and_cron_schedule(
    runtime: AgentRuntime, clock: FakeClock
) -> None:
    # run_immediately: the nightly timer fires once at start, then at 03:00 UTC.
    [first] = await executions(runtime, "inbox", 1, via("nightly"))
    assert first.input == {"subject": "nightly"}
    assert first.output == {"handled": "NIGHTLY"}
    assert not [
        r for r in await runtime.list_executions(agent="inbox") if r.entry_point == "minutely"
    ]
    assert runtime.triggers is not None
    assert runtime.triggers.next_fire[("inbox", "nightly")] == START + 120

    clock.advance(60)
    [tick] = await executions(runtime, "inbox", 1, via("minutely"))
    assert tick.output == {"handled": "TICK"}
    clock.advance(60)  # 03:00
    await executions(runtime, "inbox", 2, via("minutely"))
    await executions(runtime, "inbox", 2, via("nightly"))
    assert runtime.triggers.next_fire[("inbox", "nightly")] == START + 120 + 86_400


async def test_a_missed_interval_fires_once_not_in_a_burst(
    runtime: AgentRuntime, clock: FakeClock
) -> None:
    clock.advance(10 * 60)  # the process slept through ten minutes
    await executions(runtime, "inbox", 1, via("minutely"))
    await anyio.sleep(0.2)
    fired = [r for r in await runtime.list_executions(agent="inbox") if r.entry_point == "minutely"]
    assert len(fired) == 1


DIGEST = """
name: digest
description: Sends a digest every night; catches up a night missed while no server ran.
input_schema: {type: object, properties: {subject: {type: string}}, required: [subject]}
entry_node: handle
terminal_nodes: [handle]
entry_points:
  - {id: nightly, trigger: timer, config: {cron: "0 3 * * *", catch_up: true, input: {subject: n}}}
  - {id: plain, trigger: timer, config: {cron: "0 3 * * *", input: {subject: p}}}
  - {id: hourly, trigger: timer, config: {interval_minutes: 60, catch_up: true, input: {subject: h}}}
nodes:
  - {id: handle, type: function, function: "steps:handle", input_keys: [subject], output_keys: [handled]}
"""


async def test_a_catch_up_timer_fires_once_for_a_time_missed_while_no_server_ran(
    tmp_path: Path, clock: FakeClock
) -> None:
    folder = tmp_path / "agents"
    folder.mkdir()
    shutil.copy(AGENTS / "steps.py", folder)
    (folder / "digest.yaml").write_text(DIGEST)
    store = SQLiteStore(tmp_path / "s.db")

    async def fired_after_start() -> list[str | None]:
        async with AgentRuntime(
            load_catalog(folder), journal, data_dir=tmp_path, triggers=True, clock=clock
        ) as rt:
            await anyio.sleep(0.3)  # time for a start-up fire to show up
            return [r.entry_point for r in await rt.list_executions(agent="digest")]

    async with Journal(store) as journal:
        assert await fired_after_start() == []  # nothing fired before: nothing to catch up
        async with AgentRuntime(
            load_catalog(folder), journal, data_dir=tmp_path, triggers=True, clock=clock
        ) as rt:
            triggers = rt.triggers
            assert triggers is not None
            await eventually(lambda: len(triggers.next_fire) == 3)  # every timer has its time
            clock.advance(120)  # 03:00 on the first night
            await executions(rt, "digest", 2)
        clock.advance(26 * 3600)  # the host was closed over the next 03:00
        after_restart = await fired_after_start()
        again = await fired_after_start()  # a second restart owes nothing
    await store.close()
    assert sorted(after_restart, key=str) == ["nightly", "nightly", "plain"]
    assert sorted(again, key=str) == ["nightly", "nightly", "plain"]


def test_a_missed_fire_is_the_newest_schedule_time_since_the_last_start() -> None:
    hourly = TimerTrigger(interval_minutes=60)
    nightly = TimerTrigger(cron="0 3 * * *")
    three = START + 120  # 03:00 UTC
    assert missed_fire(hourly, last=START, now=START + 3599) is None
    assert missed_fire(hourly, last=START, now=START + 7 * 3600) == START + 3600
    assert missed_fire(nightly, last=three - 1, now=three + 60) == three
    assert missed_fire(nightly, last=three, now=three + 86_399) is None
    assert missed_fire(nightly, last=three, now=three + 3 * 86_400 + 5) == three + 3 * 86_400


async def test_an_event_entry_point_fires_on_other_agents_and_not_on_its_own(
    runtime: AgentRuntime,
) -> None:
    record = await runtime.start("inbox", {"subject": "hello"})

    def about(execution_id: str) -> Callable[[ExecutionRecord], bool]:
        return lambda r: r.input["event"]["execution_id"] == execution_id

    [seen] = await executions(runtime, "watcher", 1, about(record.id))
    assert seen.entry_point == "on_completed"
    assert seen.output == {"seen": "inbox:execution_completed"}
    # echo_all listens to inbox only; the watcher hears echo_all but never itself.
    [echo] = await executions(runtime, "echo_all", 1, about(record.id))
    await executions(runtime, "watcher", 1, about(echo.id))
    await anyio.sleep(0.2)  # time for a wrongly fired execution to show up
    watched = [r.input["event"]["agent"] for r in await runtime.list_executions(agent="watcher")]
    echoed = [r.input["event"]["agent"] for r in await runtime.list_executions(agent="echo_all")]
    assert "watcher" not in watched and "echo_all" in watched
    assert set(echoed) == {"inbox"}


async def test_an_entry_point_with_a_limit_queues_the_rest(runtime: AgentRuntime) -> None:
    held = inspect.getmodule(resolve_callable("steps:hold", AGENTS)).HELD  # type: ignore[union-attr]
    started = [await runtime.trigger("queue", "limited", {"subject": f"q{i}"}) for i in range(4)]
    await eventually(lambda: len(held) >= 2)
    await anyio.sleep(0.1)
    statuses = [(await runtime.get_execution(r.id)).status for r in started]
    assert statuses.count(ExecutionStatus.RUNNING) == 2
    assert statuses.count(ExecutionStatus.PENDING) == 2
    # Starting by hand is not limited by the entry point.
    manual = await runtime.start("queue", {"subject": "by-hand"})
    await eventually(lambda: "by-hand" in held)
    for name in ["q0", "q1", "q2", "q3", "by-hand"]:
        held.setdefault(name, anyio.Event()).set()
        await anyio.sleep(0.05)
    done = await executions(runtime, "queue", 5)
    assert {r.id for r in done} == {*(r.id for r in started), manual.id}


async def test_a_shared_entry_point_joins_the_primary_sessions_inputs_only(
    runtime: AgentRuntime,
) -> None:
    primary = await runtime.start("session", {"owner": "Ada"})
    with anyio.fail_after(HANG):
        while (
            await runtime.get_execution(primary.id)
        ).status is not ExecutionStatus.WAITING_FOR_INPUT:
            await runtime.get_events(primary.id, wait_seconds=1)
    mail = await runtime.trigger("session", "mail", {"mail": "invoice"})
    assert mail.input == {"rules": "Ada's rules", "mail": "invoice"}  # not 'scratch'
    [done] = await executions(runtime, "session", 1, via("mail"))
    assert done.output == {"filed": "invoice filed by Ada's rules"}


async def test_agents_can_be_added_and_removed_while_executions_run(
    runtime: AgentRuntime, clock: FakeClock
) -> None:
    held = inspect.getmodule(resolve_callable("steps:hold", AGENTS)).HELD  # type: ignore[union-attr]
    running = await runtime.start("queue", {"subject": "long"})
    await eventually(lambda: "long" in held)
    runtime.remove_agent("queue")
    runtime.remove_agent("inbox")  # its timers stop with it
    with pytest.raises(UsageError, match="no agent 'queue'"):
        await runtime.start("queue", {"subject": "new"})
    held["long"].set()
    with anyio.fail_after(HANG):
        while (await runtime.get_execution(running.id)).status is not ExecutionStatus.COMPLETED:
            await runtime.get_events(running.id, wait_seconds=1)

    before = len(await runtime.list_executions(agent="inbox"))
    clock.advance(3600)
    await anyio.sleep(0.2)
    assert len(await runtime.list_executions(agent="inbox")) == before

    runtime.add_agent(load_agent(AGENTS / "inbox.yaml"))
    with pytest.raises(UsageError, match="already loaded"):
        runtime.add_agent(load_agent(AGENTS / "inbox.yaml"))
    record = await runtime.start("inbox", {"subject": "back"})
    await executions(runtime, "inbox", 1, lambda r: r.id == record.id)


def test_bad_entry_points_are_refused_when_the_agent_loads(tmp_path: Path) -> None:
    text = (AGENTS / "inbox.yaml").read_text()
    bad = text.replace('cron: "0 3 * * *"', 'cron: "61 3 * * *"').replace(
        "{id: open, trigger: webhook}", "{id: open, trigger: webhook, entry_node: nowhere}"
    )
    bad = bad.replace("interval_minutes: 1,", "interval_minutes: 1, every: 2,")
    (tmp_path / "inbox.yaml").write_text(bad)
    shutil.copy(AGENTS / "steps.py", tmp_path)
    [error] = load_catalog(tmp_path).errors
    text = str(error)
    assert "entry point 'nightly' (timer): config.cron: '61 3 * * *' is not a valid cron" in text
    assert "entry point 'open': entry_node" in text and "'nowhere'" in text
    assert "entry point 'minutely' (timer): config.every: unknown field for a timer" in text


async def test_a_webhook_over_http_starts_an_execution_and_bad_requests_start_nothing(
    tmp_path: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/hooks"
    env = {"HIVE_MCP_AGENTS": str(AGENTS), "INBOX_HOOK_SECRET": SECRET}
    with http_server(tmp_path, port, extra_env=env):
        async with httpx2.AsyncClient() as http:

            async def post(path: str, body: Any, **headers: str) -> httpx2.Response:
                raw = json.dumps(body).encode()
                return await http.post(f"{base}/{path}", content=raw, headers=headers)

            good = {"subject": "deploy"}
            raw = json.dumps(good).encode()
            ok = await post("inbox/signed", good, **{"X-Hub-Signature-256": signature(SECRET, raw)})
            assert ok.status_code == 202, ok.text
            assert ok.json()["status"] in ("pending", "running")

            forged = await post("inbox/signed", good, **{"X-Hub-Signature-256": "sha256=00"})
            assert forged.status_code == 401
            unsigned = await post("inbox/signed", good)
            assert unsigned.status_code == 401 and "X-Hub-Signature-256" in unsigned.json()["error"]
            # No secret on this one: the server's bearer token is required instead.
            assert (await post("inbox/open", good)).status_code == 401
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            invalid = await post("inbox/open", {"subject": ""}, **bearer)
            assert invalid.status_code == 422
            assert "subject" in invalid.json()["error"]
            assert (await post("inbox/nowhere", good, **bearer)).status_code == 404
            assert (await post("inbox/minutely", good, **bearer)).status_code == 404
            assert (await post("inbox/open", ["not", "an", "object"], **bearer)).status_code == 400
            wrong_method = await http.get(f"{base}/inbox/open", headers=bearer)
            assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"
            huge = await post("inbox/open", {"subject": "x" * 1_100_000}, **bearer)
            assert huge.status_code == 413 and "over the limit" in huge.json()["error"]
            again = await post("inbox/open", good, **bearer, **{"Idempotency-Key": "d-1"})
            same = await post("inbox/open", good, **bearer, **{"Idempotency-Key": "d-1"})
            assert again.json()["execution_id"] == same.json()["execution_id"]

        with authed(port) as client_http:
            url = f"http://127.0.0.1:{port}/mcp"
            async with (
                client_http,
                Client(streamable_http_client(url, http_client=client_http)) as client,
            ):
                listed = await call(client, "list_executions", agent="inbox")
                agents = await call(client, "list_agents")
    started = [e for e in listed["executions"]]
    # The signed delivery and the idempotent one; the timer's immediate run too.
    ids = {e["execution_id"] for e in started}
    assert ok.json()["execution_id"] in ids and again.json()["execution_id"] in ids
    assert len([e for e in started]) == 3
    inbox = next(a for a in agents["agents"] if a["name"] == "inbox")
    hooks = {ep["id"]: ep for ep in inbox["entry_points"]}
    assert hooks["signed"]["trigger"] == "webhook" and hooks["signed"]["config"]["signed"] is True
    assert hooks["nightly"]["config"]["cron"] == "0 3 * * *"


async def test_the_server_follows_agents_added_changed_and_removed_in_its_folder(
    journal: Journal, tmp_path: Path
) -> None:
    folder = tmp_path / "agents"
    shutil.copytree(AGENTS, folder)
    async with AgentRuntime(load_catalog(folder), journal, data_dir=tmp_path) as rt:
        server = build_server(rt)
        async with Client(server) as client:
            before = {t.name for t in (await client.list_tools()).tools}
            assert "run_inbox" in before and "run_inbox_copy" not in before

            copy = (folder / "inbox.yaml").read_text().replace("name: inbox", "name: inbox_copy")
            (folder / "inbox_copy.yaml").write_text(copy)
            (folder / "queue.yaml").unlink()
            (folder / "session.yaml").write_text("name: [broken")  # being edited: keep it
            changes = sync_agents(rt, server, load_catalog(folder))
            assert changes == ["removed agent queue", "added agent inbox_copy"]

            after = {t.name for t in (await client.list_tools()).tools}
            assert after == (before - {"run_queue"}) | {"run_inbox_copy"}
            result = await call(client, "run_inbox_copy", subject="hi")
            assert result["output"] == {"handled": "HI"}
            listed = await call(client, "list_agents")
            assert "queue" not in {a["name"] for a in listed["agents"]}

            changed = copy.replace("Handles a subject", "Handles a subject twice")
            (folder / "inbox_copy.yaml").write_text(changed)
            assert sync_agents(rt, server, load_catalog(folder)) == ["replaced agent inbox_copy"]
            assert sync_agents(rt, server, load_catalog(folder)) == []

            steps = folder / "steps.py"  # an edited step takes effect in new executions
            steps.write_text(steps.read_text().replace("subject.upper()", "subject.title()"))
            replaced = sync_agents(rt, server, load_catalog(folder))
            assert "replaced agent inbox_copy" in replaced
            result = await call(client, "run_inbox_copy", subject="hi there")
            assert result["output"] == {"handled": "Hi There"}


def test_the_cli_runs_an_entry_point_with_its_fixed_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hive_mcp.cli._main import main

    monkeypatch.setenv("HIVE_MCP_HOME", str(tmp_path))
    monkeypatch.setenv("HIVE_MCP_AGENTS", str(AGENTS))
    assert main(["run", "inbox", "--entry-point", "nightly", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out) == {"handled": "NIGHTLY"}
    assert main(["run", "inbox", "--entry-point", "weekly", "--quiet"]) == 2
    assert "no entry point 'weekly' (known: signed, open, minutely, nightly)" in (
        capsys.readouterr().err
    )


async def test_listening_clients_hear_that_the_tools_changed_when_a_file_appears(
    journal: Journal, tmp_path: Path
) -> None:
    from mcp.server.subscriptions import InMemorySubscriptionBus
    from mcp.shared.subscriptions import ToolsListChanged

    from hive_mcp.server._reload import watch_agents

    folder = tmp_path / "agents"
    shutil.copytree(AGENTS, folder)
    updates = InMemorySubscriptionBus()
    async with AgentRuntime(load_catalog(folder), journal, data_dir=tmp_path) as rt:
        server = build_server(rt, subscriptions=updates)
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_agents, rt, server, folder, updates, 0.02)
            async with Client(server) as client:
                async with client.listen(tools_list_changed=True) as listener:
                    copy = (folder / "inbox.yaml").read_text().replace("name: inbox", "name: fresh")
                    (folder / "fresh.yaml").write_text(copy)
                    with anyio.fail_after(HANG):
                        async for event in listener:
                            if isinstance(event, ToolsListChanged):
                                break
                tools = {t.name for t in (await client.list_tools()).tools}
            assert "run_fresh" in tools
            tg.cancel_scope.cancel()


def test_the_agents_command_says_how_each_agent_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hive_mcp.cli._main import main

    monkeypatch.setenv("HIVE_MCP_AGENTS", str(AGENTS))
    assert main(["agents"]) == 0
    out = capsys.readouterr().out
    assert "starts by webhook 'signed': POST /hooks/inbox/signed (HMAC-signed)" in out
    assert "POST /hooks/inbox/open (the server's bearer token if it has one, else open)" in out
    assert "starts by timer 'minutely': every 60 s" in out
    assert "starts by timer 'nightly': cron 0 3 * * * (UTC)" in out
    assert "starts by event 'on_completed': on execution_completed" in out


async def test_two_servers_on_one_store_fire_each_timer_once(
    tmp_path: Path, clock: FakeClock, shared_store: str
) -> None:
    stores = [open_store(shared_store), open_store(shared_store)]
    async with (
        Journal(stores[0]) as first_journal,
        Journal(stores[1]) as second_journal,
        AgentRuntime(
            load_catalog(AGENTS), first_journal, data_dir=tmp_path, triggers=True, clock=clock
        ) as first,
        AgentRuntime(
            load_catalog(AGENTS), second_journal, data_dir=tmp_path, triggers=True, clock=clock
        ),
    ):
        await executions(first, "inbox", 1, via("nightly"))  # run_immediately, by one of them
        clock.advance(60)
        await executions(first, "inbox", 1, via("minutely"))
        await anyio.sleep(0.3)  # time for a second, wrong, fire to show up
        fired = [r.entry_point for r in await first.list_executions(agent="inbox")]
    for store in stores:
        await store.close()
    assert sorted(fired) == ["minutely", "nightly"]
