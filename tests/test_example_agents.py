"""The agents shipped in graph/ validate and run offline end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from hive_mcp.events import EventType
from hive_mcp.graph import GraphExecutor, discover_agent_files, load_agent
from hive_mcp.store import ExecutionStatus, Journal
from tests.support import HANG

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


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("question", "article"),
    [
        ("How do I reset my password?", "kb-101"),
        ("Can I change my plan?", "kb-102"),
        ("export data please", "kb-103"),
        ("What is the meaning of life?", None),
    ],
)
async def test_support_desk_runs_offline_on_its_scripted_policy_for_any_question(
    journal: Journal, tmp_path: Path, question: str, article: str | None
) -> None:
    import anyio

    agent = load_agent(GRAPH / "support_desk" / "agent.yaml")
    ex = GraphExecutor(agent, journal, data_dir=tmp_path)
    record = ex.create({"customer": "Ada"})
    with journal.bus.subscribe([EventType.CLIENT_INPUT_REQUESTED], execution_id=record.id) as asks:
        async with anyio.create_task_group() as tg:
            tg.start_soon(ex.start_execution, record)
            with anyio.fail_after(HANG):
                asked = await asks.receive()
            assert asked.data["prompt"] == "Hi Ada! What can I help you with?"
            ex.send_input(record.id, question)
    final = await journal.store.get_execution(record.id)
    assert final is not None and final.status is ExecutionStatus.COMPLETED, final.error
    reply = (final.output or {})["reply"]
    assert reply.startswith(f'Hi Ada, about "{question}": ')
    if article:
        assert reply.endswith(f"(see {article})")
    else:
        assert "could not find this in the knowledge base" in reply
    started = [
        e
        for e in await journal.read(record.id, limit=1000)
        if e.type is EventType.NODE_LOOP_STARTED
    ]
    assert {e.data["provider"] for e in started} == {"scripted (offline, no model)"}


@pytest.mark.anyio
async def test_files_assistant_indexes_a_folder_through_the_filesystem_server(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hive_mcp.toolbox import Toolbox

    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("Apples are red.\nMore.\n")
    (folder / "b.md").write_text("# Bees\nbuzz\n")
    monkeypatch.setenv("HIVE_FILES_ROOT", str(tmp_path))
    agent = load_agent(GRAPH / "files_assistant" / "agent.yaml")
    async with Toolbox({}) as toolbox:
        ex = GraphExecutor(agent, journal, data_dir=tmp_path / "data", toolbox=toolbox)
        import anyio

        with anyio.fail_after(60):
            record = await ex.run({"folder": str(folder)})
    assert record.status is ExecutionStatus.COMPLETED, record.error
    assert record.output == {"index_path": f"{folder}/INDEX.md", "files": ["a.txt", "b.md"]}
    assert (
        folder / "INDEX.md"
    ).read_text() == "# Index\n\n- a.txt: Apples are red.\n- b.md: # Bees\n"
