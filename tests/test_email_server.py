"""The email tool server over stdio, against real SMTP (aiosmtpd) and IMAP (dovecot) servers.

Every tool result and everything the server writes to stderr is checked for the
passwords: they live in the environment and must never come back out. Starting
the server process is the slow part (about 2 s), so each configuration starts
one, and one process often carries both an SMTP and an IMAP configuration.
"""

from __future__ import annotations

import imaplib
import itertools
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult

from tests.email_servers import (
    LOOPBACK,
    Dovecot,
    Inbox,
    Tls,
    dovecot,
    free_port,
    make_tls,
    only_user,
    smtp_server,
)

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parent.parent
SMTP_PASSWORD = "smtp-pw-Zq81-secret"
IMAP_PASSWORD = "imap-pw-Kx42-secret"
SECRETS = (SMTP_PASSWORD, IMAP_PASSWORD)
Env = dict[str, str]
# The first test to need dovecot may install it with apt-get, which outlasts the usual limit.
needs_dovecot = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # module scope, so that one server process can serve several tests


class Session:
    """A connected email server whose every result is checked for leaked passwords."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def call(self, tool: str, **arguments: Any) -> CallToolResult:
        result = await self.client.call_tool(tool, arguments)
        text = json.dumps([c.model_dump() for c in result.content] + [result.structured_content])
        assert not [s for s in SECRETS if s in text], f"a password leaked from {tool}: {text}"
        return result

    async def ok(self, tool: str, **arguments: Any) -> dict[str, Any]:
        result = await self.call(tool, **arguments)
        assert not result.is_error, result.content
        assert result.structured_content is not None
        return result.structured_content

    async def error(self, tool: str, **arguments: Any) -> str:
        result = await self.call(tool, **arguments)
        assert result.is_error, result.structured_content
        return str(getattr(result.content[0], "text", ""))


@asynccontextmanager
async def email_server(env: Env, stderr: Path) -> AsyncIterator[Session]:
    """`hive-mcp tool-server email` over stdio; afterwards its stderr must hold no password."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "hive_mcp", "tool-server", "email"],
        env={"PATH": os.environ["PATH"], "PYTHONWARNINGS": "error", **env},
        cwd=REPO,
    )
    with stderr.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            yield Session(client)
    logged = await anyio.Path(stderr).read_text()
    assert not [s for s in SECRETS if s in logged], logged


Start = Callable[..., AbstractAsyncContextManager[Session]]


@pytest.fixture
def start(tmp_path: Path) -> Start:
    """Opens an email server whose environment is the union of the given ones."""
    logs = itertools.count()
    return lambda *envs: email_server(
        {k: v for e in envs for k, v in e.items()}, tmp_path / f"stderr-{next(logs)}.txt"
    )


# --- the mail servers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


def smtp_env(port: int, security: str, tls: Tls | None = None, **extra: str) -> Env:
    env = {"SMTP_HOST": LOOPBACK, "SMTP_PORT": str(port), "SMTP_SECURITY": security}
    env |= {"EMAIL_TLS_CA_FILE": str(tls.ca_file)} if tls else {}
    return env | {"EMAIL_FROM": "Hive Agent <agent@hive.test>"} | extra


@pytest.fixture(scope="module")
def plain_smtp() -> Iterator[tuple[Env, Inbox]]:
    with smtp_server() as (port, inbox):
        yield smtp_env(port, "plain"), inbox


@pytest.fixture(scope="module")
def starttls_smtp(tls: Tls) -> Iterator[tuple[Env, Inbox]]:
    with smtp_server(tls_context=tls.server_context(), require_starttls=True) as (port, inbox):
        yield smtp_env(port, "starttls", tls), inbox


@pytest.fixture(scope="module")
def smtps(tls: Tls) -> Iterator[tuple[Env, Inbox]]:
    with smtp_server(ssl_context=tls.server_context()) as (port, inbox):
        yield smtp_env(port, "tls", tls), inbox


