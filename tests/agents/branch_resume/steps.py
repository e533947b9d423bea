"""A quick branch beside an LLM branch that makes a side effect, then hangs."""

from tests.hang import hang_when, note


def start(log: str) -> dict:
    return {"go": True}


def quick(go: bool) -> dict:
    return {"q": "quick done"}


def join(q: str, w: str) -> dict:
    return {"both": [q, w]}


def side_effect() -> str:
    """Make the side effect (once per visit)."""
    note("side_effect")
    return "effect made"


def slow() -> str:
    """Hang after the quick branch's checkpoint is stored."""
    note("slow")
    hang_when("SELECT COUNT(*) FROM checkpoints", 2)
    return "slow done"


def policy(request):
    from hive_mcp.llm._scripted import call, say

    turns = sum(1 for m in request.messages if m.role == "assistant")
    plan = [
        call("side_effect"),
        call("slow"),
        call("set_output", key="w", value="worked"),
        say("ok"),
    ]
    return plan[turns] if turns < len(plan) else None
