"""The agents shipped in graph/ validate and run offline end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from hive_mcp.events import EventType
from hive_mcp.graph import GraphExecutor, discover_agent_files, load_agent
from hive_mcp.store import ExecutionStatus, Journal

GRAPH = Path(__file__).resolve().parent.parent / "graph"


@pytest.mark.parametrize("path", discover_agent_files(GRAPH), ids=lambda p: p.parent.name)
def test_every_shipped_agent_validates(path: Path) -> None:
    load_agent(path)


@pytest.mark.anyio
async def test_text_report_fans_out_loops_back_until_the_report_fits(journal: Journal) -> None:
    agent = load_agent(GRAPH / "text_report" / "agent.yaml")
    text = "The fox ran. The dog ran after the fox. A fox is quick, a dog is not."
    record = await GraphExecutor(agent, journal).run({"text": text, "max_report_chars": 100})
    assert record.status is ExecutionStatus.COMPLETED, record.error
    result = record.output["result"] if record.output else {}
    assert len(result["report"]) <= 100
    assert result["words"]["top"][:2] == [["fox", 3], ["dog", 2]]
    events = await journal.read(record.id, limit=1000)
    assert any(e.type is EventType.FANOUT_STARTED for e in events)
    assert any(e.type is EventType.EDGE_TRAVERSED and e.data["feedback"] for e in events)
    assert record.path.count("compose") >= 2