@pytest.fixture(scope="module")
def auth_smtp(tls: Tls) -> Iterator[tuple[Env, Inbox]]:
    login = only_user("agent", SMTP_PASSWORD)
    options = {"tls_context": tls.server_context(), "authenticator": login, "auth_required": True}
    with smtp_server(**options) as (port, inbox):
        yield smtp_env(port, "starttls", tls, SMTP_USER="agent"), inbox


def seed_messages() -> list[EmailMessage]:
    report = EmailMessage()
    report["From"] = "Ada Lovelace <ada@example.org>"
    report["To"] = "agent@hive.test"
    report["Subject"] = "Quarterly report"
    report["Date"] = "Mon, 07 Jul 2025 09:00:00 +0000"
    report.set_content("The numbers for Q3 are attached.")
    report.add_attachment(b"quarter,revenue\n3,42\n", "text", "csv", filename="report.csv")

    lunch = EmailMessage()
    lunch["From"] = "Bob <bob@example.net>"
    lunch["To"] = "agent@hive.test, team@hive.test"
    lunch["Subject"] = "Lunch on Friday?"
    lunch["Date"] = "Tue, 08 Jul 2025 12:30:00 +0000"
    lunch.set_content("Pizza at noon?")

    meeting = EmailMessage()  # non-ASCII headers and an HTML-only body
    meeting["From"] = "Chloé Durand <chloe@example.fr>"
    meeting["To"] = "agent@hive.test"
    meeting["Subject"] = "Réunion au café"
    meeting["Date"] = "Wed, 09 Jul 2025 08:15:00 +0200"
    meeting.set_content("<p>Rendez-vous à <b>10h</b>.</p>", subtype="html")
    return [report, lunch, meeting]


@pytest.fixture(scope="module")
def imap(tls: Tls) -> Iterator[Dovecot]:
    with dovecot("agent", IMAP_PASSWORD, tls) as server:
        conn = imaplib.IMAP4(LOOPBACK, server.port)
        conn.login(server.user, server.password)
        for message in seed_messages():  # APPEND, so dovecot files the mail as its own user
            when = imaplib.Time2Internaldate(message["Date"].datetime.astimezone(UTC))
            conn.append("INBOX", None, when, message.as_bytes())
        conn.logout()
        yield server


def imap_env(server: Dovecot, security: str, **extra: str) -> Env:
    return {
        "IMAP_HOST": LOOPBACK,
        "IMAP_PORT": str(server.tls_port if security == "tls" else server.port),
        "IMAP_SECURITY": security,
        "IMAP_USER": server.user,
        "IMAP_PASSWORD": server.password,
        "EMAIL_TLS_CA_FILE": str(server.ca_file),
    } | extra


@pytest.fixture(scope="module")
async def plain(
    plain_smtp: tuple[Env, Inbox], imap: Dovecot, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Session]:
    """One server process for the plain-text SMTP and IMAP tests."""
    stderr = tmp_path_factory.mktemp("plain") / "err"
    async with email_server(plain_smtp[0] | imap_env(imap, "plain"), stderr) as session:
        yield session


def parsed(raw: Any) -> EmailMessage:
    message = message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


# --- sending ----------------------------------------------------------------------------


@needs_dovecot
async def test_send_email_over_plain_smtp_delivers_headers_body_and_every_recipient(
    plain: Session, plain_smtp: tuple[Env, Inbox]
) -> None:
    sent = await plain.ok(
        "send_email",
        to=["Ann <ann@example.org>"],
        cc=["cat@example.org"],
        bcc=["hidden@example.org"],
        reply_to="replies@hive.test",
        subject="Status: all green",
        body="The nightly run passed.\nNothing to do.",
    )
    (received,) = plain_smtp[1].take()
    assert received.envelope.mail_from == "agent@hive.test"
    assert received.envelope.rcpt_tos == [
        "ann@example.org",
        "cat@example.org",
        "hidden@example.org",
    ]
    message = parsed(received.envelope.content)
    assert message["From"] == "Hive Agent <agent@hive.test>"
    assert message["To"] == "Ann <ann@example.org>"
    assert message["Cc"] == "cat@example.org"
    assert message["Reply-To"] == "replies@hive.test"
    assert message["Subject"] == "Status: all green"
    assert message["Bcc"] is None
    assert message["Message-ID"] == sent["message_id"]
    assert message.get_content() == "The nightly run passed.\nNothing to do.\n"
    assert sent["recipients"] == ["Ann <ann@example.org>", "cat@example.org", "hidden@example.org"]
    assert sent["redirected"] is False
    assert not received.tls


