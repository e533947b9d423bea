"""Steps of the delegation test agents: a lead that asks an approver agent."""

from __future__ import annotations

from typing import Any


def prepare(change: str) -> dict[str, Any]:
    return {"topic": change.strip().capitalize()}


async def ask(topic: str, ctx: Any) -> dict[str, Any]:
    answer = await ctx.request_input("question", f"Approve {topic}?", ["yes", "no"])
    return {"decision": "approved" if answer.strip().lower() == "yes" else "rejected"}


def refuse(topic: str) -> dict[str, Any]:
    raise RuntimeError(f"{topic} is out of scope")


def finish(topic: str, decision: str) -> dict[str, Any]:
    return {"summary": f"{topic}: {decision}"}
