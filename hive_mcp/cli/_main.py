"""The ``hive-mcp`` command line.

Results go to stdout (JSON where a program may read them); progress, logs and
errors go to stderr. Exit codes: 0 done, 1 the execution failed or was
cancelled, 2 a usage error (bad agent file, unknown agent, bad input, store).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import anyio

from hive_mcp.cli._render import ProgressPrinter
from hive_mcp.config import Settings
from hive_mcp.errors import AgentFileError, HiveError, InputError, UnknownExecutionError
from hive_mcp.events import Event
from hive_mcp.graph import (
    Agent,
    AgentCatalog,
    GraphExecutor,
    GraphSpec,
    load_agent,
    load_catalog,
)
from hive_mcp.store import ExecutionRecord, ExecutionStatus, Journal, SQLiteStore

__all__ = ["main"]

log = logging.getLogger("hive_mcp")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        code: int = args.handler(args)
    except HiveError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BaseExceptionGroup as group:
        # Raised from inside a task group: report our own errors plainly.
        ours, rest = group.split(HiveError)
        if ours is None or rest is not None:
            raise
        for leaf in _leaves(ours):
            print(f"error: {leaf}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return found


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hive-mcp",
        description="Run agent graphs; expose them to MCP hosts as tools.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check agent files and report problems")
    validate.add_argument(
        "path", nargs="?", help="an agent file or a folder of agents (default: the agents folder)"
    )
    validate.set_defaults(handler=_validate)

    agents = commands.add_parser("agents", help="list the agents that are loaded")
    agents.add_argument("--json", action="store_true", help="print JSON instead of a table")
    agents.set_defaults(handler=_agents)

    run = commands.add_parser("run", help="run an agent; the output is printed as JSON")
    run.add_argument("agent", help="agent name (see 'hive-mcp agents')")
    run.add_argument("--input", default="{}", help="the input as a JSON object (default: {})")
    run.add_argument("--entry-point", help="start at this entry point of the agent")
    run.add_argument("--quiet", action="store_true", help="do not show progress on stderr")
    run.set_defaults(handler=_run)

    resume = commands.add_parser("resume", help="continue an unfinished execution")
    resume.add_argument("execution", help="execution id")
    resume.add_argument("--quiet", action="store_true", help="do not show progress on stderr")
    resume.set_defaults(handler=_resume)

    schema = commands.add_parser("schema", help="print the JSON Schema of agent files")
    schema.set_defaults(handler=_schema)
    return parser


# -- commands ------------------------------------------------------------


def _validate(args: argparse.Namespace) -> int:
    target = Path(args.path) if args.path else Settings.load().agents_dir
    if target.is_file():
        try:
            agent = load_agent(target)
        except AgentFileError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"ok   {agent.name}  ({agent.label})")
        return 0
    catalog = load_catalog(target)
    for agent in catalog:
        print(f"ok   {agent.name}  ({agent.label})")
    for error in catalog.errors:
        print(error, file=sys.stderr)
    if not catalog.agents and not catalog.errors:
        print(f"no agent files in {target}", file=sys.stderr)
        return 1
    return 1 if catalog.errors else 0


def _agents(args: argparse.Namespace) -> int:
    catalog = _catalog()
    rows = [_agent_summary(a) for a in catalog]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        width = max((len(r["name"]) for r in rows), default=4)
        for r in rows:
            print(f"{r['name']:<{width}}  {r['description']}")
        if not rows:
            print(f"no agents in {catalog.folder}", file=sys.stderr)
    for error in catalog.errors:
        print(f"warning: skipped {error}", file=sys.stderr)
    return 0


def _agent_summary(agent: Agent) -> dict[str, Any]:
    spec = agent.spec
    return {
        "name": spec.name,
        "description": spec.description,
        "input_schema": spec.effective_input_schema(),
        "entry_points": [ep.id for ep in spec.entry_points],
        "client_facing_nodes": [n.id for n in spec.nodes if n.client_facing],
        "source": agent.label,
    }


def _run(args: argparse.Namespace) -> int:
    catalog = _catalog()
    agent = catalog.get(args.agent)
    try:
        data = json.loads(args.input)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"--input is not valid JSON ({exc.msg} at column {exc.colno}); "
            """pass an object, like --input '{"text": "hello"}'"""
        ) from None
    agent.check_input(data)

    async def go(journal: Journal, watch: Callable[[str], None]) -> ExecutionRecord:
        executor = GraphExecutor(agent, journal)
        record = executor.create(data, entry_point=args.entry_point)
        watch(record.id)
        return await executor.start_execution(record)

    return _execute(go, quiet=args.quiet)


def _resume(args: argparse.Namespace) -> int:
    settings = Settings.load()
    catalog = _catalog(settings)

    async def go(journal: Journal, watch: Callable[[str], None]) -> ExecutionRecord:
        record = await journal.store.get_execution(args.execution)
        if record is None:
            raise UnknownExecutionError(
                f"no execution {args.execution!r} in the store at {settings.store_path}"
            )
        watch(record.id)
        return await GraphExecutor(catalog.get(record.agent), journal).resume(record.id)

    return _execute(go, quiet=args.quiet, settings=settings)


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(agent_file_schema(), indent=2))
    return 0


def agent_file_schema() -> dict[str, Any]:
    """The published JSON Schema of agent files."""
    schema = GraphSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "hive-mcp agent file"
    return schema


# -- helpers -------------------------------------------------------------


def _catalog(settings: Settings | None = None) -> AgentCatalog:
    settings = settings or Settings.load()
    return load_catalog(settings.agents_dir)


Body = Callable[[Journal, Callable[[str], None]], Coroutine[Any, Any, ExecutionRecord]]


def _execute(body: Body, *, quiet: bool, settings: Settings | None = None) -> int:
    """Open the store, run ``body`` while printing its events, print the outcome."""
    settings = settings or Settings.load()
    store = SQLiteStore(settings.store_path)
    printer = ProgressPrinter(sys.stderr)

    async def main() -> ExecutionRecord:
        async with Journal(store) as journal, anyio.create_task_group() as tg:

            def watch(execution_id: str) -> None:
                if not quiet:
                    sub = journal.bus.subscribe(execution_id=execution_id)
                    tg.start_soon(_print_events, sub, printer)
                    cleanup.append(sub.close)

            cleanup: list[Callable[[], None]] = []
            try:
                record = await body(journal, watch)
            finally:
                for close in cleanup:
                    close()
        return record

    try:
        record = anyio.run(main)
    finally:
        anyio.run(store.close)
    if record.status is ExecutionStatus.COMPLETED:
        print(json.dumps(record.output, indent=2, ensure_ascii=False))
        return 0
    print(f"execution {record.id} {record.status.value}: {record.error or ''}", file=sys.stderr)
    return 1


async def _print_events(events: Any, printer: Callable[[Event], None]) -> None:
    async for event in events:
        printer(event)
