"""Email tool server: send over SMTP; list, search and read over IMAP.

All configuration comes from environment variables, so credentials never appear
in tool arguments, results or the host's logs of them:

    SMTP_HOST SMTP_PORT SMTP_SECURITY SMTP_USER SMTP_PASSWORD EMAIL_FROM
    IMAP_HOST IMAP_PORT IMAP_SECURITY IMAP_USER IMAP_PASSWORD
    EMAIL_TLS_CA_FILE   a CA bundle to trust instead of the system's (private CAs)
    EMAIL_OVERRIDE_TO   testing: every message goes to this address instead

``*_SECURITY`` is ``plain``, ``starttls`` (the default) or ``tls``. The stdlib
clients are blocking, so each call runs in a worker thread on its own connection.
"""

from __future__ import annotations

import argparse
import contextlib
import email.policy
import html
import imaplib
import os
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid, parsedate_to_datetime
from typing import Annotated, Literal, TypeVar, cast

import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field

__all__ = ["build_server", "main"]

TIMEOUT_SECONDS = 30.0
BODY_CHARS = 50_000
_PORTS = {
    "SMTP": {"plain": 25, "starttls": 587, "tls": 465},
    "IMAP": {"plain": 143, "starttls": 143, "tls": 993},
}
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_SUMMARY_FIELDS = "(UID FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE)])"
_T = TypeVar("_T")


class SendResult(BaseModel):
    message_id: str
    recipients: list[str] = Field(description="envelope recipients the server accepted")
    redirected: bool = Field(description="EMAIL_OVERRIDE_TO sent it elsewhere")


class EmailSummary(BaseModel):
    uid: int
    sender: str
    to: list[str]
    subject: str
    date: str
    seen: bool


class EmailList(BaseModel):
    folder: str
    total: int = Field(description="messages matching, of which the newest are listed")
    emails: list[EmailSummary]


class EmailContent(BaseModel):
    uid: int
    folder: str
    sender: str
    to: list[str]
    cc: list[str]
    reply_to: str | None
    subject: str
    date: str
    message_id: str | None
    body: str = Field(description="the text/plain part, or the HTML part as text")
    body_truncated: bool
    attachments: list[str] = Field(description="attachment file names; contents not fetched")


@dataclass(frozen=True)
class _Endpoint:
    """How to reach one server; the password stays in here and out of every message."""

    protocol: Literal["SMTP", "IMAP"]
    host: str
    port: int
    security: str
    user: str | None
    password: str | None = field(repr=False)
    ca_file: str | None

    @property
    def where(self) -> str:
        return f"the {self.protocol} server at {self.host}:{self.port}"

    def tls(self) -> ssl.SSLContext:
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ToolError(f"cannot load EMAIL_TLS_CA_FILE {self.ca_file}: {exc}") from None

    def scrub(self, text: str) -> str:
        return text.replace(self.password, "***") if self.password else text


def _need(env: Mapping[str, str], name: str, purpose: str) -> str:
    value = env.get(name, "")
    if not value.strip():
        raise ToolError(f"email is not configured for {purpose}: set the {name} variable")
    return value  # unstripped: a password may end in a space


def _endpoint(env: Mapping[str, str], protocol: Literal["SMTP", "IMAP"], purpose: str) -> _Endpoint:
    host = _need(env, f"{protocol}_HOST", purpose).strip()
    security = env.get(f"{protocol}_SECURITY", "").strip().lower() or "starttls"
    if security not in _PORTS[protocol]:
        raise ToolError(f"{protocol}_SECURITY must be plain, starttls or tls, not {security!r}")
    port = env.get(f"{protocol}_PORT", "").strip() or str(_PORTS[protocol][security])
    if not port.isdigit():
        raise ToolError(f"{protocol}_PORT must be a port number, not {port!r}")
    user = env.get(f"{protocol}_USER") or None
    password = env.get(f"{protocol}_PASSWORD") or None
    if protocol == "IMAP" or user:  # IMAP always logs in; SMTP only when a user is set
        user = _need(env, f"{protocol}_USER", purpose)
        password = _need(env, f"{protocol}_PASSWORD", purpose)
    ca_file = env.get("EMAIL_TLS_CA_FILE") or None
    return _Endpoint(protocol, host, int(port), security, user, password, ca_file)


