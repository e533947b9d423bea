"""Agent files: reading YAML/JSON, reporting their mistakes, finding them in a folder.

A folder of agents holds agent files directly (``name.yaml``, ``.yml``,
``.json``) or one folder per agent with an ``agent.yaml`` (or ``.yml``,
``.json``) inside, next to the Python modules its function nodes use.
"""

from __future__ import annotations

import difflib
import json
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml

from hive_mcp._values import value_problem
from hive_mcp._yaml import load_yaml
from hive_mcp.errors import AgentFileError, UnknownAgentError
from hive_mcp.graph._agent import Agent
from hive_mcp.graph._spec import GraphSpec
from hive_mcp.graph._validate import check_agent

__all__ = ["AgentCatalog", "discover_agent_files", "load_agent", "load_catalog"]

SUFFIXES = (".yaml", ".yml", ".json")


def load_agent(path: str | Path) -> Agent:
    """Read, parse and validate one agent file; raise ``AgentFileError`` on any problem."""
    path = Path(path)
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise AgentFileError(
            label,
            [
                f"the file is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                f"{exc.start}); save it as UTF-8"
            ],
        ) from None
    except OSError as exc:
        raise AgentFileError(label, [f"cannot read the file: {exc.strerror or exc}"]) from None
    data = _parse(label, path.suffix.lower(), text)
    if not isinstance(data, dict):
        raise AgentFileError(
            label, [f"the file must hold a mapping (name, nodes, edges, ...), not {_kind(data)}"]
        )
    try:
        spec = GraphSpec.model_validate(data)
    except pydantic.ValidationError as exc:
        raise AgentFileError(label, [_describe(err, data) for err in exc.errors()]) from None
    problem = value_problem(data, "")  # what YAML reads but no store or MCP answer can carry
    if problem is not None:
        raise AgentFileError(label, [problem.removeprefix(".")])
    return check_agent(Agent(spec=spec, source=path, code=_local_code(path.parent)))


def _local_code(folder: Path) -> frozenset[tuple[str, int, int]]:
    """The ``*.py`` files function refs may import from ``folder``, with their versions."""
    found = set()
    for module in folder.glob("*.py"):
        try:
            stat = module.stat()
        except OSError:
            continue
        found.add((module.name, stat.st_mtime_ns, stat.st_size))
    return frozenset(found)


def _parse(label: str, suffix: str, text: str) -> Any:
    try:
        return _parse_text(label, suffix, text)
    except RecursionError:
        raise AgentFileError(label, ["the file is nested too deeply to read"]) from None
    except ValueError as exc:  # a YAML value its type refuses, or an integer of 4,300+ digits
        reason = str(exc)
        if reason.startswith("Exceeds the limit"):
            reason = f"a number has more than {sys.get_int_max_str_digits()} digits"
        raise AgentFileError(label, [f"a value cannot be read: {reason}"]) from None


def _parse_text(label: str, suffix: str, text: str) -> Any:
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise AgentFileError(
                label, [f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]
            ) from None
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise AgentFileError(label, [f"invalid YAML{where}: {problem}"]) from None


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"


def _describe(err: Any, data: dict[str, Any]) -> str:
    """Phrase one pydantic error with a readable location (``nodes[2] 'id'.field``)."""
    parts: list[str] = []
    current: Any = data
    for item in err["loc"]:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(current, list) and item < len(current):
                current = current[item]
                if isinstance(current, dict) and isinstance(current.get("id"), str):
                    label += f" ({current['id']!r})"
            else:
                current = None
            parts.append(label)
        else:
            parts.append(f".{item}" if parts else str(item))
            current = current.get(item) if isinstance(current, dict) else None
    where = "".join(parts) or "top level"
    if err["type"] == "extra_forbidden":
        near = difflib.get_close_matches(str(err["loc"][-1]), _fields_at(err["loc"][:-1]), n=1)
        hint = f"did you mean {near[0]!r}?" if near else "check its spelling or remove it"
        return f"{where}: unknown field; {hint}"
    if err["type"] == "missing":
        return f"{where}: required field is missing"
    if err["type"] == "string_pattern_mismatch":
        return f"{where}: {err['input']!r} {_PATTERNS.get(err['ctx']['pattern'], err['msg'])}"
    return f"{where}: {err['msg']}"


