"""The issue_triage example: its function steps, the draft node's judge, and the
scripted policy that plays the model's part offline.

The policy works for any repository: it calls the GitHub tools, builds the
summary from what they returned, and asks the reviewer. Sending is a step
(``send``), not the model: the approved text is emailed exactly as approved.
"""

from __future__ import annotations

import json
import re
from typing import Any

DEFAULT_LIMIT = 20
CLIPPED = "(clipped; get the item for all of it)"  # how list_issues marks a shortened body
APPROVE = {"approve", "approved", "yes", "y", "ok", "lgtm", "send", "send it"}
REJECT = {"reject", "rejected", "no", "n", "deny", "cancel", "drop", "don't send", "do not send"}
# (group, labels that put an issue there, words that do when it has none of the labels)
GROUPS = (
    ("Bugs", {"bug", "crash", "regression", "defect"}, ("crash", "error", "exception", "broken")),
    ("Features", {"enhancement", "feature", "feature request"}, ("feature", "support for")),
    ("Docs", {"docs", "documentation"}, ("docs", "documentation", "typo", "readme")),
)


# -- function steps and the judge ------------------------------------------------


def prepare(repo: str, ctx: Any) -> dict[str, Any]:
    """The list_issues arguments for the input; ``changes`` starts empty (no draft yet)."""
    owner, name = repo.split("/", 1)
    query: dict[str, Any] = {
        "owner": owner,
        "repo": name,
        "state": "open",
        "limit": int(ctx.memory.get("limit") or DEFAULT_LIMIT),
    }
    if ctx.memory.get("label"):
        query["labels"] = [ctx.memory["label"]]
    return {"query": query, "changes": None}


async def send(repo: str, recipient: str, summary: str, ctx: Any) -> dict[str, Any]:
    """Email the approved summary through the email tool server, exactly as approved."""
    from hive_mcp.errors import ToolServerError

    arguments = {"to": [recipient], "subject": f"Issue triage: {repo}", "body": summary}
    try:
        result = await ctx.call_tool("email.send_email", arguments)
    except ToolServerError as exc:  # not started (settings missing), refused, or failed
        return {"sent": False, "message_id": None, "problem": f"the email could not be sent: {exc}"}
    return {"sent": True, "message_id": (_json(result) or {}).get("message_id"), "problem": None}


def finish(ctx: Any) -> dict[str, Any]:
    """The run's output, whichever way it ended; ``reason`` says why nothing was sent."""
    memory = ctx.memory
    sent = memory.get("sent") is True
    reason = None
    if not sent:
        if memory.get("problem"):
            reason = str(memory["problem"])
        elif memory.get("changes"):
            reason = "the reviewer asked for changes again after the redraft; nothing was sent"
        else:
            reason = "the reviewer did not approve the summary; nothing was sent"
    return {
        "summary": memory.get("summary"),
        "sent": sent,
        "message_id": memory.get("message_id") if sent else None,
        "reason": reason,
    }


def summary_or_problem(turn: Any) -> Any:
    """The draft node's judge: done once it set a summary or reported a problem."""
    if turn.tool_call_count:
        return "CONTINUE"
    if turn.outputs.get("summary") or turn.outputs.get("problem"):
        return "ACCEPT"
    return (
        "RETRY",
        "Set summary to the triage summary with set_output; if GitHub could not be read, "
        "set problem to what went wrong instead.",
    )


# -- the summary ----------------------------------------------------------------


def _group(issue: dict[str, Any], text: str) -> str:
    labels = {label.lower() for label in issue.get("labels", [])}
    for name, names, _ in GROUPS:
        if labels & names:
            return name
    for name, _, words in GROUPS:
        if any(word in text.lower() for word in words):
            return name
    return "Other"


def _gist(body: str) -> str:
    for line in body.splitlines():
        line = line.strip().lstrip("#>*- ").strip()
        if line:
            return line if len(line) <= 100 else line[:99] + "…"
    return "(no description)"


