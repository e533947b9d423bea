"""The one step of the goals test agent."""

from hive_mcp.events import EventType

BROKEN = {"leak": "no_secrets", "long": "brief", "rogue": "made_up"}


async def work(mode, ctx):
    # Async, so ctx.emit runs on the event loop like the executor's own events.
    if mode == "fail":
        raise RuntimeError("asked to fail")
    if mode in BROKEN:
        ctx.emit(
            EventType.CONSTRAINT_VIOLATION, {"constraint": BROKEN[mode], "detail": f"mode {mode}"}
        )
    return {"answer": "" if mode == "empty" else "yes"}
