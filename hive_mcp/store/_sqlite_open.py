"""Opening the SQLite store: notice damage, and say exactly what is wrong.

A store that is opened over damage loses data silently: SQLite takes a
``store.db`` truncated to 0 bytes for a new empty database (and resets the
write-ahead log that still held the newest writes), and a corrupt page goes
unseen until a read happens to touch it. So opening runs these steps, each
refusing with a ``StoreError`` that names the problem and what to do, and
leaving the files as they were:

1. The files, before SQLite sees them. No ``store.db``: a new store is built
   under a temporary name and linked into place whole, so hive-mcp itself never
   leaves an empty ``store.db`` behind, and an empty one always means lost data.
   That is refused, as is a missing ``store.db`` beside a ``-wal`` file that
   holds data, and a file that does not start with the SQLite header.
2. Permissions: hive-mcp must write ``store.db`` and create ``-wal`` and ``-shm``
   beside it; a read-only mount or file is reported as such (the data is not at
   fault, so the message never advises moving the store aside).
3. A read-only connection reads the schema version and runs ``PRAGMA
   quick_check`` on stores up to ``QUICK_CHECK_MAX_BYTES`` (about 30 ms from the
   page cache, 0.6 s from a cold disk here: benchmarks/store_open.py). A larger
   store gets the cheap truncation check at once and its ``quick_check`` in a
   worker thread (``BackgroundCheck``), which logs loudly if it finds damage.
   Read-only, because closing the last read-write connection folds the WAL
   into a file we may be about to refuse.
4. The read-write connection (``mode=rw``: SQLite never creates a file here).

Any SQLite or OS error on the way is translated by ``explain``: corrupt, full
disk, read-only, locked, I/O error.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
import sqlite3
import struct
import threading
from pathlib import Path

from hive_mcp.errors import StoreError

__all__ = ["QUICK_CHECK_MAX_BYTES", "BackgroundCheck", "explain", "open_connection"]

log = logging.getLogger("hive_mcp.store")

QUICK_CHECK_MAX_BYTES = 32 * 2**20  # store + WAL checked at open; larger ones in the background
LOW_SPACE_BYTES = 1 << 20  # an I/O error with less free space than this is a full disk
HEADER = b"SQLite format 3\x00"
RECOVER_DOC = "docs/operations.md, 'A damaged store'"


def open_connection(
    path: Path, *, schema: str, version: int, busy_timeout_ms: int
) -> tuple[sqlite3.Connection, bool]:
    """Open (or create) the store at ``path``; return the connection and whether the
    store was too large to check here (the caller starts a ``BackgroundCheck``)."""
    _make_folder(path.parent, path)
    if not path.exists():
        _refuse_a_stale_log(path)
        _create(path, schema, version)
        checked = True
    else:
        _check_file(path)
        _check_writable(path)
        checked = _inspect(path, version)
    try:
        # timeout=0: on the loop we never wait for a lock; the store waits off the loop.
        conn = sqlite3.connect(
            _uri(path, "rw"), uri=True, check_same_thread=False, isolation_level=None, timeout=0
        )
    except sqlite3.Error as exc:
        raise explain(exc, path) from exc
    try:
        # Another process may be writing: wait for the lock while opening.
        conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        stored = conn.execute("PRAGMA user_version").fetchone()[0]
        _check_version(path, stored, version)  # again: a newer hive-mcp may have upgraded it
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # the store checkpoints off the loop
        conn.executescript(schema)  # IF NOT EXISTS: older stores gain tables
        if stored != version:  # setting it always takes the write lock
            conn.execute(f"PRAGMA user_version={version}")
        conn.execute("PRAGMA busy_timeout=0")
    except BaseException as exc:
        conn.close()
        if isinstance(exc, sqlite3.Error):
            raise explain(exc, path) from exc
        raise
    return conn, checked


def explain(exc: sqlite3.Error | OSError, path: Path) -> StoreError:
    """The ``StoreError`` that says what ``exc``, met while opening ``path``, means."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF
    said = " ".join(str(exc).split())
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return corrupt(path, said)
    if primary == sqlite3.SQLITE_FULL or getattr(exc, "errno", None) == errno.ENOSPC:
        return _full(path)
    readonly = _why_readonly(path)
    if readonly is not None or primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM):
        return _readonly(path, readonly or said)
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreError(
            f"the store at {path} stayed locked by another process ({said}): try again; if it "
            f"goes on, look for a stuck process holding it (fuser {path})"
        )
    if primary == sqlite3.SQLITE_IOERR or isinstance(exc, OSError):
        if _free_bytes(path) < LOW_SPACE_BYTES:
            return _full(path)
        return StoreError(
            f"the disk reported an error using the store at {path} ({said}): check the disk "
            "and the system log; this says nothing against the store's data, so keep the file"
        )
    return StoreError(
        f"cannot open the store at {path}: {said}. Point HIVE_MCP_HOME at another folder"
    )