def triage_summary(
    repo: str, query: dict[str, Any], issues: list[dict[str, Any]], more: bool
) -> str:
    """The summary text: a headline, then one line per issue under its group."""
    only = f" labelled {', '.join(query['labels'])}" if query.get("labels") else ""
    if not issues:
        return f"Triage of {repo}: no open issues{only}."
    count = f"{len(issues)} open issue{'s' if len(issues) != 1 else ''}"
    lines = [f"Triage of {repo}: {count}{only}."]
    if more:
        lines[0] += f" More are open; this covers the newest {query.get('limit')}."
    grouped: dict[str, list[str]] = {}
    for issue in issues:
        body = issue.get("body") or ""
        labels = f"[{', '.join(issue['labels'])}]" if issue.get("labels") else "[no labels]"
        line = f"- #{issue['number']} {issue['title']} {labels} - {_gist(body)}"
        grouped.setdefault(_group(issue, f"{issue['title']}\n{body}"), []).append(line)
    for name in [g[0] for g in GROUPS] + ["Other"]:
        if name in grouped:
            lines += ["", f"{name}:", *grouped[name]]
    return "\n".join(lines)


# -- the scripted policy: deterministic stand-in for the model, offline ----------


def _inputs(request: Any) -> dict[str, Any]:
    first = next(m.content for m in request.messages if m.role == "user")
    return json.loads(first.split("\n", 1)[1]) if first.startswith("Inputs:") else {}


def _last(request: Any, name: str) -> str | None:
    for m in reversed(request.messages):
        if m.role == "tool" and m.name == name:
            return str(m.content)
    return None


def _error(content: str) -> str | None:
    """A tool error's message without the layers' prefixes; None for a result."""
    if not content.startswith("Error: "):
        return None
    return re.sub(r"^Error: (\S+: )?(Error executing tool \S+: )?", "", content)


def _json(content: str) -> dict[str, Any] | None:
    try:
        value = json.loads(content)
    except ValueError:  # e.g. a result too large, saved to a file with a preview
        return None
    return value if isinstance(value, dict) else None


def _full_issues(request: Any) -> dict[int, dict[str, Any]]:
    """The get_issue results by issue number (errors and unreadable ones left out)."""
    found = {}
    for m in request.messages:
        if m.role == "tool" and m.name == "get_issue" and (issue := _json(m.content)):
            found[issue["number"]] = issue
    return found


def _draft(request: Any, inputs: dict[str, Any]) -> Any:
    from hive_mcp.llm._scripted import ScriptedTurn, call, say

    repo, query = inputs["repo"], inputs["query"]
    listed = _last(request, "list_issues")
    if listed is None:
        return call("list_issues", **query)
    if _last(request, "set_output") is not None:
        return say("The triage summary is ready for review.")
    problem = _error(listed)
    if problem is not None:
        return call("set_output", key="problem", value=f"could not read {repo}: {problem}")
    page = _json(listed) or {"issues": [], "more": False}
    issues, full = page["issues"], _full_issues(request)
    clipped = [i["number"] for i in issues if i.get("body", "").endswith(CLIPPED)]
    if clipped and _last(request, "get_issue") is None:
        where = {"owner": query["owner"], "repo": query["repo"]}
        return ScriptedTurn(tool_calls=[("get_issue", {**where, "number": n}) for n in clipped])
    issues = [full.get(i["number"], i) for i in issues]
    summary = triage_summary(repo, query, issues, page["more"])
    if inputs.get("changes"):
        summary += f"\n\nChanges the reviewer asked for: {inputs['changes']}"
    return call("set_output", key="summary", value=summary)


def _review(request: Any, inputs: dict[str, Any]) -> Any:
    from hive_mcp.llm._scripted import ScriptedTurn, call, say

    answer = _last(request, "ask_user")
    if answer is None:
        prompt = (
            f"{inputs['summary']}\n\nSend this summary to {inputs['recipient']}? Answer "
            "'approve' to send it, 'reject' to drop it, or write the changes you want."
        )
        return call("ask_user", prompt=prompt, options=["approve", "reject"])
    if _last(request, "set_output") is not None:
        return say("Thank you.")
    said = answer.strip()
    word = said.lower().rstrip(".!")
    outputs: list[tuple[str, dict[str, Any] | str]] = [
        ("set_output", {"key": "approved", "value": word in APPROVE})
    ]
    if word not in APPROVE and word not in REJECT and said:
        outputs.append(("set_output", {"key": "changes", "value": said}))
    return ScriptedTurn(tool_calls=outputs)


def policy(request: Any) -> Any:
    """Answer each turn of each LLM node from what the conversation holds so far."""
    if request.purpose != "turn":
        return "ACCEPT" if request.purpose == "judge" else "Summary of the conversation so far."
    steps = {"draft": _draft, "review": _review}
    step = steps.get(request.node_id)
    return step(request, _inputs(request)) if step else None
