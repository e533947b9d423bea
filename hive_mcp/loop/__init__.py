"""The event loop of LLM nodes: turns, tools, judges, people, context management."""

from hive_mcp.loop._asking import current_ask
from hive_mcp.loop._compaction import compact_if_needed, estimate_tokens
from hive_mcp.loop._config import ExitStatus, Guard, LoopConfig, LoopIO, LoopOutcome
from hive_mcp.loop._judges import (
    Judge,
    JudgeInput,
    Judgement,
    LLMJudge,
    Verdict,
    custom_judge,
    implicit_judge,
)
from hive_mcp.loop._loop import EventLoop
from hive_mcp.loop._spill import load_data, spill
from hive_mcp.loop._state import LoopState, PendingInput
from hive_mcp.loop._tools import Tool, ToolError, python_tool, render_result

__all__ = [
    "EventLoop",
    "ExitStatus",
    "Guard",
    "Judge",
    "JudgeInput",
    "Judgement",
    "LLMJudge",
    "LoopConfig",
    "LoopIO",
    "LoopOutcome",
    "LoopState",
    "PendingInput",
    "Tool",
    "ToolError",
    "Verdict",
    "compact_if_needed",
    "current_ask",
    "custom_judge",
    "estimate_tokens",
    "implicit_judge",
    "load_data",
    "python_tool",
    "render_result",
    "spill",
]
