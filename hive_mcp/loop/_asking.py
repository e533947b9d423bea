"""A tool that asks a person mid-call (a tool server's elicitation), durably.

While a tool call runs, ``current_ask()`` gives the tool a way to ask: the
execution parks ``waiting_for_input`` (kind ``tool_server``) until someone
answers, and the answer is saved with the loop's state before the tool gets it.

After a restart the tool call in flight had no recorded result, so it runs
again (a tool server's connection does not survive the process) and the server
asks again. Its questions are matched to the answers saved for that call in
order: the n-th question, when its text is the same as before, gets the n-th
saved answer without asking anyone again; a question that differs (and all
after it) is asked anew. The saved answers of a call are dropped once its
result is recorded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import BaseModel

if TYPE_CHECKING:
    from hive_mcp.loop._config import LoopIO

__all__ = ["Ask", "SavedAnswer", "ToolQuestions", "current_ask"]

Ask = Callable[[str, dict[str, Any]], Awaitable[str]]
"""``ask(prompt, details)``: the answer text of a person."""

_ASK: ContextVar[Ask | None] = ContextVar("hive_mcp_tool_ask", default=None)


def current_ask() -> Ask | None:
    """How the tool running in this task may ask a person (``None`` outside a loop's call)."""
    return _ASK.get()


class SavedAnswer(BaseModel):
    """A question a tool asked during a call, and the answer it got."""

    prompt: str
    text: str


class ToolQuestions:
    """Questions asked by one loop's tool calls; one at a time per node."""

    def __init__(
        self,
        io: LoopIO,
        answers: dict[str, list[SavedAnswer]],
        save: Callable[[], Awaitable[None]],
    ) -> None:
        self._io = io
        self._answers = answers  # the loop state's own dict: saved with it
        self._save = save
        self._lock = anyio.Lock()  # the broker answers one waiter of a node at a time

    @contextmanager
    def during(self, call_id: str) -> Iterator[None]:
        """Let the tool call ``call_id`` ask while the block runs."""
        asked = 0

        async def ask(prompt: str, details: dict[str, Any]) -> str:
            nonlocal asked
            async with self._lock:
                saved = self._answers.setdefault(call_id, [])
                index, asked = asked, asked + 1
                if index < len(saved):
                    if saved[index].prompt == prompt:
                        return saved[index].text
                    del saved[index:]
                text = await self._io.request_input("tool_server", prompt, [], details)
                saved.append(SavedAnswer(prompt=prompt, text=text))
                await self._save()  # stored (and "delivered") before the tool hears it
                return text

        token = _ASK.set(ask)
        try:
            yield
        finally:
            _ASK.reset(token)

    def forget(self, call_id: str) -> None:
        """The call's result is recorded: its answers are not needed again."""
        self._answers.pop(call_id, None)
