"""A legacy HTTP client that reconnects with Last-Event-ID gets what it missed, never a 500."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from hive_mcp.server._event_store import BoundedEventStore
from tests.support import HANG, free_port
from tests.test_transports import TOKEN, http_server

pytestmark = pytest.mark.anyio
LEGACY = "2025-11-25"


def headers(session: str | None = None, **extra: str) -> dict[str, str]:
    found = {
        "Authorization": f"Bearer {TOKEN}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": LEGACY,
    }
    if session:
        found["Mcp-Session-Id"] = session
    return found | extra


def sse_events(text: str) -> list[dict[str, Any]]:
    """The events of an SSE body: id and data (parsed when present)."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        event: dict[str, Any] = {}
        for line in block.splitlines():
            name, _, value = line.partition(":")
            event[name] = value.strip()
        if event:
            event["data"] = json.loads(event["data"]) if event.get("data") else None
            events.append(event)
    return events


async def open_session(http: httpx2.AsyncClient, url: str) -> str:
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"},
        },
    }
    answer = await http.post(url, json=hello, headers=headers())
    assert answer.status_code == 200, answer.text
    session = answer.headers["mcp-session-id"]
    done = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert (await http.post(url, json=done, headers=headers(session))).status_code == 202
    return session


async def test_a_reconnect_after_the_priming_event_replays_the_answer_it_missed(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "list_agents"}}
    with http_server(tmp_path, port), anyio.fail_after(HANG):
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=60)) as http:
            session = await open_session(http, url)
            first = sse_events((await http.post(url, json=call, headers=headers(session))).text)
            priming, answer = first[0], first[-1]
            assert priming["data"] is None and priming["id"]
            assert answer["data"]["id"] == 2
            replayed: list[dict[str, Any]] = []
            again = headers(session, **{"Last-Event-ID": priming["id"]})
            async with http.stream("GET", url, headers=again) as stream:
                assert stream.status_code == 200
                buffer = ""
                async for chunk in stream.aiter_text():
                    buffer += chunk
                    replayed = [e for e in sse_events(buffer) if e.get("data")]
                    if replayed:
                        break
            unknown = headers(session, **{"Last-Event-ID": "from-an-earlier-process-7"})
            async with http.stream("GET", url, headers=unknown) as stream:
                unknown_status = stream.status_code
    assert replayed[0]["id"] == answer["id"]
    assert replayed[0]["data"] == answer["data"]
    assert unknown_status == 200


async def test_the_event_store_forgets_the_oldest_events_past_its_bounds() -> None:
    store = BoundedEventStore(max_events=3, max_bytes=10_000, max_age_seconds=3600)
    ids = [await store.store_event("s", None) for _ in range(5)]
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    assert await store.replay_events_after(ids[0], send) is None  # forgotten
    assert await store.replay_events_after(ids[2], send) == "s"
    assert sent == []  # priming events carry nothing to replay
