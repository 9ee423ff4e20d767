"""When a maintenance window is open: one-off intervals and daily/weekly/monthly rules in an IANA zone.

A recurring window covers the instants whose local wall-clock time lies between its start and end
time on a day the rule selects (an end at or before the start means the next day; `24:00` is
midnight). On clock-change days this is worked out from the wall clock, in UTC:

- spring forward (a skipped hour): a start or end inside the gap moves to the instant of the change,
  so a 02:00-04:00 Europe/Berlin window on 29 March 2026 runs 03:00-04:00 CEST (1 h); a window
  wholly inside the gap (02:15-02:45) does not happen that day;
- fall back (a repeated hour): a start takes the first of the two instants, an end the second, so
  02:00-04:00 on 25 October 2026 runs from 02:00 CEST to 04:00 CET (3 h).

Monthly rules name days of the month (1..31, or -1 for the last day) or weekdays of the month
(("fri", -1) is the last Friday, ("mon", 1) the first Monday). A day the month does not have is
skipped, as in RFC 5545 and cron: day 31 happens in 7 months a year; write -1 for "the last day".
Every input time must be timezone-aware; every output is in UTC.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ems.noise.errors import RuleError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Frequency = Literal["daily", "weekly", "monthly"]
_HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
SEARCH_DAYS = 5 * 366  # a rule with no day within this span can never happen


def utc(moment: datetime, what: str = "time") -> datetime:
    """`moment` in UTC; a naive datetime is refused (its zone would be a guess)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class OneOff:
    """One interval [start, end)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start, "start"))
        object.__setattr__(self, "end", utc(self.end, "end"))
        if self.end <= self.start:
            raise RuleError("end", f"{self.end.isoformat()} is not after start {self.start.isoformat()}")

    def intervals_from(self, day_before: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The interval, if it ends after `day_before`."""
        if self.end > day_before:
            yield self.start, self.end


