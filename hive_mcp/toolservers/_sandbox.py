"""Where the filesystem server may go: root folders, and every path walked inside them.

A path is first checked as written: made absolute (a relative one against the roots),
``..`` taken away lexically, and refused unless it lies in a root. Then it is walked,
never opened by name: from a descriptor of its root, each folder is opened relative to
the one before with ``O_NOFOLLOW | O_DIRECTORY``, and the last name is used (opened,
stat-ed, created, renamed onto) relative to its folder without following a symlink.
A symlink met on the way is read, its target joined to what is left of the path, and
the walk starts again from a root with that, checked again. So a link inside a root
may lead elsewhere inside a root but never out, and a link swapped in between a check
and a use cannot lead out either: the check and the use are one step. What is opened
is checked again with fstat (a regular file to read, a folder to list).

Reads and writes larger than the limit are refused, and files are replaced atomically
(a temp file renamed over the old one) so a reader never sees half a write.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from mcp.server.mcpserver.exceptions import ToolError

from hive_mcp.toolservers._names import given, shown

__all__ = ["CONFINES", "Entry", "Sandbox", "glob_pattern"]

T = TypeVar("T")
Use = Callable[[int, str, Path], T]
"""What is done with the last name of a path: (its folder's descriptor, the name, its
real path). It never follows a symlink: it raises ``_Link`` where it would."""

_MAX_LINKS = 40  # symlinks followed for one path, as Linux's own limit
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)

CONFINES = (
    hasattr(os, "O_NOFOLLOW")
    and hasattr(os, "O_DIRECTORY")
    and {os.open, os.stat, os.mkdir, os.rename, os.readlink, os.unlink} <= os.supports_dir_fd
    and os.scandir in os.supports_fd
)
"""Whether this platform can walk paths by descriptor (POSIX can; Windows cannot)."""


class _Link(Exception):
    """The last name of a path (or a folder on the way) is a symlink, to be followed."""


@dataclass(frozen=True)
class _Redirect:
    path: Path


@dataclass(frozen=True)
class Entry:
    """One entry of a listed folder. Names are as shown (see ``_names``)."""

    name: str
    relative: str
    """Shown, '/'-separated, relative to the listed folder."""
    path: Path
    """The real path, as the OS names it."""
    is_dir: bool
    """A folder; a symlink to one is not (it is listed, never entered)."""
    is_link: bool
    size: int
    """Of the entry itself: a symlink's own size, never its target's."""
    children: list[Entry] | None
    """The folder's entries when it was entered, else None."""


