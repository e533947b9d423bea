"""Running one execution from the terminal: progress, answers, Ctrl-C, the outcome.

When a node waits for a person, the answer comes from the next ``--answer``
value, else from the terminal when there is one. Without either, the
execution stays parked in the store (exit code 3) and can be continued with
``hive-mcp resume ID --answer ...``. Ctrl-C cancels the execution (exit 130).

The session leases its execution in the store, so a server (or another
command) sharing the store never runs it at the same time, and it refuses to
resume an execution that another live process runs.
"""

from __future__ import annotations

import json
import signal
import sys
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import BinaryIO, TextIO

import anyio

from hive_mcp.cli._checks import EXIT_INTERRUPTED
from hive_mcp.cli._ops import with_store
from hive_mcp.cli._render import ProgressPrinter
from hive_mcp.config import Settings
from hive_mcp.errors import UnknownExecutionError
from hive_mcp.events import EventType, Subscription
from hive_mcp.graph import Agent, AgentCatalog, GraphExecutor
from hive_mcp.runtime import AgentRuntime
from hive_mcp.store import ExecutionRecord, ExecutionStatus, Journal, Store
from hive_mcp.toolbox import Toolbox

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_PARKED",
    "Start",
    "announce",
    "resume_session",
    "run_session",
    "session_executor",
    "session_runtime",
]

EXIT_PARKED = 3

# Given the journal, the tool servers and the runtime that runs delegated
# agents, return the executor, the execution and how to drive it.
Start = Callable[
    [Journal, Toolbox, AgentRuntime],
    Awaitable[tuple[GraphExecutor, ExecutionRecord, Callable[[], Awaitable[ExecutionRecord]]]],
]


@dataclass
class _Outcome:
    record: ExecutionRecord | None = None
    parked_prompt: str | None = None
    interrupted: bool = False
    stopped_by: signal.Signals | None = None  # SIGTERM or SIGHUP: suspended, not cancelled


def run_session(
    start: Start,
    *,
    settings: Settings,
    catalog: AgentCatalog,
    quiet: bool,
    answers: list[str],
    output: BinaryIO | None = None,
) -> int:
    """Drive one execution to its end (or its first unanswerable question); return the exit code.

    The output JSON goes to ``output`` (from ``claim_stdout``), else to ``sys.stdout``.
    """
    outcome = _Outcome()
    queued = deque(answers)
    with_store(settings, lambda s: _main(s, settings, catalog, start, quiet, queued, outcome))
    record = outcome.record
    if outcome.interrupted:
        print("interrupted: the execution is recorded as cancelled", file=sys.stderr)
        return EXIT_INTERRUPTED
    if outcome.stopped_by is not None:
        return 128 + outcome.stopped_by.value
    if record is None:
        return EXIT_PARKED
    if record.status is ExecutionStatus.COMPLETED:
        text = json.dumps(record.output, indent=2, ensure_ascii=False) + "\n"
        if output is None:
            sys.stdout.write(text)
        else:
            output.write(text.encode())
            output.flush()
        return 0
    print(f"execution {record.id} {record.status.value}: {record.error or ''}", file=sys.stderr)
    return 1


async def _main(
    store: Store,
    settings: Settings,
    catalog: AgentCatalog,
    start: Start,
    quiet: bool,
    answers: deque[str],
    outcome: _Outcome,
) -> None:
    async with (
        Journal(store) as journal,
        Toolbox(settings.tool_servers()) as toolbox,
        session_runtime(settings, catalog, journal, toolbox) as runtime,
    ):
        executor, record, drive = await start(journal, toolbox, runtime)
        await runtime.claim(record.id)  # no other process may run it meanwhile
        progress = journal.bus.subscribe(execution_id=record.id)
        questions = journal.bus.subscribe(
            [EventType.CLIENT_INPUT_REQUESTED], execution_id=record.id
        )
        async with anyio.create_task_group() as outer:
            if not quiet:
                outer.start_soon(_print, progress, ProgressPrinter(sys.stderr))
            async with anyio.create_task_group() as run:

                def park(prompt: str) -> None:
                    outcome.parked_prompt = prompt
                    run.cancel_scope.cancel()  # the executor suspends: the execution stays parked

                def interrupt() -> None:
                    outcome.interrupted = True
                    executor.request_cancel(record.id)
                    run.cancel_scope.cancel()

                def stop(signum: signal.Signals) -> None:
                    outcome.stopped_by = signum
                    run.cancel_scope.cancel()  # the executor suspends: it can be resumed

                run.start_soon(_answer, executor, record.id, questions, answers, park)
                run.start_soon(_on_signals, interrupt, stop)
                outcome.record = await drive()
                run.cancel_scope.cancel()
            progress.close()  # the printer drains what is buffered, then ends
            questions.close()
    if outcome.stopped_by is not None:
        print(
            f"stopped by {outcome.stopped_by.name}: execution {record.id} is suspended, not "
            f"cancelled; 'hive-mcp resume {record.id}' continues it",
            file=sys.stderr,
        )
    elif outcome.parked_prompt is not None:
        outcome.record = None
        print(
            f"execution {record.id} waits for input: {outcome.parked_prompt}\n"
            f"It stays parked. Answer with: hive-mcp resume {record.id} --answer TEXT",
            file=sys.stderr,
        )


