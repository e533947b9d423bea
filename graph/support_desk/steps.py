"""The support_desk example: its knowledge-base tool, its reply step, and the
scripted policy that plays the LLM's part offline."""

from __future__ import annotations

import json
import re
from typing import Any

ARTICLES = {
    "kb-101": (
        "Resetting your password",
        "Open Settings → Account → Reset password; a link arrives by email within 5 minutes.",
    ),
    "kb-102": (
        "Changing your plan",
        "Plans change from Billing → Plan; the new price applies from the next invoice.",
    ),
    "kb-103": (
        "Exporting your data",
        "Use Settings → Data → Export; you get a ZIP of CSV files by email.",
    ),
    "kb-104": (
        "Two-factor authentication",
        "Enable it under Settings → Security; authenticator apps and SMS both work.",
    ),
}
NOT_FOUND = "I could not find this in the knowledge base; a colleague will follow up."


def _words(text: str) -> set[str]:
    # Short words ("is", "the", "my") match everything and mean nothing.
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 3}


def search_kb(query: str, limit: int = 2) -> list[dict[str, str]]:
    """Search the knowledge base; returns the best matching articles."""
    words = _words(query)
    scored = []
    for article_id, (title, body) in ARTICLES.items():
        text = _words(f"{title} {body}")
        score = len(words & text)
        if score:
            scored.append((-score, article_id, title, body))
    return [{"id": a, "title": t, "body": b} for _, a, t, b in sorted(scored)[:limit]]


def compose(customer: str, question: str, answer: str, sources: list[str]) -> dict[str, Any]:
    cited = f" (see {', '.join(sources)})" if sources else ""
    return {"reply": f'Hi {customer}, about "{question}": {answer}{cited}'}


# -- the scripted policy: deterministic stand-in for the model, offline --------


def _inputs(request: Any) -> dict[str, Any]:
    first_user = next(m.content for m in request.messages if m.role == "user")
    return json.loads(first_user.split("\n", 1)[1]) if first_user.startswith("Inputs:") else {}


def _last_tool(request: Any, name: str) -> str | None:
    for m in reversed(request.messages):
        if m.role == "tool" and m.name == name:
            return m.content
    return None


def policy(request: Any) -> Any:
    """Answer each turn of each LLM node from what the conversation holds so far."""
    from hive_mcp.llm._scripted import ScriptedTurn, call, say

    if request.purpose != "turn":
        return "ACCEPT" if request.purpose == "judge" else "Summary of the conversation so far."
    inputs = _inputs(request)
    if request.node_id == "intake":
        answer = _last_tool(request, "ask_user")
        if answer is None:
            customer = inputs.get("customer", "there")
            return call("ask_user", prompt=f"Hi {customer}! What can I help you with?")
        if _last_tool(request, "set_output") is None:
            return call("set_output", key="question", value=answer.strip() or "(no question)")
        return say("Thanks! Let me look that up.")
    if request.node_id == "research":
        found = _last_tool(request, "search_kb")
        if found is None:
            return call("search_kb", query=inputs.get("question", ""))
        if _last_tool(request, "set_output") is None:
            hits = json.loads(found) if found.startswith("[") else []
            answer = hits[0]["body"] if hits else NOT_FOUND
            return ScriptedTurn(
                tool_calls=[
                    ("set_output", {"key": "answer", "value": answer}),
                    ("set_output", {"key": "sources", "value": [h["id"] for h in hits]}),
                ]
            )
        return say("Done.")
    return None
