"""Tools a loop can offer the model, and how Python functions become tools.

A tool answers with content for the model; a ``ToolError`` is an error the
model is told about and can recover from (bad arguments, unknown names).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio.to_thread
import pydantic

from hive_mcp.llm import ToolSpec

__all__ = ["Tool", "ToolError", "python_tool", "render_result"]


class ToolError(Exception):
    """A tool failure the model should see and can act on."""


@dataclass(frozen=True)
class Tool:
    """A tool: its spec for the model and the coroutine that runs it."""

    spec: ToolSpec
    run: Callable[[dict[str, Any]], Awaitable[Any]]

    @property
    def name(self) -> str:
        return self.spec.name


def python_tool(fn: Callable[..., Any], name: str | None = None) -> Tool:
    """Make a tool of a Python function; its signature becomes the JSON Schema.

    Arguments are validated with pydantic before the call, so a model that
    sends the wrong shape gets a precise error instead of a crash. Sync
    functions run in a worker thread.
    """
    signature = inspect.signature(fn)
    fields: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = param.annotation if param.annotation is not param.empty else Any
        default = param.default if param.default is not param.empty else ...
        fields[param.name] = (annotation, default)
    model = pydantic.create_model(
        f"{fn.__name__}_arguments", __config__=pydantic.ConfigDict(extra="forbid"), **fields
    )
    schema = model.model_json_schema()
    schema.pop("title", None)
    doc = inspect.getdoc(fn) or ""
    spec = ToolSpec(name=name or fn.__name__, description=doc, parameters=schema)
    is_async = inspect.iscoroutinefunction(fn)

    async def run(arguments: dict[str, Any]) -> Any:
        try:
            parsed = model.model_validate(arguments)
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ToolError(f"invalid arguments for {spec.name}: {problems}") from None
        kwargs = {k: getattr(parsed, k) for k in fields}
        if is_async:
            return await fn(**kwargs)
        return await anyio.to_thread.run_sync(partial(fn, **kwargs), abandon_on_cancel=True)

    return Tool(spec=spec, run=run)


def render_result(value: Any) -> str:
    """Tool results reach the model as text: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)
