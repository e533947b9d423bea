"""A filesystem MCP server confined to root folders, a drop-in for the official one.

Tool names, argument names and result texts follow ``@modelcontextprotocol/server-filesystem``
so an agent file can name either server; ``tests/test_filesystem_server.py`` runs the same
behavioural tests against both. Run it as::

    hive-mcp tool-server filesystem ROOT [ROOT...] [--max-bytes N]

Paths, size limits and atomic writes are the ``Sandbox``'s (``_sandbox.py``), names
that are not UTF-8 ``_names.py``'s; this module is the tools.
"""

from __future__ import annotations

import argparse
import base64
import difflib
import functools
import io
import json
import math
import stat
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Literal, ParamSpec, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import (
    AudioContent,
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    TextContent,
    ToolAnnotations,
)
from pydantic import BaseModel, ConfigDict, Field

from hive_mcp import __version__
from hive_mcp._values import clean_text
from hive_mcp.toolservers._names import shown
from hive_mcp.toolservers._sandbox import CONFINES, Entry, Sandbox, glob_pattern

__all__ = ["DEFAULT_MAX_BYTES", "Sandbox", "build_server", "main"]

DEFAULT_MAX_BYTES = 1024 * 1024
P = ParamSpec("P")
R = TypeVar("R")


class TextResult(BaseModel):
    """The structured result of every tool, as the official server declares it."""

    content: str


class Edit(BaseModel):
    """One replacement of ``edit_file``; the wire names are the official server's."""

    model_config = ConfigDict(populate_by_name=True)
    old_text: str = Field(alias="oldText", description="Text to search for - must match exactly")
    new_text: str = Field(alias="newText", description="Text to replace with")


Result = Annotated[CallToolResult, TextResult]


def _result(text: str) -> CallToolResult:
    text = clean_text(text)  # names are shown escaped already; this is the last guard
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content={"content": text}
    )


def _os_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn OSError into ToolError: the SDK hides other exceptions' messages from the client.

    Every message is made valid Unicode on the way out: a lone surrogate in an answer
    would make the server fail to write it, and then die.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ToolError as exc:
            raise ToolError(clean_text(str(exc))) from exc
        except OSError as exc:
            where = f": {shown(str(exc.filename))}" if exc.filename else ""
            raise ToolError(clean_text(f"{exc.strerror or exc}{where}")) from exc

    return wrapper


_MEDIA = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".svg": "image/svg+xml",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
    ".flac": "audio/flac",
}


def _size(n: int) -> str:
    """A size as the official server prints it: 512 B, 1.50 KB, 2.00 MB."""
    units = ["B", "KB", "MB", "GB", "TB"]
    if n <= 0:
        return "0 B"
    i = min(int(math.log(n, 1024)), len(units) - 1)
    return f"{n} B" if i == 0 else f"{n / 1024**i:.2f} {units[i]}"


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").removesuffix("\n").split("\n")


def _apply_edits(text: str, edits: list[Edit]) -> str:
    """Apply edits in order: an exact match first, else lines equal up to indentation."""
    for edit in edits:
        old, new = edit.old_text.replace("\r\n", "\n"), edit.new_text.replace("\r\n", "\n")
        if old in text:
            text = text.replace(old, new, 1)
            continue
        lines, old_lines = text.split("\n"), old.split("\n")
        wanted = [line.strip() for line in old_lines]
        for start in range(len(lines) - len(old_lines) + 1):
            if [line.strip() for line in lines[start : start + len(old_lines)]] != wanted:
                continue
            # Indent the new text as the file indents the matched lines, not as the
            # model happened to quote them.
            found = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
            quoted = old_lines[0][: len(old_lines[0]) - len(old_lines[0].lstrip())]
            new_lines = [found + ln.removeprefix(quoted) if ln else ln for ln in new.split("\n")]
            lines[start : start + len(old_lines)] = new_lines
            text = "\n".join(lines)
            break
        else:
            raise ToolError(f"Could not find exact match for edit:\n{edit.old_text}")
    return text


def _diff(before: str, after: str, name: str) -> str:
    """A git-style diff fenced for Markdown, laid out as the official server's."""
    old, new = io.StringIO(before).readlines(), io.StringIO(after).readlines()
    hunks = list(difflib.unified_diff(old, new, n=4))[2:]  # our own ---/+++ lines below
    body = "".join(h if h.endswith("\n") else h + "\n\\ No newline at end of file\n" for h in hunks)
    diff = f"Index: {name}\n{'=' * 67}\n--- {name}\toriginal\n+++ {name}\tmodified\n{body}"
    fence = "```"
    while fence in diff:
        fence += "`"
    return f"{fence}diff\n{diff}{fence}\n\n"


def _js_time(seconds: float) -> str:
    return time.strftime("%a %b %d %Y %H:%M:%S GMT%z (%Z)", time.localtime(seconds))


