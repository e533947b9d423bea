"""The shape of a graph: edge order, feedback edges, fan-out joins, branches.

Rules (shared by validation and the executor):

- Edges leave a node in priority order, highest first; ties keep file order.
- A *feedback* edge is one that closes a cycle: found by a depth-first walk
  from the entry nodes, it points at a node still on the walk's stack.
  At equal priority a feedback edge ranks below forward edges, as in the
  reference; a higher priority puts it first (so a low-priority fallback
  edge can take over once a loop's node has used up its visits).
- The first edge in that order that fires decides. A feedback edge is taken
  alone; a forward edge is taken with every other firing forward edge of the
  same priority, and their targets run in parallel. The *join* is the
  nearest node every branch reaches, where the branches meet (fan-in) and
  the walk goes on as one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from hive_mcp.graph._spec import EdgeSpec, GraphSpec

__all__ = ["Topology"]


@dataclass(eq=False)
class Topology:
    """Derived, read-only facts about a ``GraphSpec``."""

    spec: GraphSpec
    _joins: dict[tuple[str, ...], str | None] = field(default_factory=dict, repr=False)

    @cached_property
    def node_ids(self) -> list[str]:
        """Node ids in file order."""
        return [n.id for n in self.spec.nodes]

    @cached_property
    def start_nodes(self) -> list[str]:
        """The entry node and the entry nodes of entry points."""
        starts = [self.spec.entry_node]
        starts += [ep.entry_node for ep in self.spec.entry_points if ep.entry_node]
        return [s for s in dict.fromkeys(starts) if s in self._known]

    @cached_property
    def _known(self) -> set[str]:
        return set(self.node_ids)

    @cached_property
    def out_edges(self) -> dict[str, list[EdgeSpec]]:
        """Each node's outgoing edges to known nodes, best priority first."""
        result: dict[str, list[EdgeSpec]] = {n: [] for n in self.node_ids}
        for edge in self.spec.edges:
            if edge.source in self._known and edge.target in self._known:
                result[edge.source].append(edge)
        for edges in result.values():
            edges.sort(key=lambda e: -e.priority)  # stable: ties keep file order
        return result

    @cached_property
    def feedback_edges(self) -> frozenset[int]:
        """``id()`` of every edge that closes a cycle (see module docstring)."""
        feedback: set[int] = set()
        state: dict[str, int] = {}  # 1 = on the stack, 2 = done
        for start in self.start_nodes:
            if start in state:
                continue
            state[start] = 1
            stack: list[tuple[str, Iterable[EdgeSpec]]] = [(start, iter(self.out_edges[start]))]
            while stack:
                node, edges = stack[-1]
                for edge in edges:
                    seen = state.get(edge.target)
                    if seen == 1:
                        feedback.add(id(edge))
                    elif seen is None:
                        state[edge.target] = 1
                        stack.append((edge.target, iter(self.out_edges[edge.target])))
                        break
                else:
                    state[node] = 2
                    stack.pop()
        return frozenset(feedback)

    def is_feedback(self, edge: EdgeSpec) -> bool:
        """Whether ``edge`` closes a cycle."""
        return id(edge) in self.feedback_edges

    def choice_order(self, node_id: str) -> list[EdgeSpec]:
        """Outgoing edges in the order they are tried (see module docstring)."""
        return sorted(self.out_edges[node_id], key=lambda e: (-e.priority, self.is_feedback(e)))

    def forward_edges(self, node_id: str) -> list[EdgeSpec]:
        """Outgoing forward edges of ``node_id``, best priority first."""
        return [e for e in self.out_edges[node_id] if not self.is_feedback(e)]

    def loop_edges(self, node_id: str) -> list[EdgeSpec]:
        """Outgoing feedback edges of ``node_id``, best priority first."""
        return [e for e in self.out_edges[node_id] if self.is_feedback(e)]

    def _distances(self, start: str) -> dict[str, int]:
        dist = {start: 0}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for edge in self.forward_edges(node):
                if edge.target not in dist:
                    dist[edge.target] = dist[node] + 1
                    queue.append(edge.target)
        return dist

    def join_of(self, targets: Iterable[str]) -> str | None:
        """The nearest node all ``targets`` reach by forward edges, or ``None``."""
        key = tuple(sorted(set(targets)))
        if key not in self._joins:
            dists = [self._distances(t) for t in key]
            common = set(dists[0]).intersection(*dists[1:])
            order = {n: i for i, n in enumerate(self.node_ids)}
            self._joins[key] = min(
                common,
                key=lambda n: (max(d[n] for d in dists), sum(d[n] for d in dists), order[n]),
                default=None,
            )
        return self._joins[key]

    def branch_nodes(self, start: str, join: str | None) -> set[str]:
        """Nodes a branch starting at ``start`` can run before it reaches ``join``."""
        seen: set[str] = set()
        queue = deque([start])
        while queue:
            node = queue.popleft()
            if node == join or node in seen:
                continue
            seen.add(node)
            queue.extend(e.target for e in self.out_edges[node])
        return seen

    def reachable_from(self, starts: Iterable[str]) -> set[str]:
        """Nodes reachable from ``starts`` over any edges."""
        return self._walk(starts, {n: [e.target for e in es] for n, es in self.out_edges.items()})

    def reaching(self, ends: Iterable[str]) -> set[str]:
        """Nodes from which some node of ``ends`` is reachable."""
        incoming: dict[str, list[str]] = {n: [] for n in self.node_ids}
        for source, edges in self.out_edges.items():
            for edge in edges:
                incoming[edge.target].append(source)
        return self._walk(ends, incoming)

    def _walk(self, starts: Iterable[str], links: dict[str, list[str]]) -> set[str]:
        seen: set[str] = set()
        queue = deque(s for s in starts if s in self._known)
        while queue:
            node = queue.popleft()
            if node not in seen:
                seen.add(node)
                queue.extend(links[node])
        return seen

    def fanout_groups(self, node_id: str) -> list[list[EdgeSpec]]:
        """Groups of forward edges of one priority that could fire together."""
        groups: dict[int, list[EdgeSpec]] = {}
        for edge in self.forward_edges(node_id):
            groups.setdefault(edge.priority, []).append(edge)
        return [g for g in groups.values() if len({e.target for e in g}) > 1]
