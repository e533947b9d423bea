"""Garbage-collector settings for a long-running server.

A full (generation 2) collection scans every tracked object. With 500
executions holding their conversations that is about 400,000 objects and
150-300 ms during which the event loop runs nothing else, so every MCP
request in flight at that moment waits that long. By default CPython runs one
whenever the old generation has grown by a quarter, which under load is every
few seconds.

``serve`` freezes what start-up created (imports, loaded agents), so no
collection scans it again, and runs full collections on a schedule (every
60 s) instead of on growth: one pause a minute rather than one every few
seconds.
Young-generation collections are unchanged: they catch most cyclic garbage.
Only ``hive-mcp serve`` does this; an application embedding the runtime keeps
its own settings.
"""

from __future__ import annotations

import gc

import anyio

__all__ = ["FULL_COLLECTION_EVERY", "collect_periodically", "tune_for_serving"]

FULL_COLLECTION_EVERY = 60.0  # seconds
_NEVER_BY_COUNT = 1_000_000  # generation-1 collections before an automatic full one


def tune_for_serving() -> None:
    """Freeze start-up objects and leave full collections to ``collect_periodically``."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, _NEVER_BY_COUNT)


async def collect_periodically(every: float = FULL_COLLECTION_EVERY) -> None:
    """Run a full collection every ``every`` seconds until cancelled."""
    while True:
        await anyio.sleep(every)
        gc.collect()