@contextlib.contextmanager
def _failures(end: _Endpoint) -> Iterator[None]:
    """Turn socket, TLS and protocol errors into ToolErrors that say what to check."""
    p = end.protocol
    try:
        yield
    except ToolError:
        raise
    except ConnectionRefusedError:
        msg = f"{end.where} refused the connection: check {p}_HOST and {p}_PORT"
        raise ToolError(msg) from None
    except socket.gaierror as exc:
        raise ToolError(f"cannot resolve {p}_HOST {end.host!r}: {exc.strerror}") from None
    except TimeoutError:
        raise ToolError(f"{end.where} did not answer within {TIMEOUT_SECONDS:g} s") from None
    except ssl.SSLCertVerificationError as exc:
        msg = f"TLS certificate of {end.where} not trusted ({exc.verify_message})"
        msg += "; EMAIL_TLS_CA_FILE can name a CA bundle that trusts it"
        raise ToolError(msg) from None
    except ssl.SSLError as exc:
        msg = f"TLS with {end.where} failed ({exc.reason}): check {p}_SECURITY and {p}_PORT"
        raise ToolError(msg) from None
    except smtplib.SMTPAuthenticationError:
        raise ToolError(_auth_failed(end)) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise ToolError(f"{end.where}: {exc} (check SMTP_SECURITY and SMTP_USER)") from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = "; ".join(
            f"{a}: {c} {m.decode(errors='replace')}" for a, (c, m) in exc.recipients.items()
        )
        raise ToolError(end.scrub(f"{end.where} refused every recipient: {refused}")) from None
    except (smtplib.SMTPException, imaplib.IMAP4.error) as exc:
        raise ToolError(end.scrub(f"{end.where} failed: {exc}")) from None
    except OSError as exc:
        raise ToolError(end.scrub(f"cannot talk to {end.where}: {exc}")) from None


def _auth_failed(end: _Endpoint) -> str:
    p = end.protocol  # never the password, nor the server's reply, which may quote the login
    return f"{p} authentication failed for user {end.user!r}: check {p}_USER and {p}_PASSWORD"


async def _in_thread(end: _Endpoint, work: Callable[[], _T]) -> _T:
    with _failures(end):
        return await anyio.to_thread.run_sync(work)


# --- SMTP -------------------------------------------------------------------------------


def _address(text: str, what: str) -> str:
    if any(c in text for c in "\r\n") or "@" not in text:
        raise ToolError(f"{what} {text!r} is not an email address")
    return text.strip()


def _compose(
    env: Mapping[str, str],
    to: list[str],
    subject: str,
    body: str,
    cc: list[str],
    bcc: list[str],
    reply_to: str | None,
) -> tuple[EmailMessage, list[str], bool]:
    sender = _address(_need(env, "EMAIL_FROM", "sending"), "EMAIL_FROM")
    to, cc, bcc = ([_address(a, "recipient") for a in group] for group in (to, cc, bcc))
    if not to:
        raise ToolError("send_email needs at least one address in 'to'")
    if any(c in subject for c in "\r\n"):
        raise ToolError("the subject must be one line")
    override = env.get("EMAIL_OVERRIDE_TO", "").strip()
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    if override:  # nobody named in the arguments may receive a test message, not even in Cc
        msg["To"] = _address(override, "EMAIL_OVERRIDE_TO")
        msg["X-Hive-Redirected-From"] = ", ".join(to + cc + bcc)
        recipients = [override]
    else:
        msg["To"] = ", ".join(to)
        if cc:
            msg["Cc"] = ", ".join(cc)
        recipients = to + cc + bcc  # Bcc goes in the envelope only, never in a header
    if reply_to:
        msg["Reply-To"] = _address(reply_to, "reply_to")
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=getaddresses([sender])[0][1].rpartition("@")[2])
    msg.set_content(body)
    return msg, recipients, bool(override)


def _smtp_send(end: _Endpoint, msg: EmailMessage, recipients: list[str]) -> list[str]:
    client: smtplib.SMTP
    if end.security == "tls":
        client = smtplib.SMTP_SSL(end.host, end.port, timeout=TIMEOUT_SECONDS, context=end.tls())
    else:
        client = smtplib.SMTP(end.host, end.port, timeout=TIMEOUT_SECONDS)
    with client:
        if end.security == "starttls":
            client.starttls(context=end.tls())
        if end.user and end.password:
            client.login(end.user, end.password)
        refused = client.send_message(msg, to_addrs=recipients)
    return [r for r in recipients if r not in refused]


# --- IMAP -------------------------------------------------------------------------------


def _quote(text: str) -> bytes:
    """An IMAP quoted string; UTF-8 inside is what dovecot and most servers accept."""
    if any(c in text for c in "\r\n\0"):  # a line break would end the command early
        raise ToolError(f"search terms and folder names must be one line, not {text!r}")
    return b'"' + text.replace("\\", "\\\\").replace('"', '\\"').encode() + b'"'


