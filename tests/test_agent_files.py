"""Agent files: YAML and JSON, the published schema, mistakes reported by location."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from hive_mcp.cli import agent_file_schema
from hive_mcp.errors import AgentFileError, UnknownAgentError
from hive_mcp.graph import EdgeSpec, GraphSpec, NodeSpec, load_agent, load_catalog

REPO = Path(__file__).resolve().parent.parent

MINIMAL = """
name: greeter
description: Says hello.
entry_node: hello
terminal_nodes: [bye]
nodes:
  - {id: hello, type: function, function: "steps:hello", input_keys: [name], output_keys: [greeting]}
  - {id: bye, type: function, function: "steps:bye", input_keys: [greeting], output_keys: [farewell]}
edges:
  - {source: hello, target: bye}
"""

STEPS = """
def hello(name):
    return {"greeting": f"hello {name}"}

def bye(greeting):
    return {"farewell": greeting + ", bye"}
"""


def write_agent(
    folder: Path, text: str = MINIMAL, steps: str = STEPS, name: str = "agent.yaml"
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "steps.py").write_text(steps)
    path = folder / name
    path.write_text(text)
    return path


def test_a_yaml_file_and_the_python_api_build_the_same_spec(tmp_path: Path) -> None:
    loaded = load_agent(write_agent(tmp_path / "greeter")).spec
    built = GraphSpec(
        name="greeter",
        description="Says hello.",
        entry_node="hello",
        terminal_nodes=["bye"],
        nodes=[
            NodeSpec(
                id="hello",
                type="function",
                function="steps:hello",
                input_keys=["name"],
                output_keys=["greeting"],
            ),
            NodeSpec(
                id="bye",
                type="function",
                function="steps:bye",
                input_keys=["greeting"],
                output_keys=["farewell"],
            ),
        ],
        edges=[EdgeSpec(source="hello", target="bye")],
    )
    assert loaded == built


def test_a_json_file_loads_like_its_yaml_twin(tmp_path: Path) -> None:
    data = yaml.safe_load(MINIMAL)
    as_json = load_agent(write_agent(tmp_path / "j", json.dumps(data), name="agent.json")).spec
    as_yaml = load_agent(write_agent(tmp_path / "y")).spec
    assert as_json == as_yaml


def test_the_published_json_schema_is_current_and_accepts_the_shipped_agents() -> None:
    published = json.loads((REPO / "docs" / "agent-file.schema.json").read_text())
    assert published == agent_file_schema(), "run: hive-mcp schema > docs/agent-file.schema.json"
    validator = jsonschema.Draft202012Validator(published)
    for path in (REPO / "graph").glob("*/agent.yaml"):
        validator.validate(yaml.safe_load(path.read_text()))


def test_the_published_json_schema_rejects_an_unknown_field() -> None:
    data = yaml.safe_load(MINIMAL)
    data["nodes"][0]["ouput_keys"] = []
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, agent_file_schema())


def test_invalid_yaml_is_reported_with_line_and_column(tmp_path: Path) -> None:
    path = write_agent(tmp_path, "name: x\nnodes: [\n  - a: b\n")
    with pytest.raises(AgentFileError) as info:
        load_agent(path)
    assert info.value.problems[0].startswith("invalid YAML at line 3, column 3")
    assert str(path) in str(info.value)


def test_invalid_json_is_reported_with_line_and_column(tmp_path: Path) -> None:
    path = write_agent(tmp_path, '{"name": "x",\n "nodes": [,]}', name="agent.json")
    with pytest.raises(AgentFileError) as info:
        load_agent(path)
    assert info.value.problems == ["invalid JSON at line 2, column 12: Expecting value"]


def test_field_mistakes_name_the_node_and_the_field(tmp_path: Path) -> None:
    text = MINIMAL.replace("output_keys: [greeting]", "ouput_keys: [greeting], max_retries: -1")
    with pytest.raises(AgentFileError) as info:
        load_agent(write_agent(tmp_path, text))
    assert info.value.problems == [
        "nodes[0] ('hello').max_retries: Input should be greater than or equal to 0",
        "nodes[0] ('hello').ouput_keys: unknown field; did you mean 'output_keys'?",
    ]
    text = MINIMAL + "mcpServer: {}\nzebra: 1\n"
    with pytest.raises(AgentFileError) as info:
        load_agent(write_agent(tmp_path, text))
    assert info.value.problems == [
        "mcpServer: unknown field; did you mean 'mcpServers'?",
        "zebra: unknown field; check its spelling or remove it",
    ]
    with pytest.raises(AgentFileError) as info:
        load_agent(write_agent(tmp_path, MINIMAL.replace("name: ", "name: 9", 1)))
    [problem] = info.value.problems
    assert problem.startswith("name: '9") and "must start with a letter" in problem


def test_missing_required_fields_are_named(tmp_path: Path) -> None:
    with pytest.raises(AgentFileError) as info:
        load_agent(write_agent(tmp_path, "name: x\nnodes: [{id: a}]\n"))
    assert info.value.problems == [
        "entry_node: required field is missing",
        "terminal_nodes: required field is missing",
    ]


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AgentFileError, match="must hold a mapping"):
        load_agent(write_agent(tmp_path, "- just\n- a list\n"))


def test_a_missing_file_is_reported_not_raised_as_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(AgentFileError, match="cannot read the file"):
        load_agent(tmp_path / "nope.yaml")


def test_a_broken_agent_does_not_hide_the_others_in_a_folder(tmp_path: Path) -> None:
    write_agent(tmp_path / "good")
    write_agent(
        tmp_path / "bad",
        MINIMAL.replace("greeter", "broken").replace("target: bye", "target: nowhere"),
    )
    catalog = load_catalog(tmp_path)
    assert list(catalog.agents) == ["greeter"]
    assert len(catalog.errors) == 1 and "unknown node 'nowhere'" in str(catalog.errors[0])
    with pytest.raises(
        UnknownAgentError,
        match=r"no agent 'broken' .*known agents: greeter; 1 agent file failed to load: .*bad",
    ):
        catalog.get("broken")


def test_two_agents_with_one_name_are_refused(tmp_path: Path) -> None:
    write_agent(tmp_path / "one")
    write_agent(tmp_path / "two")
    catalog = load_catalog(tmp_path)
    assert len(catalog.agents) == 1
    assert "agent name 'greeter' is already used by" in str(catalog.errors[0])


def test_agent_files_may_sit_directly_in_the_folder(tmp_path: Path) -> None:
    (tmp_path / "steps.py").write_text(STEPS)
    (tmp_path / "greeter.yml").write_text(MINIMAL)
    assert list(load_catalog(tmp_path).agents) == ["greeter"]


def test_each_agent_imports_its_own_local_steps_module(tmp_path: Path) -> None:
    first = load_agent(write_agent(tmp_path / "a"))
    other_steps = STEPS.replace("hello {name}", "hi {name}")
    second = load_agent(
        write_agent(tmp_path / "b", MINIMAL.replace("greeter", "other"), other_steps)
    )
    from hive_mcp.graph.nodes import resolve_callable

    assert resolve_callable("steps:hello", first.base_dir)("x") == {"greeting": "hello x"}
    assert resolve_callable("steps:hello", second.base_dir)("x") == {"greeting": "hi x"}
