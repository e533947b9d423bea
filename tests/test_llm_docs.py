"""The scripted-policy example of docs/llm-nodes.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import pytest

from hive_mcp.events import EventType
from hive_mcp.graph import AgentCatalog, load_agent
from hive_mcp.runtime import AgentRuntime
from hive_mcp.store import ExecutionStatus, Journal

pytestmark = pytest.mark.anyio
DOC = Path(__file__).resolve().parent.parent / "docs" / "llm-nodes.md"


def block(marker: str) -> str:
    found = re.search(rf"<!-- {marker} -->\n```\w+\n(.*?)```", DOC.read_text(), re.S)
    assert found, f"docs/llm-nodes.md has no block marked {marker}"
    return found.group(1)


async def until(runtime: AgentRuntime, execution_id: str, status: ExecutionStatus) -> Any:
    """Follow the event log until the execution reaches ``status`` or ends otherwise."""
    after = 0
    with anyio.fail_after(120):  # a bound for a hang, not a speed check
        while (record := await runtime.get_execution(execution_id)).status is not status:
            assert record.status.value in ("pending", "running", "waiting_for_input"), record
            events = await runtime.get_events(execution_id, after=after, wait_seconds=5)
            after = events[-1].seq if events else after
    return record


async def test_the_documented_policy_asks_takes_the_answer_and_sets_two_outputs_in_one_turn(
    journal: Journal, tmp_path: Path
) -> None:
    module = block("policy-module")
    imports = {m for m in re.findall(r"^from (\S+) import", module, re.M)}
    assert imports == {"hive_mcp.llm"}  # public names only
    folder = tmp_path / "topic_picker"
    folder.mkdir()
    (folder / "agent.yaml").write_text(block("policy-agent"))
    (folder / "policy.py").write_text(module)
    catalog = AgentCatalog()
    catalog.add(load_agent(folder / "agent.yaml"))
    async with AgentRuntime(catalog, journal, data_dir=tmp_path / "data") as runtime:
        record = await runtime.start("topic_picker", {"topic": "owls"})
        asked = await until(runtime, record.id, ExecutionStatus.WAITING_FOR_INPUT)
        await runtime.send_input(record.id, "history")
        done = await until(runtime, record.id, ExecutionStatus.COMPLETED)
        events = await runtime.get_events(record.id, limit=1000)
    assert asked.waiting_for_input is not None
    assert asked.waiting_for_input["prompt"] == "Which part of owls?"
    assert asked.waiting_for_input["options"] == ["basics", "history"]
    assert done.status is ExecutionStatus.COMPLETED, done.error
    assert done.output == {"choice": "history", "summary": "owls: history"}
    calls = [e for e in events if e.type is EventType.TOOL_CALL_STARTED]
    assert [c.data["name"] for c in calls].count("set_output") == 2
    assert any(e.type is EventType.JUDGE_VERDICT for e in events)
