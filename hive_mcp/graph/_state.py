"""The executor's resumable state: a tree of cursors over layered memory.

The root cursor walks the graph; a fan-out gives it one child cursor per
branch. Each branch writes into its own layer, reads through to its parent's,
and at the join its layer is merged into the parent, refusing keys that two
branches both wrote. The whole tree, with visit counts and the step count,
is what a checkpoint stores.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hive_mcp.errors import GraphRunError

__all__ = ["Cursor", "Fanout", "RunState"]

STATE_VERSION = 1


@dataclass(eq=False)
class Fanout:
    """Parallel branches under way, keyed by the node each branch started at."""

    join: str | None
    branches: dict[str, Cursor]


@dataclass(eq=False)
class Cursor:
    """Where one line of the walk is, and the memory it has written.

    ``node`` is the next node to run (``None`` when the line has ended);
    ``stop_at`` is the join a branch ends at; ``mapping`` is the input mapping
    of the edge that led to ``node``. ``visit`` is set while ``node`` runs: a
    checkpoint written meanwhile (another branch finished) has counted that
    visit, and a resume must run the node as the same visit, from its saved
    state, not as a new one.
    """

    node: str | None
    stop_at: str | None = None
    writes: dict[str, Any] = field(default_factory=dict)
    cleared: set[str] = field(default_factory=set)
    mapping: dict[str, str] = field(default_factory=dict)
    fanout: Fanout | None = None
    parent: Cursor | None = field(default=None, repr=False)
    visit: int | None = None

    @property
    def done(self) -> bool:
        return self.fanout is None and (self.node is None or self.node == self.stop_at)

    def view(self) -> MemoryView:
        """A read-only mapping of memory as this cursor sees it."""
        return MemoryView(self)

    def write(self, outputs: Mapping[str, Any]) -> None:
        self.writes.update(outputs)
        self.cleared.difference_update(outputs)

    def clear(self, keys: list[str]) -> None:
        for key in keys:
            self.writes.pop(key, None)
            if self.parent is not None:
                self.cleared.add(key)

    def branch(self, start: str, join: str | None, mapping: dict[str, str]) -> Cursor:
        return Cursor(node=start, stop_at=join, mapping=dict(mapping), parent=self)

    def merge_branches(self) -> list[str]:
        """Fold the finished branches' writes into this cursor; return branch names.

        Raises ``GraphRunError`` naming both branches when two wrote one key.
        """
        assert self.fanout is not None
        owner: dict[str, str] = {}
        for name, branch in self.fanout.branches.items():
            for key in (*branch.writes, *branch.cleared):
                if key in owner and owner[key] != name:
                    raise GraphRunError(
                        f"parallel branches {owner[key]!r} and {name!r} both wrote {key!r}; "
                        "give each branch its own output key and combine them at the join "
                        f"node {self.fanout.join!r}"
                    )
                owner[key] = name
        for branch in self.fanout.branches.values():
            self.write(branch.writes)
            self.clear(sorted(branch.cleared))
        names = list(self.fanout.branches)
        self.node, self.mapping, self.fanout = self.fanout.join, {}, None
        return names

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "stop_at": self.stop_at,
            "writes": self.writes,
            "cleared": sorted(self.cleared),
            "mapping": self.mapping,
            "visit": self.visit,
            "fanout": None
            if self.fanout is None
            else {
                "join": self.fanout.join,
                "branches": {n: b.to_dict() for n, b in self.fanout.branches.items()},
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], parent: Cursor | None = None) -> Cursor:
        cursor = cls(
            node=data["node"],
            stop_at=data["stop_at"],
            writes=dict(data["writes"]),
            cleared=set(data["cleared"]),
            mapping=dict(data["mapping"]),
            parent=parent,
            visit=data.get("visit"),
        )
        if data["fanout"] is not None:
            cursor.fanout = Fanout(
                join=data["fanout"]["join"],
                branches={
                    name: cls.from_dict(b, cursor) for name, b in data["fanout"]["branches"].items()
                },
            )
        return cursor


class MemoryView(Mapping[str, Any]):
    """Memory seen from a cursor: its writes over its ancestors', minus cleared keys."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    def __getitem__(self, key: str) -> Any:
        cursor: Cursor | None = self._cursor
        while cursor is not None:
            if key in cursor.writes:
                return cursor.writes[key]
            if key in cursor.cleared:
                break
            cursor = cursor.parent
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
        except KeyError:
            return False
        return True

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def _flat(self) -> dict[str, Any]:
        chain: list[Cursor] = []
        cursor: Cursor | None = self._cursor
        while cursor is not None:
            chain.append(cursor)
            cursor = cursor.parent
        merged: dict[str, Any] = {}
        for layer in reversed(chain):
            for key in layer.cleared:
                merged.pop(key, None)
            merged.update(layer.writes)
        return merged

    def __iter__(self) -> Iterator[str]:
        return iter(self._flat())

    def __len__(self) -> int:
        return len(self._flat())


@dataclass(eq=False)
class RunState:
    """Everything a checkpoint holds."""

    root: Cursor
    visits: dict[str, int] = field(default_factory=dict)
    steps: int = 0
    path: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "root": self.root.to_dict(),
            "visits": self.visits,
            "steps": self.steps,
            "path": self.path,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunState:
        if data.get("version") != STATE_VERSION:
            raise GraphRunError(
                f"checkpoint state version {data.get('version')!r} is not supported "
                f"(expected {STATE_VERSION}); resume it with the hive-mcp that wrote it"
            )
        return cls(
            root=Cursor.from_dict(data["root"]),
            visits=dict(data["visits"]),
            steps=int(data["steps"]),
            path=list(data["path"]),
        )