def corrupt(path: Path, detail: str) -> StoreError:
    """The error for a store whose content SQLite found damaged."""
    return StoreError(
        f"the store at {path} is corrupt ({detail}); hive-mcp will not use it and has left it "
        f"as it is. The data may be recoverable with `sqlite3 {path} .recover` (stop every "
        f"hive-mcp on it first; steps in {RECOVER_DOC}); meanwhile point HIVE_MCP_HOME at "
        "another folder to start a new store"
    )


class BackgroundCheck:
    """``PRAGMA quick_check`` of a large store in a worker thread, on a read-only
    connection of its own; damage is logged as an error. ``stop`` interrupts it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problem: str | None = None  # set when the check found damage
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="hive-mcp store check", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with self._lock:
                if self._stopping:
                    return
                self._conn = sqlite3.connect(
                    _uri(self.path, "ro"), uri=True, check_same_thread=False
                )
            try:
                rows = self._conn.execute("PRAGMA quick_check").fetchall()
                problem = None if rows == [("ok",)] else _first_problem(rows)
            except sqlite3.Error as exc:
                stopped = self._stopping and "interrupt" in str(exc)
                problem = None if stopped else " ".join(str(exc).split())
            if problem is not None:
                self.problem = problem
                log.error("%s", corrupt(self.path, problem))
        except sqlite3.Error as exc:  # could not even open it: the next open will say why
            log.warning("could not check the store at %s: %s", self.path, exc)
        finally:
            with self._lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
            self.done.set()

    def stop(self) -> None:
        """Interrupt the check and wait for its thread (at most a moment)."""
        with self._lock:
            self._stopping = True
        while self._thread.is_alive():
            with self._lock:
                if self._conn is not None:
                    # A statement not yet running is not interrupted: repeat until it is.
                    self._conn.interrupt()
            self._thread.join(0.05)


# -- the steps -----------------------------------------------------------


def _make_folder(folder: Path, path: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise StoreError(
            f"cannot open the store at {path}: {exc.filename or folder} is a file, not a "
            "folder. Point HIVE_MCP_HOME at a folder"
        ) from exc
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise _readonly(path, f"cannot create the folder {folder} ({exc.strerror})") from exc
        raise explain(exc, path) from exc
    if not folder.is_dir():
        raise StoreError(
            f"cannot open the store at {path}: {folder} is not a folder. Point HIVE_MCP_HOME "
            "at a folder"
        )


def _refuse_a_stale_log(path: Path) -> None:
    """No ``store.db``, yet a ``-wal`` with data: the store was moved or deleted without
    its log. A new store beside it would take the stale log's pages for its own."""
    wal = _size(_wal(path))
    if wal:
        raise StoreError(
            f"the store file {path} is missing, but its write-ahead log {_wal(path)} holds "
            f"{wal:,} bytes: store.db was moved or deleted without it. Put store.db back beside "
            "it, or point HIVE_MCP_HOME at another folder; to start over on purpose, remove "
            f"{_wal(path).name} and {path.name}-shm"
        )


