"""The runtime: executions and what can be learned about them (reports, goal progress)."""

from hive_mcp.runtime._goals import (
    DEFAULT_GOAL_WINDOW,
    ConstraintReport,
    CriterionProgress,
    ExecutionCounts,
    GoalProgress,
    evaluate_goal,
)
from hive_mcp.runtime._report import ExecutionReport, NodeDetail, RunSummary, StepLog, build_report
from hive_mcp.runtime._runtime import AgentRuntime, RuntimeLimits

__all__ = [
    "DEFAULT_GOAL_WINDOW",
    "AgentRuntime",
    "ConstraintReport",
    "CriterionProgress",
    "ExecutionCounts",
    "ExecutionReport",
    "GoalProgress",
    "NodeDetail",
    "RunSummary",
    "RuntimeLimits",
    "StepLog",
    "build_report",
    "evaluate_goal",
]