def build_server(box: Sandbox) -> MCPServer:
    """The MCP server with the official filesystem server's tools, confined to `box`."""
    server = MCPServer("hive-mcp-filesystem", version=__version__, log_level="WARNING")
    reads = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    def writes(idempotent: bool, destructive: bool = True) -> ToolAnnotations:
        return ToolAnnotations(
            read_only_hint=False,
            idempotent_hint=idempotent,
            destructive_hint=destructive,
            open_world_hint=False,
        )

    def tool(hints: ToolAnnotations) -> Callable[[Callable[P, R]], Callable[P, R]]:
        def register(fn: Callable[P, R]) -> Callable[P, R]:
            server.tool(annotations=hints)(_os_errors(fn))
            return fn

        return register

    # Parameter names are camelCase where the official server's arguments are.
    @tool(reads)
    def read_text_file(
        path: str,
        head: Annotated[int | None, Field(ge=0, description="Only the first N lines")] = None,
        tail: Annotated[int | None, Field(ge=0, description="Only the last N lines")] = None,
    ) -> Result:
        """Read a text file (UTF-8) inside the allowed directories; head/tail give N lines."""
        if head and tail:
            raise ToolError("Cannot specify both head and tail parameters simultaneously")
        text, _ = box.read_text(path)
        if head:
            text = "\n".join(_lines(text)[:head])
        elif tail:
            text = "\n".join(_lines(text)[-tail:])
        return _result(text)

    server.tool("read_file", description="Deprecated: use read_text_file.", annotations=reads)(
        _os_errors(read_text_file)
    )

    @tool(reads)
    def read_multiple_files(paths: Annotated[list[str], Field(min_length=1)]) -> Result:
        """Read several text files; one failure does not stop the others."""
        parts = []
        for raw in paths:
            try:
                parts.append(f"{raw}:\n{box.read_text(raw)[0]}\n")
            except (ToolError, OSError) as exc:
                parts.append(f"{raw}: Error - {exc}")
        return _result("\n---\n".join(parts))

    @tool(writes(idempotent=True))
    def write_file(path: str, content: str) -> Result:
        """Create or overwrite a text file inside the allowed directories."""
        box.write_text(path, content)
        return _result(f"Successfully wrote to {path}")

    @tool(writes(idempotent=False))
    def edit_file(path: str, edits: list[Edit], dryRun: bool = False) -> Result:
        """Replace text in a file (oldText -> newText, in order); returns a git-style diff."""
        raw, real = box.read_text(path)
        # Match on LF only, but keep the file's own line endings when writing it back.
        crlf, before = "\r\n" in raw, raw.replace("\r\n", "\n")
        after = _apply_edits(before, edits)
        if not dryRun:
            box.write_text(path, after.replace("\n", "\r\n") if crlf else after)
        return _result(_diff(before, after, shown(str(real))))

    @tool(writes(idempotent=True, destructive=False))
    def create_directory(path: str) -> Result:
        """Create a folder and any missing parents; an existing folder is fine."""
        box.make_folders(path)
        return _result(f"Successfully created directory {path}")

    @tool(reads)
    def list_directory(path: str) -> Result:
        """List a folder's entries, each prefixed with [DIR] or [FILE]."""
        _, entries = box.listing(path)
        return _result("\n".join(f"{'[DIR]' if e.is_dir else '[FILE]'} {e.name}" for e in entries))

    @tool(reads)
    def list_directory_with_sizes(path: str, sortBy: Literal["name", "size"] = "name") -> Result:
        """List a folder's entries with [DIR]/[FILE], file sizes and totals; by name or size."""
        rows = [(e.name, e.is_dir, e.size) for e in box.listing(path)[1]]
        rows.sort(key=(lambda r: -r[2]) if sortBy == "size" else (lambda r: r[0].casefold()))
        lines = [
            f"{'[DIR]' if d else '[FILE]'} {n:<30} {'' if d else f'{_size(b):>10}'}"
            for n, d, b in rows
        ]
        files = [b for _, d, b in rows if not d]
        lines += [
            "",
            f"Total: {len(files)} files, {len(rows) - len(files)} directories",
            f"Combined size: {_size(sum(files))}",
        ]
        return _result("\n".join(lines))

    @tool(reads)
    def directory_tree(path: str, excludePatterns: Sequence[str] = ()) -> Result:
        """The folder's tree as JSON: name, type (file/directory), children for folders."""
        globs = [
            [glob_pattern(p)]
            if "*" in p
            else [glob_pattern(p), glob_pattern(f"**/{p}"), glob_pattern(f"**/{p}/**")]
            for p in excludePatterns
        ]

        def tree(entries: list[Entry]) -> list[dict[str, object]]:
            return [
                {"name": e.name, "type": "directory", "children": tree(e.children or [])}
                if e.is_dir
                else {"name": e.name, "type": "file"}
                for e in entries
            ]

        def skip(relative: str) -> bool:
            return any(g.fullmatch(relative) for group in globs for g in group)

        _, entries = box.listing(path, depth=None, skip=skip)
        return _result(json.dumps(tree(entries), indent=2, ensure_ascii=False))

    @tool(reads)
    def read_media_file(path: str) -> CallToolResult:
        """A file as base64: image or audio content by its extension, else an embedded resource."""
        content, real = box.read_bytes(path)
        mime = _MEDIA.get(real.suffix.lower(), "application/octet-stream")
        data = base64.b64encode(content).decode("ascii")
        item: ImageContent | AudioContent | EmbeddedResource
        if mime.startswith("image/"):
            item = ImageContent(type="image", data=data, mime_type=mime)
        elif mime.startswith("audio/"):
            item = AudioContent(type="audio", data=data, mime_type=mime)
        else:
            blob = BlobResourceContents(uri=real.as_uri(), mime_type=mime, blob=data)
            item = EmbeddedResource(type="resource", resource=blob)
        structured = {"content": [item.model_dump(by_alias=True, exclude_none=True)]}
        return CallToolResult(content=[item], structured_content=structured)

    @tool(writes(idempotent=False))
    def move_file(source: str, destination: str) -> Result:
        """Move or rename a file or folder; fails if the destination exists."""
        box.move(source, destination)
        return _result(f"Successfully moved {source} to {destination}")

    @tool(reads)
    def search_files(
        path: str,
        pattern: Annotated[str, Field(description="Glob on relative paths: *.py, **/*.py")],
        excludePatterns: Sequence[str] = (),
    ) -> Result:
        """Recursively find entries whose path relative to `path` matches a glob."""
        wanted, excluded = glob_pattern(pattern), [glob_pattern(p) for p in excludePatterns]

        def skip(relative: str) -> bool:
            return any(x.fullmatch(relative) for x in excluded)

        def flat(entries: list[Entry]) -> list[Entry]:
            return [f for e in entries for f in [e, *flat(e.children or [])]]

        def inside(entry: Entry) -> bool:  # a symlink is found only when it stays inside
            try:
                return not entry.is_link or bool(box.real(entry.path))
            except ToolError:
                return False

        _, entries = box.listing(path, depth=None, skip=skip)
        found = [
            shown(str(e.path)) for e in flat(entries) if wanted.fullmatch(e.relative) and inside(e)
        ]
        return _result("\n".join(found) if found else "No matches found")

    @tool(reads)
    def get_file_info(path: str) -> Result:
        """Size, times, type and permissions of a file or folder."""
        st = box.stat(path)
        # Keys and value spellings as the official server prints them (JavaScript's).
        info = {
            "size": st.st_size,
            "created": _js_time(getattr(st, "st_birthtime", st.st_ctime)),
            "modified": _js_time(st.st_mtime),
            "accessed": _js_time(st.st_atime),
            "isDirectory": str(stat.S_ISDIR(st.st_mode)).lower(),
            "isFile": str(stat.S_ISREG(st.st_mode)).lower(),
            "permissions": f"{st.st_mode & 0o777:o}",
        }
        return _result("\n".join(f"{key}: {value}" for key, value in info.items()))

    @tool(reads)
    def list_allowed_directories() -> Result:
        """The folders this server may read and write (and everything below them)."""
        return _result("Allowed directories:\n" + "\n".join(shown(str(r)) for r in box.roots))

    return server


def main(argv: list[str]) -> int:
    """Serve the allowed folders over stdio until the client hangs up."""
    parser = argparse.ArgumentParser(
        prog="hive-mcp tool-server filesystem", description="MCP filesystem tools, confined."
    )
    parser.add_argument("roots", nargs="+", type=Path, help="folders the tools may use")
    parser.add_argument(
        "--max-bytes",
        type=int,
        default=DEFAULT_MAX_BYTES,
        help=f"largest file read or written, in bytes (default {DEFAULT_MAX_BYTES})",
    )
    args = parser.parse_args(argv)
    if not CONFINES:
        # Confinement needs openat-style calls; without them the server would be unsafe.
        print("error: the filesystem server needs a POSIX system (Linux, macOS)", file=sys.stderr)
        return 1
    if args.max_bytes < 0:
        parser.error("--max-bytes must not be negative")
    roots = [root for root in args.roots if root.is_dir()]
    for skipped in [root for root in args.roots if root not in roots]:
        print(f"warning: {skipped} is not a folder; skipped", file=sys.stderr)
    if not roots:
        print("error: none of the given roots is an existing folder", file=sys.stderr)
        return 1
    build_server(Sandbox(roots, args.max_bytes)).run()
    return 0