_PATTERNS = {  # the spec's patterns, in words
    r"^[A-Za-z][A-Za-z0-9_\-]{0,47}$": "must start with a letter and hold only letters, "
    "digits, '_' and '-' (48 characters at most): it becomes a tool name",
    r"^[A-Za-z_][A-Za-z0-9_\-]*$": "must start with a letter or '_' and hold only letters, "
    "digits, '_' and '-'",
}


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The field names the agent-file model accepts at ``loc`` (``[]`` when unknown)."""
    model: Any = GraphSpec
    for item in loc:
        if isinstance(item, int):
            continue  # an item of a list: same model
        if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
            return []
        by_name = {f.alias or n: f for n, f in model.model_fields.items()}
        info = by_name.get(str(item))
        if info is None:
            return []
        model = info.annotation
        while typing.get_origin(model) is not None:  # list[X], X | None, ...
            inner = [a for a in typing.get_args(model) if a is not type(None)]
            model = inner[-1] if inner else None
    if isinstance(model, type) and issubclass(model, pydantic.BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return []


def discover_agent_files(folder: str | Path) -> list[Path]:
    """Agent files in ``folder``, sorted: ``*.yaml`` files and ``*/agent.yaml`` files."""
    folder = Path(folder)
    found: list[Path] = []
    for entry in sorted(folder.iterdir()):
        if entry.is_file() and entry.suffix.lower() in SUFFIXES:
            found.append(entry)
        elif entry.is_dir():
            found += [entry / f"agent{s}" for s in SUFFIXES if (entry / f"agent{s}").is_file()]
    return found


@dataclass
class AgentCatalog:
    """The agents of one folder, with the files that failed to load kept apart."""

    folder: Path | None = None
    agents: dict[str, Agent] = field(default_factory=dict)
    errors: list[AgentFileError] = field(default_factory=list)

    def get(self, name: str) -> Agent:
        """Return the agent called ``name``; ``UnknownAgentError`` lists the known ones."""
        try:
            return self.agents[name]
        except KeyError:
            known = ", ".join(sorted(self.agents)) or "none"
            where = f" in {self.folder}" if self.folder else ""
            broken = f"; {self.failed_summary()}" if self.errors else ""
            raise UnknownAgentError(
                f"no agent {name!r}{where}; known agents: {known}{broken}"
            ) from None

    def failed_summary(self) -> str:
        """The load problems in one line: "1 agent file failed to load: FILE (first problem)"."""
        count = len(self.errors)
        noun = "agent file failed" if count == 1 else "agent files failed"
        shown = "; ".join(f"{e.source} ({e.problems[0]})" for e in self.errors[:3])
        more = f"; and {count - 3} more" if count > 3 else ""
        return f"{count} {noun} to load: {shown}{more} (list_agents shows every problem)"

    def add(self, agent: Agent) -> None:
        """Add an agent, refusing a second agent with the same name."""
        if agent.name in self.agents:
            first = self.agents[agent.name].label
            raise AgentFileError(
                agent.label, [f"agent name {agent.name!r} is already used by {first}; rename one"]
            )
        self.agents[agent.name] = agent

    def __iter__(self) -> Iterator[Agent]:
        return iter(self.agents.values())


def load_catalog(folder: str | Path, origin: str = "") -> AgentCatalog:
    """Load every agent of ``folder``; files with problems go to ``errors``.

    ``origin`` says where the folder's path came from (``Settings.agents_origin``),
    so a missing folder's problem names what to fix.
    """
    folder = Path(folder)
    catalog = AgentCatalog(folder=folder)
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        came = f"; the path comes from {origin}" if origin else ""
        catalog.errors.append(AgentFileError(str(folder), [f"the agents folder {what}{came}"]))
        return catalog
    for path in discover_agent_files(folder):
        try:
            catalog.add(load_agent(path))
        except AgentFileError as exc:
            catalog.errors.append(exc)
    _check_delegation(catalog)
    return catalog


def _local_delegates(agent: Agent) -> list[tuple[str, str]]:
    return [
        (n.id, n.delegate.agent)
        for n in agent.spec.nodes
        if n.delegate is not None and n.delegate.server is None
    ]


def _check_delegation(catalog: AgentCatalog) -> None:
    """Refuse agents that delegate to an agent not in the catalog, or in a cycle."""
    while True:
        bad: dict[str, str] = {}
        for agent in catalog:
            for node_id, target in _local_delegates(agent):
                if target not in catalog.agents:
                    known = ", ".join(sorted(catalog.agents))
                    bad[agent.name] = (
                        f"node {node_id!r} delegates to agent {target!r}, which is not in "
                        f"this agents folder (known: {known}); set delegate.server if it "
                        "runs on another hive-mcp server"
                    )
        if not bad:
            break
        for name, problem in bad.items():
            catalog.errors.append(AgentFileError(catalog.agents.pop(name).label, [problem]))
    for agent in list(catalog):
        cycle = _cycle(catalog, agent.name, [agent.name])
        if cycle and agent.name in catalog.agents:
            catalog.agents.pop(agent.name)
            catalog.errors.append(
                AgentFileError(
                    agent.label,
                    [f"agents delegate to each other in a cycle: {' -> '.join(cycle)}"],
                )
            )


def _cycle(catalog: AgentCatalog, name: str, path: list[str]) -> list[str] | None:
    agent = catalog.agents.get(name)
    for _, target in _local_delegates(agent) if agent else []:
        if target == path[0]:
            return [*path, target]
        if target not in path:
            found = _cycle(catalog, target, [*path, target])
            if found:
                return found
    return None
