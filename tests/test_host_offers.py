"""What hosts show: a prompt per agent, completions, resource descriptions, choices."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    ElicitResult,
    PromptReference,
    ResourceTemplateReference,
)

from hive_mcp.graph import AgentCatalog, load_agent
from hive_mcp.runtime import AgentRuntime
from hive_mcp.server import build_server
from hive_mcp.store import Journal
from tests.test_llm_docs import block

pytestmark = pytest.mark.anyio
GRAPH = Path(__file__).resolve().parent.parent / "graph"


@pytest.fixture
async def runtime(journal: Journal, tmp_path: Path) -> AsyncIterator[AgentRuntime]:
    folder = tmp_path / "topic_picker"  # the docs' example: asks with options
    folder.mkdir()
    agent_file = block("policy-agent").replace(
        "properties: {topic: {type: string}}",
        "properties: {topic: {type: string, enum: [owls, otters, oaks]}}",
    )
    (folder / "agent.yaml").write_text(agent_file)
    (folder / "policy.py").write_text(block("policy-module"))
    catalog = AgentCatalog()
    catalog.add(load_agent(folder / "agent.yaml"))
    catalog.add(load_agent(GRAPH / "support_desk" / "agent.yaml"))
    async with AgentRuntime(catalog, journal, data_dir=tmp_path / "data") as rt:
        yield rt


async def test_each_agent_is_a_prompt_whose_arguments_come_from_its_input_schema(
    runtime: AgentRuntime,
) -> None:
    async with Client(build_server(runtime)) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        got = await client.get_prompt("support_desk", {"customer": "Ada"})
    assert set(prompts) == {"support_desk", "topic_picker"}
    [argument] = prompts["support_desk"].arguments or []
    assert (argument.name, argument.required) == ("customer", True)
    assert argument.description == "The customer's name."
    text = got.messages[0].content.text  # type: ignore[union-attr]
    assert "run_support_desk" in text and '{"customer": "Ada"}' in text


async def test_an_unknown_prompt_or_a_missing_argument_is_invalid_params(
    runtime: AgentRuntime,
) -> None:
    async with Client(build_server(runtime)) as client:
        with pytest.raises(MCPError) as unknown:
            await client.get_prompt("nope")
        with pytest.raises(MCPError) as missing:
            await client.get_prompt("support_desk", {})
    assert unknown.value.code == INVALID_PARAMS
    assert "no prompt 'nope'; prompts: support_desk, topic_picker" in unknown.value.message
    assert missing.value.code == INVALID_PARAMS
    assert "needs the argument(s) customer" in missing.value.message


async def test_completions_offer_agent_names_execution_ids_and_enum_values(
    runtime: AgentRuntime,
) -> None:
    started = await runtime.start("support_desk", {"customer": "Ada"})
    async with Client(build_server(runtime)) as client:
        agents = await client.complete(
            ResourceTemplateReference(type="ref/resource", uri="hive://agents/{name}"),
            {"name": "name", "value": "sup"},
        )
        executions = await client.complete(
            ResourceTemplateReference(type="ref/resource", uri="hive://executions/{execution_id}"),
            {"name": "execution_id", "value": started.id[:4]},
        )
        topics = await client.complete(
            PromptReference(type="ref/prompt", name="topic_picker"),
            {"name": "topic", "value": "ot"},
        )
    assert agents.completion.values == ["support_desk"]
    assert started.id in executions.completion.values
    assert topics.completion.values == ["otters"]


async def test_every_resource_and_template_has_a_description(runtime: AgentRuntime) -> None:
    async with Client(build_server(runtime)) as client:
        resources = (await client.list_resources()).resources
        templates = (await client.list_resource_templates()).resource_templates
    assert resources and templates
    assert all(r.description for r in [*resources, *templates])


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_question_with_options_is_elicited_as_a_choice(
    runtime: AgentRuntime, mode: str
) -> None:
    schemas: list[dict[str, Any]] = []

    async def on_elicit(context: Any, params: Any) -> ElicitResult:
        schemas.append(params.requested_schema)
        assert params.message == "Which part of owls?"  # no "(options: ...)" appended
        return ElicitResult(action="accept", content={"answer": "history"})

    async with Client(build_server(runtime), mode=mode, elicitation_callback=on_elicit) as client:  # type: ignore[arg-type]
        result = await client.call_tool("run_topic_picker", {"topic": "owls"})
    data = result.structured_content or {}
    assert data["status"] == "completed", data
    assert data["output"] == {"choice": "history", "summary": "owls: history"}
    assert schemas[0]["properties"]["answer"]["enum"] == ["basics", "history"]
