"""Operator commands and clock ticks as the alert lifecycle stage reads them on `ems.events`.

The API appends `alert.*` commands (`ems.schemas.command.Command`, target = fingerprint) to
`ems.commands`; the command router forwards each to the `ems.events` partition of its fingerprint as
an `AlertCommand`, stamped with its position on `ems.commands` (for redelivery checks). So one agent
sees an alert's events and commands in one ordered log. `Tick` records carry the clock into each
partition, for timers of alerts that get no traffic.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from ems.schemas.command import Command
from ems.schemas.envelope import Record
from ems.schemas.event import EventBatch
from ems.schemas.limits import MAX_TIMEOUT, Count, Offset, Text, Time, Timeout, between, message

Action = Literal["ack", "unack", "shelve", "unshelve", "assign", "close", "reopen", "note"]
ACTIONS: tuple[str, ...] = Action.__args__  # type: ignore[attr-defined]


class _Args(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class NoArgs(_Args):
    """Actions that take only the actor and the comment."""


class AckArgs(_Args):
    """`ack`: optionally auto-unack after `timeout` seconds (default: the configured ack timeout)."""

    timeout: Timeout | None = None


class ShelveArgs(_Args):
    """`shelve`: until a time, or for a duration in seconds (exactly one of them)."""

    until: Time | None = None
    duration: between(1, MAX_TIMEOUT) | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ShelveArgs:
        if (self.until is None) == (self.duration is None):
            raise ValueError("give exactly one of `until` (a time) or `duration` (seconds)")
        if self.until is not None and self.until.tzinfo is None:
            raise ValueError("`until` needs a timezone (e.g. 2026-11-27T18:00:00Z)")
        return self


class AssignArgs(_Args):
    """`assign`: to a user, a team, or both (empty strings unassign)."""

    user: Text(256) | None = None
    team: Text(256) | None = None

    @model_validator(mode="after")
    def _some(self) -> AssignArgs:
        if self.user is None and self.team is None:
            raise ValueError("give `user`, `team` or both")
        return self


ARGS: dict[str, type[_Args]] = {
    "ack": AckArgs,
    "shelve": ShelveArgs,
    "assign": AssignArgs,
    **{a: NoArgs for a in ("unack", "unshelve", "close", "reopen", "note")},
}


class BadCommand(ValueError):
    """An alert command whose action or arguments are invalid (the reason says which)."""


def parse_args(action: str, args: dict[str, Any]) -> _Args:
    """Validate the arguments of `action`; BadCommand with a precise reason otherwise."""
    model = ARGS.get(action)
    if model is None:
        raise BadCommand(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "args"
        raise BadCommand(f"{action}: {where}: {message(first)}") from None


class AlertCommand(Record):
    """An `alert.*` command on its way to the lifecycle stage, with its position on `ems.commands`."""

    TYPE: ClassVar[str] = "alert_command"
    VERSION: ClassVar[int] = 1

    command: Command
    fingerprint: Text(128, 1)
    source_partition: Count
    source_offset: Offset

    @property
    def action(self) -> str:
        return self.command.name.split(".", 1)[1]

    @property
    def position(self) -> tuple[str, int]:
        """(`c<partition>`, offset) on ems.commands: a separate sequence from the raw topic's."""
        return f"c{self.source_partition}", self.source_offset

    @property
    def key(self) -> str:
        return self.fingerprint


class Tick(Record):
    """The clock, for one partition of `ems.events`: timers due at or before `occurred_at` fire."""

    TYPE: ClassVar[str] = "tick"
    VERSION: ClassVar[int] = 1

    partition: Count

    @property
    def key(self) -> str:
        return f"partition-{self.partition}"


# Every record type `ems.events` carries, in the order `decode` tries them as the default.
EVENTS_TOPIC_RECORDS: tuple[type[Record], ...] = (EventBatch, AlertCommand, Tick)
