"""Silences and maintenance windows on `ems.suppressions`: command arguments, snapshots, `SuppressionBatch`.

The API appends `silence.create` / `silence.expire` and `window.create` / `window.update` /
`window.cancel` commands (`ems.schemas.command.Command`, target = the silence or window id) to
`ems.commands`, validating their args with the models here and the noise core first (`.rule()`: a
bad rule is a 422 naming the field). The suppression stage (agents/suppressions_worker.py) validates
them again, applies them (agents/suppressions.py) and publishes each input batch's changes to the
single partition of `ems.suppressions` as one `SuppressionBatch`: every change carries the whole
snapshot after it; the batch carries the command positions it includes, so the stage restarts from
its own output alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from ems.noise.errors import RuleError
from ems.noise.matchers import Matcher, MatcherError
from ems.noise.schedule import OneOff, Recurring, Schedule
from ems.noise.silences import Silence
from ems.noise.windows import MaintenanceWindow, Scope
from ems.schemas.envelope import Record
from ems.schemas.limits import TIME_MAX, TIME_MIN, Name, Offset, Positive, Text, message
from ems.schemas.observation import Tenant

When = Annotated[AwareDatetime, Field(ge=TIME_MIN, lt=TIME_MAX)]
SilenceId = Annotated[str, Field(min_length=5, max_length=64, pattern=r"^sil_[A-Za-z0-9_-]+$")]
WindowId = Annotated[str, Field(min_length=4, max_length=64, pattern=r"^mw_[A-Za-z0-9_-]+$")]
Values = Annotated[list[Text(256, 1)], Field(max_length=256)]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class MatcherArgs(_Model):
    """One matcher: `name` (an alert field, `attributes.X` or `asset.X`), `op`, `value`."""

    name: Text(256, 1)
    op: Literal["=", "!=", "=~", "!~"] = "="
    value: Text(1024) = ""


Matchers = Annotated[list[MatcherArgs], Field(max_length=64)]


def matchers_of(args: list[MatcherArgs], field: str = "matchers") -> tuple[Matcher, ...]:
    """The core's matchers; RuleError naming `<field>.<index>` at the first bad one."""
    out = []
    for i, m in enumerate(args):
        try:
            out.append(Matcher(m.name, m.op, m.value))
        except MatcherError as exc:
            raise RuleError(f"{field}.{i}", f"matcher {exc.matcher!r}: {exc.reason}") from None
    return tuple(out)


class SilenceArgs(_Model):
    """`silence.create`: mute the alerts all `matchers` match from `starts_at` until `ends_at`."""

    matchers: Matchers = Field(min_length=1)
    starts_at: When
    ends_at: When
    comment: Text(4096, 1)
    tenant: Tenant | None = None

    def rule(self, silence_id: str, created_by: str, expired_at: datetime | None = None) -> Silence:
        """The core's silence; RuleError naming the field when it cannot be used."""
        return Silence(
            silence_id,
            matchers_of(self.matchers),
            self.starts_at,
            self.ends_at,
            created_by,
            self.comment,
            expired_at,
        )


class ScopeArgs(_Model):
    """Which alerts a window covers: every part given must match (any of its values)."""

    asset_ids: Values = Field(default_factory=list)
    asset_tags: Values = Field(default_factory=list)
    business_services: Values = Field(default_factory=list)
    sites: Values = Field(default_factory=list)
    environments: Values = Field(default_factory=list)
    events: Values = Field(default_factory=list)
    sources: Values = Field(default_factory=list)
    matchers: Matchers = Field(default_factory=list)

    def rule(self) -> Scope:
        parts = {
            name: frozenset(getattr(self, name)) for name in type(self).model_fields if name != "matchers"
        }
        return Scope(**parts, matchers=matchers_of(self.matchers, "scope.matchers"))


class NthWeekday(_Model):
    day: Day
    nth: Literal[1, 2, 3, 4, 5, -1] = Field(description="1..5, or -1 for the last in the month")


