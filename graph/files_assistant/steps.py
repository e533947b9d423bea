"""The scripted policy of the files_assistant example (the offline stand-in for a model)."""

from __future__ import annotations

import json
from typing import Any


def _inputs(request: Any) -> dict[str, Any]:
    first = next(m.content for m in request.messages if m.role == "user")
    return json.loads(first.split("\n", 1)[1]) if first.startswith("Inputs:") else {}


def _results(request: Any, name: str) -> list[str]:
    return [m.content for m in request.messages if m.role == "tool" and m.name == name]


def _heads_by_path(request: Any) -> dict[str, str]:
    # Parallel calls finish in any order: pair each result with its call by id.
    paths = {
        call.id: json.loads(call.arguments).get("path", "")
        for m in request.messages
        if m.role == "assistant"
        for call in m.tool_calls
        if call.name == "read_text_file"
    }
    return {
        paths[m.tool_call_id]: m.content
        for m in request.messages
        if m.role == "tool" and m.tool_call_id in paths
    }


def policy(request: Any) -> Any:
    from hive_mcp.llm._scripted import ScriptedTurn, call, say

    if request.purpose != "turn":
        return "ACCEPT" if request.purpose == "judge" else "Summary."
    folder = str(_inputs(request).get("folder", ".")).rstrip("/")
    listing = _results(request, "list_directory")
    if not listing:
        return call("list_directory", path=folder)
    files = sorted(
        line.removeprefix("[FILE] ").strip()
        for line in listing[-1].splitlines()
        if line.startswith("[FILE] ") and line.strip() != "[FILE] INDEX.md"
    )
    heads = _heads_by_path(request)
    if files and not heads:
        return ScriptedTurn(
            tool_calls=[("read_text_file", {"path": f"{folder}/{f}", "head": 1}) for f in files]
        )
    if not _results(request, "write_file"):
        lines = ["# Index", ""] + [
            f"- {name}: {heads.get(f'{folder}/{name}', '').strip() or '(empty)'}" for name in files
        ]
        return call("write_file", path=f"{folder}/INDEX.md", content="\n".join(lines) + "\n")
    if not _results(request, "set_output"):
        return ScriptedTurn(
            tool_calls=[
                ("set_output", {"key": "index_path", "value": f"{folder}/INDEX.md"}),
                ("set_output", {"key": "files", "value": files}),
            ]
        )
    return say("The index is written.")
