"""Re-exports that import their module on first use (PEP 562).

A package ``__init__`` names everything it offers, but the heavy parts (the
executor, tool-server connections, the runtime) are only imported when
something touches them, so commands that never run a graph or speak MCP
start fast. Type checkers see the names through a ``TYPE_CHECKING`` import
beside the call.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, names: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports ``package.<module>`` for each name."""

    def __getattr__(name: str) -> object:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # the next look is a plain one
        return value

    return __getattr__
