"""Shared fixtures; the whole suite refuses network connections beyond loopback."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from hive_mcp.store import Journal, SQLiteStore
from tests import pg
from tests.pg import PgServer


def _is_loopback(address: Any) -> bool:
    if isinstance(address, str | bytes):  # AF_UNIX paths are local
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _refuse_network() -> Iterator[None]:
    """Tests must never reach beyond loopback (and so never a real LLM provider)."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guard(address: Any) -> None:
        if not _is_loopback(address):
            raise ConnectionRefusedError(f"tests may not connect to {address!r} (loopback only)")

    def connect(self: socket.socket, address: Any) -> None:
        guard(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        guard(address)
        return real_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def journal() -> AsyncIterator[Journal]:
    store = SQLiteStore(":memory:")
    async with Journal(store) as j:
        yield j
    await store.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the session (tests/pg.py): HIVE_MCP_TEST_PG, or embedded."""
    with pg.pg_server() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database of this test's own."""
    with pg.fresh_database(pg_server) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store that several processes (or runtimes) of a test share: a SQLite file,
    or a fresh PostgreSQL database (its URL)."""
    if request.param == "sqlite":
        return str(tmp_path / "shared.db")
    url: str = request.getfixturevalue("pg_url")
    return url
