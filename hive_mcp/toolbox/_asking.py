"""A tool server asks its user mid-call (``elicitation/create``): ask a person instead.

The toolbox does not know people; a caller passes an ``Ask`` with the call (the
loop's, which parks the execution ``waiting_for_input``). The server's question
becomes a prompt plus details (the server's name, the requested JSON Schema),
and the person's text answer becomes the ``ElicitResult``:

- ``decline`` or ``cancel`` (any case, nothing else): that action, no content;
- a JSON object: ``accept`` with it as the content;
- for a form of one field, the bare value (``true``, ``3``, ``Room 4``) for that field;
- ``accept`` alone for a form without required fields, or a URL-mode request.

An answer that does not fit the schema is not sent: the person is asked again,
told why. So a server only ever sees a well-formed result.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import jsonschema

if TYPE_CHECKING:  # mcp_types loads with the first tool server, not with this module
    from mcp_types import ElicitRequestParams, ElicitResult

__all__ = ["ANSWER_HINT", "Ask", "elicit", "result_of"]

Ask = Callable[[str, dict[str, Any]], Awaitable[str]]
"""Ask a person ``prompt`` (with ``details`` for whoever shows it); return the answer text."""

ANSWER_HINT = (
    "answer with a JSON object matching schema (one field: its value alone), "
    "or 'decline' / 'cancel'"
)
_URL_HINT = "answer 'accept' once done there, or 'decline' / 'cancel'"


def result_of(text: str, schema: dict[str, Any] | None) -> ElicitResult | str:
    """The elicitation result a person's answer stands for, or why it does not fit."""
    from mcp_types import ElicitResult

    word = text.strip().lower()
    if word in ("decline", "cancel"):
        return ElicitResult(action="decline" if word == "decline" else "cancel")
    if schema is None:  # URL mode: the person did it elsewhere
        return ElicitResult(action="accept") if word == "accept" else f"not an answer: {_URL_HINT}"
    properties: dict[str, Any] = schema.get("properties") or {}
    if word == "accept" and not schema.get("required"):
        return ElicitResult(action="accept", content={})
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = text.strip()
    if not isinstance(value, dict):
        if len(properties) != 1:
            fields = ", ".join(sorted(properties)) or "none"
            return f"expected a JSON object with the fields {fields}"
        ((name, field),) = properties.items()
        if field.get("type") == "string" and not isinstance(value, str):
            value = text.strip()  # "42" for a string field is the text 42
        value = {name: value}
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        return f"{where + ': ' if where else ''}{exc.message}"
    except jsonschema.SchemaError:
        pass  # the server's schema is broken: let it judge the content itself
    return ElicitResult(action="accept", content=value)


async def elicit(ask: Ask, server: str, params: ElicitRequestParams) -> ElicitResult:
    """Ask a person what ``server`` asks, until the answer fits; the result for the server."""
    from mcp_types import ElicitRequestFormParams, ElicitResult

    if isinstance(params, ElicitRequestFormParams):
        schema: dict[str, Any] | None = dict(params.requested_schema)
        details: dict[str, Any] = {
            "server": server,
            "requested_schema": schema,
            "hint": ANSWER_HINT,
        }
        prompt = params.message
    else:
        schema = None
        details = {"server": server, "url": params.url, "hint": _URL_HINT}
        prompt = f"{params.message} (open {params.url})"
    problem = ""
    while True:
        text = await ask(f"{problem}{prompt}", details)
        result = result_of(text, schema)
        if isinstance(result, ElicitResult):
            return result
        problem = f"That answer did not fit ({result}); {details['hint']}. "
