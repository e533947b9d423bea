"""Cassettes: record a real model's turns once, replay them offline and deterministically.

A cassette is a JSON file (``version: 1``) holding the interactions of one
recording in the order they completed. Replay matches requests to recordings
per ``(node_id, purpose)`` in order, so parallel branches may interleave
differently from the recording, and checks each request's fingerprint so a
changed prompt fails loudly instead of replaying a stale answer.

The fingerprint covers only what is stable when the same graph re-runs against
its own recording: each message's role, content, tool calls (name and raw
arguments, which come from the recording) and the pairing of tool results to
calls, plus the sorted names of the offered tools. It leaves out
``execution_id``, ``turn``, model settings and the literal tool-call ids, which
are renumbered by first appearance: some providers and executors generate ids,
so only which result answers which call is compared.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import tempfile
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import anyio
import anyio.to_thread
from pydantic import BaseModel, Field, ValidationError

from hive_mcp.errors import ReplayDivergedError, UsageError
from hive_mcp.llm._provider import LLMProvider
from hive_mcp.llm._types import (
    Finish,
    LLMRequest,
    Message,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
)

__all__ = [
    "CASSETTE_VERSION",
    "Cassette",
    "Interaction",
    "RecordingProvider",
    "ReplayProvider",
    "fingerprint",
]

CASSETTE_VERSION: Final = 1
_SUMMARY_LIMIT = 400


class _Text(BaseModel):
    kind: Literal["text"] = "text"
    text: str


class _Reasoning(BaseModel):
    kind: Literal["reasoning"] = "reasoning"
    text: str


class _ToolCall(BaseModel):
    kind: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    arguments: str


class _Finish(BaseModel):
    kind: Literal["finish"] = "finish"
    stop_reason: str
    input_tokens: int = 0
    output_tokens: int = 0


_Event = _Text | _Reasoning | _ToolCall | _Finish
_Recorded = Annotated[_Event, Field(discriminator="kind")]


class Interaction(BaseModel):
    """One recorded model turn: which request it answered and the events it streamed."""

    node_id: str
    turn: int
    purpose: str
    model: str
    fingerprint: str
    summary: str
    events: list[_Recorded]


class Cassette(BaseModel):
    """The file format: a version and the interactions in the order they completed."""

    version: Literal[1] = CASSETTE_VERSION
    interactions: list[Interaction] = Field(default_factory=list)


def fingerprint(request: LLMRequest) -> str:
    """A sha256 of the request's stable parts (see the module docstring for which)."""
    ids: dict[str, str] = {}

    def norm(call_id: str | None) -> str | None:
        return None if call_id is None else ids.setdefault(call_id, f"call_{len(ids)}")

    messages = [
        {
            "role": m.role,
            "content": m.content,
            "tool_calls": [[norm(c.id), c.name, c.arguments] for c in m.tool_calls],
            "tool_call_id": norm(m.tool_call_id),
        }
        for m in request.messages
    ]
    canonical = {"messages": messages, "tools": sorted(t.name for t in request.tools)}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _summarize(messages: list[Message]) -> str:
    """The last message in a line or a few, for people reading a divergence."""
    if not messages:
        return "(no messages)"
    last = messages[-1]
    head = f"tool result for {last.name or last.tool_call_id}" if last.role == "tool" else last.role
    text = f"{head}: {last.content}"
    for call in last.tool_calls:
        text += f"\n  calls {call.name}({call.arguments})"
    return text if len(text) <= _SUMMARY_LIMIT else text[: _SUMMARY_LIMIT - 3] + "..."


def _record(event: StreamEvent) -> _Event:
    match event:
        case TextDelta(text=text):
            return _Text(text=text)
        case ReasoningDelta(text=text):
            return _Reasoning(text=text)
        case ToolCallEvent(call=call):
            return _ToolCall(id=call.id, name=call.name, arguments=call.arguments)
        case Finish(stop_reason=reason, usage=usage):
            return _Finish(
                stop_reason=reason,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
            )


def _replay(recorded: _Event) -> StreamEvent:
    match recorded:
        case _Text(text=text):
            return TextDelta(text=text)
        case _Reasoning(text=text):
            return ReasoningDelta(text=text)
        case _ToolCall(id=call_id, name=name, arguments=arguments):
            return ToolCallEvent(call=ToolCall(id=call_id, name=name, arguments=arguments))
        case _Finish():
            usage = Usage(input_tokens=recorded.input_tokens, output_tokens=recorded.output_tokens)
            return Finish(stop_reason=recorded.stop_reason, usage=usage)


