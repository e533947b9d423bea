"""The crash harness: a real ``hive-mcp serve --http`` SIGKILLed at random points.

A *mix* of executions runs against a server process limited to a few
concurrent executions, so some wait queued: LLM turns making 8 parallel
side-effect calls (``crash_parallel``), a fan-out whose LLM branch makes a
side effect beside a quick function branch (``crash_fanout``), a
client-facing node that waits for an answer and then makes a side effect
(``crash_asker``), and the example agents ``support_desk`` and
``text_report``. Side effects go through the ledger tool server
(tests/tool_servers/ledger.py), a real subprocess that fsyncs one line per
run to a file outside hive-mcp.

Each server process is a *generation*. Every generation but the last is
killed at a kill point of one kind: a random short delay, right after a
batch of starts, right after an answer was delivered, after the k-th result
of a parallel turn, or after the first side effect of a fan-out branch. Each
kind comes equally often, in an order shuffled by the seed; the delays and
``k`` come from a ``random.Random`` seeded by the seed and the generation.
When no execution can reach the chosen point (none is before it), the kill
comes at a random moment instead. The server is SIGKILLed there and started
again on the same home, where it resumes what was unfinished. Meanwhile the
harness starts executions (with idempotency keys, so a start cut by a kill is
simply retried), a share in each generation, and answers every question,
until all executions are terminal or the time bound passes.

Then every execution is checked (``check``), and each broken invariant
counts as an anomaly:

- ``terminal``: it ended (completed, failed or cancelled);
- ``same_output``: status and output equal those of the same input in a run
  of the mix without kills (the reference);
- ``gap_free``: its event log is numbered 1..n;
- ``starts_started``: its log begins with ``execution_started``;
- ``ran_once``: no side effect whose result the log recorded ran again. A
  call runs once per process that reached it, and only a process that was
  killed before its result was recorded may leave a run beside the recorded
  one (the at-least-once window): runs by later processes, by the recording
  process itself, two runs by one process, or a run by a process that was not
  killed and recorded nothing, are anomalies. The ledger says which
  generation made each run and each recorded result names the generation
  that produced it, so the check needs no clocks.

Kill points depend on timing, so a seed replays the mix, the kinds of kill
points, their order and the delays, not the exact instants; no verdict
depends on timing. Used by tests/test_crash.py (bounded, in the suite) and
scripts/crash_test.py (the long version).
"""

from __future__ import annotations

import atexit
import json
import math
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2
from mcp import Client

from tests.support import free_port
from tests.test_transports import env_for

REPO = Path(__file__).resolve().parent.parent
MIX_AGENTS = REPO / "tests" / "agents" / "crash_mix"
EXAMPLE_AGENTS = ("support_desk", "text_report")
LEDGER_SERVER = REPO / "tests" / "tool_servers" / "ledger.py"
SEED_ENV = "HIVE_CRASH_SEED"
TERMINAL = ("completed", "failed", "cancelled")
INVARIANTS = ("terminal", "same_output", "gap_free", "starts_started", "ran_once")
KILL_KINDS = ("delay", "after_starts", "after_answer", "parallel_results", "branch_effect")
KILL_WAIT = 6.0  # a kill point that does not come within this is given up for another
SURVIVOR = 10_000  # the generation number of the replica that is never killed
PARALLEL_CALLS = 8

_QUESTIONS = (
    "How do I reset my password?",
    "How do I change my plan?",
    "How do I export my data?",
    "Is two-factor authentication available?",
)
_WORDS = [
    "owls",
    "hoot",
    "at",
    "night",
    "and",
    "bees",
    "buzz",
    "by",
    "day",
    "while",
    "cats",
    "nap",
    "in",
    "the",
    "sun",
]


class CrashHarnessError(Exception):
    """The harness could not do its part (a server that would not start, or died by itself)."""


# -- the mix ---------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """One execution of the mix: what to start, and what to answer when it asks."""

    label: str
    agent: str
    input: dict[str, Any]
    answer: str | None = None


