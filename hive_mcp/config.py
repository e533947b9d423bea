"""Where hive-mcp keeps things: ``HIVE_MCP_HOME``, its config file, the agents folder.

Precedence: environment variables, then ``$HIVE_MCP_HOME/config.yaml``, then
defaults. ``HIVE_MCP_HOME`` defaults to the per-user data folder
(``~/.local/share/hive-mcp`` on Linux); two homes share nothing.
The agents folder defaults to ``./graph`` when present, else the example
agents shipped inside the package. Retention (``retention:`` in the file,
``HIVE_MCP_RETENTION_DAYS`` and ``HIVE_MCP_RETENTION_MAX_EXECUTIONS``)
defaults to 30 days and 10,000 executions; 0 or empty keeps forever.
Limits (``limits:`` in the file, ``HIVE_MCP_MAX_CONCURRENT`` and
``HIVE_MCP_MAX_INPUT_BYTES``) bound running executions and the size of an
execution's input or an answer sent to it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import platformdirs
import pydantic
import yaml

from hive_mcp._yaml import load_yaml
from hive_mcp.errors import UsageError
from hive_mcp.store import (
    DEFAULT_RETENTION,
    RetentionPolicy,
    Store,
    is_store_url,
    open_store,
    store_label,
)
from hive_mcp.toolbox import ServerConfig, load_servers_file

if TYPE_CHECKING:
    from hive_mcp.graph import AgentCatalog
    from hive_mcp.runtime import RuntimeLimits

__all__ = ["ConfigFile", "LimitsConfig", "RetentionConfig", "Settings", "bundled_agents_dir"]

CONFIG_NAME = "config.yaml"
TOOLS_NAME = "mcp_servers.json"
STORE_NAME = "store.db"


N = TypeVar("N", int, float)
ENV_RETENTION_DAYS = "HIVE_MCP_RETENTION_DAYS"
ENV_RETENTION_MAX = "HIVE_MCP_RETENTION_MAX_EXECUTIONS"
ENV_MAX_CONCURRENT = "HIVE_MCP_MAX_CONCURRENT"
ENV_MAX_INPUT_BYTES = "HIVE_MCP_MAX_INPUT_BYTES"
ENV_STORE = "HIVE_MCP_STORE"
DEFAULT_MAX_CONCURRENT = 50
DEFAULT_MAX_INPUT_BYTES = 1_000_000


class RetentionConfig(pydantic.BaseModel):
    """``retention:`` in ``config.yaml``; 0 or null keeps forever on that count."""

    model_config = pydantic.ConfigDict(extra="forbid")

    days: float | None = pydantic.Field(default=DEFAULT_RETENTION.max_age_days, ge=0)
    max_executions: int | None = pydantic.Field(default=DEFAULT_RETENTION.max_executions, ge=0)


class LimitsConfig(pydantic.BaseModel):
    """``limits:`` in ``config.yaml``."""

    model_config = pydantic.ConfigDict(extra="forbid")

    max_concurrent: int = pydantic.Field(default=DEFAULT_MAX_CONCURRENT, ge=1)
    max_input_bytes: int = pydantic.Field(default=DEFAULT_MAX_INPUT_BYTES, ge=1)


class ConfigFile(pydantic.BaseModel):
    """The keys ``config.yaml`` may set."""

    model_config = pydantic.ConfigDict(extra="forbid")

    agents_dir: str | None = None
    tool_servers: str | None = None
    store: str | None = None
    retention: RetentionConfig = pydantic.Field(default_factory=RetentionConfig)
    limits: LimitsConfig = pydantic.Field(default_factory=LimitsConfig)


def bundled_tools_file() -> Path:
    """The tool-server registry that ships with hive-mcp."""
    packaged = Path(str(resources.files("hive_mcp"))) / "_bundled_tools" / TOOLS_NAME
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "tools" / TOOLS_NAME


def bundled_agents_dir() -> Path:
    """The example agents that ship with hive-mcp."""
    packaged = Path(str(resources.files("hive_mcp"))) / "_bundled_graph"
    if packaged.is_dir():
        return packaged
    # An editable (development) install: the repository's own graph/ folder.
    return Path(__file__).resolve().parent.parent / "graph"


@dataclass(frozen=True)
class Settings:
    """Resolved locations for one process."""

    home: Path
    agents_dir: Path
    tools_file: Path
    retention: RetentionPolicy = DEFAULT_RETENTION
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    max_input_bytes: int = DEFAULT_MAX_INPUT_BYTES
    agents_origin: str = ""
    """Where ``agents_dir`` came from, in words, for messages about a missing folder."""
    store: str = ""
    """``HIVE_MCP_STORE`` / ``store:``: a PostgreSQL URL or a SQLite file; empty: the default."""

    @property
    def limits(self) -> RuntimeLimits:
        """The runtime's bounds these settings ask for."""
        from hive_mcp.runtime import RuntimeLimits  # the runtime is heavy; few commands run one

        return RuntimeLimits(
            max_concurrent=self.max_concurrent, max_input_bytes=self.max_input_bytes
        )

    @property
    def store_path(self) -> Path:
        """The SQLite file in ``home``: the store unless ``store`` names another."""
        return self.home / STORE_NAME

    @property
    def store_target(self) -> str | Path:
        """What ``open_store`` opens: the configured URL or file, else ``store_path``."""
        if not self.store:
            return self.store_path
        return self.store if is_store_url(self.store) else Path(self.store).expanduser()

    @property
    def store_label(self) -> str:
        """The store as messages name it (a URL without its password)."""
        return store_label(self.store_target)

    def open_store(self) -> Store:
        """The store these settings name (nothing connects before its first call)."""
        return open_store(self.store_target)

    @property
    def data_dir(self) -> Path:
        """Per-execution files (spilled tool results)."""
        return self.home / "data"

    def load_catalog(self) -> AgentCatalog:
        """The agents of ``agents_dir``; a missing folder's problem says where it came from."""
        from hive_mcp.graph import load_catalog  # only the commands that need agents load them

        return load_catalog(self.agents_dir, self.agents_origin)

    def tool_servers(self) -> dict[str, ServerConfig]:
        """The registry: the tools file, overlaid by ``$HIVE_MCP_HOME/mcp_servers.json``."""
        servers = load_servers_file(self.tools_file)
        servers.update(load_servers_file(self.home / TOOLS_NAME))
        return servers

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
        """Resolve settings from ``env`` (default ``os.environ``) and the config file."""
        env = os.environ if env is None else env
        cwd = Path.cwd() if cwd is None else cwd
        home = Path(env.get("HIVE_MCP_HOME") or platformdirs.user_data_dir("hive-mcp"))
        home = home.expanduser()
        file = _read_config(home / CONFIG_NAME)
        agents = env.get("HIVE_MCP_AGENTS") or file.agents_dir
        if agents:
            agents_dir = (cwd / Path(agents).expanduser()).resolve()
            named = (
                f"HIVE_MCP_AGENTS={agents!r}"
                if env.get("HIVE_MCP_AGENTS")
                else f"agents_dir: {agents!r} in {home / CONFIG_NAME}"
            )
            origin = _origin(named, agents, cwd)
        elif (cwd / "graph").is_dir():
            agents_dir, origin = cwd / "graph", f"the folder 'graph' in the working directory {cwd}"
        else:
            agents_dir, origin = bundled_agents_dir(), "the example agents shipped with hive-mcp"
        tools = env.get("HIVE_MCP_TOOLS") or file.tool_servers
        if tools:
            tools_file = (cwd / Path(tools).expanduser()).resolve()
        elif (cwd / "tools" / TOOLS_NAME).is_file():
            tools_file = cwd / "tools" / TOOLS_NAME
        else:
            tools_file = bundled_tools_file()
        retention = RetentionPolicy(
            max_age_days=_bound(env, ENV_RETENTION_DAYS, file.retention.days, float, "days"),
            max_executions=_bound(
                env, ENV_RETENTION_MAX, file.retention.max_executions, int, "executions"
            ),
        )
        return cls(
            home=home,
            agents_dir=agents_dir,
            tools_file=tools_file,
            retention=retention,
            max_concurrent=_positive(env, ENV_MAX_CONCURRENT, file.limits.max_concurrent),
            max_input_bytes=_positive(env, ENV_MAX_INPUT_BYTES, file.limits.max_input_bytes),
            agents_origin=origin,
            store=_store(env, file.store, cwd),
        )


