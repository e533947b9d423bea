"""The runtime: executions and what can be learned about them."""

from hive_mcp.runtime._report import ExecutionReport, NodeDetail, RunSummary, StepLog, build_report
from hive_mcp.runtime._runtime import AgentRuntime, RuntimeLimits

__all__ = [
    "AgentRuntime",
    "ExecutionReport",
    "NodeDetail",
    "RunSummary",
    "RuntimeLimits",
    "StepLog",
    "build_report",
]