@contextlib.contextmanager
def _mailbox(end: _Endpoint, folder: str) -> Iterator[imaplib.IMAP4]:
    """A logged-in IMAP connection with `folder` selected read-only (nothing marked seen)."""
    if not folder.isascii():  # IMAP would want modified UTF-7
        raise ToolError(f"folder names must be plain ASCII, not {folder!r}")
    if end.security == "tls":
        conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
            end.host, end.port, ssl_context=end.tls(), timeout=TIMEOUT_SECONDS
        )
    else:
        conn = imaplib.IMAP4(end.host, end.port, timeout=TIMEOUT_SECONDS)
    try:
        if end.security == "starttls":
            conn.starttls(ssl_context=end.tls())
        try:
            conn.login(cast(str, end.user), cast(str, end.password))
        except imaplib.IMAP4.error:
            raise ToolError(_auth_failed(end)) from None
        status, data = conn.select(_quote(folder).decode(), readonly=True)
        if status != "OK":
            raise ToolError(f"no folder {folder!r} on {end.where}: {data[0]!r}")
        yield conn
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            conn.logout()


def _search(conn: imaplib.IMAP4, criteria: list[bytes]) -> list[int]:
    if not all(c.isascii() for c in criteria):
        criteria = [b"CHARSET", b"UTF-8", *criteria]
    status, data = conn.uid("SEARCH", *(criteria or [b"ALL"]))  # type: ignore[arg-type]
    if status != "OK":
        raise ToolError(f"the IMAP server rejected the search: {data[0]!r}")
    return sorted(int(u) for u in (data[0] or b"").split())


def _fetch(conn: imaplib.IMAP4, uids: list[int], items: str) -> dict[int, tuple[bytes, bytes]]:
    """UID -> (the FETCH line's metadata, the literal), however the server splits them."""
    status, data = conn.uid("FETCH", ",".join(map(str, uids)), items)
    if status != "OK":
        raise ToolError(f"the IMAP server rejected the fetch: {data[0]!r}")
    records: list[list[bytes]] = []
    for part in data:
        if isinstance(part, tuple):
            records.append([part[0], part[1]])
        elif isinstance(part, bytes) and records:  # e.g. " FLAGS (\Seen))" after the literal
            records[-1][0] += part
    found = {}
    for meta, literal in records:
        if match := re.search(rb"UID (\d+)", meta):
            found[int(match[1])] = (meta, literal)
    return found


def _imap_date(day: date) -> bytes:
    # Not strftime: IMAP wants English month names whatever the locale.
    return f"{day.day}-{_MONTHS[day.month - 1]}-{day.year}".encode()


def _parse(raw: bytes) -> EmailMessage:
    # IMAP sends CRLF line ends; the text tools hand out should have Python's LF.
    return email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)


def _people(msg: EmailMessage, header: str) -> list[str]:
    pairs = getaddresses([str(v) for v in msg.get_all(header, [])])
    return [f"{name} <{addr}>" if name else addr for name, addr in pairs if addr or name]


def _date(msg: EmailMessage) -> str:
    try:
        return parsedate_to_datetime(str(msg["Date"])).isoformat()
    except (TypeError, ValueError):
        return str(msg.get("Date", ""))


def _summaries(end: _Endpoint, folder: str, criteria: list[bytes], limit: int) -> EmailList:
    with _mailbox(end, folder) as conn:
        uids = _search(conn, criteria)
        newest = uids[::-1][:limit]
        fetched = _fetch(conn, newest, _SUMMARY_FIELDS) if newest else {}
    emails = []
    for uid in (u for u in newest if u in fetched):
        meta, header = fetched[uid]
        msg, flags = _parse(header), re.search(rb"FLAGS \(([^)]*)\)", meta)
        emails.append(
            EmailSummary(
                uid=uid,
                sender=", ".join(_people(msg, "From")),
                to=_people(msg, "To"),
                subject=str(msg.get("Subject", "")),
                date=_date(msg),
                seen=bool(flags and b"\\seen" in flags[1].lower()),
            )
        )
    return EmailList(folder=folder, total=len(uids), emails=emails)


