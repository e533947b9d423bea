"""The process's stdout kept for one writer: the MCP transport, or ``run``'s output.

Agents run user code, and user code prints. Whoever owns stdout (``serve``
over stdio: the MCP wire; ``hive-mcp run``: the output JSON) takes it first
thing with ``claim_stdout``, before agent modules are imported.
"""

from __future__ import annotations

import os
import sys
from typing import BinaryIO

__all__ = ["claim_stdout"]


def claim_stdout() -> BinaryIO:
    """The real stdout for its one writer; fd 1 points at stderr from now on.

    ``print()``, ``sys.stdout`` writes and C-level or threaded writes to fd 1
    all land on stderr. It is never undone: text a step left in
    ``sys.stdout``'s buffer is flushed at exit, after the owner finished, and
    must not reach the reader either. Where stdout is not file descriptor 1
    (a test's capture), its buffer is returned as it is.
    """
    stdout = sys.stdout
    if stdout is None:
        return open(os.devnull, "wb")
    try:
        stdout.flush()
        if stdout.fileno() != 1 or sys.platform == "win32":
            return stdout.buffer
        import fcntl

        private = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
        os.dup2(2, 1)
    except (AttributeError, OSError, ValueError):
        return stdout.buffer
    return os.fdopen(private, "wb", closefd=False)