async def test_email_override_to_sends_everything_to_the_override_address(
    start: Start, plain_smtp: tuple[Env, Inbox]
) -> None:
    env, inbox = plain_smtp
    async with start(env, {"EMAIL_OVERRIDE_TO": "tester@hive.test"}) as server:
        sent = await server.ok(
            "send_email", to=["ceo@example.org"], cc=["cfo@example.org"], subject="s", body="b"
        )
    (received,) = inbox.take()
    assert received.envelope.rcpt_tos == ["tester@hive.test"]
    message = parsed(received.envelope.content)
    assert message["To"] == "tester@hive.test"
    assert message["Cc"] is None
    assert sent["redirected"] is True
    assert sent["recipients"] == ["tester@hive.test"]


async def test_send_email_logs_in_with_the_configured_user_over_starttls(
    start: Start, auth_smtp: tuple[Env, Inbox]
) -> None:
    env, inbox = auth_smtp
    async with start(env, {"SMTP_PASSWORD": SMTP_PASSWORD}) as server:
        await server.ok("send_email", to=["ann@example.org"], subject="Hi", body="signed in")
    (received,) = inbox.take()
    assert received.login == "agent"
    assert received.tls


@needs_dovecot
async def test_wrong_passwords_are_authentication_errors_that_never_show_the_password(
    start: Start, auth_smtp: tuple[Env, Inbox], imap: Dovecot
) -> None:
    wrong = {"SMTP_PASSWORD": SMTP_PASSWORD + "-wrong", "IMAP_PASSWORD": IMAP_PASSWORD + "-wrong"}
    async with start(auth_smtp[0], imap_env(imap, "plain"), wrong) as server:
        smtp_error = await server.error("send_email", to=["a@b.test"], subject="s", body="b")
        imap_error = await server.error("list_emails")
    assert (
        "SMTP authentication failed for user 'agent': check SMTP_USER and SMTP_PASSWORD"
        in smtp_error
    )
    assert (
        "IMAP authentication failed for user 'agent': check IMAP_USER and IMAP_PASSWORD"
        in imap_error
    )
    assert "wrong" not in smtp_error + imap_error
    assert auth_smtp[1].take() == []


@needs_dovecot
async def test_starttls_secures_both_sending_and_reading(
    start: Start, starttls_smtp: tuple[Env, Inbox], imap: Dovecot
) -> None:
    async with start(starttls_smtp[0], imap_env(imap, "starttls")) as server:
        await server.ok("send_email", to=["ann@example.org"], subject="Hi", body="over TLS")
        listed = await server.ok("list_emails")
    (received,) = starttls_smtp[1].take()
    assert received.tls
    assert parsed(received.envelope.content).get_content() == "over TLS\n"
    assert listed["total"] == 3


@needs_dovecot
async def test_implicit_tls_reaches_smtps_and_imaps(
    start: Start, smtps: tuple[Env, Inbox], imap: Dovecot
) -> None:
    async with start(smtps[0], imap_env(imap, "tls")) as server:
        await server.ok("send_email", to=["ann@example.org"], subject="Hi", body="SMTPS")
        listed = await server.ok("list_emails")
    (received,) = smtps[1].take()
    assert received.tls
    assert parsed(received.envelope.content)["Subject"] == "Hi"
    assert listed["total"] == 3


