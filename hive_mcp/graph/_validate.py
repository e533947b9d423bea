"""Load-time checks of an agent graph, each problem phrased as what to change."""

from __future__ import annotations

from collections import Counter

import jsonschema

from hive_mcp.errors import AgentFileError, ExpressionError, UsageError
from hive_mcp.graph._agent import Agent
from hive_mcp.graph._expr import compile_expression
from hive_mcp.graph._metrics import goal_problems
from hive_mcp.graph._spec import EdgeCondition, EdgeSpec, GraphSpec, NodeSpec, NodeType
from hive_mcp.graph._triggers import trigger_problems
from hive_mcp.graph.nodes import event_loop_problems, resolve_callable
from hive_mcp.llm import SCRIPTED

__all__ = ["check_agent", "find_problems"]


def check_agent(agent: Agent) -> Agent:
    """Return ``agent`` if it is sound; raise ``AgentFileError`` listing every problem."""
    problems = find_problems(agent)
    if problems:
        raise AgentFileError(agent.label, problems)
    return agent


def find_problems(agent: Agent) -> list[str]:
    """Every problem of the agent, one line each (empty when it is sound)."""
    spec = agent.spec
    problems: list[str] = []
    ids = [n.id for n in spec.nodes]
    known = set(ids)
    for node_id, count in Counter(ids).items():
        if count > 1:
            problems.append(
                f"node id {node_id!r} is used by {count} nodes; node ids must be unique"
            )

    problems += _check_ends(spec, known)
    problems += _check_nodes(agent)
    problems += _check_edges(spec, known)
    problems += goal_problems(spec)
    if not any("unknown node" in p or "must be unique" in p for p in problems):
        problems += _check_inputs(spec)
        problems += _check_shape(agent)
    return problems


def _unmodelled(spec: GraphSpec) -> list[str]:
    """LLM nodes that would find no model at run time: no model and no scripted policy."""
    default = spec.defaults.model
    return [
        f"node {node.id!r} is an LLM node with no model and the agent has no scripted_policy; "
        "set 'model' (like openai/gpt-4o-mini) on the node or in defaults, or add "
        "'scripted_policy: module:callable' for offline runs"
        for node in spec.nodes
        if node.type is NodeType.EVENT_LOOP and (node.model or default) in (None, SCRIPTED)
    ]


def _known_keys(spec: GraphSpec, known: set[str]) -> set[str]:
    """Memory keys some node writes, the input declares, or a start node reads."""
    names = {k for n in spec.nodes for k in n.output_keys}
    names |= set(spec.effective_input_schema().get("properties", {}))
    for node_id in [spec.entry_node, *(ep.entry_node for ep in spec.entry_points)]:
        if node_id in known:
            names |= set(_node_inputs(spec, node_id))  # given by whoever starts there
    return names


def _check_inputs(spec: GraphSpec) -> list[str]:
    """Input keys nothing provides: no node writes them and no way of starting gives them."""
    provided = _known_keys(spec, {n.id for n in spec.nodes})
    for ep in spec.entry_points:
        fixed = ep.config.get("input")
        provided |= set(fixed) if isinstance(fixed, dict) else set()
    problems = []
    for node in spec.nodes:
        mapped = {k for e in spec.edges if e.target == node.id for k in e.input_mapping}
        missing = [k for k in node.input_keys if k not in provided | mapped]
        if missing:
            problems.append(
                f"node {node.id!r} reads input keys {missing}, which no node outputs and the "
                f"input does not declare; fix the name, or add the key to an output_keys or "
                f"input_schema (known keys: {sorted(provided)})"
            )
    return problems


def _unknown(what: str, node_id: str, known: set[str]) -> str:
    return f"{what} names unknown node {node_id!r}; known nodes: {sorted(known)}"


