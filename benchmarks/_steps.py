"""Trivial node functions for the executor benchmark."""


async def step(v: int) -> dict[str, int]:
    return {"v": v + 1}


def step_sync(v: int) -> dict[str, int]:
    return {"v": v + 1}


async def step_tool(v: int) -> int:
    """A trivial tool for the loop benchmark."""
    return v + 1