def _write_atomically(path: Path, text: str) -> None:
    # Same folder so os.replace is a rename on one file system: readers (and a
    # crash) see the previous cassette or the new one, never half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RecordingProvider:
    """Passes another provider's turns through unchanged and records them in a cassette.

    A turn is recorded when its ``Finish`` arrives: the interaction is appended
    and the whole file rewritten atomically before ``Finish`` is passed on, so a
    crash loses at most the turn in flight. A turn whose inner stream raises, or
    that the caller abandons, is not recorded. Recording starts a new cassette:
    an existing file at ``path`` is replaced at the first completed turn.
    """

    def __init__(self, inner: LLMProvider, path: str | os.PathLike[str]) -> None:
        self._inner = inner
        self.path = Path(path)
        self.label = f"recording {inner.label} -> {self.path}"
        self.offline = inner.offline
        self._cassette = Cassette()
        # Parallel branches finish turns concurrently; the lock keeps each write
        # a snapshot at least as new as the one before it.
        self._write_lock = anyio.Lock()

    async def stream(self, request: LLMRequest) -> AsyncGenerator[StreamEvent, None]:
        """Stream the inner provider's answer, recording it when its ``Finish`` arrives."""
        recorded: list[_Event] = []
        inner = self._inner.stream(request)
        try:
            async for event in inner:
                recorded.append(_record(event))
                if isinstance(event, Finish):
                    await self._save(request, recorded)
                yield event
        finally:
            # Close the inner stream now, not at garbage collection, when the
            # caller stops early or the inner provider fails.
            aclose = getattr(inner, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _save(self, request: LLMRequest, events: list[_Event]) -> None:
        interaction = Interaction(
            node_id=request.node_id,
            turn=request.turn,
            purpose=request.purpose,
            model=request.model,
            fingerprint=fingerprint(request),
            summary=_summarize(request.messages),
            events=events,
        )
        self._cassette.interactions.append(interaction)
        async with self._write_lock:
            text = self._cassette.model_dump_json(indent=2) + "\n"
            try:
                await anyio.to_thread.run_sync(_write_atomically, self.path, text)
            except OSError as exc:
                raise UsageError(
                    f"cannot write cassette {self.path} ({exc}): record to a writable path"
                ) from exc


def _load(path: Path) -> Cassette:
    hint = "record one by running the agent with RecordingProvider writing to this path"
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"cassette {path} does not exist: {hint}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"cassette {path} is not readable JSON ({exc}): {hint}") from None
    version = raw.get("version") if isinstance(raw, dict) else None
    if version != CASSETTE_VERSION:
        found = "no version" if version is None else f"version {version!r}"
        raise UsageError(
            f"cassette {path} has {found}, but this hive-mcp reads version "
            f"{CASSETTE_VERSION}: {hint}"
        )
    try:
        return Cassette.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'top level'}: {e['msg']}" for e in exc.errors()[:3]
        )
        raise UsageError(
            f"cassette {path} does not fit the cassette format ({problems}): {hint}"
        ) from None


class ReplayProvider:
    """Answers requests from a cassette, offline and deterministically.

    Requests are matched per ``(node_id, purpose)`` in recorded order and must
    carry the recorded fingerprint; anything else raises
    ``ReplayDivergedError`` naming the node and turn, what the recording
    expected and what was asked. A missing or unreadable cassette raises
    ``UsageError`` at construction.
    """

    offline = True

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.label = f"replay {self.path} (offline)"
        self._queues: dict[tuple[str, str], list[Interaction]] = {}
        for interaction in _load(self.path).interactions:
            key = (interaction.node_id, interaction.purpose)
            self._queues.setdefault(key, []).append(interaction)
        self._cursors: dict[tuple[str, str], int] = {}

    async def stream(self, request: LLMRequest) -> AsyncGenerator[StreamEvent, None]:
        """Yield the recorded events for ``request``; raise if it left the recording."""
        key = (request.node_id, request.purpose)
        queue = self._queues.get(key, [])
        index = self._cursors.get(key, 0)
        expected = queue[index] if index < len(queue) else None
        if expected is None or fingerprint(request) != expected.fingerprint:
            raise ReplayDivergedError(self._divergence(request, expected, len(queue)))
        self._cursors[key] = index + 1
        for recorded in expected.events:
            yield _replay(recorded)

    def _divergence(self, request: LLMRequest, expected: Interaction | None, count: int) -> str:
        where = f"node {request.node_id!r} turn {request.turn}"
        if request.purpose != "turn":
            where += f" ({request.purpose} request)"
        asked = _summarize(request.messages)
        fix = (
            f"If the change is intended, re-record the cassette {self.path} with "
            "RecordingProvider; otherwise find what made this request differ."
        )
        if expected is None:
            return (
                f"replay diverged at {where}: the cassette recorded {count} {request.purpose} "
                f"request(s) for this node and this is request {count + 1}.\n"
                f"asked: {asked}\n{fix}"
            )
        if expected.summary == asked:
            what = f"last message (unchanged): {asked}\nan earlier message or the tools differ"
        else:
            diff = difflib.unified_diff(
                expected.summary.splitlines(), asked.splitlines(), "recorded", "asked", lineterm=""
            )
            # Hunk headers give line numbers within a summary, which help nobody.
            what = "last message, recorded vs asked:\n" + "\n".join(
                line for line in diff if not line.startswith("@@")
            )
        turn = "" if expected.turn == request.turn else f" (recorded at turn {expected.turn})"
        return (
            f"replay diverged at {where}: the request differs from the recording{turn}.\n"
            f"{what}\n{fix}"
        )
