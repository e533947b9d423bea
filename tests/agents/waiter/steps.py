"""A step that waits for a file, then writes a side effect."""

import anyio


async def hold(go: str, effect: str) -> dict[str, bool]:
    while not await anyio.Path(go).exists():  # noqa: ASYNC110 - the signal is a file
        await anyio.sleep(0.02)
    await anyio.Path(effect).write_text("done")
    return {"done": True}
