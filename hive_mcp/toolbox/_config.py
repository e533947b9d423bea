"""MCP tool servers as hosts configure them: the ``mcpServers`` JSON shape.

    {"mcpServers": {
        "github": {"command": "hive-mcp", "args": ["tool-server", "github"],
                   "env": {"GITHUB_TOKEN": "${GITHUB_TOKEN}"}},
        "remote": {"url": "https://example.com/mcp",
                   "headers": {"Authorization": "Bearer ${REMOTE_TOKEN}"}}}}

``${NAME}`` is replaced by the environment variable NAME when the server
starts (a missing one is an error naming it); ``${NAME:-default}`` falls
back to ``default``, and an env entry that ends up empty is not passed at
all. Values of variables named like secrets (``*TOKEN*``, ``*SECRET*``,
``*PASSWORD*``, ``*KEY*``, ``*AUTH*``, ...) and every value placed in an HTTP
header are kept out of events, logs and tool results by the ``Redactor``;
others (a host name, a port) stay readable, so they do not mangle ordinary
text that happens to contain them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pydantic

from hive_mcp.errors import UsageError

__all__ = ["TOOL_REF", "Redactor", "ServerConfig", "expand", "load_servers_file"]

# How a node names registry tools: ``server`` (all its tools) or ``server.tool``.
TOOL_REF = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_./-]+)?$")

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|PASS$|PWD|KEY|AUTH|CREDENTIAL|PRIVATE|COOKIE|SESSION",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret."""
    return _SECRET_NAME.search(name) is not None


class ServerConfig(pydantic.BaseModel):
    """One tool server: a command to start (stdio) or a URL (Streamable HTTP)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    command: str | None = None
    args: list[str] = pydantic.Field(default_factory=list)
    env: dict[str, str] = pydantic.Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = pydantic.Field(default_factory=dict)
    timeout_seconds: float = pydantic.Field(default=60.0, gt=0)
    type: str | None = pydantic.Field(default=None, description="Accepted for compatibility.")

    @pydantic.model_validator(mode="after")
    def _one_kind(self) -> ServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either 'command' (stdio) or 'url' (HTTP), not both or neither")
        return self


class Redactor:
    """Replaces known secret values with ``[redacted]`` in any text."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def add(self, value: str) -> None:
        if len(value) >= 4:  # shorter values would redact ordinary words
            self._secrets.add(value)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "[redacted]")
        return text

    def data(self, value: Any) -> Any:
        """Redact every string inside a JSON-like value."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        return value


def expand(
    text: str, *, env: Mapping[str, str], redactor: Redactor, where: str, secret: bool = False
) -> str:
    """Replace ``${NAME}`` with the environment's value.

    The value is remembered as a secret when ``secret`` is set (headers) or
    the variable's name says it is one.
    """

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name not in env:
            if default is not None:
                return default
            raise UsageError(f"{where} uses ${{{name}}}, but {name} is not set in the environment")
        if secret or is_secret_name(name):
            redactor.add(env[name])
        return env[name]

    return _VAR.sub(substitute, text)


def load_servers_file(path: Path) -> dict[str, ServerConfig]:
    """Read an ``mcpServers`` JSON file; a missing file is an empty registry."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        servers = data.get("mcpServers", {}) if isinstance(data, dict) else None
        if not isinstance(servers, dict):
            raise UsageError(f"{path}: expected an object with 'mcpServers'")
        return {name: ServerConfig.model_validate(cfg) for name, cfg in servers.items()}
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise UsageError(f"{path}: {problems}") from None
