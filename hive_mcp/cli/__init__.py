"""The ``hive-mcp`` command line."""

import os
import sys

from hive_mcp.cli._main import agent_file_schema
from hive_mcp.cli._main import main as _main

__all__ = ["agent_file_schema", "main"]


INTERRUPTED = 130


def main() -> None:
    """Console-script entry point."""
    code = _main()
    if code == INTERRUPTED:
        # The execution is recorded as cancelled and the store is closed, but a
        # sync step may still be running in a worker thread that the
        # interpreter would wait for on exit. Leave without waiting.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
