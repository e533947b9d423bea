"""The bad-input battery: every door of a running server, fed what nobody should send.

One ``hive-mcp serve`` process per transport serves the whole battery: stdio
driven as raw bytes on its stdin (a legacy handshake), Streamable HTTP as raw
2026-07-28 requests, and the webhooks of the HTTP one. Each case sends one bad
thing (lone surrogates, invalid UTF-8, huge or deeply nested values, overflowing
numbers, NaN, malformed JSON-RPC) and asserts three things: the answer is an
error whose text names the problem, the server still answers, and an execution
made before the bad input (and one parked on a question) reads exactly as it did.
"""

from __future__ import annotations

import json
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx2
import pytest
from mcp_types import INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR

from hive_mcp.server._webhooks import TIMESTAMP_HEADER, signature
from tests.support import free_port
from tests.test_transports import REPO, TOKEN, env_for, http_server

SECRET = "battery-hook-secret"
WAIT = 30.0  # seconds any one answer may take (a bound, never a sleep)
HOOKED = """\
name: hooked
description: Takes HMAC-signed deliveries.
input_schema:
  type: object
  properties: {subject: {type: string}}
  required: [subject]
entry_node: handle
terminal_nodes: [handle]
entry_points:
  - {id: signed, trigger: webhook, config: {secret_env: HOOKED_SECRET}}
nodes:
  - {id: handle, type: function, function: "steps:handle", input_keys: [subject], output_keys: [handled]}
"""


# -- sessions: the raw wire of each transport -----------------------------


class Session(Protocol):
    transport: str

    def send(self, raw: bytes) -> dict[str, Any]:
        """Send one raw message; return the JSON-RPC answer to it."""

    def request(self, method: str, params: dict[str, Any], id: int) -> dict[str, Any]:
        """Send a request (its values JSON-encoded as given, NaN and all); return the answer."""


def encode(message: dict[str, Any]) -> bytes:
    # ensure_ascii: a lone surrogate goes out as the escape "\ud800", the way a
    # JavaScript client sends one; allow_nan: NaN and Infinity as Python writes them.
    return json.dumps(message, ensure_ascii=True, allow_nan=True).encode()


class StdioSession:
    """``hive-mcp serve`` over stdio, one line in, answers read by a thread (bounded waits)."""

    transport = "stdio"

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self._proc, self._stdin = proc, proc.stdin
        self._lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True).start()

    def _pump(self, out: Any) -> None:
        for line in out:
            self._lines.put(line)

    def _answer(self, id: Any) -> dict[str, Any]:
        """The next answer to ``id``, or with id null; to anything when ``id`` is ``...``."""
        deadline = time.monotonic() + WAIT
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no answer to id {id!r} within {WAIT} s") from None
            message = json.loads(line)  # every line on stdout must be JSON-RPC
            if "id" in message and (id is ... or message["id"] in (id, None)):
                return dict(message)

    def send(self, raw: bytes, id: Any = ...) -> dict[str, Any]:
        self._stdin.write(raw + b"\n")
        self._stdin.flush()
        return self._answer(id)

    def request(self, method: str, params: dict[str, Any], id: int) -> dict[str, Any]:
        return self.send(
            encode({"jsonrpc": "2.0", "id": id, "method": method, "params": params}), id
        )


