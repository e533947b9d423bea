"""An HTTP tool server that refuses our credentials (401 / 403), said as such.

The SDK's HTTP transport turns any 4xx answer into one generic JSON-RPC error
("Server returned an error response"), so the status is watched on the HTTP
client itself. The message names where the credentials come from: the header
names of the server's configuration and the environment variables they are
filled from, never their values.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from hive_mcp.toolbox._config import ServerConfig

if TYPE_CHECKING:
    import httpx2

__all__ = ["Refusal"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
_REASONS = {401: "Unauthorized", 403: "Forbidden"}


def _token_var(name: str) -> str:
    return re.sub(r"\W", "_", name.upper()) + "_TOKEN"


class Refusal:
    """The last 401 / 403 answer of one server's HTTP client, and what it means."""

    def __init__(self, config: ServerConfig) -> None:
        self._config = config
        self.status: int | None = None
        self.scheme: str | None = None

    def clear(self) -> None:
        self.status = self.scheme = None

    async def see(self, response: httpx2.Response) -> None:
        """The HTTP client's response hook."""
        if response.status_code in _REASONS:
            self.status = response.status_code
            challenge = response.headers.get("www-authenticate", "")
            self.scheme = challenge.split(" ", 1)[0] or None  # "Bearer", never its parameters

    def explain(self, name: str) -> str | None:
        """Why the server refused us, and where to look; ``None`` if it did not."""
        if self.status is None:
            return None
        headers = self._config.headers
        names = ", ".join(sorted(headers)) or "none"
        variables = sorted({v for value in headers.values() for v in _VAR.findall(value)})
        asks = f"; it asks for {self.scheme} authentication" if self.scheme else ""
        if not headers:
            where = (
                f"its mcpServers entry sends no headers: add the credentials it needs, "
                f'for example "headers": {{"Authorization": "Bearer ${{{_token_var(name)}}}"}}'
            )
        else:
            where = f"they come from its headers ({names}) in the mcpServers configuration"
            if variables:
                where += f", filled from the environment variable(s) {', '.join(variables)}"
            where += "; check that they are set and still valid"
        return (
            f"refused the credentials (HTTP {self.status} {_REASONS[self.status]}){asks}: {where}"
        )
