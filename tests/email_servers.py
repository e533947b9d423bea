"""Real mail servers on loopback for the email tool server's tests.

SMTP is aiosmtpd (a Python dev dependency). IMAP is Debian's dovecot, installed
with apt-get when missing and run as a private instance: its own config, its own
ports, its own folder, stopped when the tests end.
"""

from __future__ import annotations

import ipaddress
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support import free_port

LOOPBACK = "127.0.0.1"


# --- TLS --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    """A private CA and a certificate it signed for 127.0.0.1, as PEM files."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_tls(folder: Path) -> Tls:
    """A CA plus a leaf, rather than one self-signed leaf, so that strict verification passes."""
    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def builder(subject: str, public: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(_name(subject))
            .issuer_name(_name("hive-mcp test CA"))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
        )

    signs_certificates = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    ca = (
        builder("hive-mcp test CA", ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(signs_certificates, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        builder(LOOPBACK, key.public_key())
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(LOOPBACK)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    tls = Tls(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    tls.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    tls.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return tls


# --- SMTP -------------------------------------------------------------------------------


@dataclass
class Received:
    envelope: Envelope
    tls: bool
    login: str | None


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it receives (before it answers 250)."""

    messages: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        login = session.auth_data if session.authenticated else None  # set by only_user
        tls = server.transport is not None and server.transport.get_extra_info("ssl_object")
        self.messages.append(Received(envelope, bool(tls), login))
        return "250 OK"

    def take(self) -> list[Received]:
        """What arrived since the last take (a server may serve several tests)."""
        taken, self.messages = self.messages, []
        return taken


def only_user(login: str, password: str) -> Any:
    """An aiosmtpd authenticator that accepts one login and password."""

    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data == (login.encode(), password.encode())
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    return authenticate


@contextmanager
def smtp_server(**options: Any) -> Iterator[tuple[int, Inbox]]:
    """aiosmtpd on 127.0.0.1; `options` go to its Controller (ssl_context, tls_context, ...)."""
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox, hostname=LOOPBACK, port=port, server_hostname="smtp.test", **options
    )
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


# --- IMAP (dovecot) ---------------------------------------------------------------------

INSTALL = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "dovecot-imapd"]


def dovecot_binary() -> str:
    """The dovecot executable, installed with apt-get first when it is missing."""
    found = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError(
            "the IMAP tests need Debian's dovecot: run `apt-get install -y dovecot-imapd` as root"
        )
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(INSTALL, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:  # most likely no package lists yet, or stale ones
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
        done = subprocess.run(INSTALL, env=env, capture_output=True, text=True, check=False)
    found = shutil.which("dovecot", path="/usr/sbin:/usr/bin")
    if found:
        return found
    output = done.stdout + done.stderr
    raise RuntimeError(f"`{' '.join(INSTALL)}` failed; its output ends:\n{output[-2000:]}")


@dataclass(frozen=True)
class Dovecot:
    port: int  # IMAP, STARTTLS offered
    tls_port: int  # IMAPS
    user: str
    password: str
    ca_file: Path


def _accounts() -> tuple[str, str, int, int]:
    """(internal user, login user, mail uid, mail gid) for this process's privileges."""
    if os.geteuid() == 0:
        # dovecot refuses to run login processes or mail access as root; the Debian
        # package creates dovecot and dovenull, and base-passwd has had `mail` forever.
        mail = pwd.getpwnam("mail")
        return "dovecot", "dovenull", mail.pw_uid, mail.pw_gid
    me = pwd.getpwuid(os.geteuid())
    return me.pw_name, me.pw_name, me.pw_uid, me.pw_gid


def dovecot_config(root: Path, tls: Tls, port: int, tls_port: int) -> str:
    internal, login, _, _ = _accounts()
    return f"""\
protocols = imap
listen = {LOOPBACK}
base_dir = {root}/run
state_dir = {root}/state
log_path = /dev/stderr
ssl = yes
ssl_cert = <{tls.cert_file}
ssl_key = <{tls.key_file}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = {root}/passwd
}}
# No delay for logins after a failed one from the same IP (the auth penalty):
# the tests fail a login on purpose, and every test comes from 127.0.0.1.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port}
    ssl = yes
  }}
}}
"""


def _wait_for_greeting(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"dovecot exited ({proc.returncode}):\n{log.read_text()}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=5) as s:
                if s.recv(64).startswith(b"* OK"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"dovecot did not greet on port {port} in 20 s:\n{log.read_text()}")
        time.sleep(0.05)  # bounded polling: an external server starting up


@contextmanager
def dovecot(user: str, password: str, tls: Tls) -> Iterator[Dovecot]:
    """A private dovecot serving one user's empty Maildir over IMAP and IMAPS."""
    binary = dovecot_binary()
    # Not pytest's tmp_path: dovecot's unprivileged processes must reach these files,
    # and pytest's folders are private to this user.
    root = Path(tempfile.mkdtemp(prefix="hive-dovecot-"))
    try:
        root.chmod(0o755)
        _, _, uid, gid = _accounts()
        home = root / "home"
        home.mkdir()
        os.chown(home, uid, gid)
        passwd = root / "passwd"  # read by dovecot's auth process, which is not root
        passwd.write_text(f"{user}:{{PLAIN}}{password}:{uid}:{gid}::{home}::\n")
        passwd.chmod(0o644)
        port, tls_port = free_port(), free_port()
        config = root / "dovecot.conf"
        config.write_text(dovecot_config(root, tls, port, tls_port))
        log = root / "dovecot.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [binary, "-F", "-c", str(config)], stdout=out, stderr=subprocess.STDOUT
            )
        try:
            _wait_for_greeting(port, proc, log)
            yield Dovecot(port, tls_port, user, password, tls.ca_file)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)
