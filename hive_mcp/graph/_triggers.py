"""What each kind of entry point needs in its ``config``, checked when the agent loads.

- ``manual``: nothing; started by a person or a program (MCP, CLI, Python).
- ``webhook``: ``POST /hooks/AGENT/ENTRY_POINT`` on the HTTP server; the JSON
  body is the input. ``secret_env`` names the environment variable holding
  the HMAC secret (``X-Hub-Signature-256: sha256=HEX`` by default).
- ``timer``: ``cron`` (five fields, UTC) or ``interval_seconds`` /
  ``interval_minutes``; ``run_immediately`` fires once at start.
- ``event``: fires on ``event_types`` of other executions, optionally only
  those of ``agents`` or ``node_id``, and never on the agent's own with
  ``exclude_own``. The input is ``{"event": {...}}`` plus ``input``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hive_mcp.events import EventType
from hive_mcp.graph._spec import EntryPointSpec

__all__ = [
    "EventTrigger",
    "ManualTrigger",
    "TimerTrigger",
    "TriggerConfig",
    "WebhookTrigger",
    "missed_fire",
    "next_fire",
    "trigger_config",
    "trigger_problems",
]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input: dict[str, Any] = Field(
        default_factory=dict, description="Fixed input values added to every execution it starts."
    )


class ManualTrigger(_Config):
    """Started by hand (MCP, CLI or Python)."""


class WebhookTrigger(_Config):
    """Started by an HTTP POST; the JSON body (an object) is the input."""

    secret_env: str | None = Field(
        default=None, description="Environment variable holding the HMAC-SHA256 secret."
    )
    signature_header: str = "X-Hub-Signature-256"


class TimerTrigger(_Config):
    """Started on a schedule: a cron expression or a fixed interval."""

    cron: str | None = None
    interval_seconds: float | None = Field(default=None, gt=0)
    interval_minutes: float | None = Field(default=None, gt=0)
    run_immediately: bool = False
    catch_up: bool = False

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None and not croniter.is_valid(value):
            raise ValueError(
                f"{value!r} is not a valid cron expression; use five fields "
                "'minute hour day-of-month month day-of-week', e.g. '0 3 * * *'"
            )
        return value

    @model_validator(mode="after")
    def _one_schedule(self) -> TimerTrigger:
        given = [
            n
            for n in ("cron", "interval_seconds", "interval_minutes")
            if getattr(self, n) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "a timer needs exactly one of cron, interval_seconds or interval_minutes"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @property
    def interval(self) -> float | None:
        if self.interval_seconds is not None:
            return self.interval_seconds
        return self.interval_minutes * 60 if self.interval_minutes is not None else None


class EventTrigger(_Config):
    """Started by events of other executions (of this or other agents)."""

    event_types: list[EventType] = Field(min_length=1)
    agents: list[str] = Field(
        default_factory=list, description="Only events of these agents' executions."
    )
    node_id: str | None = Field(default=None, description="Only events of this node.")
    exclude_own: bool = Field(
        default=False, description="Ignore events of this agent's own executions."
    )


TriggerConfig = ManualTrigger | WebhookTrigger | TimerTrigger | EventTrigger
_KINDS: dict[str, type[TriggerConfig]] = {
    "manual": ManualTrigger,
    "webhook": WebhookTrigger,
    "timer": TimerTrigger,
    "event": EventTrigger,
}


def trigger_config(ep: EntryPointSpec) -> TriggerConfig:
    """The typed config of an entry point (``ValidationError`` if it does not fit)."""
    return _KINDS[ep.trigger].model_validate(ep.config)


def trigger_problems(ep: EntryPointSpec) -> list[str]:
    """Load-time problems of an entry point's trigger config, phrased as fixes."""
    try:
        trigger_config(ep)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            field = f"config.{where}" if where else "config"
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                known = ", ".join(sorted(_KINDS[ep.trigger].model_fields))
                message = f"unknown field for a {ep.trigger} trigger (known: {known})"
            problems.append(f"entry point {ep.id!r} ({ep.trigger}): {field}: {message}")
        return problems
    return []


def missed_fire(timer: TimerTrigger, last: float, now: float) -> float | None:
    """The newest fire time in ``(last, now]`` that nobody fired, if any.

    ``last`` is when the timer last started an execution (in any process).
    """
    interval = timer.interval
    if interval is not None:
        due = last + interval
        return due if due <= now else None
    assert timer.cron is not None
    start = dt.datetime.fromtimestamp(now, tz=dt.UTC)
    due = float(croniter(timer.cron, start).get_prev(float))
    return due if last < due <= now else None


def next_fire(timer: TimerTrigger, after: float) -> float:
    """When the timer fires next, strictly after ``after`` (seconds since the epoch)."""
    interval = timer.interval
    if interval is not None:
        return after + interval
    assert timer.cron is not None
    start = dt.datetime.fromtimestamp(after, tz=dt.UTC)
    return float(croniter(timer.cron, start).get_next(float))