def _content(uid: int, folder: str, raw: bytes) -> EmailContent:
    msg = _parse(raw)
    part = msg.get_body(preferencelist=("plain", "html"))
    body = cast(str, part.get_content()) if isinstance(part, EmailMessage) else ""
    if isinstance(part, EmailMessage) and part.get_content_subtype() == "html":
        body = re.sub(r"(?i)<br\s*/?>|</(p|div|li|tr|h\d)\s*>", "\n", body)
        body = html.unescape(re.sub(r"(?is)<(script|style)\b.*?</\1\s*>|<[^>]*>", "", body))
    names = [
        p.get_filename() or f"(unnamed {p.get_content_type()})"
        for p in msg.walk()
        if p.is_attachment()
    ]
    reply_to = msg.get("Reply-To")
    return EmailContent(
        uid=uid,
        folder=folder,
        sender=", ".join(_people(msg, "From")),
        to=_people(msg, "To"),
        cc=_people(msg, "Cc"),
        reply_to=str(reply_to) if reply_to else None,
        subject=str(msg.get("Subject", "")),
        date=_date(msg),
        message_id=str(msg["Message-ID"]) if msg["Message-ID"] else None,
        body=body[:BODY_CHARS],
        body_truncated=len(body) > BODY_CHARS,
        attachments=names,
    )


def _read(end: _Endpoint, folder: str, uid: int) -> EmailContent:
    with _mailbox(end, folder) as conn:
        fetched = _fetch(conn, [uid], "(UID BODY.PEEK[])")
    if uid not in fetched:
        raise ToolError(
            f"no message with uid {uid} in folder {folder!r}; list_emails shows the uids"
        )
    return _content(uid, folder, fetched[uid][1])


Limit = Annotated[int, Field(ge=1, le=500, description="the most messages to return, newest first")]
_READ = ToolAnnotations(read_only_hint=True, open_world_hint=True)


def build_server(env: Mapping[str, str]) -> MCPServer:
    """The email tool server; `env` is read on every call, so a missing setting is a tool error."""
    server = MCPServer(
        "hive-mcp-email",
        instructions="Send email over SMTP; list, search and read a mailbox over IMAP.",
        log_level="WARNING",
    )

    @server.tool(
        annotations=ToolAnnotations(
            destructive_hint=False, idempotent_hint=False, open_world_hint=True
        )
    )
    async def send_email(
        to: list[str],
        subject: str,
        body: str,
        cc: list[str] | None = None,
        bcc: list[str] | None = None,
        reply_to: str | None = None,
    ) -> SendResult:
        """Send a plain-text email from EMAIL_FROM; bcc addresses get it without being shown."""
        end = _endpoint(env, "SMTP", "sending")
        msg, recipients, redirected = _compose(
            env, to, subject, body, cc or [], bcc or [], reply_to
        )
        accepted = await _in_thread(end, lambda: _smtp_send(end, msg, recipients))
        return SendResult(
            message_id=str(msg["Message-ID"]), recipients=accepted, redirected=redirected
        )

    @server.tool(annotations=_READ)
    async def list_emails(folder: str = "INBOX", limit: Limit = 20) -> EmailList:
        """List the newest messages in a folder: uid, sender, subject, date, seen."""
        end = _endpoint(env, "IMAP", "reading mail")
        return await _in_thread(end, lambda: _summaries(end, folder, [], limit))

    @server.tool(annotations=_READ)
    async def search_emails(
        query: Annotated[str | None, Field(description="text anywhere in headers or body")] = None,
        sender: Annotated[str | None, Field(description="part of the From header")] = None,
        subject: Annotated[str | None, Field(description="part of the subject")] = None,
        since: Annotated[date | None, Field(description="on or after this day")] = None,
        before: Annotated[date | None, Field(description="before this day")] = None,
        unseen_only: bool = False,
        folder: str = "INBOX",
        limit: Limit = 20,
    ) -> EmailList:
        """Search a folder (all given conditions must hold); newest matches first."""
        criteria: list[bytes] = []
        for key, text in (("TEXT", query), ("FROM", sender), ("SUBJECT", subject)):
            if text:
                criteria += [key.encode(), _quote(text)]
        for key, day in (("SINCE", since), ("BEFORE", before)):
            if day:
                criteria += [key.encode(), _imap_date(day)]
        criteria += [b"UNSEEN"] if unseen_only else []
        end = _endpoint(env, "IMAP", "reading mail")
        return await _in_thread(end, lambda: _summaries(end, folder, criteria, limit))

    @server.tool(annotations=_READ)
    async def read_email(uid: Annotated[int, Field(ge=1)], folder: str = "INBOX") -> EmailContent:
        """Read one message by uid: headers and text body; attachments by name only."""
        end = _endpoint(env, "IMAP", "reading mail")
        return await _in_thread(end, lambda: _read(end, folder, uid))

    return server


def main(argv: list[str]) -> int:
    """Serve the email tools over stdio; settings come from the environment only."""
    argparse.ArgumentParser(
        prog="hive-mcp tool-server email",
        description="Email tools over MCP (stdio). Settings come from SMTP_*, IMAP_* and EMAIL_* "
        "environment variables, never from arguments, which other users could see.",
    ).parse_args(argv)
    build_server(os.environ).run()
    return 0