class ScheduleArgs(_Model):
    """One-off (`start`, `end`), or recurring (`frequency`, `hours` "HH:MM-HH:MM", `timezone`, days)."""

    start: When | None = None
    end: When | None = None
    frequency: Literal["daily", "weekly", "monthly"] | None = None
    hours: Text(11) | None = Field(None, description="local HH:MM-HH:MM; an end before the start: next day")
    timezone: Text(64) | None = Field(None, description="an IANA zone, e.g. Europe/Berlin")
    weekdays: Annotated[list[Day], Field(max_length=7)] = Field(default_factory=list)
    month_days: Annotated[list[Annotated[int, Field(ge=-1, le=31)]], Field(max_length=32)] = Field(
        default_factory=list, description="1..31, or -1 for the last day"
    )
    nth_weekdays: Annotated[list[NthWeekday], Field(max_length=35)] = Field(default_factory=list)
    not_before: When | None = None
    not_after: When | None = None

    def rule(self) -> Schedule:
        try:
            if self.frequency is None:
                for name in ("hours", "timezone", "not_before", "not_after"):
                    if getattr(self, name) is not None:
                        raise RuleError(name, "applies to a recurring schedule only (give frequency)")
                if self.start is None or self.end is None:
                    raise RuleError("start" if self.start is None else "end", "a one-off window needs it")
                return OneOff(self.start, self.end)
            if self.start is not None or self.end is not None:
                raise RuleError("start", "a recurring schedule uses hours and not_before/not_after")
            if self.hours is None or self.timezone is None:
                raise RuleError("hours" if self.hours is None else "timezone", "a recurring window needs it")
            return Recurring(
                self.frequency,
                self.hours,
                self.timezone,
                frozenset(self.weekdays),
                frozenset(self.month_days),
                frozenset((n.day, n.nth) for n in self.nth_weekdays),
                self.not_before,
                self.not_after,
            )
        except RuleError as exc:
            raise RuleError(f"schedule.{exc.field}", exc.reason) from None


class WindowArgs(_Model):
    """`window.create`: a maintenance window."""

    title: Text(1024, 1)
    scope: ScopeArgs
    schedule: ScheduleArgs
    mode: Literal["suppress", "drop"] = "suppress"
    tenant: Tenant | None = None

    def rule(
        self, window_id: str, created_by: str, cancelled_at: datetime | None = None
    ) -> MaintenanceWindow:
        """The core's window; RuleError naming the field (`scope`, `schedule.hours`, ...)."""
        return MaintenanceWindow(
            window_id,
            self.scope.rule(),
            self.schedule.rule(),
            self.mode,
            self.title,
            created_by,
            cancelled_at,
        )


class WindowUpdateArgs(_Model):
    """`window.update`: replace the parts given."""

    title: Text(1024, 1) | None = None
    scope: ScopeArgs | None = None
    schedule: ScheduleArgs | None = None
    mode: Literal["suppress", "drop"] | None = None


class NoArgs(_Model):
    """`silence.expire`, `window.cancel`: nothing but the target (the time is the command's)."""


ARGS: dict[str, type[_Model]] = {
    "silence.create": SilenceArgs,
    "silence.expire": NoArgs,
    "window.create": WindowArgs,
    "window.update": WindowUpdateArgs,
    "window.cancel": NoArgs,
}
DOMAINS = frozenset(name.split(".")[0] for name in ARGS)


class BadSuppressionCommand(ValueError):
    """A silence or window command whose name or arguments are invalid (the reason names the field)."""


def parse_suppression_args(name: str, args: dict[str, Any]) -> _Model:
    """Validate the arguments of a `silence.*` / `window.*` command."""
    model = ARGS.get(name)
    if model is None:
        raise BadSuppressionCommand(f"unknown command {name!r}; expected one of {', '.join(ARGS)}")
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "args"
        raise BadSuppressionCommand(f"{name}: {where}: {message(first)}") from None


class SilenceSnapshot(SilenceArgs):
    """A silence after a change."""

    silence_id: SilenceId
    created_by: Name
    created_at: When
    updated_at: When
    expired_at: When | None = None
    version: Positive


class WindowSnapshot(WindowArgs):
    """A maintenance window after a change."""

    window_id: WindowId
    created_by: Name
    created_at: When
    updated_at: When
    cancelled_at: When | None = None
    version: Positive


ChangeKind = Literal["created", "expired", "updated", "cancelled"]


class SuppressionChanged(Record):
    """One applied command: the silence or the window after it."""

    TYPE: ClassVar[str] = "suppression_changed"
    VERSION: ClassVar[int] = 1

    kind: ChangeKind
    silence: SilenceSnapshot | None = None
    window: WindowSnapshot | None = None
    actor: Name
    cause: Text(256, 1) = Field(description="the command's event id")
    reason: Text(4096) = ""

    @property
    def key(self) -> str:
        return self.silence.silence_id if self.silence is not None else self.window.window_id  # type: ignore[union-attr]


class SuppressionBatch(Record):
    """The suppression stage's changes of one input batch (all or nothing) and the command positions."""

    TYPE: ClassVar[str] = "suppression_batch"
    VERSION: ClassVar[int] = 1

    changes: list[SuppressionChanged] = Field(default_factory=list)
    positions: dict[Text(300), Offset] = Field(
        default_factory=dict, description="'commands:partition' -> next command offset after this batch"
    )

    @property
    def key(self) -> str:
        return "suppressions"
