"""SLA policies and business calendars from configuration (`EMS_TICKET_SLA_POLICIES`,
`EMS_TICKET_CALENDARS`), checked when the settings load.

Policies: ticket type -> priority -> targets, e.g.
`{"incident": {"P1": {"response": "15m", "resolution": "4h", "calendar": "24x7"}}}`; a configured
entry replaces the default (`sla.DEFAULT_POLICIES`) of its type and priority, the others keep theirs;
`null` (or leaving a target out) means no such timer.
Calendars: name -> `{"timezone", "hours": {"mon-fri": "09:00-17:00"}, "country", "subdivision",
"closed_dates": ["2026-12-24"]}`; they join the defaults (`24x7`, `business`) and may replace them.
Every policy's calendar, configured or default, must name a calendar. Errors name the entry at fault
(`ticket_calendars['berlin'].timezone: ...`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ems.itsm import sla
from ems.itsm.calendar import DEFAULT_CALENDARS, Calendar, CalendarError, business_hours
from ems.itsm.priority import Priority

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
PriorityName = Literal["P1", "P2", "P3", "P4"]
TicketType = Literal["incident", "problem", "change"]


def parse_duration(text: str) -> timedelta:
    """'30m' -> 30 minutes; units d, h, m, s in that order ('1h30m'); positive. ValueError otherwise."""
    match = _DURATION.match(text.strip().lower()) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration like 30m, 2h, 1h30m or 1d")
    d, h, m, s = (int(g or 0) for g in match.groups())
    out = timedelta(days=d, hours=h, minutes=m, seconds=s)
    if out <= timedelta(0):
        raise ValueError(f"{text!r} is not a positive duration")
    return out


class SlaConfigError(ValueError):
    """A policy or calendar entry that cannot be used; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


Duration = Annotated[str, Field(min_length=1, max_length=32, description="e.g. 15m, 4h, 1h30m, 2d")]


class TargetsConfig(_Model):
    """One ticket type's and priority's targets and the calendar they count in."""

    response: Duration | None = None
    resolution: Duration | None = None
    calendar: str = Field(min_length=1, max_length=128)


class CalendarConfig(_Model):
    """Business hours: open windows per weekday in a time zone, minus holidays and closed dates."""

    timezone: str = Field(min_length=1, max_length=64, description="IANA time zone, e.g. Europe/Berlin")
    hours: dict[str, str | list[str]] = Field(description='e.g. {"mon-fri": "09:00-17:00"}')
    country: str | None = Field(None, description="public holidays of this country (ISO 3166)")
    subdivision: str | None = Field(None, description="and of this subdivision (e.g. BY)")
    closed_dates: list[date] = Field(default_factory=list, description="own closing days")


PoliciesConfig = dict[TicketType, dict[PriorityName, TargetsConfig]]


def build_calendars(configured: Mapping[str, CalendarConfig]) -> dict[str, Calendar]:
    """The default calendars with the configured ones added (a configured name replaces a default)."""
    out: dict[str, Calendar] = dict(DEFAULT_CALENDARS)
    for name, c in configured.items():
        where = f"ticket_calendars[{name!r}]"
        try:
            out[name] = business_hours(
                name,
                c.timezone,
                c.hours,
                country=c.country,
                subdivision=c.subdivision,
                closed_dates=c.closed_dates,
            )
        except CalendarError as exc:
            raise SlaConfigError(f"{where}.{exc.field}", str(exc).partition(": ")[2]) from None
    return out


def build_policies(
    configured: Mapping[str, Mapping[str, TargetsConfig]], calendars: Mapping[str, Calendar]
) -> tuple[sla.SlaPolicy, ...]:
    """The default policies with the configured entries in place of theirs; every calendar checked."""
    given: dict[tuple[str, Priority], sla.SlaPolicy] = {}
    for ticket_type, by_priority in configured.items():
        for name, targets in by_priority.items():
            where = f"ticket_sla_policies.{ticket_type}.{name}"
            times = {}
            for kind in ("response", "resolution"):
                raw = getattr(targets, kind)
                try:
                    times[kind] = None if raw is None else parse_duration(raw)
                except ValueError as exc:
                    raise SlaConfigError(f"{where}.{kind}", str(exc)) from None
            priority = Priority[name]
            given[ticket_type, priority] = sla.SlaPolicy(
                ticket_type, priority, times["response"], times["resolution"], targets.calendar
            )
    policies = tuple(given.pop((p.ticket_type, p.priority), p) for p in sla.DEFAULT_POLICIES)
    for p in policies:
        if p.calendar not in calendars:
            raise SlaConfigError(
                f"ticket_sla_policies.{p.ticket_type}.{p.priority}.calendar",
                f"{p.calendar!r} is not a calendar (known: {', '.join(sorted(calendars))})",
            )
    return policies
