"""What the CLI refuses before it acts: arguments that are not text, answers too bad to keep.

A terminal session hands answers to its executor directly, not through the
runtime's doors, so the same checks run here first (a lone surrogate, too
big); and an argument whose bytes are not UTF-8 would otherwise fail deep in
a store lookup with a traceback.
"""

from __future__ import annotations

import argparse

from hive_mcp._values import check_value
from hive_mcp.config import Settings
from hive_mcp.errors import UsageError

__all__ = ["EXIT_INTERRUPTED", "answer_text", "check_text_arguments"]

EXIT_INTERRUPTED = 130  # the shell's code for Ctrl-C: the command stopped, nothing failed

# Arguments that name files: the bytes of a file name need not be UTF-8.
_FILE_ARGUMENTS = {("validate", "path"), ("tool-server", "args")}


def check_text_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse an argument that is not UTF-8 before anything reads or stores it.

    Python hands such bytes over as lone surrogates (U+DC80-U+DCFF, one per
    byte), which no store or JSON encoder takes.
    """
    names = _argument_names(parser, args.command)
    for dest, value in vars(args).items():
        if (args.command, dest) in _FILE_ARGUMENTS:
            continue
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and (problem := _undecodable(text)) is not None:
                raise UsageError(
                    f"{names.get(dest, dest)} is not valid UTF-8 ({problem}); pass UTF-8 text"
                )


def _argument_names(parser: argparse.ArgumentParser, command: str) -> dict[str, str]:
    """How the user wrote each argument of ``command``: '--input', or 'EXECUTION'."""
    names: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices[command]._actions:
                names[sub.dest] = sub.option_strings[-1] if sub.option_strings else sub.dest.upper()
    return names


def _undecodable(text: str) -> str | None:
    if text.isascii():
        return None
    for index, char in enumerate(text):
        if "\udc80" <= char <= "\udcff":  # os.fsdecode's stand-in for the byte
            return f"byte 0x{ord(char) - 0xDC00:02x} at character {index}"
        if "\ud800" <= char <= "\udfff":
            return f"a lone surrogate U+{ord(char):04X} at character {index}"
    return None


def answer_text(text: str, what: str, settings: Settings) -> str:
    """``text`` (an answer) if the runtime would take it; else an InputError saying why."""
    check_value(text, what, settings.max_input_bytes)
    return text
