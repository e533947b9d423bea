"""The goal metrics an agent file may name, and how their targets are written.

A success criterion with a ``metric`` is measured across executions of the
agent (``hive_mcp.runtime.evaluate_goal``). The set is closed, so a typo in an
agent file is a load error instead of a criterion that is never measured:

==========================  ===============================================  =========
metric                      value                                            better
==========================  ===============================================  =========
``success_rate``            completed / finished executions (0..1)           higher
``failure_rate``            failed / finished executions (0..1)              lower
``completed_count``         completed executions                             higher
``output_present:<key>``    share of completed executions whose output has   higher
                            a truthy ``<key>`` (0..1)
``avg_tokens``              mean input + output tokens per finished          lower
                            execution
==========================  ===============================================  =========

A target is a number, compared in the metric's own direction (``0.9`` for
``success_rate`` means at least 0.9; ``5000`` for ``avg_tokens`` means at
most 5000), or a string with the comparison spelt out: ``">= 0.9"``,
``"<= 5000"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from hive_mcp.graph._spec import GraphSpec, SuccessCriterion

__all__ = [
    "METRICS",
    "MeasuredCriterion",
    "Metric",
    "Target",
    "goal_problems",
    "known_metrics",
    "parse_criterion",
]


@dataclass(frozen=True, slots=True)
class Metric:
    """One measurable quantity of an agent's executions."""

    name: str
    higher_is_better: bool
    share: bool  # a value between 0 and 1
    takes_key: bool = False


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("success_rate", higher_is_better=True, share=True),
        Metric("failure_rate", higher_is_better=False, share=True),
        Metric("completed_count", higher_is_better=True, share=False),
        Metric("output_present", higher_is_better=True, share=True, takes_key=True),
        Metric("avg_tokens", higher_is_better=False, share=False),
    )
}


def known_metrics() -> str:
    """The metric names as an agent file writes them, for messages."""
    return ", ".join(f"{m.name}:<key>" if m.takes_key else m.name for m in METRICS.values())


@dataclass(frozen=True, slots=True)
class Target:
    """A bound the metric's value must reach: at least (``>=``) or at most (``<=``)."""

    op: Literal[">=", "<="]
    bound: float

    def met(self, value: float) -> bool:
        return value >= self.bound if self.op == ">=" else value <= self.bound

    def progress(self, value: float) -> float:
        """How close ``value`` is to the target, 0..1; 1 exactly when it is met.

        At-least targets: value / bound. At-most targets: bound / value.
        """
        if self.met(value):
            return 1.0
        ratio = value / self.bound if self.op == ">=" else (self.bound / value if value else 0.0)
        return max(0.0, min(ratio, 1.0))

    def __str__(self) -> str:
        return f"{self.op} {self.bound:g}"


@dataclass(frozen=True, slots=True)
class MeasuredCriterion:
    """A criterion's metric, its key (for ``output_present``) and its target."""

    metric: Metric
    key: str | None
    target: Target


_TARGET = re.compile(r"^\s*(>=|<=)\s*(\S+)\s*$")


def parse_criterion(criterion: SuccessCriterion) -> MeasuredCriterion | None:
    """The criterion's metric and target; ``None`` when it names no metric.

    Raises ``ValueError`` with a message that says what to write instead.
    """
    if criterion.metric is None:
        if criterion.target is not None:
            raise ValueError(
                f"sets target {criterion.target!r} but no metric; add a metric "
                f"(one of {known_metrics()}) or remove the target"
            )
        return None
    name, sep, key = criterion.metric.partition(":")
    metric = METRICS.get(name.strip())
    if metric is None or metric.takes_key != bool(sep):
        raise ValueError(f"unknown metric {criterion.metric!r}; known metrics: {known_metrics()}")
    key = key.strip()
    if metric.takes_key and not key:
        raise ValueError(f"metric {criterion.metric!r} needs a key, like '{metric.name}:reply'")
    target = _parse_target(metric, criterion.target)
    return MeasuredCriterion(metric, key or None, target)


def _parse_target(metric: Metric, raw: Any) -> Target:
    example = "0.9" if metric.share else "10"
    if raw is None:
        raise ValueError(
            f"metric {metric.name!r} needs a target, like target: {example} "
            f'or target: "{">=" if metric.higher_is_better else "<="} {example}"'
        )
    op: Literal[">=", "<="] = ">=" if metric.higher_is_better else "<="
    bound: float | None = None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        bound = float(raw)
    elif isinstance(raw, str) and (match := _TARGET.match(raw)):
        op = ">=" if match[1] == ">=" else "<="
        try:
            bound = float(match[2])
        except ValueError:
            bound = None
    if bound is None:
        raise ValueError(
            f"target {raw!r} is not a number or a comparison like '>= {example}' / '<= {example}'"
        )
    if metric.share and not 0.0 <= bound <= 1.0:
        raise ValueError(
            f"target {raw!r}: {metric.name} is a share between 0 and 1 (0.9 means 90%)"
        )
    if bound < 0:
        raise ValueError(f"target {raw!r}: {metric.name} is never negative")
    return Target(op, bound)


def goal_problems(spec: GraphSpec) -> list[str]:
    """Every problem of the agent's goal, one line each."""
    goal = spec.goal
    problems = []
    for kind, ids in (
        ("success criterion", [c.id for c in goal.success_criteria]),
        ("constraint", [c.id for c in goal.constraints]),
    ):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            problems.append(f"goal: {kind} ids {dupes} are used more than once; make them unique")
    outputs = sorted({k for t in spec.terminal_nodes for k in _outputs(spec, t)})
    for criterion in goal.success_criteria:
        where = f"goal: success criterion {criterion.id!r}"
        try:
            measured = parse_criterion(criterion)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if measured is not None and measured.key is not None and measured.key not in outputs:
            problems.append(
                f"{where}: metric {criterion.metric!r} reads output key {measured.key!r}, which "
                f"no terminal node writes; the output has {outputs}"
            )
    return problems


def _outputs(spec: GraphSpec, node_id: str) -> list[str]:
    try:
        return spec.node(node_id).output_keys
    except KeyError:
        return []  # reported by the check of terminal_nodes
