"""Speed of the MCP server as a process: cold start, tool round trip, long-poll wake-up.

Run: python benchmarks/server.py [--repeats 5]

Everything goes through the official MCP client against `python -m hive_mcp
serve` in a subprocess, over stdio and over Streamable HTTP (loopback, with a
bearer token), the way a host uses it. Each figure has a baseline measured in
the same run against a bare MCP SDK server (an MCPServer with an echo tool,
plus a wait/notify pair for the wake-up floor), written to a temp file and
started with the same Python, so what remains is our own cost:

- cold start: spawning the server until the first tools/list answer, with
  the shipped agents and with 50 copies of them; and the whole-process time
  of two commands that never speak MCP (validate, executions). Also
  checks, with ``-X importtime`` on the real server, that litellm is not
  imported on the way to that answer (it costs seconds to import);
- round trip: get_events on a finished execution with nothing new
  (wait_seconds=0), against the bare echo tool over the same transport;
- wake-up: a get_events long-poll is in flight when send_input answers a
  parked support_desk execution; the time from sending the answer until the
  long-poll returns. Baselines: the send_input round trip of the same sample,
  and the bare server's wait/notify tools measured the same way.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
from _table import print_table  # the sibling module; scripts run from this folder
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
CALLS = 200  # get_events / echo calls per repeat and transport
WARM_UP_CALLS = 10
WAKE_SAMPLES_PER_REPEAT = 20  # 100 with the default 5 repeats
POLL_DELAY = 0.05  # lets the long-poll reach the server before the answer is sent
ENDED = {"completed", "failed", "cancelled"}

BARE_SERVER = '''\
"""A bare MCP SDK server: the floor for any server built on the SDK."""
import sys

import anyio
from mcp.server.mcpserver import MCPServer

server = MCPServer("bare", log_level="WARNING")
events: dict[str, anyio.Event] = {}


@server.tool()
def echo(text: str) -> str:
    return text


@server.tool()
def upper(text: str) -> dict[str, str]:
    return {"text": text.upper()}


@server.tool()
async def wait_for(key: str, timeout: float = 30.0) -> bool:
    with anyio.move_on_after(timeout):
        await events.setdefault(key, anyio.Event()).wait()
        return True
    return False


@server.tool()
def notify(key: str) -> bool:
    events.setdefault(key, anyio.Event()).set()
    return True


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        import uvicorn

        uvicorn.run(
            server.streamable_http_app(),
            host="127.0.0.1",
            port=int(sys.argv[2]),
            log_level="warning",
        )
    else:
        server.run()
'''


class Servers:
    """Where the servers' files live: the bare script and one home per use."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.bare_script = tmp / "bare_server.py"
        self.bare_script.write_text(BARE_SERVER)

    def home(self, name: str) -> Path:
        path = self.tmp / name
        path.mkdir(exist_ok=True)
        return path

    def hive_env(self, home: str, agents: Path = REPO / "graph") -> dict[str, str]:
        return {
            "PATH": os.environ["PATH"],
            "HIVE_MCP_HOME": str(self.home(home)),
            "HIVE_MCP_AGENTS": str(agents),
        }

    def hive_stdio(
        self, home: str, *python_flags: str, agents: Path = REPO / "graph"
    ) -> StdioServerParameters:
        return StdioServerParameters(
            command=sys.executable,
            args=[*python_flags, "-m", "hive_mcp", "serve"],
            env=self.hive_env(home, agents),
        )

    def many_agents(self, count: int) -> Path:
        """An agents folder with ``count`` copies of the shipped agents, renamed."""
        folder = self.tmp / f"agents{count}"
        shipped = sorted((REPO / "graph").glob("*/agent.yaml"))
        for i in range(count):
            source = shipped[i % len(shipped)]
            name = f"{source.parent.name}_{i}"
            shutil.copytree(source.parent, folder / name)
            text = (folder / name / "agent.yaml").read_text()
            text = re.sub(r"(?m)^name: .*$", f"name: {name}", text, count=1)
            (folder / name / "agent.yaml").write_text(text)
        return folder

    def bare_stdio(self) -> StdioServerParameters:
        return StdioServerParameters(
            command=sys.executable, args=[str(self.bare_script)], env={"PATH": os.environ["PATH"]}
        )


TRIVIAL_AGENT = """\
name: upper
description: Upper-cases a text in one function node (the per-call benchmark).
input_schema:
  type: object
  properties:
    text: {type: string}
  required: [text]
entry_node: upper
terminal_nodes: [upper]
nodes:
  - id: upper
    type: function
    function: steps:upper
    description: Upper-case the text.
    input_keys: [text]
    output_keys: [text]
"""