def make_mix(count: int, rng: random.Random) -> list[Plan]:
    """``count`` executions: every kind at least once, the rest drawn with weights."""
    kinds = ["crash_parallel", "crash_fanout", "crash_asker", "support_desk", "text_report"]
    chosen = kinds[:count] + rng.choices(kinds, weights=[3, 3, 2, 1, 1], k=max(0, count - 5))
    plans = []
    for i, agent in enumerate(chosen):
        label = f"x{i:04d}"
        if agent == "support_desk":
            plans.append(Plan(label, agent, {"customer": f"C{i}"}, rng.choice(_QUESTIONS)))
        elif agent == "text_report":
            text = ". ".join(" ".join(rng.choices(_WORDS, k=5)) for _ in range(3)) + "."
            plans.append(Plan(label, agent, {"text": text}))
        elif agent == "crash_asker":
            plans.append(Plan(label, agent, {"label": label}, f"colour {rng.randint(1, 99)}"))
        else:
            plans.append(Plan(label, agent, {"label": label}))
    return plans


def agents_folder(where: Path) -> Path:
    """An agents folder with the crash-mix agents and the example agents it uses."""
    where.mkdir(parents=True, exist_ok=True)
    for path in sorted(MIX_AGENTS.iterdir()):
        if path.suffix in (".yaml", ".py"):
            (where / path.name).symlink_to(path)
    for name in EXAMPLE_AGENTS:
        (where / name).symlink_to(REPO / "graph" / name, target_is_directory=True)
    return where


# -- results ---------------------------------------------------------------------


@dataclass
class Outcome:
    """What the server holds about one execution at the end."""

    execution_id: str | None
    status: str = "not started"
    output: Any = None
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Kill:
    generation: int
    kind: str
    reached: bool  # False: no execution could reach that point; killed at a random moment


@dataclass
class MixRun:
    """One run of the mix: outcomes by label, the ledger, and the kills made."""

    outcomes: dict[str, Outcome]
    ledger: list[dict[str, Any]]
    kills: list[Kill]
    generations: int
    answers: int
    finished: bool

    @property
    def killed(self) -> set[int]:
        return {k.generation for k in self.kills}


@dataclass(frozen=True)
class Anomaly:
    invariant: str
    label: str
    agent: str
    execution_id: str | None
    detail: str

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.label} {self.agent} {self.execution_id}: {self.detail}"


@dataclass
class CrashReport:
    """The verdict of one crash run, with what it took."""

    seed: int
    executions: int
    kills: int
    kill_kinds: Counter[str]
    generations: int
    completed: int
    anomalies: list[Anomaly]
    reference_anomalies: list[Anomaly]
    wall_seconds: float
    answers: int
    reruns: int  # ledger runs beyond each call's first: the at-least-once window, if ran_once is 0

    def counts(self) -> dict[str, int]:
        found = Counter(a.invariant for a in self.anomalies)
        return {name: found[name] for name in INVARIANTS}

    def describe(self, limit: int = 40) -> str:
        """A summary, then each anomaly (reference-run ones first), then how to replay."""
        counts = ", ".join(f"{k} {v}" for k, v in self.counts().items())
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.kill_kinds.items()))
        lines = [
            f"seed {self.seed}: {self.executions} executions, {self.kills} kills ({kinds}), "
            f"{self.generations} server processes, {self.completed} completed, "
            f"{self.answers} answers, {self.reruns} repeated side-effect runs, "
            f"{self.wall_seconds:.1f} s; anomalies: {counts}"
        ]
        everything = [f"reference run: {a}" for a in self.reference_anomalies]
        everything += [str(a) for a in self.anomalies]
        lines += everything[:limit]
        if len(everything) > limit:
            lines.append(f"... and {len(everything) - limit} more")
        lines.append(f"replay: {SEED_ENV}={self.seed}")
        return "\n".join(lines)


# -- one server process ----------------------------------------------------------


_LIVE: set[subprocess.Popen[str]] = set()


@atexit.register
def _kill_leftovers() -> None:
    # A harness stopped by Ctrl-C or a test timeout leaves no server running.
    for proc in _LIVE:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