class Sandbox:
    """The allowed root folders and the size limit; every path is walked inside them."""

    def __init__(self, roots: Sequence[Path], max_bytes: int) -> None:
        # Each root as given and as its real path (a root may itself be a symlink, like
        # /tmp on macOS); the roots are trusted, links and all. Relative paths resolve
        # against the first root.
        self._real: dict[Path, Path] = {}
        for root in roots:
            real = root.resolve()
            self._real.setdefault(Path(os.path.abspath(root)), real)
        for real in list(self._real.values()):
            self._real.setdefault(real, real)
        self.roots = list(self._real)
        self.max_bytes = max_bytes

    # -- paths ---------------------------------------------------------------------

    def _denied(self, why: str, path: Path) -> ToolError:
        allowed = ", ".join(shown(str(root)) for root in self.roots)
        return ToolError(f"Access denied - {why}: {shown(str(path))} not in {allowed}")

    def _lexical(self, raw: str) -> Path:
        """`raw` made absolute and normalised, refused unless it lies in a root."""
        if "\0" in raw:
            raise ToolError("Access denied - path contains a NUL byte")
        raw = given(raw)
        path = Path(raw).expanduser() if raw == "~" or raw.startswith("~/") else Path(raw)
        if not path.is_absolute():
            candidates = [Path(os.path.normpath(root / path)) for root in self.roots]
            path = next((c for c in candidates if self._root_of(c)), candidates[0])
        lexical = Path(os.path.normpath(path))
        if self._root_of(lexical) is None:
            raise self._denied("path outside allowed directories", lexical)
        return lexical

    def _root_of(self, path: Path) -> Path | None:
        return next((root for root in self.roots if path.is_relative_to(root)), None)

    def _at(self, raw: str | Path, use: Use[T], *, make_folders: bool = False) -> T:
        """Walk to `raw` and `use` its last name there; symlinks are followed by hand."""
        path = raw if isinstance(raw, Path) else self._lexical(raw)
        for _ in range(_MAX_LINKS + 1):
            done = self._walk(path, use, make_folders)
            if not isinstance(done, _Redirect):
                return done
            path = done.path
        raise ToolError(f"Too many levels of symbolic links: {shown(str(raw))}")

    def _walk(self, path: Path, use: Use[T], make_folders: bool) -> T | _Redirect:
        root = self._root_of(path)
        if root is None:  # only a symlink's target gets here unchecked
            raise self._denied("symlink target outside allowed directories", path)
        parts = path.relative_to(root).parts
        real = self._real[root]
        folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for i, part in enumerate(parts[:-1]):
                try:
                    child = _open_folder(folder, part, make_folders)
                except _Link:
                    return _Redirect(_follow(folder, part, real, parts[i + 1 :]))
                except OSError as exc:
                    raise _error(exc, real / part) from exc
                os.close(folder)
                folder, real = child, real / part
            name = parts[-1] if parts else "."
            target = real / name if parts else real
            try:
                return use(folder, name, target)
            except _Link:
                return _Redirect(_follow(folder, name, real, ()))
            except OSError as exc:
                raise _error(exc, target) from exc
        finally:
            os.close(folder)

    def real(self, raw: str | Path) -> Path:
        """The real path `raw` names (it need not exist), refused outside the roots."""

        def use(folder: int, name: str, real: Path) -> Path:
            try:
                found = os.stat(name, dir_fd=folder, follow_symlinks=False)
            except FileNotFoundError:
                return real
            if stat.S_ISLNK(found.st_mode):
                raise _Link
            return real

        return self._at(raw, use)

    # -- the uses ------------------------------------------------------------------

    def stat(self, raw: str) -> os.stat_result:
        """The stat of what `raw` names (symlinks inside the roots followed)."""

        def use(folder: int, name: str, real: Path) -> os.stat_result:
            found = os.stat(name, dir_fd=folder, follow_symlinks=False)
            if stat.S_ISLNK(found.st_mode):
                raise _Link
            return found

        return self._at(raw, use)

    def read_bytes(self, raw: str) -> tuple[bytes, Path]:
        """The file's bytes and real path, refused over the size limit."""

        def use(folder: int, name: str, real: Path) -> tuple[bytes, Path]:
            # O_NONBLOCK: opening a FIFO must not block forever (fstat refuses it next).
            fd = _open(folder, name, os.O_RDONLY | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as handle:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise ToolError(f"Not a regular file: {shown(str(real))}")
                # Read one byte past the limit rather than trust stat: it may grow meanwhile.
                data = handle.read(self.max_bytes + 1)
            if len(data) > self.max_bytes:
                raise ToolError(
                    f"File too large: {shown(str(real))} is over the limit of "
                    f"{self.max_bytes} bytes (start the server with a larger --max-bytes "
                    "to allow it)"
                )
            return data, real

        return self._at(raw, use)

    def read_text(self, raw: str) -> tuple[str, Path]:
        """The file's text (invalid UTF-8 replaced) and real path, refused over the limit."""
        data, real = self.read_bytes(raw)
        return data.decode("utf-8", errors="replace"), real

    def write_text(self, raw: str, text: str) -> Path:
        """Replace the file's content atomically, refused over the size limit."""
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            raise ToolError(
                "Content holds a lone UTF-16 surrogate; send valid Unicode text"
            ) from None
        if len(data) > self.max_bytes:
            raise ToolError(
                f"Content too large: {len(data)} bytes is over the limit of {self.max_bytes}"
                " bytes (start the server with a larger --max-bytes to allow it)"
            )

        def use(folder: int, name: str, real: Path) -> Path:
            try:
                old: os.stat_result | None = os.stat(name, dir_fd=folder, follow_symlinks=False)
            except FileNotFoundError:
                old = None
            if old is not None and stat.S_ISLNK(old.st_mode):
                raise _Link
            if name == "." or (old is not None and stat.S_ISDIR(old.st_mode)):
                raise ToolError(f"Is a directory: {shown(str(real))}")
            # A temp file in the same folder renamed over the name: readers see the old or
            # the new content, never a mix, and rename replaces a symlink put there
            # meanwhile instead of following it.
            temp = f".hive-mcp-{secrets.token_hex(8)}.tmp"
            fd = _open(folder, temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    if old is not None:  # keep the permissions of the file being replaced
                        os.fchmod(fd, old.st_mode & 0o7777)
                os.replace(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
            except BaseException:
                with suppress(OSError):
                    os.unlink(temp, dir_fd=folder)
                raise
            return real

        return self._at(raw, use)

    def make_folders(self, raw: str) -> Path:
        """Create the folder and any missing parents; an existing folder is fine."""

        def use(folder: int, name: str, real: Path) -> Path:
            try:
                os.mkdir(name, dir_fd=folder)
            except FileExistsError:
                found = os.stat(name, dir_fd=folder, follow_symlinks=False)
                if stat.S_ISLNK(found.st_mode):
                    raise _Link from None
                if not stat.S_ISDIR(found.st_mode):
                    raise
            return real

        return self._at(raw, use, make_folders=True)

    def move(self, source: str, destination: str) -> None:
        """Rename `source` to `destination`, refused when the destination exists."""

        def from_source(src_folder: int, src_name: str, src_real: Path) -> None:
            if stat.S_ISLNK(os.stat(src_name, dir_fd=src_folder, follow_symlinks=False).st_mode):
                raise _Link

            def to_destination(folder: int, name: str, real: Path) -> None:
                try:
                    found = os.stat(name, dir_fd=folder, follow_symlinks=False)
                except FileNotFoundError:
                    found = None
                if found is not None and stat.S_ISLNK(found.st_mode):
                    raise _Link
                if found is not None:
                    raise ToolError(f"Destination already exists: {shown(str(real))}")
                # Check-then-rename leaves a tiny race in which another file of that name
                # is replaced; the stdlib has no rename-without-replace. It stays inside.
                os.rename(src_name, name, src_dir_fd=src_folder, dst_dir_fd=folder)

            self._at(destination, to_destination)

        self._at(source, from_source)

    def listing(
        self, raw: str, *, depth: int | None = 1, skip: Callable[[str], bool] = lambda _: False
    ) -> tuple[Path, list[Entry]]:
        """The folder's real path and its entries sorted by name, `depth` levels down
        (None: all). Entries whose shown relative path `skip` accepts are not listed or
        entered; symlinked folders are listed, never entered."""

        def use(folder: int, name: str, real: Path) -> tuple[Path, list[Entry]]:
            fd = _open(folder, name, os.O_RDONLY | os.O_DIRECTORY)
            try:
                return real, _entries(fd, real, "", depth, skip)
            finally:
                os.close(fd)

        return self._at(raw, use)


def _open(folder: int, name: str, flags: int, mode: int = 0o777) -> int:
    """Open `name` in `folder` without following a symlink (``_Link`` if it is one)."""
    try:
        return os.open(name, flags | _NOFOLLOW, mode, dir_fd=folder)
    except OSError as exc:
        # Linux says ELOOP for a symlink under O_NOFOLLOW, FreeBSD EMLINK; O_DIRECTORY
        # may say ENOTDIR first.
        if exc.errno in (errno.ELOOP, errno.EMLINK, errno.ENOTDIR) and _is_link(folder, name):
            raise _Link from None
        raise


def _open_folder(folder: int, name: str, make: bool) -> int:
    try:
        return _open(folder, name, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        if not make:
            raise
    with suppress(FileExistsError):
        os.mkdir(name, dir_fd=folder)
    return _open(folder, name, os.O_RDONLY | os.O_DIRECTORY)


def _is_link(folder: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _follow(folder: int, name: str, real: Path, rest: Sequence[str]) -> Path:
    """The path a symlink leads to, with the rest of the walk joined to it.

    The target is taken lexically (``..`` removed against the folder's real path): it
    is checked and walked from a root again, so this can only be stricter than the OS.
    """
    try:
        target = os.readlink(name, dir_fd=folder)
    except OSError as exc:  # no longer a link: it was swapped meanwhile
        raise _error(exc, real / name) from exc
    return Path(os.path.normpath(Path(real, target).joinpath(*rest)))


def _error(exc: OSError, where: Path) -> ToolError:
    return ToolError(f"{exc.strerror or exc}: {shown(str(where))}")


def _entries(
    folder: int, real: Path, below: str, depth: int | None, skip: Callable[[str], bool]
) -> list[Entry]:
    with os.scandir(folder) as scan:
        names = sorted(entry.name for entry in scan)
    found = []
    for name in names:
        relative = shown(below + name)
        if skip(relative):
            continue
        try:
            st = os.stat(name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:  # gone since the scan
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        children = None
        if is_dir and (depth is None or depth > 1):
            children = []
            with suppress(_Link, OSError):  # swapped for a link or gone meanwhile: not entered
                fd = _open(folder, name, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    deeper = None if depth is None else depth - 1
                    children = _entries(fd, real / name, f"{below}{name}/", deeper, skip)
                finally:
                    os.close(fd)
        found.append(
            Entry(
                name=shown(name),
                relative=relative,
                path=real / name,
                is_dir=is_dir,
                is_link=stat.S_ISLNK(st.st_mode),
                size=st.st_size,
                children=children,
            )
        )
    return found


def glob_pattern(pattern: str) -> re.Pattern[str]:
    """A glob over '/'-separated relative paths: `*` stays in one segment, `**` spans any."""
    out, i = [], 0
    while i < len(pattern):
        char, close = pattern[i], pattern.find("]", i + 2)
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 2
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 1
        elif char == "[" and close != -1:
            body = pattern[i + 1 : close]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = close
        else:
            out.append({"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char)))
        i += 1
    return re.compile("".join(out))
