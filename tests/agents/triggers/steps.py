"""Steps of the trigger test agents."""

from __future__ import annotations

from typing import Any

import anyio

HELD: dict[str, anyio.Event] = {}


def handle(subject: str) -> dict[str, Any]:
    return {"handled": subject.upper()}


def react(event: dict[str, Any]) -> dict[str, Any]:
    return {"seen": f"{event['agent']}:{event['type']}"}


async def hold(subject: str) -> dict[str, Any]:
    await HELD.setdefault(subject, anyio.Event()).wait()
    return {"handled": subject}


def setup(owner: str) -> dict[str, Any]:
    return {"rules": f"{owner}'s rules", "scratch": "not for others"}


async def ask(rules: str, ctx: Any) -> dict[str, Any]:
    return {"answer": await ctx.request_input("question", "Anything else?", [])}


def apply(rules: str, mail: str) -> dict[str, Any]:
    return {"filed": f"{mail} filed by {rules}"}
