"""The crash-test agents' function steps and their scripted policy (offline, no model).

Every side effect goes through the ledger tool server's ``record_effect``
with a key made from the execution's ``label``, so the crash test can count
the runs of each call outside hive-mcp. Outputs keep only the deterministic
part of each result (``value``), never which process made it, so a run with
kills must give the same output as one without.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

PARALLEL_CALLS = 8


def start(label: str) -> dict[str, Any]:
    return {"job": label}


def quick(job: str) -> dict[str, Any]:
    return {"quick_done": f"quick {job}"}


def join(quick_done: str, worked: list[str]) -> dict[str, Any]:
    return {"both": [quick_done, *worked]}


def finish(label: str, choice: str) -> dict[str, Any]:
    return {"said": f"{label} recorded {choice}"}


# -- the scripted policy -------------------------------------------------------


def _work_ms(key: str) -> int:
    # Spread the parallel results over time, the same way in every run.
    return 10 + zlib.crc32(key.encode()) % 70


def _inputs(request: Any) -> dict[str, Any]:
    first = next(m.content for m in request.messages if m.role == "user")
    return json.loads(first.split("\n", 1)[1]) if first.startswith("Inputs:") else {}


def _values(request: Any) -> dict[str, str]:
    """The value of each recorded record_effect result, by key."""
    found = {}
    for m in request.messages:
        if m.role == "tool" and m.name == "record_effect":
            try:
                result = json.loads(m.content)
            except ValueError:
                continue  # an error text: the call has no value
            found[result["key"]] = result["value"]
    return found


def _last(request: Any, name: str) -> str | None:
    for m in reversed(request.messages):
        if m.role == "tool" and m.name == name:
            return str(m.content)
    return None


def policy(request: Any) -> Any:
    from hive_mcp.llm._scripted import ScriptedTurn, call, say

    if request.purpose != "turn":
        return "ACCEPT" if request.purpose == "judge" else "Summary."
    inputs = _inputs(request)
    turns = sum(1 for m in request.messages if m.role == "assistant")
    values = _values(request)
    if request.node_id == "gather":
        keys = [f"{inputs['label']}/p{i}" for i in range(PARALLEL_CALLS)]
        if turns == 0:
            calls = [("record_effect", {"key": k, "work_ms": _work_ms(k)}) for k in keys]
            return ScriptedTurn(tool_calls=calls)  # type: ignore[arg-type]
        if turns == 1:
            effects = [values.get(k, "(missing)") for k in keys]
            return call("set_output", key="effects", value=effects)
        return say("done")
    if request.node_id == "worker":
        effect, slow = f"{inputs['job']}/effect", f"{inputs['job']}/slow"
        plan = [
            call("record_effect", key=effect, work_ms=100),
            call("record_effect", key=slow, work_ms=400),
            call(
                "set_output",
                key="worked",
                value=[values.get(effect, "(missing)"), values.get(slow, "(missing)")],
            ),
            say("done"),
        ]
        return plan[turns] if turns < len(plan) else None
    if request.node_id == "ask":
        label = inputs["label"]
        answer = _last(request, "ask_user")
        if answer is None:
            return call("ask_user", prompt=f"What should {label} record?")
        key = f"{label}/answer"
        if key not in values:
            return call("record_effect", key=key, work_ms=30)
        if _last(request, "set_output") is None:
            return call("set_output", key="choice", value=f"{answer.strip()} ({values[key]})")
        return say("done")
    return None