TRIVIAL_STEPS = """\
def upper(text):
    return {"text": text.upper()}
"""


def trivial_agents(tmp: Path) -> Path:
    """An agents folder holding only the one-node ``upper`` agent."""
    folder = tmp / "trivial" / "upper"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agent.yaml").write_text(TRIVIAL_AGENT)
    (folder / "steps.py").write_text(TRIVIAL_STEPS)
    return folder.parent


# -- helpers -----------------------------------------------------------------


async def call(client: Client, name: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    if result.is_error:
        raise RuntimeError(f"{name} failed: {result.content}")
    return result.structured_content or {}


async def events_until(
    client: Client, execution_id: str, after: int, statuses: set[str]
) -> tuple[str, int]:
    """Follow events until the status is one of ``statuses`` and nothing new is left."""
    status = ""
    with anyio.fail_after(30):
        while True:
            # Long-poll while the status is not there yet; once it is, only
            # drain what is left (a long-poll would sit out its whole wait).
            wait = 0 if status in statuses else 5
            page = await call(
                client, "get_events", execution_id=execution_id, after=after, wait_seconds=wait
            )
            after, status = page["next_after"], page["status"]
            if status in statuses and not page["events"] and wait == 0:
                return status, after


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextmanager
def http_process(args: list[str], env: dict[str, str], log: Path, port: int) -> Iterator[None]:
    """Run a server subprocess until it accepts connections on ``port``; always stop it."""
    with log.open("w") as err:
        # stderr goes to a file: a pipe nobody reads could fill and stall the server.
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{args} exited with {proc.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{args} did not listen within 30 s:\n{log.read_text()}")
            # uvicorn binds only after the app's startup, so a connection means ready.
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@asynccontextmanager
async def http_client(url: str, token: str | None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # trust_env=False: a proxy set in the environment must not see loopback traffic.
    async with (
        httpx2.AsyncClient(
            headers=headers, timeout=httpx2.Timeout(30, read=60), trust_env=False
        ) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


# -- cold start --------------------------------------------------------------


async def cold_start(params: StdioServerParameters) -> float:
    with anyio.fail_after(60):
        started = time.perf_counter()
        async with Client(params) as client:
            await client.list_tools()
            elapsed = time.perf_counter() - started
    return elapsed


async def litellm_imported(servers: Servers) -> bool:
    """Whether the real server imports litellm before its first tools/list answer."""
    log = servers.tmp / "importtime.log"
    with log.open("w") as err, anyio.fail_after(60):
        params = servers.hive_stdio("importtime", "-X", "importtime")
        async with Client(stdio_client(params, errlog=err)) as client:
            await client.list_tools()
    # Lines read "import time: self | cumulative | <indent>module"; match whole
    # names, since our own hive_mcp.llm._litellm (a thin lazy wrapper) is fine.
    modules = {
        line.rsplit("|", 1)[-1].strip()
        for line in log.read_text().splitlines()
        if line.startswith("import time:")
    }
    if "hive_mcp.server" not in modules:  # the check would prove nothing
        raise RuntimeError("-X importtime did not record the server's imports")
    return any(m == "litellm" or m.startswith("litellm.") for m in modules)


# What any of our commands pays before its first line of ours runs: the
# interpreter and the libraries every command needs (pydantic, yaml, anyio).
FLOOR = ("-c", "import pydantic, yaml, anyio, platformdirs")


def command_start(servers: Servers, *args: str, python: tuple[str, ...] = ()) -> float:
    """Whole-process seconds of ``hive-mcp ARGS`` (a command that never speaks MCP)."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, *(python or ("-m", "hive_mcp", *args))],
        env=servers.hive_env("commands"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        timeout=60,
    )
    return time.perf_counter() - started


# -- round trip --------------------------------------------------------------


async def finished_execution(client: Client) -> tuple[str, int]:
    """Run text_report to the end; return its id and last sequence number."""
    started = await call(
        client, "start_execution", agent="text_report", input={"text": "a b. c d."}
    )
    execution_id = started["execution_id"]
    status, after = await events_until(client, execution_id, 0, ENDED)
    if status != "completed":
        raise RuntimeError(f"text_report ended {status}")
    return execution_id, after


async def per_call(make_call: Callable[[], Awaitable[dict[str, Any]]]) -> float:
    """Median seconds per call over CALLS sequential calls, after a warm-up."""
    for _ in range(WARM_UP_CALLS):
        await make_call()
    times = []
    with anyio.fail_after(120):
        for _ in range(CALLS):
            started = time.perf_counter()
            await make_call()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


async def round_trips(ours: Client, bare: Client, repeats: int) -> tuple[float, float]:
    execution_id, after = await finished_execution(ours)

    async def get_events() -> dict[str, Any]:
        page = await call(
            ours, "get_events", execution_id=execution_id, after=after, wait_seconds=0
        )
        if page["events"]:
            raise RuntimeError("get_events returned events on a finished execution")
        return page

    async def echo() -> dict[str, Any]:
        return await call(bare, "echo", text="x")

    ours_s, bare_s = [], []
    for _ in range(repeats):  # interleaved, so drift on a shared host hits both alike
        ours_s.append(await per_call(get_events))
        bare_s.append(await per_call(echo))
    return statistics.median(ours_s), statistics.median(bare_s)


async def run_tool_calls(ours: Client, bare: Client, repeats: int) -> tuple[float, float]:
    """run_upper (start, run one node, answer with the output) against a bare tool."""

    async def run_upper() -> dict[str, Any]:
        result = await call(ours, "run_upper", text="abc")
        if result.get("status") != "completed" or result["output"]["text"] != "ABC":
            raise RuntimeError(f"run_upper answered {result}")
        return result

    async def upper() -> dict[str, Any]:
        return await call(bare, "upper", text="abc")

    ours_s, bare_s = [], []
    for _ in range(repeats):
        ours_s.append(await per_call(run_upper))
        bare_s.append(await per_call(upper))
    return statistics.median(ours_s), statistics.median(bare_s)


# -- long-poll wake-up -------------------------------------------------------


async def timed_wake(
    long_poll: Callable[[], Awaitable[dict[str, Any]]],
    wake: Callable[[], Awaitable[dict[str, Any]]],
) -> tuple[float, float]:
    """(send → long-poll return, send → send's own return), in seconds."""
    returned: list[float] = []

    async def poll() -> None:
        await long_poll()
        returned.append(time.perf_counter())

    with anyio.fail_after(40):
        async with anyio.create_task_group() as tg:
            tg.start_soon(poll)
            await anyio.sleep(POLL_DELAY)
            sent = time.perf_counter()
            await wake()
            answered = time.perf_counter()
    return returned[0] - sent, answered - sent


async def hive_wake_samples(client: Client, count: int) -> tuple[list[float], list[float]]:
    wakes, sends = [], []
    for _ in range(count):
        started = await call(
            client, "start_execution", agent="support_desk", input={"customer": "Ada"}
        )
        execution_id = started["execution_id"]
        status, after = await events_until(
            client, execution_id, 0, {"waiting_for_input", "failed", "cancelled"}
        )
        if status != "waiting_for_input":
            raise RuntimeError(f"support_desk did not park: {status}")

        async def long_poll(execution_id: str = execution_id, after: int = after) -> Any:
            page = await call(
                client, "get_events", execution_id=execution_id, after=after, wait_seconds=30
            )
            if not page["events"]:
                raise RuntimeError("the long-poll timed out instead of waking")
            return page

        async def answer(execution_id: str = execution_id) -> Any:
            return await call(
                client, "send_input", execution_id=execution_id, text="reset my password"
            )

        wake, send = await timed_wake(long_poll, answer)
        wakes.append(wake)
        sends.append(send)
        # Let the run finish so it does not compete with the next sample.
        await events_until(client, execution_id, after, ENDED)
    return wakes, sends


async def bare_wake_samples(client: Client, count: int, prefix: str) -> list[float]:
    wakes = []
    for i in range(count):
        key = f"{prefix}-{i}"

        async def long_poll(key: str = key) -> Any:
            if not (await call(client, "wait_for", key=key))["result"]:
                raise RuntimeError("wait_for timed out instead of waking")
            return {}

        async def notify(key: str = key) -> Any:
            return await call(client, "notify", key=key)

        wakes.append((await timed_wake(long_poll, notify))[0])
    return wakes


# -- the run -----------------------------------------------------------------

Row = tuple[str, str, str, str, str]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


async def transport_rows(
    label: str, ours: Client, bare: Client, repeats: int, target: str
) -> list[Row]:
    ours_rt, bare_rt = await round_trips(ours, bare, repeats)
    rows: list[Row] = [
        (
            f"get_events round trip, {label} (wait 0, nothing new)",
            ms(ours_rt),
            target,
            f"{ms(bare_rt)} (bare echo tool)",
            f"{ours_rt / bare_rt:.2f}x",
        )
    ]
    samples = WAKE_SAMPLES_PER_REPEAT * repeats
    wakes, sends = await hive_wake_samples(ours, samples)
    floor = await bare_wake_samples(bare, samples, label)
    for q, name in ((0.5, "p50"), (0.99, "p99")):
        wake, send = percentile(wakes, q), percentile(sends, q)
        rows.append(
            (
                f"long-poll wake {name}, {label} ({samples} samples)",
                ms(wake),
                "",
                f"{ms(send)} (send_input round trip)",
                f"{wake / send:.2f}x",
            )
        )
    for q, name in ((0.5, "p50"), (0.99, "p99")):
        rows.append(
            (
                f"  floor: bare wait/notify wake {name}, {label}",
                ms(percentile(floor, q)),
                "",
                "",
                "",
            )
        )
    return rows


async def run(repeats: int, tmp: Path) -> list[Row]:
    servers = Servers(tmp)
    rows: list[Row] = []

    # One untimed start each: compiles .pyc files and warms the file cache, so
    # the timed starts measure a process start, not a first install.
    await cold_start(servers.hive_stdio("cold"))
    await cold_start(servers.bare_stdio())
    ours_cold, bare_cold = [], []
    for _ in range(repeats):
        ours_cold.append(await cold_start(servers.hive_stdio("cold")))
        bare_cold.append(await cold_start(servers.bare_stdio()))
    ours_s, bare_s = statistics.median(ours_cold), statistics.median(bare_cold)
    rows.append(
        (
            "cold start over stdio → first tools/list",
            ms(ours_s),
            "≤ 1.2x bare",
            f"{ms(bare_s)} (bare MCPServer)",
            f"{ours_s / bare_s:.2f}x",
        )
    )
    many = servers.many_agents(50)
    await cold_start(servers.hive_stdio("cold50", agents=many))
    ours_many = [
        await cold_start(servers.hive_stdio("cold50", agents=many)) for _ in range(repeats)
    ]
    many_s = statistics.median(ours_many)
    rows.append(
        (
            "cold start, 50 agent files",
            ms(many_s),
            "≤ 1.5x bare",
            f"{ms(bare_s)} (bare MCPServer)",
            f"{many_s / bare_s:.2f}x",
        )
    )
    floor = statistics.median(command_start(servers, python=FLOOR) for _ in range(repeats))
    for args in (("validate", str(REPO / "graph")), ("executions",)):
        command_start(servers, *args)  # warm-up
        took = statistics.median(command_start(servers, *args) for _ in range(repeats))
        rows.append(
            (
                f"hive-mcp {args[0]}, whole process",
                ms(took),
                "< 0.5 s",
                f"{ms(floor)} (python + pydantic, yaml, anyio)",
                f"{took / floor:.2f}x",
            )
        )
    imported = await litellm_imported(servers)
    rows.append(("litellm imported at start", "yes" if imported else "no", "no", "", ""))

    target = "≤ 1.5x bare"
    trivial = servers.hive_stdio("trivial", agents=trivial_agents(tmp))
    async with Client(trivial) as ours, Client(servers.bare_stdio()) as bare:
        ours_run, bare_run = await run_tool_calls(ours, bare, repeats)
    rows.append(
        (
            "run_<agent> of a one-node agent, stdio",
            ms(ours_run),
            target,
            f"{ms(bare_run)} (bare tool doing the same)",
            f"{ours_run / bare_run:.2f}x",
        )
    )
    async with Client(servers.hive_stdio("stdio")) as ours, Client(servers.bare_stdio()) as bare:
        rows += await transport_rows("stdio", ours, bare, repeats, target)

    ours_port, bare_port = free_port(), free_port()
    hive_args = [sys.executable, "-m", "hive_mcp", "serve", "--http", "--port", str(ours_port)]
    bare_args = [sys.executable, str(servers.bare_script), "http", str(bare_port)]
    with (
        http_process(
            hive_args,
            servers.hive_env("http") | {"HIVE_MCP_TOKEN": TOKEN},
            tmp / "hive_http.log",
            ours_port,
        ),
        http_process(bare_args, {"PATH": os.environ["PATH"]}, tmp / "bare_http.log", bare_port),
    ):
        async with (
            http_client(f"http://127.0.0.1:{ours_port}/mcp", TOKEN) as ours,
            http_client(f"http://127.0.0.1:{bare_port}/mcp", None) as bare,
        ):
            rows += await transport_rows("HTTP", ours, bare, repeats, target)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats

    with tempfile.TemporaryDirectory(prefix="hive-bench-") as tmp:
        rows = anyio.run(run, repeats, Path(tmp))

    headers = ("measurement", f"median of {repeats}", "target", "baseline, same run", "ours/base")
    print_table(headers, rows)


if __name__ == "__main__":
    main()
