"""A tool server whose one tool leaves a trace outside hive-mcp, for the crash test.

``record_effect(key, work_ms)`` stands for a call with a side effect (an email
sent, a row written): it appends one JSON line to the ledger file named by
``HIVE_CRASH_LEDGER`` and fsyncs it before answering, so the line survives
whatever happens to hive-mcp next. Each line says which hive-mcp process made
the call: ``gen`` (the server generation the crash harness numbered, passed
through the agent's ``mcpServers`` env) and ``server_pid``. The answer carries
the same, so a result recorded in an execution's event log names the process
that produced it. The crash test compares the two: a run the log recorded
must be the only one, apart from runs by earlier, killed processes.

Run: python tests/tool_servers/ledger.py (stdio), with HIVE_CRASH_LEDGER set.
"""

import fcntl
import json
import os

import anyio
import anyio.to_thread
from mcp.server.mcpserver import MCPServer

LEDGER = os.environ["HIVE_CRASH_LEDGER"]
GENERATION = int(os.environ.get("HIVE_CRASH_GENERATION", "-1"))
# Read at start: once hive-mcp is killed this process is reparented.
SERVER_PID = os.getppid()

server = MCPServer("ledger", log_level="WARNING")


def _append(key: str) -> int:
    """Append the line for one run of ``key``, durably; return its run number."""
    with open(LEDGER, "a+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # an orphan of a killed server may still write
        f.seek(0)
        run = 1 + sum(1 for line in f if json.loads(line)["key"] == key)
        line = {
            "key": key,
            "run": run,
            "gen": GENERATION,
            "server_pid": SERVER_PID,
            "parent_now": os.getppid(),
            "pid": os.getpid(),
        }
        f.write(json.dumps(line) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return run


@server.tool()
async def record_effect(key: str, work_ms: int = 0) -> str:
    """Make the side effect named `key` (once per call); answers what was recorded."""
    # The work around the effect: a kill can land before it, or after it but
    # before hive-mcp records the answer (the window where a re-run is allowed).
    await anyio.sleep(work_ms / 2000)
    run = await anyio.to_thread.run_sync(_append, key)
    await anyio.sleep(work_ms / 2000)
    return json.dumps({"key": key, "value": f"effect {key}", "gen": GENERATION, "run": run})


if __name__ == "__main__":
    server.run()