def _instant(zone: ZoneInfo, day: date, minutes: int, edge: Literal["start", "end"]) -> datetime:
    """The UTC instant of local wall time `minutes` after midnight of `day` (see the module docstring)."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minutes)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:  # the wall time exists (once or twice)
        return min(first, second) if edge == "start" else max(first, second)
    # In a gap: fold=1 reads it with the offset after the change (an instant before it), fold=0 with the
    # offset before (an instant after it). Bisect to the change itself, to the second.
    low, high = second, first
    before = low.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) / 2
        if mid.astimezone(zone).utcoffset() == before:
            low = mid
        else:
            high = mid
    return high.replace(microsecond=0)  # changes fall on whole seconds


def wall_instant(zone: ZoneInfo, day: date, minutes: int) -> datetime:
    """The UTC instant local wall time `minutes` after midnight of `day` starts: in a DST gap, the change
    itself; in a repeated hour, its first occurrence."""
    return _instant(zone, day, minutes, "start")


def _minutes(text: str, what: str) -> int:
    hours, minutes = int(text[:2]), int(text[3:])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise RuleError("hours", f"{what} {text} is not a time of day (00:00-24:00)")
    return hours * 60 + minutes


@dataclass(frozen=True)
class Recurring:
    """A daily, weekly (`weekdays`) or monthly (`month_days` and/or `nth_weekdays`) rule.

    `hours` is "HH:MM-HH:MM" local time in `timezone`; `not_before`/`not_after` bound it (optional).
    """

    frequency: Frequency
    hours: str
    timezone: str
    weekdays: frozenset[str] = frozenset()
    month_days: frozenset[int] = frozenset()
    nth_weekdays: frozenset[tuple[str, int]] = frozenset()
    not_before: datetime | None = None
    not_after: datetime | None = None
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _span: tuple[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "_zone", ZoneInfo(self.timezone))
        except (ZoneInfoNotFoundError, ValueError):
            raise RuleError("timezone", f"unknown IANA time zone {self.timezone!r}") from None
        found = _HOURS.match(self.hours)
        if found is None:
            raise RuleError("hours", f"{self.hours!r} is not HH:MM-HH:MM")
        start = _minutes(self.hours[:5], "start")
        end = _minutes(self.hours[6:], "end")
        if start == 1440:
            raise RuleError("hours", "a window cannot start at 24:00")
        object.__setattr__(self, "_span", (start, end if end > start else end + 1440))
        self._check_days()
        if self.not_before is not None:
            object.__setattr__(self, "not_before", utc(self.not_before, "not_before"))
        if self.not_after is not None:
            object.__setattr__(self, "not_after", utc(self.not_after, "not_after"))
        if self.not_before and self.not_after and self.not_after <= self.not_before:
            raise RuleError("not_after", "is not after not_before")

    def _check_days(self) -> None:
        chosen = {"daily": (), "weekly": ("weekdays",), "monthly": ("month_days", "nth_weekdays")}
        if self.frequency not in chosen:
            raise RuleError("frequency", f"{self.frequency!r} is not daily, weekly or monthly")
        for name in ("weekdays", "month_days", "nth_weekdays"):
            if getattr(self, name) and name not in chosen[self.frequency]:
                raise RuleError(name, f"does not apply to a {self.frequency} rule")
        if self.frequency != "daily" and not any(getattr(self, n) for n in chosen[self.frequency]):
            raise RuleError(chosen[self.frequency][0], f"a {self.frequency} rule needs at least one day")
        if bad := sorted(d for d in self.weekdays if d not in DAYS):
            raise RuleError("weekdays", f"{bad} are not among {', '.join(DAYS)}")
        if bad := sorted(d for d in self.month_days if not (1 <= d <= 31 or d == -1)):
            raise RuleError("month_days", f"{bad} are not days of a month (1..31, or -1 for the last)")
        for day, nth in self.nth_weekdays:
            if day not in DAYS or nth not in (1, 2, 3, 4, 5, -1):
                raise RuleError("nth_weekdays", f"({day!r}, {nth}) is not (weekday, 1..5 or -1)")

    def selects(self, day: date) -> bool:
        """Whether the rule has an occurrence starting on local date `day`."""
        if self.frequency == "daily":
            return True
        weekday = DAYS[day.weekday()]
        if self.frequency == "weekly":
            return weekday in self.weekdays
        last = calendar.monthrange(day.year, day.month)[1]
        if day.day in self.month_days or (day.day == last and -1 in self.month_days):
            return True
        nth = (day.day - 1) // 7 + 1
        is_last = day.day + 7 > last
        return (weekday, nth) in self.nth_weekdays or (is_last and (weekday, -1) in self.nth_weekdays)

    def occurrence(self, day: date) -> tuple[datetime, datetime] | None:
        """The interval starting on local date `day` (clipped to the bounds), or None."""
        if not self.selects(day):
            return None
        start = _instant(self._zone, day, self._span[0], "start")
        end = _instant(self._zone, day, self._span[1], "end")
        if self.not_before is not None:
            start = max(start, self.not_before)
        if self.not_after is not None:
            end = min(end, self.not_after)
        return (start, end) if end > start else None

    def intervals_from(self, after: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Intervals ending after `after`, in order (each lasts under 2 days: search from 2 days back)."""
        day = utc(after).astimezone(self._zone).date() - timedelta(days=2)
        if self.not_before is not None:
            day = max(day, self.not_before.astimezone(self._zone).date() - timedelta(days=1))
        for offset in range(SEARCH_DAYS):
            current = day + timedelta(days=offset)
            if self.not_after is not None and current > self.not_after.astimezone(self._zone).date():
                return
            found = self.occurrence(current)
            if found is not None and found[1] > after:
                yield found


Schedule = OneOff | Recurring


def intervals(schedule: Schedule, after: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The schedule's intervals that end after `after`, in start order."""
    return schedule.intervals_from(utc(after))
