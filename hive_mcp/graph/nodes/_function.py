"""Function nodes: a Python callable named ``module:callable`` does the step.

The callable receives the node's inputs as keyword arguments (a parameter
named ``ctx`` receives the ``NodeContext``) and returns a dict of outputs, or
``None`` for none. Async callables are awaited; plain ones run in a worker
thread so a blocking step cannot stall other executions.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from hive_mcp.errors import StoreError, UsageError
from hive_mcp.graph._spec import NodeSpec
from hive_mcp.graph.nodes._base import NodeContext, NodeResult, NodeStatus

if TYPE_CHECKING:
    from hive_mcp.graph._agent import Agent

__all__ = ["FunctionNode", "resolve_callable"]


def resolve_callable(ref: str, base_dir: Path | None = None) -> Callable[..., Any]:
    """Import ``module:callable``, looking for ``module.py`` in ``base_dir`` first.

    Raises ``UsageError`` with a message that says what to fix.
    """
    module_name, sep, attr_path = ref.partition(":")
    if not sep or not module_name or not attr_path:
        raise UsageError(f"function {ref!r} must look like 'module:callable'")
    module = _import(module_name, base_dir, ref)
    target: Any = module
    for attr in attr_path.split("."):
        try:
            target = getattr(target, attr)
        except AttributeError:
            raise UsageError(
                f"function {ref!r}: module {module_name!r} has no attribute {attr!r}"
            ) from None
    if not callable(target):
        raise UsageError(f"function {ref!r} is not callable")
    return target  # type: ignore[no-any-return]


def _why(exc: Exception) -> str:
    if isinstance(exc, SyntaxError):
        return f"{exc.msg} (line {exc.lineno}, column {exc.offset})"
    return f"{type(exc).__name__}: {exc}"


def _import(module_name: str, base_dir: Path | None, ref: str) -> ModuleType:
    if base_dir is not None:
        local = base_dir.joinpath(*module_name.split(".")).with_suffix(".py")
        if local.is_file():
            # A unique name per file and version keeps two agents' 'steps.py' apart,
            # and has an edited file imported afresh when the agent reloads.
            stat = local.stat()
            version = f"{local.resolve()}:{stat.st_mtime_ns}:{stat.st_size}"
            unique = f"hive_mcp_agent_{hashlib.sha1(version.encode()).hexdigest()[:12]}"
            if unique in sys.modules:
                return sys.modules[unique]
            spec = importlib.util.spec_from_file_location(unique, local)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[unique] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[unique]
                why = _why(exc)
                raise UsageError(f"function {ref!r}: importing {local} failed: {why}") from exc
            return module
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        where = f" (looked in {base_dir} and on sys.path)" if base_dir else ""
        raise UsageError(
            f"function {ref!r}: cannot import module {module_name!r}{where}: {exc}"
        ) from exc


class FunctionNode:
    """Runs one Python callable per attempt."""

    def __init__(self, node: NodeSpec, agent: Agent) -> None:
        if not node.function:
            raise UsageError(f"node {node.id!r} is a function node but names no 'function'")
        self._fn = resolve_callable(node.function, agent.base_dir)
        self._is_async = inspect.iscoroutinefunction(self._fn)
        params = inspect.signature(self._fn).parameters
        self._wants_ctx = "ctx" in params
        self._takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        self._accepted = {n for n in params if n != "ctx"}
        missing = [
            n
            for n, p in params.items()
            if n != "ctx"
            and n not in node.input_keys
            and p.default is inspect.Parameter.empty
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        ]
        if missing:
            raise UsageError(
                f"node {node.id!r}: {node.function} requires {missing}, which are not among "
                f"the node's input_keys {node.input_keys}; add them or give them defaults"
            )

    async def run(self, ctx: NodeContext) -> NodeResult:
        """Call the function with the inputs; an exception is a retryable failure."""
        kwargs = {k: v for k, v in ctx.inputs.items() if self._takes_all or k in self._accepted}
        if self._wants_ctx:
            kwargs["ctx"] = ctx
        try:
            if self._is_async:
                value = await self._fn(**kwargs)
            else:
                # On cancel, stop waiting at once; the thread finishes unobserved.
                value = await anyio.to_thread.run_sync(
                    partial(self._fn, **kwargs), abandon_on_cancel=True
                )
        except StoreError:
            raise  # the store lost the execution's writes: not the step's failure
        except Exception as exc:
            return NodeResult(status=NodeStatus.FAILURE, error=f"{type(exc).__name__}: {exc}")
        if value is None:
            return NodeResult(status=NodeStatus.SUCCESS)
        if not isinstance(value, Mapping):
            return NodeResult(
                status=NodeStatus.FAILURE,
                error=f"{ctx.node.function} returned {type(value).__name__}; "
                "a function node must return a dict of outputs (or None)",
                retryable=False,
            )
        return NodeResult(status=NodeStatus.SUCCESS, outputs=dict(value))
