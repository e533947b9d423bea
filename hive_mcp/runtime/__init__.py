"""The runtime: executions and what can be learned about them (reports, goal progress)."""

from typing import TYPE_CHECKING

from hive_mcp._lazy import lazy_exports
from hive_mcp.runtime._presence import (
    Presence,
    busy_error,
    holder_of,
    is_alive,
    live_runtimes,
    send_command,
)

if TYPE_CHECKING:
    from hive_mcp.runtime._goals import (
        DEFAULT_GOAL_WINDOW,
        ConstraintReport,
        CriterionProgress,
        ExecutionCounts,
        GoalProgress,
        evaluate_goal,
    )
    from hive_mcp.runtime._report import (
        ExecutionReport,
        NodeDetail,
        RunSummary,
        StepLog,
        build_report,
    )
    from hive_mcp.runtime._runtime import AgentRuntime, RuntimeLimits, record_cancelled

__getattr__ = lazy_exports(
    __name__,
    {
        "DEFAULT_GOAL_WINDOW": "_goals",
        "ConstraintReport": "_goals",
        "CriterionProgress": "_goals",
        "ExecutionCounts": "_goals",
        "GoalProgress": "_goals",
        "evaluate_goal": "_goals",
        "ExecutionReport": "_report",
        "NodeDetail": "_report",
        "RunSummary": "_report",
        "StepLog": "_report",
        "build_report": "_report",
        "AgentRuntime": "_runtime",
        "RuntimeLimits": "_runtime",
        "record_cancelled": "_runtime",
    },
)

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