class ServerProcess:
    """``hive-mcp serve --http`` on a home: one generation of the crash run."""

    def __init__(
        self,
        generation: int,
        home: Path,
        agents: Path,
        max_concurrent: int,
        *,
        ledger: Path | None = None,
        store: str | None = None,
    ) -> None:
        self.generation = generation
        self.home = home
        self.log = home.parent / f"{home.name}-serve-{generation}.log"
        self.env = env_for(home) | {
            "HIVE_MCP_AGENTS": str(agents),
            "HIVE_MCP_MAX_CONCURRENT": str(max_concurrent),
            "HIVE_CRASH_LEDGER": str(ledger or ledger_path(home)),
            "HIVE_CRASH_LEDGER_SERVER": str(LEDGER_SERVER),
            "HIVE_CRASH_GENERATION": str(generation),
        }
        if store is not None:
            self.env["HIVE_MCP_STORE"] = store
        self.killed = False
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None
        self._ready = threading.Event()
        self._listening = False

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    async def start(self) -> None:
        """Start it and wait until it listens (the line it prints says so)."""
        for _ in range(3):  # a free port can be taken before the server binds it
            port = free_port()
            self._ready.clear()
            self._listening = False
            self._proc = await anyio.to_thread.run_sync(
                partial(
                    subprocess.Popen,
                    [sys.executable, "-m", "hive_mcp", "serve", "--http", "--port", str(port)],
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
            _LIVE.add(self._proc)
            threading.Thread(target=self._drain, args=(self._proc,), daemon=True).start()
            await anyio.to_thread.run_sync(self._ready.wait, 60)
            if self._listening and await self._answers(f"http://127.0.0.1:{port}/health"):
                self.url = f"http://127.0.0.1:{port}/mcp"
                self.note(f"pid {self._proc.pid} listening on port {port}")
                return
            self._proc.kill()
            await self.wait()
        raise CrashHarnessError(f"the server did not start; its log:\n{self.log_tail()}")

    async def _answers(self, health: str) -> bool:
        # The server says it serves just before uvicorn binds the port: poll (bounded).
        async with httpx2.AsyncClient() as http:
            with anyio.move_on_after(10):
                while self.alive():
                    try:
                        if (await http.get(health)).status_code == 200:
                            return True
                    except httpx2.TransportError:
                        pass
                    await anyio.sleep(0.02)
        return False

    def _drain(self, proc: subprocess.Popen[str]) -> None:
        # Read stderr to its end (a full pipe would stall the server), into the log.
        assert proc.stderr is not None
        with proc.stderr, self.log.open("a", encoding="utf-8") as log:
            for line in proc.stderr:
                log.write(line)
                log.flush()
                if "serving MCP on" in line:
                    self._listening = True
                    self._ready.set()
        self._ready.set()  # it exited: start() sees the exit code

    def note(self, what: str) -> None:
        """A line in the run's journal of generations: what to read when a check fails."""
        with (self.home.parent / f"{self.home.name}-generations.txt").open("a") as f:
            f.write(f"{time.time():.3f} generation {self.generation}: {what}\n")

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def kill(self) -> None:
        """SIGKILL it now (reaped by ``wait``)."""
        self.killed = True
        if self.alive():
            assert self._proc is not None
            self._proc.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        """Reap it: a killed process that is not reaped still looks alive to the next one."""
        proc = self._proc
        assert proc is not None
        code = await anyio.to_thread.run_sync(partial(proc.wait, timeout=30))
        _LIVE.discard(proc)
        return code

    async def stop(self) -> int:
        """SIGTERM, the clean way out; returns the exit code."""
        if self.alive():
            assert self._proc is not None
            self._proc.send_signal(signal.SIGTERM)
        return await self.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(encoding="utf-8").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def ledger_path(home: Path) -> Path:
    return home.parent / f"{home.name}-ledger.jsonl"


# -- driving the mix through kills ------------------------------------------------


@dataclass
class _Tracked:
    plan: Plan
    execution_id: str | None = None
    status: str = "not started"


@dataclass
class _Generation:
    """What the tasks of one generation tell each other."""

    server: ServerProcess
    scope: anyio.CancelScope
    rng: random.Random
    started: anyio.Event = field(default_factory=anyio.Event)
    answered: anyio.Event = field(default_factory=anyio.Event)
    done: bool = False


class MixDriver:
    """Runs a mix against generations of servers on one home until all executions end.

    With ``store`` (a PostgreSQL URL) it runs replicas instead: each generation is
    a server with a home of its own on that store, beside a *survivor* server that
    runs from the start to the end and is never killed. A killed generation's
    executions are taken over by the survivor (or by the next generation), the
    harness answers and follows through the current generation, and the outcomes
    are read from the survivor.
    """

    def __init__(
        self,
        plans: list[Plan],
        home: Path,
        agents: Path,
        *,
        kills: int,
        seed: int,
        max_concurrent: int,
        time_limit: float,
        store: str | None = None,
    ) -> None:
        self.store = store
        self.plans = plans
        self.home = home
        self.agents = agents
        self.max_kills = kills
        # Each kind of kill point equally often, in a seeded order.
        rounds = -(-kills // len(KILL_KINDS))
        self.schedule = [kind for _ in range(rounds) for kind in KILL_KINDS]
        random.Random(seed).shuffle(self.schedule)
        del self.schedule[kills:]
        self.seed = seed
        self.max_concurrent = max_concurrent
        self.time_limit = time_limit
        self.tracked = {p.label: _Tracked(p) for p in plans}
        self.kills: list[Kill] = []
        self.answers = 0

    def _server(self, generation: int) -> ServerProcess:
        if self.store is None:
            return ServerProcess(generation, self.home, self.agents, self.max_concurrent)
        return ServerProcess(
            generation,
            self.home / f"replica-{generation}",
            self.agents,
            self.max_concurrent,
            ledger=ledger_path(self.home),
            store=self.store,
        )

    async def run(self) -> MixRun:
        """Kill and restart until every execution is terminal (or time is up); then collect."""
        self.home.mkdir(parents=True, exist_ok=True)
        if self.store is None:
            return await self._run(None)
        survivor = self._server(SURVIVOR)
        await survivor.start()
        try:
            return await self._run(survivor)
        finally:
            with anyio.CancelScope(shield=True):
                code = await survivor.stop()
            if code != 0:
                raise CrashHarnessError(
                    f"the survivor exited {code} on SIGTERM, not 0; its log:\n{survivor.log_tail()}"
                )

    async def _run(self, survivor: ServerProcess | None) -> MixRun:
        deadline = time.monotonic() + self.time_limit
        generation, server, finished = 0, None, False
        while not finished and time.monotonic() < deadline:
            server = self._server(generation)
            await server.start()
            rng = random.Random(f"{self.seed}:{generation}")
            kill = self.schedule[len(self.kills)] if len(self.kills) < self.max_kills else None
            try:
                with anyio.move_on_after(max(0.0, deadline - time.monotonic())):
                    finished = await self._generation(server, rng, kill)
            except BaseException:
                server.kill()  # never leave a server behind, whatever went wrong
                with anyio.CancelScope(shield=True):
                    await server.wait()
                raise
            if server.killed:
                await server.wait()
                generation += 1
        if server is None or not server.alive():  # time ran out at a kill: one more to read
            server = self._server(generation)
            await server.start()
        try:
            with anyio.fail_after(120):
                outcomes = await self._collect(survivor or server)
        finally:
            code = await server.stop()
        if code != 0:
            raise CrashHarnessError(
                f"the last server exited {code} on SIGTERM, not 0; its log:\n{server.log_tail()}"
            )
        return MixRun(
            outcomes=outcomes,
            ledger=read_ledger(ledger_path(self.home)),
            kills=self.kills,
            generations=server.generation + 1,
            answers=self.answers,
            finished=finished,
        )

    async def _generation(
        self, server: ServerProcess, rng: random.Random, kill: str | None
    ) -> bool:
        """One server's life; True once every execution is terminal (and it still runs)."""
        try:
            async with Client(server.url) as client, anyio.create_task_group() as tg:
                gen = _Generation(server, tg.cancel_scope, rng)
                tg.start_soon(self._starter, client, gen, kill is not None)
                tg.start_soon(self._answerer, client, gen)
                if kill is not None:
                    tg.start_soon(self._killer, client, gen, kill)
        except Exception:
            if not server.killed:
                raise
            return False  # what the client says about a killed server does not matter
        return gen.done

    async def _call(self, client: Client, gen: _Generation, name: str, **args: Any) -> Any:
        """A tool call: its structured result, or the error text; waits to be cancelled
        if the server was killed under it."""
        try:
            result = await client.call_tool(name, args)
        except Exception as exc:
            if gen.server.killed:
                await anyio.sleep_forever()  # the kill cancels this generation's tasks
            if not gen.server.alive():
                raise CrashHarnessError(
                    f"the server died by itself during {name}; its log:\n{gen.server.log_tail()}"
                ) from exc
            raise
        if result.is_error:
            return str(result.content[0].text) if result.content else "error"  # type: ignore[union-attr]
        return result.structured_content

    async def _starter(self, client: Client, gen: _Generation, will_be_killed: bool) -> None:
        # Spread the starts over the generations, so there is work to kill in each.
        waiting = [t for t in self.tracked.values() if t.execution_id is None]
        count = len(waiting)
        if will_be_killed and waiting:
            share = math.ceil(len(waiting) / (self.max_kills - len(self.kills) + 1))
            count = gen.rng.randint(max(1, share // 2), max(1, share * 3 // 2))
            count = min(count, len(waiting) - 1)  # work is left for the next generation too
        for t in waiting[:count]:
            started = await self._call(
                client,
                gen,
                "start_execution",
                agent=t.plan.agent,
                input=t.plan.input,
                idempotency_key=t.plan.label,
            )
            if not isinstance(started, dict):
                raise CrashHarnessError(f"start_execution of {t.plan.label} failed: {started}")
            t.execution_id, t.status = started["execution_id"], started["status"]
        gen.started.set()

    async def _answerer(self, client: Client, gen: _Generation) -> None:
        """Answer every question; end the generation once all executions are terminal."""
        last_seq: dict[str, int] = defaultdict(int)
        turn = 0
        while True:
            listed = await self._call(client, gen, "list_executions", limit=1000)
            status = {e["execution_id"]: e["status"] for e in listed["executions"]}
            for t in self.tracked.values():
                if t.execution_id is not None:
                    t.status = status.get(t.execution_id, t.status)
            for t in self.tracked.values():
                if t.status == "waiting_for_input" and t.plan.answer is not None:
                    sent = await self._call(
                        client, gen, "send_input", execution_id=t.execution_id, text=t.plan.answer
                    )
                    if isinstance(sent, dict) and sent.get("delivered"):
                        self.answers += 1
                        gen.answered.set()
                    # Else it no longer waited (it moved on, or resumed and asks again).
            unfinished = [t for t in self.tracked.values() if t.status not in TERMINAL]
            if not unfinished and gen.started.is_set():
                gen.done = True
                gen.scope.cancel()
                return
            # Wait for progress: a long-poll that returns at the next event of one of them.
            running = [t for t in unfinished if t.execution_id is not None] or None
            if running is None:
                await gen.started.wait()
                continue
            turn += 1
            t = running[turn % len(running)]
            assert t.execution_id is not None
            page = await self._call(
                client,
                gen,
                "get_events",
                execution_id=t.execution_id,
                after=last_seq[t.execution_id],
                limit=1000,
                wait_seconds=0.2,
            )
            if isinstance(page, dict):
                last_seq[t.execution_id] = page["next_after"]

    async def _killer(self, client: Client, gen: _Generation, kind: str) -> None:
        reached = False
        with anyio.move_on_after(KILL_WAIT):
            reached = await self._kill_point(client, gen, kind)
        if not reached:  # no execution can reach that point now: any other moment will do
            await anyio.sleep(gen.rng.uniform(0.0, 0.5))
        gen.server.kill()
        gen.server.note(f"SIGKILL ({kind}{'' if reached else ', not reached'})")
        self.kills.append(Kill(gen.server.generation, kind, reached))
        gen.scope.cancel()

    async def _kill_point(self, client: Client, gen: _Generation, kind: str) -> bool:
        """Wait for the point ``kind`` names; False at once if no execution can reach it."""
        if kind == "delay":
            await anyio.sleep(gen.rng.uniform(0.0, 1.5))
        elif kind == "after_starts":
            await gen.started.wait()
        elif kind == "after_answer":
            await gen.started.wait()
            if not any(t.plan.answer and t.status not in TERMINAL for t in self.tracked.values()):
                return False
            await gen.answered.wait()
        elif kind == "parallel_results":
            k = gen.rng.randint(1, PARALLEL_CALLS - 1)
            return await self._until_results(client, gen, "crash_parallel", k)
        else:
            return await self._until_results(client, gen, "crash_fanout", 1)
        return True

    async def _until_results(self, client: Client, gen: _Generation, agent: str, k: int) -> bool:
        """Wait until an execution of ``agent`` has its ``k``-th side-effect result recorded;
        False if none of them is before that point."""
        await gen.started.wait()
        mine = [t for t in self.tracked.values() if t.plan.agent == agent and t.execution_id]
        running = sorted(str(t.execution_id) for t in mine if t.status == "running")
        queued = sorted(str(t.execution_id) for t in mine if t.status == "pending")
        gen.rng.shuffle(running)  # the running ones first: the queued may not start in time
        gen.rng.shuffle(queued)
        for execution_id in running + queued:
            seen, after, wait = 0, 0, 0.0
            while seen < k:
                page = await self._call(
                    client,
                    gen,
                    "get_events",
                    execution_id=execution_id,
                    after=after,
                    limit=1000,
                    wait_seconds=wait,
                    types=["tool_call_completed"],
                )
                found = sum(1 for e in page["events"] if e["data"].get("name") == "record_effect")
                if wait == 0.0 and seen + found >= k:
                    break  # already past this point: try another
                seen, after, wait = seen + found, page["next_after"], 0.5
                if seen < k and page["status"] in TERMINAL:
                    break
            else:
                return True
        return False

    async def _collect(self, server: ServerProcess) -> dict[str, Outcome]:
        outcomes = {}
        async with Client(server.url) as client:
            for t in self.tracked.values():
                if t.execution_id is None:
                    outcomes[t.plan.label] = Outcome(None)
                    continue
                info = await client.call_tool("get_execution", {"execution_id": t.execution_id})
                data = info.structured_content or {}
                events: list[dict[str, Any]] = []
                while True:
                    after = events[-1]["seq"] if events else 0
                    page = await client.call_tool(
                        "get_events",
                        {"execution_id": t.execution_id, "after": after, "limit": 1000},
                    )
                    got = (page.structured_content or {}).get("events", [])
                    if not got:
                        break
                    events += got
                outcomes[t.plan.label] = Outcome(
                    t.execution_id, data.get("status", "unknown"), data.get("output"), events
                )
        return outcomes


def read_ledger(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


# -- the invariants --------------------------------------------------------------


def check(plans: list[Plan], run: MixRun, reference: MixRun | None) -> list[Anomaly]:
    """Every broken invariant of every execution of ``run``."""
    runs_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in run.ledger:
        runs_of[line["key"].split("/", 1)[0]].append(line)
    found = []
    for plan in plans:
        o = run.outcomes[plan.label]

        def note(invariant: str, detail: str, plan: Plan = plan, o: Outcome = o) -> None:
            found.append(Anomaly(invariant, plan.label, plan.agent, o.execution_id, detail))

        if o.status not in TERMINAL:
            note("terminal", f"ended the run {o.status}")
        elif reference is None and o.status != "completed":
            note("terminal", f"{o.status} without any kill")  # the reference must succeed
        if o.execution_id is None:
            continue
        if reference is not None:
            ref = reference.outcomes[plan.label]
            if (o.status, o.output) != (ref.status, ref.output):
                note(
                    "same_output",
                    f"{o.status} with {o.output!r}; without kills: {ref.status} with {ref.output!r}",
                )
        seqs = [e["seq"] for e in o.events]
        if seqs != list(range(1, len(seqs) + 1)):
            wrong = next(i for i, s in enumerate(seqs, 1) if s != i)
            note("gap_free", f"event {wrong} of the log has seq {seqs[wrong - 1]}")
        if not o.events or o.events[0]["type"] != "execution_started":
            first = o.events[0]["type"] if o.events else "nothing"
            note("starts_started", f"the log starts with {first}")
        for problem in side_effect_problems(o.events, runs_of[plan.label], run.killed):
            note("ran_once", problem)
    return found


def side_effect_problems(
    events: list[dict[str, Any]], runs: list[dict[str, Any]], killed: set[int]
) -> list[str]:
    """What is wrong with the runs of each side effect, given what the log recorded."""
    recorded: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for e in events:
        data = e["data"]
        if e["type"] != "tool_call_completed" or data.get("name") != "record_effect":
            continue
        if data.get("is_error"):
            continue
        try:
            result = json.loads(data["result"])
        except (KeyError, ValueError):
            continue
        recorded[result["key"]].append((result["gen"], result["run"]))
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in runs:
        by_key[line["key"]].append(line)
    problems = []
    for key in sorted(set(recorded) | set(by_key)):
        records, lines = recorded[key], by_key[key]
        if len(records) > 1:
            gens = ", ".join(str(g) for g, _ in records)
            problems.append(
                f"{key}: its result was recorded {len(records)} times (by server "
                f"generations {gens}): it ran again after its result was recorded"
            )
            continue
        # The ledger's lines are in the order the runs happened (appended, fsynced).
        position = len(lines)
        if records:
            gen, run = records[0]
            rest = [r for r in lines if (r["gen"], r["run"]) != (gen, run)]
            if len(rest) == len(lines):
                problems.append(
                    f"{key}: the recorded run {run} (generation {gen}) is not in the ledger"
                )
            else:
                position = next(
                    i for i, r in enumerate(lines) if (r["gen"], r["run"]) == (gen, run)
                )
        else:
            gen, rest = -1, lines
        later = {id(r) for r in lines[position + 1 :]}
        for r in rest:
            if records and (r["gen"] > gen or id(r) in later):
                problems.append(
                    f"{key}: ran again in generation {r['gen']} after generation {gen} "
                    "recorded its result"
                )
            elif records and r["gen"] == gen:
                problems.append(f"{key}: ran twice in generation {gen}, which recorded it")
            elif r["gen"] not in killed:
                problems.append(
                    f"{key}: ran in generation {r['gen']}, which was not killed, "
                    "and no result of it was recorded"
                )
        twice = [g for g, n in Counter(r["gen"] for r in rest).items() if n > 1]
        for g in sorted(twice):
            problems.append(
                f"{key}: ran {Counter(r['gen'] for r in rest)[g]} times in generation {g}"
            )
    return problems


# -- the whole test --------------------------------------------------------------


@dataclass(frozen=True)
class CrashConfig:
    executions: int = 30
    kills: int = 12
    seed: int = 1
    max_concurrent: int = 3
    time_limit: float = 120.0  # per run of the mix; the reference run gets the same
    # PostgreSQL URLs (reference run, crash run): run replicas on them, as MixDriver says
    stores: tuple[str, str] | None = None


async def crash_test(
    config: CrashConfig, workdir: Path, *, progress: Callable[[str], Awaitable[None]] | None = None
) -> CrashReport:
    """Run the mix without kills (the reference), then with kills; check every execution."""
    began = time.monotonic()
    plans = make_mix(config.executions, random.Random(config.seed))
    agents = agents_folder(workdir / "agents")

    def driver(name: str, kills: int) -> MixDriver:
        store = None if config.stores is None else config.stores[kills > 0]
        return MixDriver(
            plans,
            workdir / name,
            agents,
            kills=kills,
            seed=config.seed,
            max_concurrent=config.max_concurrent,
            time_limit=config.time_limit,
            store=store,
        )

    reference = await driver("reference", 0).run()
    if progress is not None:
        await progress(f"reference run done in {time.monotonic() - began:.1f} s")
    crashed = await driver("crash", config.kills).run()
    return CrashReport(
        seed=config.seed,
        executions=len(plans),
        kills=len(crashed.kills),
        kill_kinds=Counter(k.kind if k.reached else "not reached" for k in crashed.kills),
        generations=crashed.generations,
        completed=sum(1 for o in crashed.outcomes.values() if o.status == "completed"),
        anomalies=check(plans, crashed, reference),
        reference_anomalies=check(plans, reference, None),
        wall_seconds=time.monotonic() - began,
        answers=crashed.answers,
        reruns=len(crashed.ledger) - len({line["key"] for line in crashed.ledger}),
    )
