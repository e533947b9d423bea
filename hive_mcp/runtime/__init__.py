"""The runtime: executions and what can be learned about them."""

from hive_mcp.runtime._report import ExecutionReport, NodeDetail, RunSummary, StepLog, build_report

__all__ = ["ExecutionReport", "NodeDetail", "RunSummary", "StepLog", "build_report"]
