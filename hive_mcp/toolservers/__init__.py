"""hive-mcp's own MCP tool servers, started like any other server.

Each module (``filesystem``, ``email``, ``github``) exposes
``main(argv: list[str]) -> int`` and is run as
``hive-mcp tool-server NAME [ARGS...]`` (stdio).
"""

NAMES = ("filesystem", "email", "github")
