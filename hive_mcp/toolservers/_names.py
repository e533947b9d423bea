r"""File names that are not UTF-8, as text a JSON client can read and send back.

A POSIX name is bytes. Python hands the bytes that are not UTF-8 over as lone
surrogates (``surrogateescape``), which JSON cannot carry: one such name in a listed
folder used to kill the filesystem server. So every name and path the server shows
follows one rule, and every path it is given is read by the same rule:

- A name that is valid UTF-8 is shown unchanged.
- Otherwise each byte that is not part of valid UTF-8 is shown as ``\xNN`` (two
  lowercase hex digits, ``80`` to ``ff``) and each backslash as ``\\``:
  ``b'bad\xffname.txt'`` is shown as ``bad\xffname.txt``.
- A valid name that could be read as escaped (it holds ``\\``, or ``\x`` and two hex
  digits from ``80`` to ``ff``) is escaped the same way, so it reads back as itself.
- A path given to a tool that holds ``\\`` or ``\xNN`` (``NN`` from ``80`` to ``ff``)
  is unescaped: ``\\`` is one backslash and ``\xNN`` the byte ``NN``; any other
  backslash stays as written. A path holding neither is taken as written.
"""

from __future__ import annotations

import re

from mcp.server.mcpserver.exceptions import ToolError

__all__ = ["given", "shown"]

# Read left to right, so "\\xff" is a backslash and then "xff", not an escaped byte.
_ESCAPE = re.compile(r"\\\\|\\x([89a-fA-F][0-9a-fA-F])")
_SURROGATE = re.compile("[\ud800-\udfff]")
_BYTE = re.compile("[\udc80-\udcff]")


def shown(name: str) -> str:
    """A name (or path) from the OS as text that is valid Unicode and reads back by `given`."""
    if name.isascii() and "\\" not in name:
        return name
    if _SURROGATE.search(name) is None and _ESCAPE.search(name) is None:
        return name
    escaped = name.replace("\\", "\\\\")
    escaped = _BYTE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", escaped)
    # Surrogates that stand for no byte cannot come from the OS; never let one out.
    return _SURROGATE.sub("\ufffd", escaped)


def given(path: str) -> str:
    """A path from a caller as the OS string it names (bytes not UTF-8 as surrogates)."""
    if _SURROGATE.search(path) is not None:
        raise ToolError(
            "Path holds a lone UTF-16 surrogate; write a byte that is not UTF-8 as \\xNN"
        )
    if "\\" not in path:
        return path
    return _ESCAPE.sub(
        lambda m: "\\" if m.group(1) is None else chr(0xDC00 + int(m.group(1), 16)), path
    )