@needs_dovecot
async def test_refused_connections_and_untrusted_certificates_say_what_to_check(
    start: Start, imap: Dovecot
) -> None:
    untrusted_imap = imap_env(imap, "tls", EMAIL_TLS_CA_FILE="")  # the system CAs only
    async with start(smtp_env(free_port(), "plain"), untrusted_imap) as server:
        refused = await server.error("send_email", to=["a@b.test"], subject="s", body="b")
        untrusted = await server.error("list_emails")
    assert "SMTP server at 127.0.0.1" in refused
    assert "refused the connection: check SMTP_HOST and SMTP_PORT" in refused
    assert "TLS certificate of the IMAP server at 127.0.0.1" in untrusted
    assert "not trusted" in untrusted
    assert "EMAIL_TLS_CA_FILE" in untrusted


async def test_missing_configuration_is_a_tool_error_naming_the_variable_to_set(
    start: Start,
) -> None:
    async with start({"SMTP_HOST": LOOPBACK}) as server:
        no_sender = await server.error("send_email", to=["a@b.test"], subject="s", body="b")
        no_imap = await server.error("read_email", uid=1)
    assert "set the EMAIL_FROM variable" in no_sender
    assert "set the IMAP_HOST variable" in no_imap


# --- reading ----------------------------------------------------------------------------


@needs_dovecot
async def test_list_emails_lists_what_dovecot_serves_newest_first(plain: Session) -> None:
    listed = await plain.ok("list_emails")
    newest = await plain.ok("list_emails", limit=1)
    assert listed["total"] == 3
    assert [(m["uid"], m["subject"]) for m in listed["emails"]] == [
        (3, "Réunion au café"),
        (2, "Lunch on Friday?"),
        (1, "Quarterly report"),
    ]
    assert listed["emails"][1]["sender"] == "Bob <bob@example.net>"
    assert listed["emails"][1]["to"] == ["agent@hive.test", "team@hive.test"]
    assert listed["emails"][2]["date"] == "2025-07-07T09:00:00+00:00"
    assert [m["uid"] for m in newest["emails"]] == [3]
    assert newest["total"] == 3


@needs_dovecot
async def test_search_emails_finds_by_subject_sender_text_and_date(plain: Session) -> None:
    async def uids(**criteria: Any) -> list[int]:
        found = await plain.ok("search_emails", **criteria)
        return [m["uid"] for m in found["emails"]]

    assert await uids(subject="lunch") == [2]
    assert await uids(sender="ada@example.org") == [1]
    assert await uids(query="pizza") == [2]
    assert await uids(subject="café") == [3]
    assert await uids(since="2025-07-08") == [3, 2]
    assert await uids(before="2025-07-08") == [1]
    assert await uids(sender="bob", subject="report") == []


@needs_dovecot
async def test_read_email_returns_headers_text_body_and_attachment_names_without_marking_seen(
    plain: Session,
) -> None:
    report = await plain.ok("read_email", uid=1)
    meeting = await plain.ok("read_email", uid=3)
    listed = await plain.ok("list_emails")
    assert report["sender"] == "Ada Lovelace <ada@example.org>"
    assert report["to"] == ["agent@hive.test"]
    assert report["subject"] == "Quarterly report"
    assert report["body"] == "The numbers for Q3 are attached.\n"
    assert report["attachments"] == ["report.csv"]
    assert "quarter,revenue" not in json.dumps(report)
    assert meeting["sender"] == "Chloé Durand <chloe@example.fr>"
    assert meeting["body"].strip() == "Rendez-vous à 10h."
    assert [m["seen"] for m in listed["emails"]] == [False, False, False]


@needs_dovecot
async def test_unknown_uid_or_folder_is_a_tool_error(plain: Session) -> None:
    unknown_uid = await plain.error("read_email", uid=999)
    unknown_folder = await plain.error("list_emails", folder="Archive/2019")
    assert "no message with uid 999 in folder 'INBOX'" in unknown_uid
    assert "no folder 'Archive/2019'" in unknown_folder


@needs_dovecot
async def test_search_terms_with_line_breaks_are_refused_rather_than_sent_as_imap_commands(
    plain: Session,
) -> None:
    error = await plain.error("search_emails", subject='x"\r\nA1 DELETE INBOX')
    assert "must be one line" in error
    assert (await plain.ok("list_emails"))["total"] == 3
