"""Importing litellm safely: on first use only, with nothing written to stdout.

litellm is heavy (seconds to import) and optional. Its logging is rerouted to
stderr before first use: stdout carries the MCP stdio transport, and litellm's
own handler writes everything below WARNING there.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Any, TextIO

from hive_mcp.errors import ProviderError

__all__ = ["INSTALL_HINT", "import_litellm"]

# "litellm" covers the modules that log under their own __name__; the others are
# the loggers litellm's _logging.py gives its stdout-routing handler.
_LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm")
INSTALL_HINT = "pip install 'hive-mcp[litellm]'"

_logging_routed = False


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when each record is emitted.

    Binding the stream once would keep writing to a replaced stream (a test
    runner's capture, ``contextlib.redirect_stderr``) after it is closed.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _log_level(name: str) -> int:
    level = logging.getLevelName(name.upper())
    return level if isinstance(level, int) else logging.WARNING


def _route_litellm_logging(level: int) -> None:
    """Give litellm's loggers one handler, ours, writing to stderr at ``level``.

    litellm 1.106.2 (``litellm/_logging.py``) attaches a ``LevelRoutingStreamHandler``
    to its loggers that writes every record below WARNING to stdout, and leaves
    the loggers' levels unset, so a host that lowers the root level would get
    INFO lines on stdout. Its handler's filters (secret redaction, correlation
    ids) and formatter move to ours. Safe to call before litellm is imported
    (the loggers exist by name) and again after, to take over its handlers.
    """
    for name in _LITELLM_LOGGERS:
        logger = logging.getLogger(name)
        ours = next((h for h in logger.handlers if isinstance(h, _StderrHandler)), None)
        if ours is None:
            ours = _StderrHandler()
            logger.addHandler(ours)
        for theirs in [h for h in logger.handlers if h is not ours]:
            for log_filter in theirs.filters:
                ours.addFilter(log_filter)
            if theirs.formatter is not None:
                ours.setFormatter(theirs.formatter)
            logger.removeHandler(theirs)
        logger.setLevel(level)
        # The root logger's handlers belong to the host and may write to stdout.
        logger.propagate = False


def import_litellm() -> Any:
    """litellm, imported and configured on first use; ``ProviderError`` if it is missing."""
    global _logging_routed
    loaded = sys.modules.get("litellm")
    if loaded is not None and _logging_routed:
        return loaded
    # Without this litellm fetches a price list over the network while importing,
    # which stalls the first call (and fails offline); hive-mcp uses no prices.
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    wanted = os.environ.get("LITELLM_LOG") or "WARNING"
    _route_litellm_logging(_log_level(wanted))
    # litellm reads LITELLM_LOG once, at import, as the level of the handler it
    # attaches, and logs while still importing: pinned to WARNING, that handler
    # lets nothing through to stdout before ours takes over. The person's own
    # choice (DEBUG, say) then applies to our stderr handler.
    os.environ["LITELLM_LOG"] = "WARNING"
    try:
        litellm: Any = importlib.import_module("litellm")
    except ImportError as exc:
        raise ProviderError(
            f"the litellm provider needs the litellm package: {INSTALL_HINT} ({exc})"
        ) from exc
    finally:
        os.environ["LITELLM_LOG"] = wanted
    # Otherwise it prints "Give Feedback / Get Help" banners to stdout on errors.
    litellm.suppress_debug_info = True
    _route_litellm_logging(_log_level(wanted))
    _logging_routed = True
    return litellm
