"""The tools every loop offers besides the node's own: load_data, set_output, ask_user."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hive_mcp.llm import ToolSpec

if TYPE_CHECKING:
    from hive_mcp.loop._config import LoopConfig

__all__ = ["builtin_specs"]


def builtin_specs(config: LoopConfig) -> list[ToolSpec]:
    """Specs of the built-in tools this node gets (set_output if it has outputs,
    ask_user if it is client-facing)."""
    specs = [
        ToolSpec(
            name="load_data",
            description="Read part of a large tool result that was saved to a file.",
            parameters={
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "offset": {"type": "integer", "minimum": 0, "default": 0},
                    "limit": {"type": "integer", "minimum": 1, "default": 4000},
                },
                "required": ["name"],
            },
        )
    ]
    if config.output_keys:
        specs.append(
            ToolSpec(
                name="set_output",
                description="Set one output of this step. Keys: " + ", ".join(config.output_keys),
                parameters={
                    "type": "object",
                    "properties": {
                        "key": {"type": "string", "enum": list(config.output_keys)},
                        "value": {"description": "Any JSON value."},
                    },
                    "required": ["key", "value"],
                },
            )
        )
    if config.client_facing:
        specs.append(
            ToolSpec(
                name="ask_user",
                description="Ask the user a question and wait for the answer.",
                parameters={
                    "type": "object",
                    "properties": {
                        "prompt": {"type": "string"},
                        "options": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["prompt"],
                },
            )
        )
    return specs