def resume_session(
    settings: Settings,
    catalog: AgentCatalog,
    execution_id: str,
    *,
    quiet: bool,
    answers: list[str],
    output: BinaryIO | None = None,
) -> int:
    """Continue a stored execution here, answering its questions from ``answers``."""

    async def start(
        journal: Journal, toolbox: Toolbox, runtime: AgentRuntime
    ) -> tuple[GraphExecutor, ExecutionRecord, Callable[[], Awaitable[ExecutionRecord]]]:
        record = await journal.store.get_execution(execution_id)
        if record is None:
            raise UnknownExecutionError(
                f"no execution {execution_id!r} in the store at {settings.store_label}; "
                "'hive-mcp executions' lists them"
            )
        await runtime.claim(record.id)  # refuse before saying anything if another process runs it
        executor = session_executor(catalog.get(record.agent), journal, settings, toolbox, runtime)
        announce(executor)
        return executor, record, lambda: executor.resume(record.id)

    return run_session(
        start, settings=settings, catalog=catalog, quiet=quiet, answers=answers, output=output
    )


def session_runtime(
    settings: Settings, catalog: AgentCatalog, journal: Journal, toolbox: Toolbox
) -> AgentRuntime:
    """The runtime of a command that drives executions itself (no server runs them)."""
    return AgentRuntime(
        catalog,
        journal,
        data_dir=settings.data_dir,
        toolbox=toolbox,
        limits=settings.limits,
        role="session",
    )


def session_executor(
    agent: Agent, journal: Journal, settings: Settings, toolbox: Toolbox, runtime: AgentRuntime
) -> GraphExecutor:
    """The executor of a terminal session (delegating through ``runtime``)."""
    # on_cancel="suspend": leaving unanswered keeps the execution parked;
    # Ctrl-C asks for a real cancel first (see run_session).
    return GraphExecutor(
        agent,
        journal,
        data_dir=settings.data_dir,
        on_cancel="suspend",
        toolbox=toolbox,
        agents=runtime.agents,
    )


def announce(executor: GraphExecutor) -> None:
    """Say which model answers, so scripted (offline) output is never mistaken for a model's."""
    spec = executor.spec
    if any(n.type.value == "event_loop" for n in spec.nodes):
        model = spec.defaults.model or "scripted"
        label = "scripted policy (offline, no model)" if model == "scripted" else model
        print(f"model: {label}", file=sys.stderr)


async def _print(events: Subscription, printer: Callable[..., None]) -> None:
    async for event in events:
        printer(event)


async def _answer(
    executor: GraphExecutor,
    execution_id: str,
    questions: Subscription,
    answers: deque[str],
    park: Callable[[str], None],
) -> None:
    async for question in questions:
        prompt = str(question.data.get("prompt", ""))
        if answers:
            text = answers.popleft()
        elif _interactive(sys.stdin):
            text = await anyio.to_thread.run_sync(
                _ask, prompt, question.data.get("options") or [], abandon_on_cancel=True
            )
        else:
            park(prompt)
            return
        executor.send_input(execution_id, text, question.node_id)


def _interactive(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _ask(prompt: str, options: list[str]) -> str:
    hint = f" [{' / '.join(options)}]" if options else ""
    print(f"\n? {prompt}{hint}", file=sys.stderr, flush=True)
    return input("> ")


async def _on_signals(
    interrupt: Callable[[], None], stop: Callable[[signal.Signals], None]
) -> None:
    """Ctrl-C cancels the run; SIGTERM (or a closed terminal's SIGHUP) suspends it."""
    others = [s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
    with anyio.open_signal_receiver(signal.SIGINT, *others) as signals:
        async for signum in signals:
            if signum == signal.SIGINT:
                interrupt()
            else:
                stop(signal.Signals(signum))
            return
