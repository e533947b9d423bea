"""The one exception hierarchy of hive-mcp.

Every error a user can cause carries a message that says what to change.

    HiveError
    ├── UsageError                 the caller got something wrong; fix the input
    │   ├── AgentFileError         an agent file does not load or validate
    │   ├── UnknownAgentError      no agent by that name
    │   ├── UnknownExecutionError  no execution with that id
    │   └── InputError             execution input does not fit the agent
    ├── RunError                   something failed while running
    │   ├── NodeError              a node failed (after its retries)
    │   ├── ExpressionError        an edge condition could not be evaluated
    │   ├── GraphRunError          the graph cannot go on (no edge, max_steps, ...)
    │   ├── StoreError             the store cannot be opened, read or written
    │   │   └── StoreWriteError    some executions' parts of a write were not stored
    │   ├── ToolServerError        a tool server failed to start or answer
    │   │   └── ToolCallRefused    it answered with an error
    │   └── LLMError               a model call failed (``retryable`` says if trying again may help)
    │       ├── RateLimitError
    │       ├── LLMTimeoutError
    │       ├── AuthenticationError
    │       ├── ContextWindowExceededError
    │       ├── ProviderError      anything else the provider reported
    │       └── ReplayDivergedError  a replayed conversation left its recording
    └── ControlFlow                not failures: signals that change the flow
"""

from __future__ import annotations

__all__ = [
    "AgentFileError",
    "AuthenticationError",
    "ContextWindowExceededError",
    "ControlFlow",
    "ExpressionError",
    "GraphRunError",
    "HiveError",
    "InputError",
    "LLMError",
    "LLMTimeoutError",
    "NodeError",
    "ProviderError",
    "RateLimitError",
    "ReplayDivergedError",
    "RunError",
    "StoreError",
    "StoreWriteError",
    "ToolCallRefused",
    "ToolServerError",
    "UnknownAgentError",
    "UnknownExecutionError",
    "UsageError",
]


class HiveError(Exception):
    """Base of every error hive-mcp raises on purpose."""


class UsageError(HiveError):
    """The caller gave something wrong: the message says what to change."""


class AgentFileError(UsageError):
    """An agent file does not load or does not validate.

    ``problems`` holds one line per problem, each naming the file and the node
    or edge concerned, so all of them can be fixed in one pass.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{source}: {len(problems)} {noun}:\n{lines}")


class UnknownAgentError(UsageError):
    """No agent is loaded under the requested name."""


class UnknownExecutionError(UsageError):
    """No execution with the requested id exists in the store."""


class InputError(UsageError):
    """The input given to an execution does not fit the agent."""


class RunError(HiveError):
    """Something failed while running an execution."""


class NodeError(RunError):
    """A node failed; raised by node code or reported after its retries."""


class ExpressionError(RunError):
    """An edge condition failed to parse or to evaluate."""


class GraphRunError(RunError):
    """The graph cannot continue: no edge fires, max_steps reached, a write conflict."""


class StoreError(RunError):
    """The store cannot be opened, read or written."""


class LeaseLostError(StoreError):
    """A write was refused: another runtime took over the execution's lease."""


class StoreWriteError(StoreError):
    """A write stored nothing for the executions in ``failed`` (id -> reason).

    Each execution's part of a write is all or nothing; the parts of other
    executions in the same write may have been stored.
    """

    def __init__(self, message: str, failed: dict[str, str]) -> None:
        super().__init__(message)
        self.failed = failed


class ToolServerError(RunError):
    """A tool server failed to start, answer in time, or answer at all; the model is told."""


class ToolCallRefused(ToolServerError):
    """The tool server answered, with an error: asking again the same way will not help."""


class LLMError(RunError):
    """A model call failed; ``retryable`` says whether trying again may help."""

    retryable = False


class RateLimitError(LLMError):
    """The provider refused the call for now (HTTP 429); retried with backoff."""

    retryable = True


class LLMTimeoutError(LLMError):
    """The provider did not answer in time; retried with backoff."""

    retryable = True


class AuthenticationError(LLMError):
    """The provider refused the credentials: set the API key in the environment."""


class ContextWindowExceededError(LLMError):
    """The conversation no longer fits the model's context window."""


class ProviderError(LLMError):
    """Any other provider failure; ``retryable`` is set per case (5xx: yes)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ReplayDivergedError(LLMError):
    """A replayed conversation asked for something its cassette did not record."""


class ControlFlow(HiveError):
    """Base of signals that change the flow of a run rather than fail it."""
