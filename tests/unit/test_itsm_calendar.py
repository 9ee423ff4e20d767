"""SLA calendars: business hours in a time zone, weekends, public holidays, clock changes, 24x7."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ems.itsm.calendar import AlwaysOpen, CalendarError, business_hours

BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
OFFICE = business_hours("berlin-office", "Europe/Berlin", {"mon-fri": "09:00-17:00"}, country="DE")


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def test_a_weekend_and_a_public_holiday_are_skipped() -> None:
    # Friday 22 May 2026 16:00; Monday 25 May is Whit Monday, a public holiday in all of Germany.
    friday = berlin(2026, 5, 22, 16)
    assert OFFICE.is_closed_day(date(2026, 5, 25))
    assert OFFICE.add(friday, 8 * H) == berlin(2026, 5, 26, 16)  # 1 h Friday + 7 h Tuesday
    assert OFFICE.business_time(friday, berlin(2026, 5, 26, 10)) == 2 * H
    no_holidays = business_hours("plain", "Europe/Berlin", {"mon-fri": "09:00-17:00"})
    assert no_holidays.add(friday, 8 * H) == berlin(2026, 5, 25, 16)


def test_holidays_follow_the_subdivision() -> None:
    # Corpus Christi, Thursday 4 June 2026: a holiday in Bavaria, not in Berlin.
    bavaria = business_hours(
        "by", "Europe/Berlin", {"mon-fri": "09:00-17:00"}, country="DE", subdivision="BY"
    )
    wednesday = berlin(2026, 6, 3, 17)
    assert bavaria.add(wednesday, 2 * H) == berlin(2026, 6, 5, 11)
    assert OFFICE.add(wednesday, 2 * H) == berlin(2026, 6, 4, 11)


def test_own_closing_days_are_skipped_too() -> None:
    calendar = business_hours(
        "x", "Europe/Berlin", {"mon-fri": "09:00-17:00"}, closed_dates=[date(2026, 12, 28)]
    )
    assert calendar.add(berlin(2026, 12, 25, 17), H) == berlin(2026, 12, 29, 10)  # Fri -> Tue


def test_open_windows_from_inside_before_and_after_hours() -> None:
    monday = berlin(2026, 5, 4, 12)
    assert OFFICE.add(monday, 2 * H) == berlin(2026, 5, 4, 14)
    assert OFFICE.add(berlin(2026, 5, 4, 6), 2 * H) == berlin(2026, 5, 4, 11)
    assert OFFICE.add(berlin(2026, 5, 4, 20), 2 * H) == berlin(2026, 5, 5, 11)
    assert OFFICE.add(monday, 5 * H) == berlin(2026, 5, 4, 17)  # the window's end, not the next morning
    assert OFFICE.business_time(berlin(2026, 5, 4, 20), berlin(2026, 5, 5, 8)) == timedelta(0)
    assert OFFICE.business_time(monday, monday - H) == timedelta(0)
    assert OFFICE.add(monday, timedelta(0)) == monday


def test_split_windows_and_weekend_hours() -> None:
    shop = business_hours(
        "shop", "Europe/Berlin", {"mon-fri": ["09:00-12:00", "13:00-17:00"], "sat": "10:00-14:00"}
    )
    assert shop.add(berlin(2026, 5, 4, 11), 2 * H) == berlin(2026, 5, 4, 14)  # skips lunch
    assert shop.add(berlin(2026, 5, 8, 16), 3 * H) == berlin(2026, 5, 9, 12)  # Saturday morning
    assert shop.business_time(berlin(2026, 5, 4, 0), berlin(2026, 5, 11, 0)) == 39 * H


def test_business_hours_across_the_spring_clock_change() -> None:
    # Clocks go forward on Sunday 29 March 2026: Friday is UTC+1, Monday UTC+2.
    friday = berlin(2026, 3, 27, 16)
    due = OFFICE.add(friday, 8 * H)
    assert due == berlin(2026, 3, 30, 16)
    assert due == datetime(2026, 3, 30, 14, tzinfo=UTC)
    assert due.astimezone(UTC) - friday.astimezone(UTC) == 71 * H  # a wall-clock hour shorter
    assert OFFICE.business_time(friday, berlin(2026, 3, 30, 9, 30)) == 1.5 * H


def test_a_whole_local_day_lasts_as_long_as_it_really_does() -> None:
    every_day = business_hours("local-24x7", "Europe/Berlin", {"mon-sun": "00:00-24:00"})
    assert every_day.business_time(berlin(2026, 10, 25), berlin(2026, 10, 26)) == 25 * H
    assert every_day.business_time(berlin(2026, 3, 29), berlin(2026, 3, 30)) == 23 * H
    assert every_day.add(berlin(2026, 10, 24, 12), 24 * H) == berlin(2026, 10, 25, 11)  # 24 h, not 1 day
    night = business_hours("night", "Europe/Berlin", {"sun": "01:00-04:00"})
    assert night.business_time(berlin(2026, 3, 29), berlin(2026, 3, 30)) == 2 * H  # 02:00-03:00 never was
    assert night.business_time(berlin(2026, 10, 25), berlin(2026, 10, 26)) == 4 * H  # 02:00-03:00 twice


def test_other_zones_change_their_clocks_on_their_own_dates() -> None:
    # Between the EU (25 Oct) and US (1 Nov 2026) changes, New York is 5 h behind Berlin, not 6.
    new_york = business_hours("nyc", "America/New_York", {"mon-fri": "09:00-17:00"}, country="US")
    due = new_york.add(datetime(2026, 10, 30, 16, tzinfo=ZoneInfo("America/New_York")), 2 * H)
    assert due == datetime(2026, 11, 2, 15, tzinfo=UTC)  # Monday 10:00 EST
    assert OFFICE.add(berlin(2026, 10, 30, 16), 2 * H) == datetime(2026, 11, 2, 9, tzinfo=UTC)


def test_always_open_counts_every_second_in_utc() -> None:
    always = AlwaysOpen()
    start = berlin(2026, 10, 24, 12)
    assert (
        always.business_time(start, berlin(2026, 10, 25, 12)) == 25 * H
    )  # same-zone wall subtraction says 24
    assert always.add(start, 3 * H) == datetime(2026, 10, 24, 13, tzinfo=UTC)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    start=st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(BERLIN)),
    minutes=st.integers(0, 60 * 24 * 10),
)
def test_add_and_business_time_agree(start: datetime, minutes: int) -> None:
    amount = timedelta(minutes=minutes)
    due = OFFICE.add(start, amount)
    assert OFFICE.business_time(start, due) == amount
    assert due >= start


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"hours": {"mon": "9-17"}}, "hours"),
        ({"hours": {"mon": "17:00-09:00"}}, "hours"),
        ({"hours": {"mon": "09:00-24:30"}}, "hours"),
        ({"hours": {"mon": ["09:00-13:00", "12:00-17:00"]}}, "hours"),
        ({"hours": {"fri-mon": "09:00-17:00"}}, "hours"),
        ({"hours": {"someday": "09:00-17:00"}}, "hours"),
        ({"hours": {}}, "hours"),
        ({"country": "XX"}, "country"),
        ({"country": "DE", "subdivision": "ZZ"}, "country"),
        ({"subdivision": "BY"}, "subdivision"),
    ],
)
def test_bad_definitions_name_the_field(kwargs: dict, field: str) -> None:
    args = {"name": "x", "timezone": "Europe/Berlin", "hours": {"mon-fri": "09:00-17:00"}} | kwargs
    with pytest.raises(CalendarError) as caught:
        business_hours(**args)
    assert caught.value.field == field


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        OFFICE.add(datetime(2026, 5, 4, 9), H)
