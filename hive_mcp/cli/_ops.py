"""Operator commands: look at executions, follow them, answer, cancel, prune.

They work on the store (``$HIVE_MCP_HOME/store.db``) that a running server
uses too, with or without that server: the server may have been started by
an MCP host over stdio and have no address to call. ``input`` and ``cancel``
go to the live process that runs the execution through the store's command
queue (see ``hive_mcp.runtime.Presence``); when no server is alive the
command acts itself: it records the cancel, or resumes the parked execution
here and hands it the answer, like ``hive-mcp resume ID --answer TEXT``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import anyio

from hive_mcp.cli._checks import EXIT_INTERRUPTED, answer_text
from hive_mcp.cli._render import clip, describe
from hive_mcp.config import Settings
from hive_mcp.errors import UnknownExecutionError, UsageError
from hive_mcp.events import Event, EventType
from hive_mcp.runtime import (
    busy_error,
    holder_of,
    live_runtimes,
    send_command,
)
from hive_mcp.store import (
    CommandKind,
    ExecutionRecord,
    ExecutionStatus,
    Journal,
    PruneReport,
    RetentionPolicy,
    RuntimeInfo,
    Store,
    prune,
)

__all__ = ["add_commands", "with_store"]

FOLLOW_EVERY = 0.25  # seconds between looks at the store while following
COMMAND_WAIT = 15.0  # how long input and cancel wait for a server's answer
T = TypeVar("T")
_LARGEST = 2**63 - 1  # what a store can compare with (SQLite's INTEGER)


def add_commands(commands: Any) -> None:
    """Add the operator commands to the ``hive-mcp`` sub-command parser."""
    executions = commands.add_parser("executions", help="list executions, newest first")
    executions.add_argument("--agent", help="only this agent's executions")
    executions.add_argument(
        "--status",
        action="extend",
        nargs="+",
        default=[],
        metavar="S",
        help=f"only these statuses ({', '.join(s.value for s in ExecutionStatus)})",
    )
    executions.add_argument("--limit", default="50", metavar="N", help="at most N (default 50)")
    executions.add_argument("--json", action="store_true", help="print JSON")
    executions.set_defaults(handler=_executions)

    events = commands.add_parser(
        "events",
        help="print an execution's events",
        description="Print an execution's events, one line each, numbered by sequence. The "
        "lines skip checkpoints and token-by-token text, so their numbers have gaps; --json "
        "prints every event.",
    )
    events.add_argument("execution", help="execution id")
    events.add_argument("--after", default="0", metavar="N", help="only events after number N")
    events.add_argument(
        "--follow", action="store_true", help="keep printing new events until the execution ends"
    )
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    events.set_defaults(handler=_events)

    answer = commands.add_parser("input", help="answer an execution that waits for input")
    answer.add_argument("execution", help="execution id")
    answer.add_argument("text", help="the answer")
    answer.add_argument("--node", help="the waiting node to answer, when several wait")
    answer.set_defaults(handler=_input)

    cancel = commands.add_parser("cancel", help="cancel an unfinished execution")
    cancel.add_argument("execution", help="execution id")
    cancel.set_defaults(handler=_cancel)

    pruning = commands.add_parser("prune", help="remove old finished executions and their files")
    pruning.add_argument("--dry-run", action="store_true", help="only say what would go")
    pruning.add_argument(
        "--older-than", metavar="DAYS", help="remove those finished more than DAYS ago"
    )
    pruning.add_argument("--keep", metavar="N", help="keep only the newest N executions")
    pruning.set_defaults(handler=_prune)


# -- reading -------------------------------------------------------------


def _executions(args: argparse.Namespace) -> int:
    statuses = [_status(s) for s in args.status]
    limit = _whole(args.limit, "--limit", minimum=1)
    settings = Settings.load()

    async def read(store: Store) -> list[ExecutionRecord]:
        return await store.list_executions(agent=args.agent, statuses=statuses, limit=limit)

    records = with_store(settings, read)
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
        return 0
    if not records:
        print(f"no executions in the store at {settings.store_label}", file=sys.stderr)
        return 0
    width = max(len(r.agent) for r in records)
    for r in records:
        print(
            f"{r.id}  {r.agent:<{width}}  {r.status.value:<17}  {_when(r.created_at)}  {_note(r)}"
        )
    return 0


def _note(record: ExecutionRecord) -> str:
    if record.waiting_for_input:
        note = clip(f"asks: {record.waiting_for_input.get('prompt', '')}", 80)
    elif record.error:
        note = clip(f"error: {record.error}", 80)
    elif record.parent_id:
        note = f"called by {record.parent_id}"
    elif record.output is not None:
        note = clip(f"output: {json.dumps(record.output, ensure_ascii=False)}", 80)
    else:
        note = ""
    return f"[{record.entry_point}] {note}".rstrip() if record.entry_point else note


def _events(args: argparse.Namespace) -> int:
    after = _whole(args.after, "--after", minimum=0)
    settings = Settings.load()

    async def show(store: Store) -> None:
        await _known(store, args.execution, settings)
        seen = after
        while True:
            events = await store.read_events(args.execution, after=seen, limit=1000)
            for event in events:
                _print_event(event, as_json=args.json)
            if events:
                seen = events[-1].seq
                continue
            if not args.follow:
                return
            # The final status and the last events are committed together:
            # once the status is final, one more read gets everything.
            record = await _known(store, args.execution, settings)
            if record.status.is_final:
                for event in await store.read_events(args.execution, after=seen, limit=100_000):
                    _print_event(event, as_json=args.json)
                return
            await anyio.sleep(FOLLOW_EVERY)

    try:
        with_store(settings, show)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED  # following was all it did: nothing to say
    return 0


def _print_event(event: Event, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(event.to_dict(), ensure_ascii=False), flush=True)
        return
    line = describe(event)
    if line is not None:
        print(f"{event.seq:>5} {line}", flush=True)
    if event.type is EventType.EXECUTION_COMPLETED:
        output = json.dumps(event.data.get("output"), ensure_ascii=False)
        print(f"{'':>5}   output: {clip(output, 400)}", flush=True)


# -- acting --------------------------------------------------------------


def _input(args: argparse.Namespace) -> int:
    settings = Settings.load()
    answer_text(args.text, "TEXT", settings)
    payload = {"text": args.text, "node_id": args.node}

    async def deliver(store: Store) -> tuple[dict[str, Any] | None, RuntimeInfo | None]:
        record = await _known(store, args.execution, settings)
        _check_waiting(record, args.node)
        return await _through_runtime(store, record, CommandKind.INPUT, payload)

    result, runtime = with_store(settings, deliver)
    if result is None:
        # No server runs it: resume it here and answer, like 'resume --answer'.
        from hive_mcp.cli._session import resume_session

        catalog = settings.load_catalog()
        return resume_session(settings, catalog, args.execution, quiet=False, answers=[args.text])
    assert runtime is not None
    print(f"delivered to {result.get('node_id')}")
    print(
        f"the server (pid {runtime.pid}) carries on; follow it with "
        f"'hive-mcp events {args.execution} --follow'",
        file=sys.stderr,
    )
    return 0


def _check_waiting(record: ExecutionRecord, node: str | None) -> None:
    if record.status is not ExecutionStatus.WAITING_FOR_INPUT:
        hint = (
            f"; 'hive-mcp resume {record.id}' continues it"
            if record.status in (ExecutionStatus.PENDING, ExecutionStatus.RUNNING)
            else ""
        )
        raise UsageError(
            f"execution {record.id!r} is {record.status.value}, not waiting for input{hint}"
        )
    waiting = (record.waiting_for_input or {}).get("node_id")
    if node is not None and waiting is not None and node != waiting:
        raise UsageError(
            f"node {node!r} of execution {record.id!r} is not waiting for input; "
            f"{waiting!r} is (leave out --node, or pass --node {waiting})"
        )


def _cancel(args: argparse.Namespace) -> int:
    settings = Settings.load()

    async def cancel(store: Store) -> str:
        record = await _known(store, args.execution, settings)
        if record.status.is_final:
            return f"already {record.status.value}; nothing to cancel"
        result, _ = await _through_runtime(store, record, CommandKind.CANCEL, {})
        if result is None:
            await _cancel_here(store, record, settings)
            return "cancelled"
        return "cancelled" if result.get("cancelled") else "already finished; nothing to cancel"

    print(with_store(settings, cancel))
    return 0


async def _cancel_here(store: Store, record: ExecutionRecord, settings: Settings) -> None:
    """No live process runs it: cancel it here with its delegates, as a server would."""
    from hive_mcp.cli._session import session_runtime
    from hive_mcp.runtime import record_cancelled
    from hive_mcp.toolbox import Toolbox

    catalog = settings.load_catalog()
    async with Journal(store) as journal:
        if record.agent not in catalog.agents:  # its agent file is gone: the record at least
            await record_cancelled(journal, record)
            return
        async with (
            Toolbox(settings.tool_servers()) as toolbox,
            session_runtime(settings, catalog, journal, toolbox) as runtime,
        ):
            await runtime.cancel(record.id)


async def _through_runtime(
    store: Store, record: ExecutionRecord, kind: CommandKind, payload: dict[str, Any]
) -> tuple[dict[str, Any] | None, RuntimeInfo | None]:
    """Have the live process that runs the execution apply the command.

    Returns its result and that process, or ``(None, None)`` when no live
    server could take it (the caller then acts itself). An error the
    server reports is raised as a ``UsageError``.
    """
    now = time.time()
    runtime = await holder_of(store, record.id, now)
    if runtime is not None and runtime.role != "server":
        raise busy_error(record.id, runtime)  # a terminal session takes no commands
    if runtime is None:
        servers = [r for r in await live_runtimes(store, now) if r.role == "server"]
        if not servers:
            return None, None
        runtime = servers[0]
    command = await send_command(
        store, runtime, record.id, kind, payload, clock=time.time, wait_seconds=COMMAND_WAIT
    )
    if command.error is not None:
        raise UsageError(command.error)
    return command.result or {}, runtime


# -- retention -----------------------------------------------------------


def _prune(args: argparse.Namespace) -> int:
    settings = Settings.load()
    if args.older_than is None and args.keep is None:
        policy = settings.retention
    else:
        policy = RetentionPolicy(
            max_age_days=None if args.older_than is None else _days(args.older_than),
            max_executions=None if args.keep is None else _whole(args.keep, "--keep", minimum=1),
        )
    if policy.keeps_everything:
        print(
            "retention is off (HIVE_MCP_RETENTION_DAYS and HIVE_MCP_RETENTION_MAX_EXECUTIONS "
            "keep forever); pass --older-than or --keep to prune anyway",
            file=sys.stderr,
        )
        return 0

    async def run(store: Store) -> PruneReport:
        return await prune(store, policy, data_dir=settings.data_dir, dry_run=args.dry_run)

    report = with_store(settings, run)
    verb = "would remove" if report.dry_run else "removed"
    for stub in report.executions:
        print(f"{verb} {stub.id}  {stub.agent}  {stub.status.value}  {_when(stub.updated_at)}")
    rows = report.rows
    print(
        f"{verb} {len(report.executions)} executions ({rows.events} events, "
        f"{rows.checkpoints} checkpoints, {rows.node_states} node states, "
        f"{report.folders} spill folders); policy: {policy.describe()}"
    )
    return 0


# -- helpers -------------------------------------------------------------


def with_store(settings: Settings, fn: Callable[[Store], Awaitable[T]]) -> T:
    """Run ``fn`` on the settings' store and close it, in one event loop (a
    PostgreSQL pool belongs to the loop that opened it)."""

    async def run() -> T:
        store = settings.open_store()
        try:
            return await fn(store)
        finally:
            await store.close()

    return anyio.run(run)


async def _known(store: Store, execution_id: str, settings: Settings) -> ExecutionRecord:
    record = await store.get_execution(execution_id)
    if record is None:
        raise UnknownExecutionError(
            f"no execution {execution_id!r} in the store at {settings.store_label}; "
            "'hive-mcp executions' lists them"
        )
    return record


def _status(text: str) -> ExecutionStatus:
    try:
        return ExecutionStatus(text)
    except ValueError:
        known = ", ".join(s.value for s in ExecutionStatus)
        raise UsageError(f"--status {text!r} is not a status; choose from {known}") from None


def _whole(text: str, option: str, *, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise UsageError(f"{option} must be a whole number of at least {minimum}, not {text!r}")
    if value > _LARGEST:
        raise UsageError(f"{option} must be at most {_LARGEST}, not {text!r}")
    return value


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise UsageError(f"--older-than must be a number of days above 0, not {text!r}")
    return value


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")
