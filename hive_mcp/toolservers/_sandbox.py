"""Where the filesystem server may go: root folders, checked paths, bounded reads and writes.

Every path is checked twice: as written (so ``..`` cannot climb out) and after
resolving symlinks (so a link inside a root cannot lead out). Reads and writes
larger than the limit are refused, and files are replaced atomically so a
reader never sees half a write.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from mcp.server.mcpserver.exceptions import ToolError

__all__ = ["Sandbox", "glob_pattern", "walk"]


class Sandbox:
    """The allowed root folders and the size limit; every path goes through `resolve`."""

    def __init__(self, roots: Sequence[Path], max_bytes: int) -> None:
        # Keep each root as given and as its real path (a root may itself be a symlink,
        # like /tmp on macOS); relative paths resolve against the first that contains them.
        forms = [Path(os.path.abspath(r)) for r in roots] + [r.resolve() for r in roots]
        self.roots = list(dict.fromkeys(forms))
        self.max_bytes = max_bytes

    def contains(self, path: Path) -> bool:
        """Whether `path` (absolute, normalised) is one of the roots or below one."""
        return any(path.is_relative_to(root) for root in self.roots)

    def _denied(self, why: str, path: Path) -> ToolError:
        allowed = ", ".join(map(str, self.roots))
        return ToolError(f"Access denied - {why}: {path} not in {allowed}")

    def resolve(self, raw: str) -> Path:
        """The real path of `raw`, refused unless both it and its real path lie in a root."""
        if "\0" in raw:
            raise ToolError("Access denied - path contains a NUL byte")
        given = Path(raw).expanduser() if raw == "~" or raw.startswith("~/") else Path(raw)
        if not given.is_absolute():
            candidates = [Path(os.path.normpath(root / given)) for root in self.roots]
            given = next((c for c in candidates if self.contains(c)), candidates[0])
        lexical = Path(os.path.normpath(given))
        if not self.contains(lexical):
            raise self._denied("path outside allowed directories", lexical)
        try:
            real = lexical.resolve()  # follows symlinks, dangling ones too
        except RuntimeError as exc:  # a symlink loop
            raise ToolError(f"Cannot resolve {lexical}: {exc}") from exc
        if not self.contains(real):
            raise self._denied("symlink target outside allowed directories", real)
        return real

    def read_bytes(self, path: Path) -> bytes:
        """The file's bytes, refused over the size limit."""
        if not stat.S_ISREG(path.stat().st_mode):  # opening a FIFO would block forever
            raise ToolError(f"Not a regular file: {path}")
        # Read one byte past the limit rather than trust stat: the file may grow meanwhile.
        with path.open("rb") as handle:
            data = handle.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise ToolError(
                f"File too large: {path} is over the limit of {self.max_bytes} bytes"
                " (start the server with a larger --max-bytes to allow it)"
            )
        return data

    def read_text(self, path: Path) -> str:
        """The file's text (invalid UTF-8 replaced), refused over the size limit."""
        return self.read_bytes(path).decode("utf-8", errors="replace")

    def write_text(self, path: Path, text: str) -> None:
        """Replace the file's content atomically, refused over the size limit."""
        data = text.encode("utf-8")
        if len(data) > self.max_bytes:
            raise ToolError(
                f"Content too large: {len(data)} bytes is over the limit of {self.max_bytes}"
                " bytes (start the server with a larger --max-bytes to allow it)"
            )
        if not path.parent.is_dir():
            raise ToolError(f"Parent directory does not exist: {path.parent}")
        # A sibling temp file renamed over the target: readers see the old or the new
        # content, never a mix, and os.replace does not follow a symlink put there meanwhile.
        temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            if path.exists():  # keep the permissions of the file being replaced
                os.chmod(temp, path.stat().st_mode & 0o7777)
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise


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


def walk(top: Path, skip: Callable[[str], bool], below: str = "") -> Iterator[tuple[str, str]]:
    """(path, path relative to the start) of everything below `top`, depth first.

    Skipped entries are not entered, and symlinked folders are listed but never entered,
    so a walk cannot loop or leave a root.
    """
    with os.scandir(top) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    for entry in entries:
        relative = f"{below}{entry.name}"
        if skip(relative):
            continue
        yield entry.path, relative
        if entry.is_dir(follow_symlinks=False):
            yield from walk(Path(entry.path), skip, f"{relative}/")
