"""On-call schedules (`EMS_NOTIFY_USERS`, `EMS_NOTIFY_SCHEDULES`) and who is on call at an instant.

A schedule is a rotation of users in a time zone: shifts of `length` (whole days: `1d`, `1w`, `14d`)
change hands at the local `handoff` time (`"09:00"` daily, or `"Mon 09:00"` on a weekday). The first
shift, rotation[0]'s, starts at the first hand-off on or after the local date `start`; shift i is
rotation[i mod n]'s, counted in local calendar days so a shift across a DST change is an hour shorter
or longer and the hand-off stays at 09:00 on the wall clock (a hand-off in a DST gap happens at the
change; in a repeated hour, at its first occurrence). `overrides` ([{user, start, end}], instants; a
naive one read in the zone) put another user on call from start (included) to end (excluded); the
last listed override covering an instant wins. `on_call(schedule, at)` is pure: no wall clock.

A user names the receivers (`EMS_NOTIFY_RECEIVERS`) that reach them, e.g. their email receiver and a
webhook.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ems.noise.schedule import wall_instant
from ems.notify.config import Duration, ReceiverName

UserName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")]
_HANDOFF = re.compile(r"^(?:(Mon|Tue|Wed|Thu|Fri|Sat|Sun) )?([01]\d|2[0-3]):([0-5]\d)$")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class UserConfig(BaseModel):
    """A person who can be notified: the receivers that reach them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: UserName
    receivers: list[ReceiverName] = Field(min_length=1)


class OverrideConfig(BaseModel):
    """`user` is on call instead of the rotation from `start` (included) to `end` (excluded)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: UserName
    start: datetime
    end: datetime


class ScheduleConfig(BaseModel):
    """A rotation of users with a hand-off time, a shift length and overrides (see the module doc)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: UserName
    time_zone: str
    rotation: list[UserName] = Field(min_length=1)
    handoff: str = Field("09:00", description='"HH:MM" (daily) or "Mon HH:MM" (weekly), local time')
    length: Duration = Field(7 * 86_400.0, description="a shift: whole days (1d, 1w, 14d)")
    start: date = Field(description="the local date on (or after) which rotation[0]'s first shift starts")
    overrides: list[OverrideConfig] = Field(default_factory=list)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (like Europe/Paris)") from None
        return value

    @field_validator("handoff")
    @classmethod
    def _handoff(cls, value: str) -> str:
        if not _HANDOFF.match(value):
            raise ValueError(f'{value!r} is not a hand-off time ("09:00" or "Mon 09:00")')
        return value

    @field_validator("length")
    @classmethod
    def _length(cls, value: float) -> float:
        if value <= 0 or value % 86_400:
            raise ValueError(f"{value:g} s is not a whole number of days (1d, 1w, 14d)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ScheduleConfig:
        weekday = _HANDOFF.match(self.handoff).group(1)  # type: ignore[union-attr]
        if weekday and self.length % (7 * 86_400):
            raise ValueError(f"length: a weekly hand-off ({self.handoff!r}) needs whole weeks (1w, 2w)")
        for i, o in enumerate(self.overrides):
            if self._aware(o.end) <= self._aware(o.start):
                raise ValueError(f"overrides.{i}: end {o.end.isoformat()} is not after start")
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @cached_property
    def first_day(self) -> date:
        """The local date of the first hand-off: `start`, moved on to the hand-off weekday if one is set."""
        weekday = _HANDOFF.match(self.handoff).group(1)  # type: ignore[union-attr]
        if weekday is None:
            return self.start
        return self.start + timedelta(days=(_DAYS.index(weekday) - self.start.weekday()) % 7)

    @cached_property
    def minutes(self) -> int:
        hours, minutes = self.handoff[-5:].split(":")
        return int(hours) * 60 + int(minutes)

    def _aware(self, moment: datetime) -> datetime:
        return moment if moment.tzinfo else moment.replace(tzinfo=self.zone)

    def shift_start(self, i: int) -> datetime:
        """The UTC instant shift `i` starts (negative: before the first one)."""
        day = self.first_day + timedelta(days=i * int(self.length // 86_400))
        return wall_instant(self.zone, day, self.minutes)

    def shift_at(self, at: datetime) -> int:
        """The number of the rotation shift running at `at`."""
        days = int(self.length // 86_400)
        local = at.astimezone(self.zone).date()
        i = (local - self.first_day).days // days
        while self.shift_start(i) > at:
            i -= 1
        while self.shift_start(i + 1) <= at:
            i += 1
        return i


def on_call(schedule: ScheduleConfig, at: datetime) -> str:
    """The user on call in `schedule` at the instant `at` (timezone-aware): the last override covering
    it, else the rotation's user of the shift running then."""
    if at.tzinfo is None:
        raise ValueError("on_call: a naive time is refused (pass a timezone-aware instant)")
    at = at.astimezone(UTC)
    for o in reversed(schedule.overrides):
        if schedule._aware(o.start) <= at < schedule._aware(o.end):
            return o.user
    return schedule.rotation[schedule.shift_at(at) % len(schedule.rotation)]


def check_oncall(users: list[UserConfig], schedules: list[ScheduleConfig], receivers: list[str]) -> None:
    """Names unique, users' receivers known, schedules name known users; ValueError naming the field."""
    for what, names in (
        ("notify_users", [u.name for u in users]),
        ("notify_schedules", [s.name for s in schedules]),
    ):
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"{what}: names used twice: {', '.join(twice)}")
    for i, user in enumerate(users):
        unknown = [n for n in user.receivers if n not in receivers]
        if unknown:
            raise ValueError(f"notify_users.{i}.receivers: unknown receiver(s) {', '.join(unknown)}")
    known = {u.name for u in users}
    for i, s in enumerate(schedules):
        unknown = [n for n in s.rotation if n not in known]
        if unknown:
            raise ValueError(f"notify_schedules.{i}.rotation: unknown user(s) {', '.join(unknown)}")
        for j, o in enumerate(s.overrides):
            if o.user not in known:
                raise ValueError(f"notify_schedules.{i}.overrides.{j}.user: unknown user {o.user!r}")