def _check_ends(spec: GraphSpec, known: set[str]) -> list[str]:
    problems = []
    if spec.entry_node not in known:
        problems.append(_unknown("entry_node", spec.entry_node, known))
    for node_id in spec.terminal_nodes:
        if node_id not in known:
            problems.append(_unknown("terminal_nodes", node_id, known))
    for ep_id, count in Counter(ep.id for ep in spec.entry_points).items():
        if count > 1:
            problems.append(f"entry point id {ep_id!r} is used {count} times; make ids unique")
    for ep in spec.entry_points:
        if ep.entry_node is not None and ep.entry_node not in known:
            problems.append(_unknown(f"entry point {ep.id!r}: entry_node", ep.entry_node, known))
        problems += trigger_problems(ep)
    if spec.input_schema is not None:
        try:
            jsonschema.validators.validator_for(spec.input_schema).check_schema(spec.input_schema)
        except jsonschema.SchemaError as exc:
            problems.append(f"input_schema is not a valid JSON Schema: {exc.message}")
    return problems


def _check_nodes(agent: Agent) -> list[str]:
    problems = []
    if agent.spec.scripted_policy is not None:
        try:
            resolve_callable(agent.spec.scripted_policy, agent.base_dir)
        except UsageError as exc:
            problems.append(f"scripted_policy: {exc}")
    elif agent.source is not None:  # Python-built agents may bring their own providers
        problems += _unmodelled(agent.spec)
    for node in agent.spec.nodes:
        where = f"node {node.id!r}"
        stray = sorted(set(node.nullable_output_keys) - set(node.output_keys))
        if stray:
            problems.append(
                f"{where}: nullable_output_keys {stray} are not in its output_keys; "
                "add them to output_keys or remove them"
            )
        for field_name in ("input_keys", "output_keys"):
            dupes = [k for k, c in Counter(getattr(node, field_name)).items() if c > 1]
            if dupes:
                problems.append(f"{where}: {field_name} lists {dupes} more than once")
        if node.type is NodeType.FUNCTION:
            if not node.function:
                problems.append(
                    f"{where} is a function node but has no 'function'; set it to 'module:callable'"
                )
            else:
                try:
                    resolve_callable(node.function, agent.base_dir)
                except UsageError as exc:
                    problems.append(f"{where}: {exc}")
        elif node.function:
            problems.append(
                f"{where} has type {node.type.value!r} but sets 'function'; "
                "set type: function or remove 'function'"
            )
        elif node.type is NodeType.AGENT:
            problems += _delegate_problems(node)
        else:
            problems += event_loop_problems(node, agent.base_dir)
        if node.delegate is not None and node.type is not NodeType.AGENT:
            problems.append(
                f"{where} has type {node.type.value!r} but sets 'delegate'; "
                "set type: agent or remove 'delegate'"
            )
    return problems


def _delegate_problems(node: NodeSpec) -> list[str]:
    where = f"node {node.id!r}"
    if node.delegate is None:
        return [f"{where} is an agent node but has no 'delegate'; set delegate.agent"]
    problems = []
    unknown_in = sorted(set(node.delegate.input.values()) - set(node.input_keys))
    if unknown_in:
        problems.append(
            f"{where}: delegate.input reads {unknown_in}, which are not among its "
            f"input_keys {node.input_keys}"
        )
    unknown_out = sorted(set(node.delegate.output) - set(node.output_keys))
    if unknown_out:
        problems.append(
            f"{where}: delegate.output sets {unknown_out}, which are not among its "
            f"output_keys {node.output_keys}"
        )
    return problems


def _check_edges(spec: GraphSpec, known: set[str]) -> list[str]:
    problems = []
    terminal = set(spec.terminal_nodes)
    names = _known_keys(spec, known)
    for edge in spec.edges:
        where = edge.label
        for end in ("source", "target"):
            node_id = getattr(edge, end)
            if node_id not in known:
                problems.append(_unknown(f"{where}: {end}", node_id, known))
        if edge.source in terminal:
            problems.append(
                f"{where}: {edge.source!r} is a terminal node, so this edge would never be "
                "followed; remove the edge or take the node out of terminal_nodes"
            )
        problems += _check_condition(edge, names)
        if edge.target in known:
            target_inputs = _node_inputs(spec, edge.target)
            for key in edge.input_mapping:
                if key not in target_inputs:
                    problems.append(
                        f"{where}: input_mapping key {key!r} is not an input key of "
                        f"{edge.target!r} ({target_inputs})"
                    )
    return problems


