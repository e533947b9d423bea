"""The runtime: executions and what can be learned about them (reports, goal progress)."""

from hive_mcp.runtime._goals import (
    DEFAULT_GOAL_WINDOW,
    ConstraintReport,
    CriterionProgress,
    ExecutionCounts,
    GoalProgress,
    evaluate_goal,
)
from hive_mcp.runtime._presence import (
    Presence,
    busy_error,
    holder_of,
    is_alive,
    live_runtimes,
    send_command,
)
from hive_mcp.runtime._report import ExecutionReport, NodeDetail, RunSummary, StepLog, build_report
from hive_mcp.runtime._runtime import AgentRuntime, RuntimeLimits, record_cancelled

__all__ = [
    "DEFAULT_GOAL_WINDOW",
    "AgentRuntime",
    "ConstraintReport",
    "CriterionProgress",
    "ExecutionCounts",
    "ExecutionReport",
    "GoalProgress",
    "NodeDetail",
    "Presence",
    "RunSummary",
    "RuntimeLimits",
    "StepLog",
    "build_report",
    "busy_error",
    "evaluate_goal",
    "holder_of",
    "is_alive",
    "live_runtimes",
    "record_cancelled",
    "send_command",
]