def _create(path: Path, schema: str, version: int) -> None:
    """Build a new store under a temporary name, then link it into place whole."""
    temp = path.with_name(f".{path.name}.new-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        try:
            conn = sqlite3.connect(temp, isolation_level=None)
            try:
                # Rollback-journal mode first, so the tables land in the main file and
                # nothing is left in a WAL when the connection closes; then WAL.
                conn.executescript(schema)
                conn.execute(f"PRAGMA user_version={version}")
                conn.execute("PRAGMA journal_mode=WAL")
            finally:
                conn.close()
            _fsync(temp, folder=False)
        except (OSError, sqlite3.Error) as exc:
            raise explain(exc, path) from exc
        try:
            os.link(temp, path)  # fails if another process created it first: use theirs
        except FileExistsError:
            pass
        except OSError:  # no hard links here (some network or FUSE filesystems)
            if not path.exists():
                os.replace(temp, path)
        _fsync(path.parent, folder=True)
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            temp.with_name(temp.name + suffix).unlink(missing_ok=True)


def _check_file(path: Path) -> None:
    """Refuse an empty ``store.db`` and one that is not SQLite at all."""
    if path.is_dir():
        raise StoreError(
            f"{path} is a folder, not a store file: check that HIVE_MCP_HOME names the folder "
            "of your store, or point it at another folder"
        )
    size = _size(path)
    if size == 0:
        wal = _size(_wal(path))
        kept = (
            f" Its write-ahead log {_wal(path).name} still holds {wal:,} bytes of the newest "
            "writes: keep a copy of it."
            if wal
            else ""
        )
        raise StoreError(
            f"the store at {path} is empty (0 bytes), but hive-mcp only ever puts a whole "
            "store in place: it held data that is gone (a failed copy or restore, a truncating "
            "command, a disk fault). hive-mcp will not start a new store over it: restore "
            "store.db from a backup, or point HIVE_MCP_HOME at another folder; to start over "
            f"on purpose, delete the empty file.{kept}"
        )
    try:
        with path.open("rb") as file:
            head = file.read(len(HEADER))
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise StoreError(
                f"the store at {path} cannot be read: {exc.strerror} for this user (uid "
                f"{_uid()}). Fix its permissions (hive-mcp reads and writes it); the store's "
                "data is not at fault"
            ) from exc
        raise explain(exc, path) from exc
    if head != HEADER:
        raise StoreError(
            f"{path} is not a SQLite database (it does not start with the SQLite header), so "
            "not a hive-mcp store: check that HIVE_MCP_HOME names the folder of your store, or "
            "point it at another folder. hive-mcp has left the file as it is"
        )


def _check_writable(path: Path) -> None:
    why = _why_readonly(path)
    if why is not None:
        raise _readonly(path, why)


def _inspect(path: Path, version: int) -> bool:
    """Read the schema version and check integrity; True when fully checked."""
    wal = _size(_wal(path))
    if not wal:
        _check_length(path)
    try:
        conn = sqlite3.connect(_uri(path, "ro"), uri=True)
    except sqlite3.Error as exc:
        raise explain(exc, path) from exc
    try:
        _check_version(path, conn.execute("PRAGMA user_version").fetchone()[0], version)
        if _size(path) + wal > QUICK_CHECK_MAX_BYTES:
            return False
        rows = conn.execute("PRAGMA quick_check").fetchall()
        if rows != [("ok",)]:
            raise corrupt(path, _first_problem(rows))
        return True
    except sqlite3.Error as exc:
        raise explain(exc, path) from exc
    finally:
        conn.close()  # read-only: it never folds the WAL into the file


def _check_length(path: Path) -> None:
    """A store shorter than its header says was truncated (with no WAL that could hold
    the rest). Costs one read of 100 bytes, so it runs on stores of any size."""
    with path.open("rb") as file:
        head = file.read(100)
    if len(head) < 100:
        raise corrupt(path, f"only {len(head)} bytes, less than a SQLite header")
    page_size = struct.unpack(">H", head[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    changes, pages = struct.unpack(">II", head[24:32])
    valid_for = struct.unpack(">I", head[92:96])[0]
    size = _size(path)
    if pages and changes == valid_for and pages * page_size > size:
        raise corrupt(
            path, f"the file has {size:,} bytes, its header counts {pages * page_size:,}: cut short"
        )


def _check_version(path: Path, stored: int, version: int) -> None:
    if stored > version:
        raise StoreError(
            f"the store at {path} has schema version {stored}, newer than this hive-mcp "
            f"understands ({version}). Upgrade hive-mcp, or point HIVE_MCP_HOME at another folder"
        )


# -- what is wrong -------------------------------------------------------


def _why_readonly(path: Path) -> str | None:
    """Why hive-mcp cannot write the store (or create its -wal and -shm), or None."""
    folder = path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return f"the filesystem holding {folder} is mounted read-only"
    except (OSError, AttributeError):  # AttributeError: no statvfs (Windows)
        pass
    for target in (path, folder):
        if target.exists() and not os.access(target, os.W_OK):
            who = (
                "even for root (an immutable attribute? see lsattr)"
                if _uid() == 0
                else f"by this user (uid {_uid()})"
            )
            return f"{target} is not writable {who}"
    return None


def _readonly(path: Path, why: str) -> StoreError:
    return StoreError(
        f"the store at {path} cannot be written: {why}. hive-mcp needs to write {path.name} and "
        f"create {path.name}-wal and {path.name}-shm beside it: fix the permissions or the mount "
        "(the store's data is not at fault, keep it), or point HIVE_MCP_HOME at a writable folder"
    )


def _full(path: Path) -> StoreError:
    return StoreError(
        f"the disk holding the store at {path} is full ({_free_bytes(path):,} bytes free): free "
        "some space and start again (the store's data is not at fault, keep it)"
    )


def _first_problem(rows: list[tuple[str]]) -> str:
    lines = [line for row in rows for line in str(row[0]).splitlines()]
    problems = [line for line in lines if not line.startswith("***")]
    first = problems[0] if problems else "quick_check failed"
    more = f", and {len(problems) - 1} more problems" if len(problems) > 1 else ""
    return f"quick_check: {first}{more}"


# -- small helpers -------------------------------------------------------


def _uri(path: Path, mode: str) -> str:
    return f"{path.absolute().as_uri()}?mode={mode}"  # as_uri escapes ? # % and spaces


def _wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _free_bytes(path: Path) -> int:
    try:
        return shutil.disk_usage(path.parent).free
    except OSError:
        return LOW_SPACE_BYTES  # unknown: do not claim the disk is full


def _fsync(path: Path, *, folder: bool) -> None:
    """Make ``path`` durable. A folder that cannot be synced (Windows, some network
    filesystems) is let be: the new store is in place, only its name may be lost in a
    power cut, and then the next start builds it again."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        if folder:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not folder:
            raise
    finally:
        os.close(fd)


def _uid() -> int:
    return os.geteuid() if hasattr(os, "geteuid") else -1
