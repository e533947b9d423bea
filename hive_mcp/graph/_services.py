"""What the executor offers a running node: events, state, people, models, files."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import anyio.from_thread

from hive_mcp.errors import StoreError, UsageError
from hive_mcp.events import EventType
from hive_mcp.graph._agent import Agent
from hive_mcp.graph._inputs import InputBroker, Waiter
from hive_mcp.graph._spec import NodeSpec
from hive_mcp.graph.nodes import NodeContext, resolve_callable
from hive_mcp.llm import LLMProvider
from hive_mcp.llm._resolve import ProviderResolver, resolve_provider
from hive_mcp.store import ExecutionRecord, ExecutionStatus, Journal
from hive_mcp.toolbox import AgentGateway, RemoteAgents, RemoteTool, Toolbox

__all__ = ["NodeServices", "default_resolver"]


def default_resolver(agent: Agent) -> ProviderResolver:
    """Providers by model name, with the agent's scripted policy as the offline default."""
    cache: dict[tuple[str | None, str | None], LLMProvider] = {}
    policy_ref = agent.spec.scripted_policy

    def resolve(model: str | None, api_base: str | None) -> LLMProvider:
        key = (model or agent.spec.defaults.model, api_base or agent.spec.defaults.api_base)
        if key not in cache:
            policy = resolve_callable(policy_ref, agent.base_dir) if policy_ref else None
            cache[key] = resolve_provider(key[0], policy=policy, agent=agent.name, api_base=key[1])
        return cache[key]

    return resolve


class NodeServices:
    """Builds ``NodeContext`` objects for one executor."""

    def __init__(
        self,
        agent: Agent,
        journal: Journal,
        broker: InputBroker,
        providers: ProviderResolver,
        data_root: Path,
        toolbox: Toolbox | None = None,
        agents: AgentGateway | None = None,
        cancel_requested: Callable[[str], bool] = lambda _: False,
    ) -> None:
        self.agent = agent
        self.journal = journal
        self.broker = broker
        self.providers = providers
        self.data_root = data_root
        self.toolbox = toolbox
        self.local_agents = agents
        self.cancel_requested = cancel_requested

    def context(
        self,
        record: ExecutionRecord,
        node: NodeSpec,
        inputs: dict[str, Any],
        memory: Mapping[str, Any],
        attempt: int,
        visit: int,
        touch: Callable[[ExecutionRecord], None],
    ) -> tuple[NodeContext, Callable[[BaseException | None], Awaitable[None]]]:
        """The context of one attempt, and what to call when the attempt ends.

        Answers the node took are settled with its next saved state; the end
        of the attempt settles the rest (stored with a flush when it ended
        well, failed when it did not).
        """
        eid, journal = record.id, self.journal
        key = f"{node.id}#{visit}"
        unsettled: list[Waiter] = []

        async def settle(failure: BaseException | None) -> None:
            while unsettled:
                await unsettled.pop().settle(failure)

        async def end(failure: BaseException | None) -> None:
            if unsettled and failure is None:
                try:
                    await journal.flush(eid)
                except StoreError as exc:
                    failure = exc
            await settle(failure)

        loop_thread = threading.get_ident()

        def emit(kind: EventType, data: dict[str, Any]) -> None:
            if threading.get_ident() != loop_thread:
                # A sync node or tool in a worker thread: the journal is the loop's.
                anyio.from_thread.run_sync(partial(emit, kind, data))
                return
            journal.emit(eid, kind, node_id=node.id, data=data)

        async def load_state() -> dict[str, Any] | None:
            return await journal.store.load_node_state(eid, key)

        async def save_state(state_json: str) -> None:
            try:
                await journal.save_node_state(eid, key, state_json)
            except BaseException as exc:
                await settle(exc)
                raise
            await settle(None)

        async def request_input(
            kind: str, prompt: str, options: list[str], details: dict[str, Any] | None = None
        ) -> str:
            # Accept the answer from the moment anyone can learn that we wait.
            waiter = self.broker.register(eid, node.id)
            record.status = ExecutionStatus.WAITING_FOR_INPUT
            record.waiting_for_input = {
                "node_id": node.id,
                "kind": kind,
                "prompt": prompt,
                "options": options,
                **(details or {}),
                "since": time.time(),
            }
            touch(record)
            emit(
                EventType.CLIENT_INPUT_REQUESTED,
                {"kind": kind, "prompt": prompt, "options": options, **(details or {})},
            )
            try:
                await journal.flush(eid)  # parked in the store before we wait
            except BaseException:
                self.broker._remove(waiter)
                raise
            text = await waiter.wait()
            unsettled.append(waiter)  # "delivered" once the node has stored it
            record.status = ExecutionStatus.RUNNING
            record.waiting_for_input = None
            touch(record)
            emit(EventType.CLIENT_INPUT_RECEIVED, {"kind": kind, "text": text})
            return text

        def provider(model: str | None, api_base: str | None = None) -> LLMProvider:
            return self.providers(model or node.model, api_base)

        async def remote_tools(refs: list[str]) -> list[RemoteTool]:
            if self.toolbox is None:
                raise UsageError(
                    f"node {node.id!r} uses tool servers {refs}, but no tool servers are "
                    "configured: add them to $HIVE_MCP_HOME/mcp_servers.json or the agent's "
                    "mcpServers"
                )
            spec = self.agent.spec
            return await self.toolbox.tools(refs, scope=spec.name, local=spec.mcp_servers)

        def agents(server: str | None) -> AgentGateway:
            if server is not None:
                if self.toolbox is None:
                    raise UsageError(
                        f"node {node.id!r} delegates to server {server!r}, but no tool servers "
                        "are configured: add it to mcp_servers.json or the agent's mcpServers"
                    )
                spec = self.agent.spec
                return RemoteAgents(
                    self.toolbox.connection(server, scope=spec.name, local=spec.mcp_servers)
                )
            if self.local_agents is None:
                raise UsageError(
                    f"node {node.id!r} delegates to a local agent, which needs the agent "
                    "runtime (AgentRuntime, 'hive-mcp serve' or 'hive-mcp run')"
                )
            return self.local_agents

        context = NodeContext(
            execution_id=eid,
            node=node,
            graph=self.agent.spec,
            inputs=dict(inputs),
            memory=memory,
            attempt=attempt,
            visit=visit,
            emit=emit,
            load_state=load_state,
            save_state=save_state,
            request_input=request_input,
            provider=provider,
            data_dir=self.data_root / eid,
            remote_tools=remote_tools,
            agents=agents,
            cancel_requested=lambda: self.cancel_requested(eid),
        )
        return context, end
