"""The ``hive-mcp`` command line."""

import sys

from hive_mcp.cli._main import agent_file_schema
from hive_mcp.cli._main import main as _main

__all__ = ["agent_file_schema", "main"]


def main() -> None:
    """Console-script entry point."""
    sys.exit(_main())
