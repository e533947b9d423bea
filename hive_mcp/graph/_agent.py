"""A loaded agent: its spec, where it came from, and its derived topology."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonschema

from hive_mcp.errors import InputError
from hive_mcp.graph._spec import GraphSpec
from hive_mcp.graph._topology import Topology

__all__ = ["Agent"]


@dataclass(frozen=True, eq=False)
class Agent:
    """A validated ``GraphSpec`` plus the file it came from (``None`` if built in Python).

    Function nodes resolve ``module:callable`` against the file's folder first.
    """

    spec: GraphSpec
    source: Path | None = field(default=None)
    code: frozenset[tuple[str, int, int]] = field(default=frozenset())
    """The Python modules next to the file when it loaded: (path, mtime_ns, size)."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def base_dir(self) -> Path | None:
        """The folder local modules of function nodes are looked up in."""
        return self.source.parent if self.source is not None else None

    @property
    def label(self) -> str:
        """How messages name this agent's definition."""
        return str(self.source) if self.source is not None else f"agent {self.spec.name!r}"

    def describe(self) -> dict[str, Any]:
        """What callers need to know to start it (list_agents, ``hive-mcp agents``)."""
        spec = self.spec
        return {
            "name": spec.name,
            "description": spec.description,
            "input_schema": spec.effective_input_schema(),
            "entry_points": [
                {
                    "id": ep.id,
                    "name": ep.name or ep.id,
                    "trigger": ep.trigger,
                    "entry_node": ep.entry_node or spec.entry_node,
                    "config": _public(ep.trigger, ep.config),
                }
                for ep in spec.entry_points
            ],
            "client_facing_nodes": [n.id for n in spec.nodes if n.client_facing],
        }

    @cached_property
    def topology(self) -> Topology:
        return Topology(self.spec)

    @cached_property
    def _input_validators(self) -> dict[str | None, jsonschema.protocols.Validator]:
        validators = {}
        for ep in [None, *(e.id for e in self.spec.entry_points)]:
            schema = self.spec.effective_input_schema(ep)
            validators[ep] = jsonschema.validators.validator_for(schema)(schema)
        return validators

    def check_input(self, data: Any, entry_point: str | None = None) -> dict[str, Any]:
        """Return ``data`` if it fits the input schema; else ``InputError`` with field paths."""
        if not isinstance(data, dict):
            raise InputError(
                f"the input of agent {self.name!r} must be a JSON object, not {type(data).__name__}"
            )
        validator = self._input_validators.get(entry_point, self._input_validators[None])
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
        if errors:
            lines = "; ".join(
                f"{'/'.join(str(p) for p in e.path) or '(top level)'}: {e.message}" for e in errors
            )
            raise InputError(f"the input does not fit agent {self.name!r}: {lines}")
        return data


def _public(trigger: str, config: dict[str, Any]) -> dict[str, Any]:
    """What callers may see of a trigger's config (never fixed input values)."""
    shown = {k: v for k, v in config.items() if k != "input"}
    if trigger == "webhook":
        shown["signed"] = bool(config.get("secret_env"))
    return shown
