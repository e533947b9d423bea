"""Seven quick tools and a slow one in one turn; the output lists every result."""

from tests.hang import hang_when, note


def fetch(name: str) -> str:
    """Fetch one item."""
    note(f"fetch:{name}")
    return f"content of {name}"


def slow() -> str:
    """The slow item."""
    note("slow")
    hang_when("SELECT COUNT(*) FROM events WHERE type = 'tool_call_completed'", 7)
    return "content of slow"


def policy(request):
    from hive_mcp.llm._scripted import ScriptedTurn, say

    turns = sum(1 for m in request.messages if m.role == "assistant")
    if turns == 0:
        calls = [("fetch", {"name": f"f{i}"}) for i in range(7)] + [("slow", {})]
        return ScriptedTurn(tool_calls=calls)
    if turns == 1:
        results = sorted(m.content for m in request.messages if m.role == "tool")
        return ScriptedTurn(tool_calls=[("set_output", {"key": "index", "value": results})])
    return say("done")