def _node_inputs(spec: GraphSpec, node_id: str) -> list[str]:
    return spec.node(node_id).input_keys


def _check_condition(edge: EdgeSpec, names: set[str]) -> list[str]:
    where = edge.label
    if edge.condition is not EdgeCondition.CONDITIONAL:
        if edge.expression:
            return [
                f"{where} has an expression but condition {edge.condition.value!r}; "
                "use condition: conditional or drop the expression"
            ]
        return []
    if not edge.expression:
        return [f"{where} is conditional but has no expression; add one, like 'score > 0.5'"]
    try:
        expression = compile_expression(edge.expression)
    except ExpressionError as exc:
        return [f"{where}: {exc}"]
    unknown = sorted(expression.names - names)
    if unknown:
        return [
            f"{where}: condition {edge.expression!r} reads {unknown}, which no node outputs "
            f"and the input does not declare; known keys: {sorted(names)}"
        ]
    return []


def _check_shape(agent: Agent) -> list[str]:
    spec, topo = agent.spec, agent.topology
    problems = []
    reachable = topo.reachable_from(topo.start_nodes)
    for node_id in topo.node_ids:
        if node_id not in reachable:
            problems.append(
                f"node {node_id!r} is unreachable from the entry node {spec.entry_node!r}; "
                "add an edge to it or remove it"
            )
    reaching_end = topo.reaching(spec.terminal_nodes)
    for node_id in topo.node_ids:
        if node_id in reachable and node_id not in reaching_end:
            problems.append(
                f"node {node_id!r} has no path to a terminal node {spec.terminal_nodes}; "
                "add an edge onward or list it in terminal_nodes"
            )
    for node_id in topo.node_ids:
        for edge in topo.loop_edges(node_id):
            on_loop = topo.reachable_from([edge.target]) & topo.reaching([edge.source])
            stuck = sorted(n for n in on_loop if spec.max_visits(spec.node(n)) < 2)
            if stuck:
                problems.append(
                    f"feedback {edge.label}: nodes {stuck} on this loop have max_node_visits 1, "
                    "so the loop can never run; raise max_node_visits on them (or in defaults)"
                )
        for group in topo.fanout_groups(node_id):
            problems += _check_fanout(agent, node_id, group)
    return problems


def _check_fanout(agent: Agent, source: str, group: list[EdgeSpec]) -> list[str]:
    spec, topo = agent.spec, agent.topology
    targets = list(dict.fromkeys(e.target for e in group))
    join = topo.join_of(targets)
    where = f"fan-out from {source!r} to {targets} (joining at {join!r})"
    hint = "if these edges never fire together, give them different priorities"
    branches = {t: topo.branch_nodes(t, join) for t in targets}
    problems = []
    owners: dict[str, str] = {}
    key_owner: dict[str, tuple[str, str]] = {}
    for branch, nodes in branches.items():
        for node_id in sorted(nodes):
            if node_id in owners and owners[node_id] != branch:
                problems.append(
                    f"{where}: branches {owners[node_id]!r} and {branch!r} both run node "
                    f"{node_id!r}; make the branches separate or {hint}"
                )
                continue
            owners[node_id] = branch
            for key in spec.node(node_id).output_keys:
                if key in key_owner and key_owner[key][0] != branch:
                    other_branch, other_node = key_owner[key]
                    problems.append(
                        f"{where}: parallel branches {other_branch!r} (node {other_node!r}) and "
                        f"{branch!r} (node {node_id!r}) both write {key!r}; give each branch "
                        f"its own output key, or {hint}"
                    )
                key_owner.setdefault(key, (branch, node_id))
            for edge in topo.loop_edges(node_id):
                if edge.target not in nodes:
                    problems.append(
                        f"{where}: feedback {edge.label} leaves branch {branch!r}; "
                        "loops inside a parallel branch must stay inside it"
                    )
    facing = sorted(n for n in owners if spec.node(n).client_facing)
    if len(facing) > 1:
        problems.append(
            f"{where}: {len(facing)} client-facing nodes {facing} in one fan-out would ask the "
            "user at the same time; keep at most one client-facing node per fan-out"
        )
    return problems
