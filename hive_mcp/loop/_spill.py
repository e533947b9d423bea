"""Tool results too large for the context go to files; the model gets a preview.

Files live in the execution's data folder under ``spill/``; the ``load_data``
tool reads them back a page at a time, and only from there.
"""

from __future__ import annotations

import re
from pathlib import Path

from hive_mcp.loop._tools import ToolError

__all__ = ["PREVIEW_CHARS", "load_data", "spill"]

PREVIEW_CHARS = 1_000


def spill(data_dir: Path, call_id: str, content: str, limit: int) -> str:
    """Return ``content`` if it fits ``limit``; else save it and return a preview with a pointer."""
    if len(content) <= limit:
        return content
    folder = data_dir / "spill"
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", call_id) + ".txt"
    (folder / name).write_text(content, encoding="utf-8")
    return (
        f"{content[:PREVIEW_CHARS]}\n...\n[The full result ({len(content)} characters) was "
        f"saved as {name!r}. Call load_data(name={name!r}, offset=..., limit=...) to read more.]"
    )


def load_data(data_dir: Path, name: str, offset: int = 0, limit: int = 4_000) -> str:
    """Read part of a spilled result; names outside the spill folder are refused."""
    folder = (data_dir / "spill").resolve()
    target = (folder / name).resolve()
    if target.parent != folder:
        raise ToolError(
            f"load_data reads only saved results by name, like 'call_1.txt'; not {name!r}"
        )
    if not target.is_file():
        saved = sorted(p.name for p in folder.glob("*.txt")) if folder.is_dir() else []
        raise ToolError(f"no saved result {name!r}; saved results: {saved or 'none'}")
    if offset < 0 or limit < 1:
        raise ToolError("offset must be >= 0 and limit >= 1")
    text = target.read_text(encoding="utf-8")
    chunk = text[offset : offset + limit]
    end = offset + len(chunk)
    more = f" {len(text) - end} more characters after offset {end}." if end < len(text) else ""
    return f"[{name}: characters {offset}-{end} of {len(text)}.{more}]\n{chunk}"
