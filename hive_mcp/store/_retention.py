"""Retention: which finished executions to forget, and forgetting them.

Executions are kept and removed by family: an execution a client started
(top-level) together with every execution its agent nodes delegated to. A
family is removed only when every member is final, so nothing pending,
running or waiting for input is touched, and neither is a finished delegate
whose caller is still going. A family goes when its latest activity is older
than ``max_age_days`` or when more than ``max_executions`` newer top-level
executions exist. Removing an execution removes its events, checkpoints,
node states and its folder of spilled files under the data folder.
"""

from __future__ import annotations

import shutil
import time
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio.to_thread

from hive_mcp.store._base import Store
from hive_mcp.store._records import ExecutionStub, RowCounts

__all__ = ["DEFAULT_RETENTION", "PruneReport", "RetentionPolicy", "prune", "select_prunable"]

DAY = 86_400.0


@dataclass(frozen=True)
class RetentionPolicy:
    """How much history to keep; ``None`` on a bound means no limit of that kind."""

    max_age_days: float | None = 30.0
    max_executions: int | None = 10_000

    def __post_init__(self) -> None:
        if self.max_age_days is not None and not self.max_age_days > 0:
            raise ValueError("max_age_days must be above 0 (None keeps executions of any age)")
        if self.max_executions is not None and self.max_executions < 1:
            raise ValueError("max_executions must be at least 1 (None keeps any number)")

    @property
    def keeps_everything(self) -> bool:
        return self.max_age_days is None and self.max_executions is None

    def describe(self) -> str:
        """The policy in words, for logs and the CLI."""
        if self.keeps_everything:
            return "keep everything"
        parts = []
        if self.max_age_days is not None:
            parts.append(f"older than {self.max_age_days:g} days")
        if self.max_executions is not None:
            parts.append(f"beyond the newest {self.max_executions}")
        return "remove finished executions " + " or ".join(parts)


DEFAULT_RETENTION = RetentionPolicy()


@dataclass(frozen=True)
class PruneReport:
    """What a prune removed (or, on a dry run, would remove)."""

    executions: list[ExecutionStub] = field(default_factory=list)
    rows: RowCounts = field(default_factory=RowCounts)
    folders: int = 0
    dry_run: bool = False


def select_prunable(
    stubs: Sequence[ExecutionStub], policy: RetentionPolicy, now: float
) -> list[ExecutionStub]:
    """The executions ``policy`` removes at time ``now``, whole families at a time."""
    if policy.keeps_everything:
        return []
    known = {s.id for s in stubs}
    children: dict[str, list[ExecutionStub]] = defaultdict(list)
    roots: list[ExecutionStub] = []
    for stub in stubs:
        # A delegate whose caller is gone (removed, or never stored) heads its own family.
        if stub.parent_id is not None and stub.parent_id in known and stub.parent_id != stub.id:
            children[stub.parent_id].append(stub)
        else:
            roots.append(stub)
    roots.sort(key=lambda s: (s.created_at, s.id), reverse=True)  # newest first
    cutoff = None if policy.max_age_days is None else now - policy.max_age_days * DAY
    chosen: list[ExecutionStub] = []
    for rank, root in enumerate(roots):
        members = _family(root, children)
        if not all(m.status.is_final for m in members):
            continue
        too_old = cutoff is not None and max(m.updated_at for m in members) < cutoff
        too_many = policy.max_executions is not None and rank >= policy.max_executions
        if too_old or too_many:
            chosen.extend(members)
    return chosen


def _family(root: ExecutionStub, children: dict[str, list[ExecutionStub]]) -> list[ExecutionStub]:
    members, todo, seen = [], [root], {root.id}
    while todo:
        stub = todo.pop()
        members.append(stub)
        for child in children.get(stub.id, []):
            if child.id not in seen:
                seen.add(child.id)
                todo.append(child)
    return members


async def prune(
    store: Store,
    policy: RetentionPolicy,
    *,
    data_dir: Path | None,
    now: float | None = None,
    dry_run: bool = False,
) -> PruneReport:
    """Remove what ``policy`` says to forget (nothing on a dry run); report it.

    ``data_dir`` is the folder holding one folder of spilled files per
    execution (``Settings.data_dir``); ``None`` leaves files alone.
    """
    now = time.time() if now is None else now
    if policy.keeps_everything:
        return PruneReport(dry_run=dry_run)
    stubs = await store.execution_stubs()
    # Pure Python over every execution: in a thread, so the loop is not held for it.
    chosen = await anyio.to_thread.run_sync(select_prunable, stubs, policy, now)
    if not chosen:
        return PruneReport(dry_run=dry_run)
    ids = [s.id for s in chosen]
    rows = await store.delete_executions(ids, dry_run=dry_run)
    folders = 0
    if data_dir is not None:
        folders = await anyio.to_thread.run_sync(_remove_folders, data_dir, ids, dry_run)
    return PruneReport(executions=chosen, rows=rows, folders=folders, dry_run=dry_run)


def _remove_folders(data_dir: Path, ids: Collection[str], dry_run: bool) -> int:
    removed = 0
    for execution_id in ids:
        folder = data_dir / execution_id
        if execution_id in ("", ".", "..") or folder.name != execution_id:
            continue  # never follow an odd id out of the data folder
        if not folder.is_dir():
            continue
        if not dry_run:
            shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    return removed
