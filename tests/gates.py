"""Function-node steps that wait for the test to open their gate."""

from __future__ import annotations

import anyio

GATES: dict[str, anyio.Event] = {}
STARTED: list[str] = []


async def wait_gate(name: str) -> dict[str, str]:
    STARTED.append(name)
    await GATES.setdefault(name, anyio.Event()).wait()
    return {"done": name}
