"""What hosts show besides tools: a prompt per agent, and completions of names and values.

Hosts list prompts as slash commands: ``/support_desk`` fills in "run the agent
support_desk with ..." from the agent's input schema (one argument per
top-level property). Completions offer agent names (``hive://agents/{name}``),
recent execution ids (``hive://executions/{execution_id}``) and the values of
an enum input (a prompt's argument). Both follow the runtime's catalog, so an
agent added or removed while serving shows at once.

We answer ``prompts/list``, ``prompts/get`` and ``completion/complete``
ourselves: the SDK's prompt handler answers an unknown name with error code 0
and logs a traceback; here it is ``-32602`` (invalid params) with the names
that exist.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    CompleteRequestParams,
    CompleteResult,
    Completion,
    GetPromptRequestParams,
    GetPromptResult,
    ListPromptsResult,
    PaginatedRequestParams,
    Prompt,
    PromptArgument,
    PromptMessage,
    PromptReference,
    ResourceTemplateReference,
    TextContent,
)

from hive_mcp.graph import Agent
from hive_mcp.runtime import AgentRuntime

__all__ = ["register_prompts"]

_MAX_COMPLETIONS = 100  # the most a completion may carry (MCP's rule)


def register_prompts(server: MCPServer, runtime: AgentRuntime) -> None:
    """Answer prompts and completions for ``runtime``'s agents on ``server``."""
    lowlevel = server._lowlevel_server

    async def list_prompts(
        ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None
    ) -> ListPromptsResult:
        return ListPromptsResult(prompts=[_prompt(agent) for agent in runtime.catalog])

    async def get_prompt(
        ctx: ServerRequestContext[Any], params: GetPromptRequestParams
    ) -> GetPromptResult:
        agent = runtime.catalog.agents.get(params.name)
        if agent is None:
            known = ", ".join(sorted(runtime.catalog.agents)) or "none"
            raise MCPError(INVALID_PARAMS, f"no prompt {params.name!r}; prompts: {known}")
        given = params.arguments or {}
        arguments = _prompt(agent).arguments or []
        missing = [a.name for a in arguments if a.required and a.name not in given]
        if missing:
            raise MCPError(
                INVALID_PARAMS, f"prompt {agent.name!r} needs the argument(s) {', '.join(missing)}"
            )
        data = _input(agent, given)
        text = (
            f"Run the agent {agent.name!r} with its run_{agent.name} tool, input: "
            f"{json.dumps(data, ensure_ascii=False)}. Answer its questions when it asks."
        )
        return GetPromptResult(
            description=agent.spec.description,
            messages=[PromptMessage(role="user", content=TextContent(type="text", text=text))],
        )

    async def complete(
        ctx: ServerRequestContext[Any], params: CompleteRequestParams
    ) -> CompleteResult:
        values = await _candidates(runtime, params)
        typed = params.argument.value
        found = [v for v in values if v.startswith(typed)]
        return CompleteResult(
            completion=Completion(
                values=found[:_MAX_COMPLETIONS],
                total=len(found),
                has_more=len(found) > _MAX_COMPLETIONS,
            )
        )

    lowlevel.add_request_handler("prompts/list", PaginatedRequestParams, list_prompts)
    lowlevel.add_request_handler("prompts/get", GetPromptRequestParams, get_prompt)
    lowlevel.add_request_handler("completion/complete", CompleteRequestParams, complete)


def _properties(agent: Agent) -> dict[str, dict[str, Any]]:
    props = agent.spec.effective_input_schema().get("properties") or {}
    return {k: v for k, v in props.items() if isinstance(v, dict)}


def _prompt(agent: Agent) -> Prompt:
    required = set(agent.spec.effective_input_schema().get("required") or [])
    return Prompt(
        name=agent.name,
        title=f"Run {agent.name}",
        description=agent.spec.description or f"Run the agent {agent.name}.",
        arguments=[
            PromptArgument(
                name=name, description=prop.get("description"), required=name in required
            )
            for name, prop in _properties(agent).items()
        ],
    )


def _input(agent: Agent, given: dict[str, str]) -> dict[str, Any]:
    """Prompt arguments are text: read numbers, booleans, arrays and objects as JSON."""
    props = _properties(agent)
    data: dict[str, Any] = {}
    for name, text in given.items():
        if props.get(name, {}).get("type") in (None, "string"):
            data[name] = text
            continue
        try:
            data[name] = json.loads(text)
        except ValueError:
            data[name] = text  # the run's input check names what is wrong
    return data


async def _candidates(runtime: AgentRuntime, params: CompleteRequestParams) -> list[str]:
    ref, argument = params.ref, params.argument.name
    if isinstance(ref, PromptReference):
        agent = runtime.catalog.agents.get(ref.name)
        enum = _properties(agent).get(argument, {}).get("enum") if agent else None
        return [str(v) for v in enum or []]
    if isinstance(ref, ResourceTemplateReference):
        if argument == "name" and ref.uri.startswith("hive://agents/"):
            return sorted(runtime.catalog.agents)
        if argument == "execution_id" and ref.uri.startswith("hive://executions/"):
            return [r.id for r in await runtime.list_executions(limit=_MAX_COMPLETIONS)]
    return []
