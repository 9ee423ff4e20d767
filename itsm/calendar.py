"""SLA calendars: when the clock runs. 24x7, or weekly business hours in an IANA time zone minus holidays.

Business time is measured in real elapsed seconds inside the open windows, so a window on a day the clocks
change is as long as it really is (a 00:00-24:00 window on the autumn change day lasts 25 h). All arithmetic
is done in UTC: aware datetimes in one zone subtract as wall times in Python, which is wrong across a change.
Public holidays come from the `holidays` package by country (ISO 3166) and subdivision; `closed_dates` adds
the organisation's own closing days. Every input time must be timezone-aware.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
SEARCH_DAYS = 3 * 366  # no open window within this many days: the calendar is unusable, not a long wait
Window = tuple[int, int]  # minutes after local midnight: [start, end), end up to 1440


class CalendarError(ValueError):
    """A calendar definition that cannot be used; `field` names the part at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class Calendar(Protocol):
    name: str

    def business_time(self, start: datetime, end: datetime) -> timedelta:
        """Open time between start and end (zero when end <= start)."""
        ...

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The earliest instant with `amount` of open time since `start` (in UTC)."""
        ...


def utc(moment: datetime, what: str = "time") -> datetime:
    """`moment` in UTC; a naive datetime is refused (its zone would be a guess)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class AlwaysOpen:
    """24x7: every second counts."""

    name: str = "24x7"

    def business_time(self, start: datetime, end: datetime) -> timedelta:
        return max(utc(end, "end") - utc(start, "start"), timedelta(0))

    def add(self, start: datetime, amount: timedelta) -> datetime:
        return utc(start, "start") + max(amount, timedelta(0))


@dataclass(frozen=True)
class BusinessHours:
    """Open windows per weekday (Mon..Sun) in `timezone`, closed on public holidays and `closed_dates`."""

    name: str
    timezone: str
    week: tuple[tuple[Window, ...], ...]
    country: str | None = None
    subdivision: str | None = None
    closed_dates: frozenset[date] = frozenset()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _holidays: holidays.HolidayBase | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise CalendarError("timezone", f"{self.timezone!r} is not an IANA time zone") from e
        if len(self.week) != 7 or not any(self.week):
            raise CalendarError("hours", "needs 7 weekdays with at least one open window")
        for day, windows in zip(DAYS, self.week, strict=True):
            _check_windows(day, windows)
        calendar = None
        if self.country is not None:
            try:
                calendar = holidays.country_holidays(self.country, subdiv=self.subdivision)
            except NotImplementedError as e:
                raise CalendarError("country", f"{self.country!r}/{self.subdivision!r}: {e}") from e
        elif self.subdivision is not None:
            raise CalendarError("subdivision", "given without a country")
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_holidays", calendar)

    def is_closed_day(self, day: date) -> bool:
        """A public holiday or an own closing day (whatever its weekday hours)."""
        return day in self.closed_dates or (self._holidays is not None and day in self._holidays)

    def _local(self, day: date, minute: int) -> datetime:
        moment = datetime.combine(
            day + timedelta(days=minute // 1440), time(minute % 1440 // 60, minute % 60)
        )
        return moment.replace(tzinfo=self._zone).astimezone(UTC)

    def windows(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open windows in UTC, in order, from the one containing `start` (or the next) onwards."""
        start = utc(start, "start")
        first = start.astimezone(self._zone).date()
        for offset in range(SEARCH_DAYS):
            day = first + timedelta(days=offset)
            if self.is_closed_day(day):
                continue
            for begin, end in self.week[day.weekday()]:
                opens, closes = self._local(day, begin), self._local(day, end)
                if closes > start and closes > opens:
                    yield max(opens, start), closes
        raise CalendarError("hours", f"no open window within {SEARCH_DAYS} days of {start.isoformat()}")

    def business_time(self, start: datetime, end: datetime) -> timedelta:
        end = utc(end, "end")
        total = timedelta(0)
        if end <= utc(start, "start"):
            return total
        for opens, closes in self.windows(start):
            if opens >= end:
                break
            total += min(closes, end) - opens
        return total

    def add(self, start: datetime, amount: timedelta) -> datetime:
        left = amount
        if left <= timedelta(0):
            return utc(start, "start")
        for opens, closes in self.windows(start):
            if left <= closes - opens:
                return opens + left
            left -= closes - opens
        raise AssertionError("windows() ends by raising")  # pragma: no cover


def _check_windows(day: str, windows: Sequence[Window]) -> None:
    previous_end = 0
    for begin, end in windows:
        if not 0 <= begin < end <= 1440 or begin < previous_end:
            raise CalendarError(
                "hours", f"{day}: windows must be ordered, not overlap, and lie in 00:00-24:00"
            )
        previous_end = end


def parse_window(text: str) -> Window:
    """'09:00-17:00' -> (540, 1020); '00:00-24:00' is the whole day."""
    match = _WINDOW.match(text.strip())
    if not match:
        raise CalendarError("hours", f"{text!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = map(int, match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise CalendarError("hours", f"{text!r} is not a time range within a day")
    return h1 * 60 + m1, h2 * 60 + m2


def _days(spec: str) -> list[int]:
    """'mon' -> [0]; 'mon-fri' -> [0..4]; 'sat,sun' -> [5, 6]."""
    out: list[int] = []
    for part in spec.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise CalendarError("hours", f"{spec!r}: days are {', '.join(DAYS)} or a range like mon-fri")
        a, b = DAYS.index(first), DAYS.index(last or first)
        if b < a:
            raise CalendarError("hours", f"{spec!r}: a range runs forward (mon-fri)")
        out.extend(range(a, b + 1))
    return out


def business_hours(
    name: str,
    timezone: str,
    hours: Mapping[str, str | Sequence[str]],
    *,
    country: str | None = None,
    subdivision: str | None = None,
    closed_dates: Iterable[date] = (),
) -> BusinessHours:
    """A calendar from readable hours: {"mon-fri": "09:00-17:00", "sat": ["09:00-12:00"]}; others closed."""
    week: list[list[Window]] = [[] for _ in DAYS]
    for spec, value in hours.items():
        windows = [value] if isinstance(value, str) else list(value)
        for day in _days(spec):
            week[day].extend(parse_window(w) for w in windows)
    return BusinessHours(
        name,
        timezone,
        tuple(tuple(sorted(day)) for day in week),
        country=country,
        subdivision=subdivision,
        closed_dates=frozenset(closed_dates),
    )


# Until a deployment configures its own: the names the default SLA policies use.
DEFAULT_CALENDARS: dict[str, Calendar] = {
    "24x7": AlwaysOpen(),
    "business": business_hours("business", "UTC", {"mon-fri": "09:00-17:00"}),
}
