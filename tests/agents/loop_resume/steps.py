"""Tools that log each call to the file named in the environment, and the policy."""

import os
import sys
import time


def _note(text):
    with open(os.environ["HIVE_TEST_LOG"], "a") as f:
        f.write(text + "\n")


def record(note: str) -> str:
    """Record a note."""
    _note(f"record:{note}")
    return "recorded"


def hang_tool() -> str:
    """Hangs while HIVE_TEST_HANG=1."""
    _note("hang_tool")
    if os.environ.get("HIVE_TEST_HANG") == "1":
        print("hang_tool: waiting to be killed", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)
    return "finished"


def policy(request):
    from hive_mcp.llm._scripted import call, say

    answered = sum(1 for m in request.messages if m.role == "assistant")
    plan = [
        call("record", note="one"),
        call("hang_tool"),
        call("set_output", key="result", value={"ok": True}),
        say("done"),
    ]
    return plan[answered] if answered < len(plan) else None