class HttpSession:
    """``hive-mcp serve --http``, stateless 2026-07-28 requests posted as raw bodies."""

    transport = "http"
    VERSION = "2026-07-28"

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.http = httpx2.Client(timeout=httpx2.Timeout(WAIT, read=90))

    def post(self, raw: bytes, headers: dict[str, str] | None = None) -> httpx2.Response:
        return self.http.post(
            f"{self.base}/mcp",
            content=raw,
            headers={
                "Authorization": f"Bearer {TOKEN}",
                "Accept": "application/json, text/event-stream",
                "Content-Type": "application/json",
                "MCP-Protocol-Version": self.VERSION,
                **(headers or {}),
            },
        )

    def send(self, raw: bytes, headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.post(raw, headers)
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
            return dict(json.loads(data[-1]))
        return dict(response.json())

    def request(self, method: str, params: dict[str, Any], id: int) -> dict[str, Any]:
        meta = {
            "io.modelcontextprotocol/protocolVersion": self.VERSION,
            "io.modelcontextprotocol/clientInfo": {"name": "battery", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        headers = {"Mcp-Method": method}
        if isinstance(params.get("name"), str) and params["name"].isascii():
            headers["Mcp-Name"] = params["name"]
        message = {
            "jsonrpc": "2.0",
            "id": id,
            "method": method,
            "params": {**params, "_meta": meta},
        }
        return self.send(encode(message), headers)


_ids = iter(range(100, 10**9))


def tool(session: Session, name: str, arguments: dict[str, Any]) -> tuple[bool, Any]:
    """(True, structured result) or (False, the error's text: JSON-RPC or tool error)."""
    answer = session.request("tools/call", {"name": name, "arguments": arguments}, next(_ids))
    if "error" in answer:
        return False, answer["error"]["message"]
    result = answer["result"]
    if result.get("isError"):
        return False, result["content"][0]["text"]
    return True, result["structuredContent"]


def ok(session: Session, name: str, **arguments: Any) -> dict[str, Any]:
    succeeded, result = tool(session, name, arguments)
    assert succeeded, result
    return dict(result)


def wait_for(session: Session, execution_id: str, status: str) -> None:
    after = 0
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        page = ok(session, "get_events", execution_id=execution_id, after=after, wait_seconds=5)
        after = page["next_after"]
        if page["status"] == status:
            return
    raise AssertionError(f"{execution_id} never reached {status}")


# -- the servers and what they held before the battery --------------------


@dataclass
class Before:
    """An execution made before any bad input, as it read then; and one parked on a question."""

    session: Session
    done: str
    info: dict[str, Any]
    events: list[dict[str, Any]]
    waiting: str
    extra: dict[str, Any] = field(default_factory=dict)

    def assert_intact(self) -> None:
        """The server answers, and nothing it stored before the bad input changed."""
        assert ok(self.session, "get_execution", execution_id=self.done) == self.info
        page = ok(self.session, "get_events", execution_id=self.done, limit=1000)
        assert page["events"] == self.events
        parked = ok(self.session, "get_execution", execution_id=self.waiting)
        assert parked["status"] == "waiting_for_input"


def remember(session: Session) -> Before:
    done = ok(session, "start_execution", agent="text_report", input={"text": "Owls hoot."})
    wait_for(session, done["execution_id"], "completed")
    waiting = ok(session, "start_execution", agent="support_desk", input={"customer": "Ada"})
    wait_for(session, waiting["execution_id"], "waiting_for_input")
    info = ok(session, "get_execution", execution_id=done["execution_id"])
    events = ok(session, "get_events", execution_id=done["execution_id"], limit=1000)["events"]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "execution_started" and info["status"] == "completed"
    return Before(session, done["execution_id"], info, events, waiting["execution_id"])


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("agents")
    for name in ("text_report", "support_desk"):
        shutil.copytree(REPO / "graph" / name, folder / name)
    (folder / "hooked").mkdir()
    (folder / "hooked" / "agent.yaml").write_text(HOOKED)
    shutil.copy(REPO / "tests" / "agents" / "triggers" / "steps.py", folder / "hooked")
    return folder


@pytest.fixture(scope="module")
def stdio(tmp_path_factory: pytest.TempPathFactory, agents: Path) -> Iterator[Before]:
    env = env_for(tmp_path_factory.mktemp("stdio-home")) | {"HIVE_MCP_AGENTS": str(agents)}
    with subprocess.Popen(
        [sys.executable, "-m", "hive_mcp", "serve"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as proc:
        try:
            session = StdioSession(proc)
            hello = {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "battery", "version": "1"},
            }
            assert "result" in session.request("initialize", hello, 1)
            assert proc.stdin is not None
            proc.stdin.write(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')
            yield remember(session)
        finally:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory, agents: Path) -> Iterator[Before]:
    port = free_port()
    env = {"HIVE_MCP_AGENTS": str(agents), "HOOKED_SECRET": SECRET}
    with http_server(tmp_path_factory.mktemp("http-home"), port, extra_env=env):
        session = HttpSession(port)
        with session.http:
            yield remember(session)


@pytest.fixture(params=["stdio", "http"])
def server(request: pytest.FixtureRequest) -> Before:
    before: Before = request.getfixturevalue(request.param)
    return before


# -- MCP tools, over both transports --------------------------------------

NESTED_100: Any = "deep"
for _ in range(100):
    NESTED_100 = [NESTED_100]

SURROGATE = "input.text contains a lone UTF-16 surrogate \\(U\\+D800\\) at character 1"
Case = tuple[str, dict[str, Any], str]  # tool, arguments ("{done}", "{waiting}" filled in), regex
TOOL_CASES: dict[str, Case] = {
    "start: surrogate in input": ("start_execution", {"agent": "text_report", "input": {"text": "x\ud800y"}}, SURROGATE),
    "start: surrogate in a key": ("start_execution", {"agent": "text_report", "input": {"te\udc80xt": "a"}}, "a key in .*input contains a lone UTF-16 surrogate \\(U\\+DC80\\)"),
    "start: NaN in input": ("start_execution", {"agent": "text_report", "input": {"text": float("nan")}}, "input.text is nan, which JSON cannot carry"),
    "start: Infinity in input": ("start_execution", {"agent": "text_report", "input": {"text": float("inf")}}, "input.text is inf, which JSON cannot carry"),
    "start: nested 100 deep": ("start_execution", {"agent": "text_report", "input": {"text": NESTED_100}}, "input.text.* is nested more than 64 levels deep"),
    "start: 2 MB of input": ("start_execution", {"agent": "text_report", "input": {"text": "x" * 2_000_000}}, "over the limit of 1000000"),
    "start: surrogate in the agent name": ("start_execution", {"agent": "text\ud800"}, "agent contains a lone UTF-16 surrogate"),
    "start: surrogate in the idempotency key": ("start_execution", {"agent": "text_report", "input": {"text": "a"}, "idempotency_key": "k\udfff"}, "idempotency_key contains a lone UTF-16 surrogate \\(U\\+DFFF\\)"),
    "run: surrogate in its input": ("run_text_report", {"text": "x\ud800y"}, "text contains a lone UTF-16 surrogate \\(U\\+D800\\)"),
    "run: NaN as max_wait_seconds": ("run_support_desk", {"customer": "Bo", "max_wait_seconds": float("nan")}, "max_wait_seconds is nan"),
    "run: nested 100 deep": ("run_text_report", {"text": NESTED_100}, "text.* is nested more than 64 levels deep"),
    "send_input: surrogate in the answer": ("send_input", {"execution_id": "{waiting}", "text": "a\udc80b"}, "text contains a lone UTF-16 surrogate \\(U\\+DC80\\) at character 1"),
    "send_input: 2 MB answer": ("send_input", {"execution_id": "{waiting}", "text": "x" * 2_000_000}, "the text is 2000000 bytes, over the limit of 1000000"),
    "send_input: surrogate in the execution id": ("send_input", {"execution_id": "ex_\ud800", "text": "hi"}, "execution_id contains a lone UTF-16 surrogate"),
    "get_events: after 10**20": ("get_events", {"execution_id": "{done}", "after": 10**20, "wait_seconds": 1}, "after must be 0 or the next_after of an earlier answer"),
    "get_events: after -1": ("get_events", {"execution_id": "{done}", "after": -1}, "after must be 0 or the next_after of an earlier answer"),
    "get_events: after NaN": ("get_events", {"execution_id": "{done}", "after": float("nan")}, "after(.|\n)*(is nan|finite number)"),
    "get_events: limit 10**30": ("get_events", {"execution_id": "{done}", "limit": 10**30}, "limit must be between 1 and 1000"),
    "get_events: wait_seconds -5": ("get_events", {"execution_id": "{done}", "wait_seconds": -5}, "wait_seconds must be between 0 and 60"),
    "get_events: wait_seconds 10**30": ("get_events", {"execution_id": "{done}", "wait_seconds": 10**30}, "wait_seconds must be between 0 and 60"),
    "get_events: wait_seconds NaN": ("get_events", {"execution_id": "{done}", "wait_seconds": float("nan")}, "wait_seconds is nan"),
    "get_events: surrogate in types": ("get_events", {"execution_id": "{done}", "types": ["x\ud800"]}, "types\\[0\\] contains a lone UTF-16 surrogate"),
    "get_execution: surrogate in the id": ("get_execution", {"execution_id": "ex_\ud800"}, "execution_id contains a lone UTF-16 surrogate"),
    "cancel_execution: surrogate in the id": ("cancel_execution", {"execution_id": "\udc80"}, "execution_id contains a lone UTF-16 surrogate \\(U\\+DC80\\) at character 0"),
    "list_executions: surrogate in the agent": ("list_executions", {"agent": "a\ud800"}, "agent contains a lone UTF-16 surrogate"),
    "list_executions: surrogate in the status": ("list_executions", {"status": "\ud800"}, "status contains a lone UTF-16 surrogate"),
    "list_executions: limit 10**30": ("list_executions", {"limit": 10**30}, "limit must be between 1 and 1000"),
}  # fmt: skip


def _fill(value: Any, before: Before) -> Any:
    if isinstance(value, str):
        return value.format(done=before.done, waiting=before.waiting) if "{" in value else value
    if isinstance(value, dict):
        return {k: _fill(v, before) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", TOOL_CASES)
def test_a_tool_given_a_value_no_store_can_keep_says_what_and_where_and_loses_nothing(
    server: Before, case: str
) -> None:
    name, arguments, expected = TOOL_CASES[case]
    succeeded, text = tool(server.session, name, _fill(arguments, server))
    assert not succeeded
    assert re.search(expected, text), text
    assert "\n" not in text or "validation error" in text  # one line, but for the SDK's own
    server.assert_intact()


# Malformed JSON-RPC: each transport answers with the JSON-RPC error code, id null.
BATCH = b'[{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "id": 2, "method": "ping"}]'
WIRE_CASES: dict[str, tuple[bytes, int, str]] = {
    "not JSON": (b"this is not json", PARSE_ERROR, "not JSON"),
    "not UTF-8": (b'{"jsonrpc": "2.0", "id": 5, "method": "p\xffing"}', PARSE_ERROR, "not UTF-8 \\(byte 0xff at position 40\\)"),
    "a batch": (BATCH, INVALID_REQUEST, "a batch \\(a JSON array\\) is not supported"),
    "an object id": (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "tools/list"}', INVALID_REQUEST, "id must be a string or an integer, not an object"),
    "a null id": (b'{"jsonrpc": "2.0", "id": null, "method": "tools/list"}', INVALID_REQUEST, "id must be a string or an integer, not null"),
    "an infinite id": (b'{"jsonrpc": "2.0", "id": 1e400, "method": "tools/list"}', INVALID_REQUEST, "id must be a string or an integer, not inf"),
    "a string": (b'"tools/list"', INVALID_REQUEST, "a message is a JSON object, not a string"),
    "a method that is a number": (b'{"jsonrpc": "2.0", "id": 7, "method": 3}', INVALID_REQUEST, "method: Input should be a valid string"),
    "nested 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, PARSE_ERROR, "nested too deeply to read"),
    "a 5,000-digit number": (b'{"jsonrpc": "2.0", "id": 8, "method": "ping", "params": {"n": ' + b"9" * 5000 + b"}}", PARSE_ERROR, "a number has more than 4300 digits"),
}  # fmt: skip


@pytest.mark.parametrize("case", WIRE_CASES)
def test_malformed_json_rpc_gets_its_error_code_and_the_server_goes_on(
    server: Before, case: str
) -> None:
    raw, code, expected = WIRE_CASES[case]
    answer = server.session.send(raw)
    assert answer["id"] is None or answer["id"] in (5, 7, 8)
    assert answer["error"]["code"] == code
    if server.session.transport == "stdio":  # the SDK's HTTP transport has its own texts
        assert re.search(expected, answer["error"]["message"]), answer
    server.assert_intact()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"jsonrpc": "2.0", "id": "\\ud800", "method": "ping"}', "id contains a lone"),
        (
            b'{"jsonrpc": "2.0", "id": 9, "method": "tools/call", '
            b'"params": {"name": "run_\\ud800", "arguments": {}}}',
            "params.name contains a lone UTF-16 surrogate",
        ),
    ],
    ids=["in the id", "in the tool name"],
)
def test_over_stdio_a_surrogate_the_server_would_echo_is_refused_before_it_breaks_the_wire(
    stdio: Before, raw: bytes, expected: str
) -> None:
    answer = stdio.session.send(raw)
    assert answer["error"]["code"] in (INVALID_REQUEST, INVALID_PARAMS)
    assert expected in answer["error"]["message"]
    stdio.assert_intact()


def test_the_waiting_execution_still_takes_a_good_answer_after_the_battery(
    server: Before,
) -> None:
    for case in ("send_input: surrogate in the answer", "send_input: 2 MB answer"):
        name, arguments, _ = TOOL_CASES[case]
        assert not tool(server.session, name, _fill(arguments, server))[0]
    parked = ok(server.session, "start_execution", agent="support_desk", input={"customer": "Cy"})
    wait_for(server.session, parked["execution_id"], "waiting_for_input")
    sent = ok(server.session, "send_input", execution_id=parked["execution_id"], text="export")
    assert sent == {"delivered": True, "node_id": "intake"}
    wait_for(server.session, parked["execution_id"], "completed")
    server.assert_intact()


# -- webhooks, on the HTTP server -----------------------------------------


def hook(
    before: Before, path: str, body: bytes, headers: dict[str, str] | None = None
) -> httpx2.Response:
    session = before.session
    assert isinstance(session, HttpSession)
    return session.http.post(f"{session.base}/hooks/{path}", content=body, headers=headers or {})


BEARER = {"Authorization": f"Bearer {TOKEN}"}
DEEP = b'{"text": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
HOOK_CASES: dict[str, tuple[str, bytes, dict[str, str], int, str]] = {
    "nested 10,000 deep": ("text_report/posted", DEEP, BEARER, 400, "the body is nested too deeply to read"),
    "nested 100 deep": ("text_report/posted", json.dumps({"text": NESTED_100}).encode(), BEARER, 400, "body.text.* is nested more than 64 levels deep"),
    "not UTF-8": ("text_report/posted", b'{"text": "caf\xe9"}', BEARER, 400, "the body is not UTF-8 text \\(byte 0xe9 at 13\\)"),
    "not JSON": ("text_report/posted", b"text=hello", BEARER, 400, "the body is not JSON"),
    "a lone surrogate": ("text_report/posted", b'{"text": "x\\ud800"}', BEARER, 400, "body.text contains a lone UTF-16 surrogate \\(U\\+D800\\)"),
    "NaN": ("text_report/posted", b'{"text": NaN}', BEARER, 400, "body.text is nan, which JSON cannot carry"),
    "Infinity": ("text_report/posted", b'{"text": 1e400}', BEARER, 400, "body.text is inf"),
    "a 5,000-digit number": ("text_report/posted", b'{"text": ' + b"9" * 5000 + b"}", BEARER, 400, "a number too long to read"),
    "an array": ("text_report/posted", b"[1, 2]", BEARER, 400, "the body must be a JSON object, not list"),
    "over the size limit": ("text_report/posted", b'{"text": "' + b"x" * 1_100_000 + b'"}', BEARER, 413, "over the limit"),
    "a schema mismatch": ("text_report/posted", b'{"text": ""}', BEARER, 422, "text"),
    "a surrogate in the path": ("%ED%A0%80/posted", b"{}", BEARER, 404, "no webhook"),
    "a forged signature": ("hooked/signed", b'{"subject": "s"}', {"X-Hub-Signature-256": "sha256=00"}, 401, "bad or missing signature in X-Hub-Signature-256"),
    "a timestamp that is not a number": ("hooked/signed", b'{"subject": "s"}', {TIMESTAMP_HEADER: "soon"}, 400, "X-Hive-Timestamp must be whole seconds"),
}  # fmt: skip


@pytest.mark.parametrize("case", HOOK_CASES)
def test_a_bad_webhook_request_gets_a_4xx_with_the_reason_and_starts_nothing(
    http: Before, case: str
) -> None:
    path, body, headers, status, expected = HOOK_CASES[case]
    before = len(ok(http.session, "list_executions", limit=1000)["executions"])
    answer = hook(http, path, body, headers)
    assert answer.status_code == status, answer.text
    assert re.search(expected, answer.json()["error"]), answer.json()
    assert len(ok(http.session, "list_executions", limit=1000)["executions"]) == before
    http.assert_intact()


def test_the_unknown_webhook_404_names_nothing_of_the_server(http: Before, agents: Path) -> None:
    for path in ("nope/posted", "text_report/nope", "support_desk/anything"):
        answer = hook(http, path, b"{}")
        assert answer.status_code == 404
        text = answer.text
        assert str(agents) not in text and "/" not in answer.json()["error"], text
        assert "known agents" not in text and "support_desk, text_report" not in text
    http.assert_intact()


def signed(body: bytes, timestamp: str | None = None) -> dict[str, str]:
    headers = {"X-Hub-Signature-256": signature(SECRET, body, timestamp)}
    return headers | ({TIMESTAMP_HEADER: timestamp} if timestamp is not None else {})


def test_a_signed_webhook_replayed_verbatim_returns_the_first_execution(http: Before) -> None:
    body = b'{"subject": "replay me"}'
    first = hook(http, "hooked/signed", body, signed(body))
    assert first.status_code == 202, first.text
    # The same request again, and again with a delivery id an attacker made up:
    again = hook(http, "hooked/signed", body, signed(body))
    forged = hook(http, "hooked/signed", body, signed(body) | {"X-GitHub-Delivery": "d-9"})
    assert again.json()["execution_id"] == first.json()["execution_id"]
    assert forged.json()["execution_id"] == first.json()["execution_id"]
    listed = ok(http.session, "list_executions", agent="hooked", limit=1000)["executions"]
    assert [e["execution_id"] for e in listed].count(first.json()["execution_id"]) == 1
    http.assert_intact()


def test_many_copies_of_one_signed_delivery_at_once_start_one_execution(http: Before) -> None:
    body = b'{"subject": "all at once"}'
    headers = signed(body)
    answers: list[httpx2.Response] = []

    def deliver() -> None:
        answers.append(hook(http, "hooked/signed", body, headers))

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert [a.status_code for a in answers] == [202] * 8
    assert len({a.json()["execution_id"] for a in answers}) == 1


def test_a_timestamped_signature_holds_inside_the_window_and_is_refused_outside(
    http: Before,
) -> None:
    body = b'{"subject": "timed"}'
    now = str(int(time.time()))
    fresh = hook(http, "hooked/signed", body, signed(body, now))
    assert fresh.status_code == 202, fresh.text
    # The same body later with a new timestamp is a new delivery; the old one again is not.
    later = str(int(time.time()) + 1)
    assert (
        hook(http, "hooked/signed", body, signed(body, later)).json()["execution_id"]
        != (fresh.json()["execution_id"])
    )
    replayed = hook(http, "hooked/signed", body, signed(body, now))
    assert replayed.json()["execution_id"] == fresh.json()["execution_id"]
    stale = str(int(time.time()) - 3600)
    old = hook(http, "hooked/signed", body, signed(body, stale))
    assert old.status_code == 401
    assert re.match(
        r"X-Hive-Timestamp is 36\d\d s from the server's clock, over 300 s", old.json()["error"]
    )
    # A timestamp added to a body-only signature does not verify: no downgrade either way.
    body_only = {"X-Hub-Signature-256": signature(SECRET, body), TIMESTAMP_HEADER: now}
    refused = hook(http, "hooked/signed", body, body_only)
    assert refused.status_code == 401 and "X-Hive-Timestamp, '.' and the body" in refused.text
    http.assert_intact()


def test_a_bearer_webhook_redelivered_with_its_delivery_id_returns_the_first_execution(
    http: Before,
) -> None:
    body = b'{"text": "Once only."}'
    for header in ("Idempotency-Key", "X-GitHub-Delivery"):
        ids = {
            hook(http, "text_report/posted", body, BEARER | {header: f"{header}-1"}).json()[
                "execution_id"
            ]
            for _ in range(2)
        }
        assert len(ids) == 1
