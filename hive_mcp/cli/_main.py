"""The ``hive-mcp`` command line.

Results go to stdout (JSON where a program may read them); progress, logs and
errors go to stderr. Exit codes: 0 done, 1 the execution failed or was
cancelled, 2 a usage error (bad agent file, unknown agent, bad input, store),
3 the execution waits for input and stays parked, 130 interrupted.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from hive_mcp import __version__
from hive_mcp._stdout import claim_stdout
from hive_mcp._values import check_value
from hive_mcp.cli._checks import answer_text, check_text_arguments
from hive_mcp.cli._ops import add_commands, with_store
from hive_mcp.cli._render import render_goal, render_report
from hive_mcp.config import Settings
from hive_mcp.errors import AgentFileError, HiveError, InputError, UsageError
from hive_mcp.store import ExecutionRecord

# Each command imports what it needs: the graph, the runtime and the tool
# servers are heavy, and the operator commands need none of them.
if TYPE_CHECKING:
    from hive_mcp.graph import AgentCatalog, GraphExecutor
    from hive_mcp.runtime import AgentRuntime
    from hive_mcp.store import Journal
    from hive_mcp.toolbox import Toolbox

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
    # --store is the setting for this command and what it starts (delegates,
    # servers), as HIVE_MCP_STORE would be; put back after (main runs in tests).
    before = os.environ.get("HIVE_MCP_STORE")
    if args.store:
        os.environ["HIVE_MCP_STORE"] = args.store
    try:
        return _handle(parser, args)
    finally:
        if before is None:
            os.environ.pop("HIVE_MCP_STORE", None)
        else:
            os.environ["HIVE_MCP_STORE"] = before


def _handle(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    try:
        check_text_arguments(parser, args)
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
    except BrokenPipeError:
        # The reader went away (`hive-mcp agents | head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
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
        epilog=(
            "Agents are read from $HIVE_MCP_AGENTS (default ./graph, else the bundled "
            "examples); executions are kept in $HIVE_MCP_HOME (default: the per-user data "
            "folder, such as ~/.local/share/hive-mcp). Exit status: 0 done, 1 the run "
            "failed, 2 a usage or input error, 3 waiting for input (parked), 130 interrupted."
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more to stderr")
    parser.add_argument(
        "--store",
        metavar="URL_OR_FILE",
        help="the store: postgresql://USER@HOST:PORT/DB or a SQLite file "
        "(default: $HIVE_MCP_STORE, else store.db in $HIVE_MCP_HOME)",
    )
    parser.add_argument("--version", action="version", version=f"hive-mcp {__version__}")
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
    run.add_argument(
        "--answer",
        action="append",
        default=[],
        metavar="TEXT",
        help="answer the next question a node asks (repeatable); else asked on the terminal",
    )
    run.set_defaults(handler=_run)

    resume = commands.add_parser("resume", help="continue an unfinished execution")
    resume.add_argument("execution", help="execution id")
    resume.add_argument("--quiet", action="store_true", help="do not show progress on stderr")
    resume.add_argument("--answer", action="append", default=[], metavar="TEXT", help="as for run")
    resume.set_defaults(handler=_resume)

    report = commands.add_parser("report", help="what happened in an execution, per node and step")
    report.add_argument("execution", help="execution id")
    report.add_argument("--node", help="only this node's detail and steps")
    report.add_argument("--steps", action="store_true", help="include every loop step")
    report.add_argument("--json", action="store_true", help="print JSON")
    report.set_defaults(handler=_report)

    goal = commands.add_parser("goal", help="how an agent does against its goal, across executions")
    goal.add_argument("agent", help="agent name (see 'hive-mcp agents')")
    goal.add_argument(
        "--limit",
        type=int,
        help="count the newest N executions (default: the goal's window, 100)",
    )
    goal.add_argument("--json", action="store_true", help="print JSON")
    goal.set_defaults(handler=_goal)
    add_commands(commands)  # executions, events, input, cancel, prune

    serve = commands.add_parser(
        "serve",
        help="serve the agents as MCP tools (stdio by default)",
        description="Serve the agents folder as MCP tools, over stdio (what MCP hosts start) "
        "or Streamable HTTP at /mcp, with /health and the agents' webhooks at "
        "/hooks/AGENT/ENTRY_POINT. Runs the agents' timers and event triggers, resumes "
        "executions left running, follows the folder for changes, and stops cleanly on "
        "SIGTERM or Ctrl-C.",
    )
    serve.add_argument("--http", action="store_true", help="serve Streamable HTTP instead of stdio")
    serve.add_argument("--host", default="127.0.0.1", help="HTTP address (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8765, help="HTTP port (default 8765)")
    serve.add_argument(
        "--token",
        default=os.environ.get("HIVE_MCP_TOKEN"),
        help="bearer token HTTP clients must send (default: $HIVE_MCP_TOKEN); "
        "required on addresses other than loopback",
    )
    serve.add_argument(
        "--no-resume", action="store_true", help="do not resume unfinished executions on start"
    )
    serve.set_defaults(handler=_serve)

    demo = commands.add_parser("demo", help="the server end to end through a real MCP client")
    demo.add_argument("--customer", default="Ada", help="input of the support_desk agent")
    demo.add_argument(
        "--answer", default="How do I reset my password?", help="the answer to its question"
    )
    demo.set_defaults(handler=_demo)

    tool_server = commands.add_parser(
        "tool-server",
        help="run one of hive-mcp's own MCP tool servers over stdio",
        usage="hive-mcp tool-server {filesystem,email,github} [ARGS ...]",
        description="Run a tool server over stdio, as an mcpServers entry starts it. ARGS go "
        "to the server: the filesystem server takes its root folders; email and github read "
        "their settings from the environment (docs/tool-servers.md).",
    )
    tool_server.add_argument("name", choices=["filesystem", "email", "github"])
    tool_server.add_argument("args", nargs=argparse.REMAINDER, help="the server's own options")
    tool_server.set_defaults(handler=_tool_server)

    schema = commands.add_parser("schema", help="print the JSON Schema of agent files")
    schema.set_defaults(handler=_schema)
    return parser


# -- commands ------------------------------------------------------------


def _validate(args: argparse.Namespace) -> int:
    from hive_mcp.graph import load_agent, load_catalog

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
    settings = Settings.load()
    if not settings.agents_dir.is_dir():
        raise UsageError(
            f"the agents folder {settings.agents_dir} does not exist (the path comes from "
            f"{settings.agents_origin}); point HIVE_MCP_AGENTS "
            "at a folder of agent files (or create it)"
        )
    catalog = _catalog(settings)
    rows = [a.describe() | {"source": a.label} for a in catalog]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        width = max((len(r["name"]) for r in rows), default=4)
        for r in rows:
            print(f"{r['name']:<{width}}  {r['description']}")
            for ep in r["entry_points"]:
                when = _schedule(r["name"], ep)
                print(f"{'':<{width}}    starts by {ep['trigger']} {ep['id']!r}{when}")
        if not rows:
            print(f"no agents in {catalog.folder}", file=sys.stderr)
    for error in catalog.errors:
        print(f"warning: skipped {error}", file=sys.stderr)
    return 0


def _schedule(agent: str, ep: dict[str, Any]) -> str:
    config = ep["config"]
    if ep["trigger"] == "webhook":
        signed = (
            "HMAC-signed"
            if config.get("signed")
            else "the server's bearer token if it has one, else open"
        )
        return f": POST /hooks/{agent}/{ep['id']} ({signed})"
    if ep["trigger"] == "timer":
        every = (
            f"cron {config['cron']} (UTC)"
            if config.get("cron")
            else (
                f"every {config.get('interval_seconds') or config.get('interval_minutes') * 60:g} s"
            )
        )
        return f": {every}"
    if ep["trigger"] == "event":
        return f": on {', '.join(config.get('event_types', []))}"
    return ""


def _run(args: argparse.Namespace) -> int:
    from hive_mcp.cli._session import announce, run_session, session_executor
    from hive_mcp.graph._triggers import trigger_config

    settings = Settings.load()
    output = claim_stdout()  # the output JSON only: steps that print go to stderr
    catalog = _catalog(settings)
    agent = catalog.get(args.agent)
    answers = [answer_text(a, "--answer", settings) for a in args.answer]
    data = _input_object(args.input, settings)
    if args.entry_point is not None:
        entry = agent.spec.entry_point(args.entry_point)
        data = {**trigger_config(entry).input, **data}  # its fixed input, as a trigger would
    agent.check_input(data, args.entry_point)

    async def start(
        journal: Journal, toolbox: Toolbox, runtime: AgentRuntime
    ) -> tuple[GraphExecutor, ExecutionRecord, Drive]:
        executor = session_executor(agent, journal, settings, toolbox, runtime)
        record = executor.create(data, entry_point=args.entry_point)
        announce(executor)
        return executor, record, lambda: executor.start_execution(record)

    return run_session(
        start,
        settings=settings,
        catalog=catalog,
        quiet=args.quiet,
        answers=answers,
        output=output,
    )


def _input_object(text: str, settings: Settings) -> dict[str, Any]:
    """The ``--input`` object, refused with the reason when the runtime would not take it."""
    example = """pass an object, like --input '{"text": "hello"}'"""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"--input is not valid JSON ({exc.msg} at column {exc.colno}); {example}"
        ) from None
    except RecursionError:
        raise InputError("--input is nested too deeply to read; flatten it") from None
    except ValueError:  # Python's cap on the digits of an integer literal
        raise InputError("--input has a number too long to read; send it as a string") from None
    if not isinstance(data, dict):
        raise InputError(f"--input must be a JSON object, not {type(data).__name__}; {example}")
    check_value(data, "input", settings.max_input_bytes)
    return data


def _resume(args: argparse.Namespace) -> int:
    from hive_mcp.cli._session import resume_session

    settings = Settings.load()
    answers = [answer_text(a, "--answer", settings) for a in args.answer]
    output = claim_stdout()
    return resume_session(
        settings,
        _catalog(settings),
        args.execution,
        quiet=args.quiet,
        answers=answers,
        output=output,
    )


def _serve(args: argparse.Namespace) -> int:
    from hive_mcp.server import serve

    settings = Settings.load()
    anyio.run(
        functools.partial(
            serve,
            settings,
            http=args.http,
            host=args.host,
            port=args.port,
            token=args.token,
            resume=not args.no_resume,
        )
    )
    return 0


def _tool_server(args: argparse.Namespace) -> int:
    import importlib

    module = importlib.import_module(f"hive_mcp.toolservers.{args.name}")
    code: int = module.main(list(args.args))
    return code


def _demo(args: argparse.Namespace) -> int:
    from hive_mcp.cli._demo import run_demo

    return run_demo(Settings.load(), customer=args.customer, answer=args.answer)


def _report(args: argparse.Namespace) -> int:
    from hive_mcp.runtime import build_report

    settings = Settings.load()
    report = with_store(settings, lambda store: build_report(store, args.execution))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return 0
    print(render_report(report, node=args.node, steps=args.steps))
    return 0


def _goal(args: argparse.Namespace) -> int:
    from hive_mcp.runtime import evaluate_goal

    settings = Settings.load()
    agent = _catalog(settings).get(args.agent)
    limit = {} if args.limit is None else {"limit": args.limit}
    progress = with_store(settings, lambda store: evaluate_goal(store, agent.spec, **limit))
    if args.json:
        print(progress.model_dump_json(indent=2))
        return 0
    print(render_goal(progress))
    return 0


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(agent_file_schema(), indent=2))
    return 0


def agent_file_schema() -> dict[str, Any]:
    """The published JSON Schema of agent files."""
    from hive_mcp.graph import GraphSpec

    schema = GraphSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "hive-mcp agent file"
    return schema


# -- helpers -------------------------------------------------------------


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a whole number from 0 to 65535, not {text!r}")
    return int(text)


def _catalog(settings: Settings | None = None) -> AgentCatalog:
    settings = settings or Settings.load()
    return settings.load_catalog()


Drive = Callable[[], Awaitable[ExecutionRecord]]
