"""The issue_triage example end to end, offline on its scripted policy.

Its own mcpServers start the real GitHub and email tool servers as subprocesses
(through the Toolbox), pointed at a fake GitHub REST API and an aiosmtpd SMTP
server, both on loopback. A person's answers arrive through send_input.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import anyio
import pytest

from hive_mcp.events import Event, EventType
from hive_mcp.graph import GraphExecutor, load_agent
from hive_mcp.store import ExecutionRecord, ExecutionStatus, Journal
from hive_mcp.toolbox import Toolbox
from tests.email_servers import LOOPBACK, Inbox, smtp_server
from tests.fakes.github_api import FakeGitHub, RateLimit, one_test, running_fake_github

pytestmark = pytest.mark.anyio
AGENT = Path(__file__).resolve().parent.parent / "graph" / "issue_triage" / "agent.yaml"
TOKEN = "ghp_triage0123456789abcdefSECRET"
RECIPIENT = "maintainers@rockets.test"
LONG_BODY = "It takes minutes to compute a window. " * 20 + "\nThe exception is a TimeoutError."
OPEN = {  # number → title of the open issues of acme/rockets (3 is a pull request, 6 closed)
    1: "Crash when the fuel gauge reads zero",
    2: "Add a dark mode",
    4: "Typo in the launch guide",
    5: "Launch window calculation is slow",
}


def seed(fake: FakeGitHub) -> None:
    rockets = fake.add_repo("acme", "rockets")
    fake.add_repo("acme", "empty")
    fake.add_issue(rockets, OPEN[1], "ZeroDivisionError in gauge.py\nSteps: ...", labels=("bug",))
    fake.add_issue(rockets, OPEN[2], "It would be nice at night.", labels=("enhancement",))
    fake.add_pull(rockets, "Refactor the engine", head="engine")
    fake.add_issue(rockets, OPEN[4], None)
    fake.add_issue(rockets, OPEN[5], LONG_BODY, labels=("perf",))
    fake.add_issue(rockets, "Old launch failure", "Fixed.", state="closed")


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # module scope: one toolbox (and one server process each) for the module


@pytest.fixture(scope="module")
def shared_github() -> Iterator[FakeGitHub]:
    with running_fake_github(TOKEN) as fake:
        seed(fake)
        yield fake


@pytest.fixture
def github(shared_github: FakeGitHub) -> Iterator[FakeGitHub]:
    with one_test(shared_github) as fake:
        yield fake


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Inbox]]:
    with smtp_server() as served:
        yield served


@pytest.fixture
def inbox(smtp: tuple[int, Inbox]) -> Inbox:
    smtp[1].take()
    return smtp[1]


@pytest.fixture(scope="module")
async def toolbox(shared_github: FakeGitHub, smtp: tuple[int, Inbox]) -> AsyncIterator[Toolbox]:
    """The environment the agent's ${VAR}s expand from: only the fakes' addresses."""
    env = {
        "PATH": os.environ["PATH"],
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": shared_github.base_url,
        "SMTP_HOST": LOOPBACK,
        "SMTP_PORT": str(smtp[0]),
        "SMTP_SECURITY": "plain",
        "EMAIL_FROM": "Issue triage <triage@hive.test>",
    }
    async with Toolbox({}, env=env) as box:
        yield box


@dataclass
class Run:
    record: ExecutionRecord
    events: list[Event]
    asked: list[str]  # the prompts of the questions, in order
    mail_when_asked: list[int]  # how many emails had arrived when each question was asked

    @property
    def output(self) -> dict[str, Any]:
        return self.record.output or {}

    def tool_results(self, name: str) -> list[dict[str, Any]]:
        return [
            e.data
            for e in self.events
            if e.type is EventType.TOOL_CALL_COMPLETED and e.data["name"] == name
        ]


async def triage(
    journal: Journal,
    toolbox: Toolbox,
    inbox: Inbox,
    data_dir: Path,
    answers: list[str],
    **input: Any,
) -> Run:
    """Run the agent to its end, answering each question it asks with the next answer."""
    ex = GraphExecutor(load_agent(AGENT), journal, data_dir=data_dir, toolbox=toolbox)
    record = ex.create({"repo": "acme/rockets", "recipient": RECIPIENT} | input)
    asked: list[str] = []
    mail_when_asked: list[int] = []
    with journal.bus.subscribe([EventType.CLIENT_INPUT_REQUESTED], execution_id=record.id) as asks:
        with anyio.fail_after(45):
            async with anyio.create_task_group() as tg:
                tg.start_soon(ex.start_execution, record)
                for answer in answers:
                    question = await asks.receive()
                    asked.append(question.data["prompt"])
                    mail_when_asked.append(len(inbox.messages))
                    ex.send_input(record.id, answer)
    final = await journal.store.get_execution(record.id)
    assert final is not None
    events = await journal.read(record.id, limit=10_000)
    questions = [e for e in events if e.type is EventType.CLIENT_INPUT_REQUESTED]
    assert len(questions) == len(answers), "the agent asked more or fewer questions than answered"
    return Run(final, events, asked, mail_when_asked)


def received(inbox: Inbox) -> EmailMessage:
    (mail,) = inbox.take()
    assert isinstance(mail.envelope.content, bytes)
    raw = mail.envelope.content.replace(b"\r\n", b"\n")  # SMTP's line ends, not Python's
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def issue_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("- #")]


async def test_the_summary_is_emailed_only_after_the_reviewer_approves_it(
    journal: Journal, toolbox: Toolbox, inbox: Inbox, github: FakeGitHub, tmp_path: Path
) -> None:
    run = await triage(journal, toolbox, inbox, tmp_path, ["approve"])

    assert run.record.status is ExecutionStatus.COMPLETED, run.record.error
    (question,) = run.asked
    assert run.mail_when_asked == [0]  # nothing was sent while the question was open
    assert RECIPIENT in question and "'approve'" in question
    message = received(inbox)
    body = message.get_content()
    assert message["To"] == RECIPIENT
    assert message["Subject"] == "Issue triage: acme/rockets"
    assert body.rstrip("\n") == run.output["summary"]
    assert run.output["summary"] in question  # the reviewer saw exactly what was sent
    # Grouped, newest first in each group; #5 is a bug because its full text, which the
    # list clipped and the policy read with get_issue, mentions an exception.
    assert body.split("\n\n") == [
        "Triage of acme/rockets: 4 open issues.",
        f"Bugs:\n- #5 {OPEN[5]} [perf] - {LONG_BODY[:99]}…\n"
        f"- #1 {OPEN[1]} [bug] - ZeroDivisionError in gauge.py",
        f"Features:\n- #2 {OPEN[2]} [enhancement] - It would be nice at night.",
        f"Docs:\n- #4 {OPEN[4]} [no labels] - (no description)\n",
    ]
    assert [r.path for r in github.requests if "/issues/" in r.path] == [
        "/repos/acme/rockets/issues/5"
    ]
    assert run.output["sent"] is True and run.output["reason"] is None
    assert run.output["message_id"] == str(message["Message-ID"])
    (sent,) = run.tool_results("email.send_email")  # a step sends it, logged like a tool call
    assert sent["is_error"] is False and run.output["message_id"] in sent["result"]
    assert run.record.path == ["prepare", "draft", "review", "send", "finish"]
    providers = {e.data["provider"] for e in run.events if e.type is EventType.NODE_LOOP_STARTED}
    assert providers == {"scripted (offline, no model)"}


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        (["reject"], "the reviewer did not approve the summary; nothing was sent"),
        (
            ["Group by milestone instead.", "Still not right."],
            "the reviewer asked for changes again after the redraft; nothing was sent",
        ),
    ],
    ids=["reject", "changes-twice"],
)
async def test_a_rejection_ends_the_run_without_sending_anything(
    journal: Journal,
    toolbox: Toolbox,
    inbox: Inbox,
    github: FakeGitHub,
    tmp_path: Path,
    answers: list[str],
    reason: str,
) -> None:
    run = await triage(journal, toolbox, inbox, tmp_path, answers)

    assert run.record.status is ExecutionStatus.COMPLETED, run.record.error
    assert inbox.take() == []
    assert run.output["sent"] is False and run.output["message_id"] is None
    assert run.output["reason"] == reason
    assert "send" not in run.record.path and run.record.path[-1] == "finish"
    assert run.tool_results("email.send_email") == []


async def test_requested_changes_are_drafted_again_once_and_sent_after_approval(
    journal: Journal, toolbox: Toolbox, inbox: Inbox, github: FakeGitHub, tmp_path: Path
) -> None:
    changes = "Please mention that the launch is on Friday."
    run = await triage(journal, toolbox, inbox, tmp_path, [changes, "approve"])

    assert run.record.status is ExecutionStatus.COMPLETED, run.record.error
    first, second = run.asked
    assert changes not in first
    assert f"Changes the reviewer asked for: {changes}" in second
    assert run.mail_when_asked == [0, 0]
    body = received(inbox).get_content()
    assert changes in body and all(title in body for title in OPEN.values())
    assert run.record.path == ["prepare", "draft", "review", "draft", "review", "send", "finish"]
    assert run.output["sent"] is True


async def test_label_and_limit_narrow_what_is_read_and_an_empty_result_is_said_so(
    journal: Journal, toolbox: Toolbox, inbox: Inbox, github: FakeGitHub, tmp_path: Path
) -> None:
    bugs = await triage(journal, toolbox, inbox, tmp_path / "a", ["approve"], label="bug", limit=5)
    empty = await triage(journal, toolbox, inbox, tmp_path / "b", ["reject"], repo="acme/empty")

    listings = [r.query for r in github.requests if r.path.endswith("/issues")]
    assert listings[0] == {"state": "open", "labels": "bug", "per_page": "5"}
    assert issue_lines(bugs.output["summary"]) == [
        f"- #1 {OPEN[1]} [bug] - ZeroDivisionError in gauge.py"
    ]
    assert bugs.output["summary"].startswith("Triage of acme/rockets: 1 open issue labelled bug.")
    assert OPEN[1] in received(inbox).get_content()
    assert empty.output["summary"] == "Triage of acme/empty: no open issues."
    assert empty.asked[0].startswith("Triage of acme/empty: no open issues.")


@pytest.mark.parametrize(
    ("repo", "rate_limit", "says"),
    [
        ("acme/missing", None, "repository acme/missing not found or no access"),
        ("acme/rockets", RateLimit(status=403), "GitHub rate limit reached"),
    ],
    ids=["unknown-repo", "rate-limited"],
)
async def test_a_github_error_reaches_the_model_as_a_tool_error_and_is_reported_not_sent(
    journal: Journal,
    toolbox: Toolbox,
    inbox: Inbox,
    github: FakeGitHub,
    tmp_path: Path,
    repo: str,
    rate_limit: RateLimit | None,
    says: str,
) -> None:
    github.rate_limit = rate_limit
    run = await triage(journal, toolbox, inbox, tmp_path, [], repo=repo)

    (listed,) = run.tool_results("list_issues")
    assert listed["is_error"] is True and says in listed["result"]
    assert run.record.status is ExecutionStatus.COMPLETED, run.record.error
    assert run.output["sent"] is False and run.output["summary"] is None
    assert run.output["reason"].startswith(f"could not read {repo}: {says}")
    assert run.asked == [] and inbox.take() == []
    assert run.record.path == ["prepare", "draft", "finish"]
    assert TOKEN not in str([e.data for e in run.events])


async def test_missing_smtp_settings_are_reported_after_approval_and_nothing_is_sent(
    journal: Journal, inbox: Inbox, github: FakeGitHub, tmp_path: Path
) -> None:
    env = {"PATH": os.environ["PATH"], "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": github.base_url}
    async with Toolbox({}, env=env) as unconfigured:
        run = await triage(journal, unconfigured, inbox, tmp_path, ["approve"])

    assert run.record.status is ExecutionStatus.COMPLETED, run.record.error
    (attempt,) = run.tool_results("email.send_email")
    assert attempt["is_error"] is True
    assert run.output["sent"] is False and run.output["message_id"] is None
    assert run.output["reason"].startswith("the email could not be sent: tool server 'email'")
    assert "SMTP_HOST is not set in the environment" in run.output["reason"]
    assert inbox.take() == []