def _store(env: Mapping[str, str], configured: str | None, cwd: Path) -> str:
    """The store setting: a URL as given, a file resolved against ``cwd``; empty: default."""
    value = (env.get(ENV_STORE) or configured or "").strip()
    if not value or is_store_url(value):
        return value
    if "://" in value:
        scheme = value.split("://", 1)[0]
        raise UsageError(
            f"{ENV_STORE} (or store: in config.yaml) names a {scheme}:// store, which hive-mcp "
            "does not know: give postgresql://USER@HOST:PORT/DB or the path of a SQLite file"
        )
    return str((cwd / Path(value).expanduser()).resolve())


def _origin(named: str, value: str, cwd: Path) -> str:
    """How a configured agents path was found; a relative one names the working directory."""
    if Path(value).expanduser().is_absolute():
        return named
    return (
        f"{named}, a relative path resolved against the working directory {cwd} (MCP hosts "
        "start servers in a working directory of their own, often /: give an absolute path)"
    )


def _positive(env: Mapping[str, str], name: str, configured: int) -> int:
    """A limit: the environment wins over the file; it must be a whole number above 0."""
    text = env.get(name, "").strip()
    if not text:
        return configured
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"{name} must be a whole number above 0, not {text!r}")
    return int(text)


def _bound(
    env: Mapping[str, str], name: str, configured: N | None, kind: Callable[[str], N], unit: str
) -> N | None:
    """A retention bound: the environment (even empty) wins over the file; 0 means none."""
    if name in env:
        text = env[name].strip()
        try:
            configured = kind(text) if text else kind("0")
        except ValueError:
            configured = None
        if configured is None or not configured >= 0:  # also refuses NaN
            what = "a whole number" if kind is int else "a number"
            raise UsageError(f"{name} must be {what} of {unit} (0 keeps forever), not {text!r}")
    return configured or None


def _read_config(path: Path) -> ConfigFile:
    if not path.is_file():
        return ConfigFile()
    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
        return ConfigFile.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'top level'}: {e['msg']}" for e in exc.errors()
        )
        raise UsageError(f"{path}: the config file is not valid: {problems}") from None
    except (OSError, yaml.YAMLError) as exc:
        said = " ".join(str(exc).split())  # one line
        raise UsageError(f"{path}: the config file is not valid: {said}") from None
