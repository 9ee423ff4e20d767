"""Window schedules: DST days in Europe/Berlin, weekly and monthly rules, short months, bounds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from ems.noise.errors import RuleError
from ems.noise.schedule import OneOff, Recurring, intervals

BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
SPRING = date(2026, 3, 29)  # 02:00 CET -> 03:00 CEST
FALL = date(2026, 10, 25)  # 03:00 CEST -> 02:00 CET


def berlin(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=BERLIN, fold=fold)


def test_a_nightly_window_on_an_ordinary_day() -> None:
    nightly = Recurring("daily", "02:00-04:00", "Europe/Berlin")
    start, end = nightly.occurrence(date(2026, 3, 28))  # type: ignore[misc]
    assert (start, end) == (berlin(2026, 3, 28, 2), berlin(2026, 3, 28, 4))
    assert end - start == 2 * H


def test_spring_forward_the_skipped_hour_shortens_the_window() -> None:
    nightly = Recurring("daily", "02:00-04:00", "Europe/Berlin")
    start, end = nightly.occurrence(SPRING)  # type: ignore[misc]
    assert start == datetime(2026, 3, 29, 1, tzinfo=UTC)  # the change itself: 03:00 CEST
    assert start.astimezone(BERLIN).hour == 3
    assert end == berlin(2026, 3, 29, 4)
    assert end - start == H
    # a window wholly inside the skipped hour does not happen that day, but does the next
    inside = Recurring("daily", "02:15-02:45", "Europe/Berlin")
    assert inside.occurrence(SPRING) is None
    assert inside.occurrence(SPRING + timedelta(days=1)) is not None
    # an end inside the gap moves to the change too
    start, end = Recurring("daily", "01:00-02:30", "Europe/Berlin").occurrence(SPRING)  # type: ignore[misc]
    assert (start, end) == (berlin(2026, 3, 29, 1), datetime(2026, 3, 29, 1, tzinfo=UTC))


def test_fall_back_the_repeated_hour_lengthens_the_window() -> None:
    nightly = Recurring("daily", "02:00-04:00", "Europe/Berlin")
    start, end = nightly.occurrence(FALL)  # type: ignore[misc]
    assert start == datetime(2026, 10, 25, 0, tzinfo=UTC)  # 02:00 CEST, the first 02:00
    assert end == datetime(2026, 10, 25, 3, tzinfo=UTC)  # 04:00 CET
    assert end - start == 3 * H
    # inside the repeated hour: from the first start to the second end
    start, end = Recurring("daily", "02:30-02:45", "Europe/Berlin").occurrence(FALL)  # type: ignore[misc]
    # (compared in UTC: Python never calls an ambiguous local time equal to a time in another zone)
    assert (
        start
        == berlin(2026, 10, 25, 2, 30, fold=0).astimezone(UTC)
        == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    )
    assert (
        end
        == berlin(2026, 10, 25, 2, 45, fold=1).astimezone(UTC)
        == datetime(2026, 10, 25, 1, 45, tzinfo=UTC)
    )
    assert end - start == H + timedelta(minutes=15)


def test_a_weekly_window_keeps_its_local_time_across_the_change() -> None:
    sundays = Recurring("weekly", "01:00-05:00", "Europe/Berlin", weekdays=frozenset({"sun"}))
    found = list(islice(intervals(sundays, berlin(2026, 3, 20)), 3))
    assert [s.astimezone(BERLIN).date() for s, _ in found] == [date(2026, 3, 22), SPRING, date(2026, 4, 5)]
    assert [s.astimezone(BERLIN).hour for s, _ in found] == [1, 1, 1]
    assert [e - s for s, e in found] == [4 * H, 3 * H, 4 * H]
    assert found[0][0].hour == 0 and found[2][0].hour == 23  # 01:00 CET, then 01:00 CEST, in UTC


def test_an_overnight_window_ends_the_next_day() -> None:
    fridays = Recurring("weekly", "22:00-06:00", "Europe/Berlin", weekdays=frozenset({"fri"}))
    start, end = fridays.occurrence(date(2026, 6, 5))  # type: ignore[misc]
    assert (start, end) == (berlin(2026, 6, 5, 22), berlin(2026, 6, 6, 6))
    assert fridays.occurrence(date(2026, 6, 6)) is None
    whole = Recurring("daily", "00:00-24:00", "Europe/Berlin")
    start, end = whole.occurrence(FALL)  # type: ignore[misc]
    assert end - start == 25 * H


def test_monthly_last_friday() -> None:
    last_friday = Recurring("monthly", "20:00-23:00", "Europe/Berlin", nth_weekdays=frozenset({("fri", -1)}))
    found = [s.astimezone(BERLIN).date() for s, _ in islice(intervals(last_friday, berlin(2026, 1, 1)), 5)]
    assert found == [
        date(2026, 1, 30),
        date(2026, 2, 27),
        date(2026, 3, 27),
        date(2026, 4, 24),
        date(2026, 5, 29),
    ]
    first_monday = Recurring("monthly", "20:00-23:00", "Europe/Berlin", nth_weekdays=frozenset({("mon", 1)}))
    assert first_monday.occurrence(date(2026, 6, 1)) and not first_monday.occurrence(date(2026, 6, 8))


def test_day_31_is_skipped_in_short_months_and_minus_one_is_the_last_day() -> None:
    day31 = Recurring("monthly", "01:00-02:00", "Europe/Berlin", month_days=frozenset({31}))
    found = [s.astimezone(BERLIN).date() for s, _ in islice(intervals(day31, berlin(2026, 1, 1)), 4)]
    assert found == [date(2026, 1, 31), date(2026, 3, 31), date(2026, 5, 31), date(2026, 7, 31)]
    last = Recurring("monthly", "01:00-02:00", "Europe/Berlin", month_days=frozenset({-1}))
    found = [s.astimezone(BERLIN).date() for s, _ in islice(intervals(last, berlin(2028, 1, 1)), 4)]
    assert found == [date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30)]


def test_bounds_clip_the_occurrences() -> None:
    bounded = Recurring(
        "daily",
        "02:00-04:00",
        "Europe/Berlin",
        not_before=berlin(2026, 5, 1, 3),
        not_after=berlin(2026, 5, 3, 3),
    )
    found = list(intervals(bounded, berlin(2026, 4, 1)))
    assert found == [
        (berlin(2026, 5, 1, 3), berlin(2026, 5, 1, 4)),
        (berlin(2026, 5, 2, 2), berlin(2026, 5, 2, 4)),
        (berlin(2026, 5, 3, 2), berlin(2026, 5, 3, 3)),
    ]


def test_one_off() -> None:
    once = OneOff(berlin(2026, 5, 1, 2), berlin(2026, 5, 1, 4))
    assert once.start.tzinfo is UTC
    assert list(intervals(once, berlin(2026, 5, 1, 3))) == [(once.start, once.end)]
    assert list(intervals(once, berlin(2026, 5, 1, 4))) == []


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: OneOff(berlin(2026, 5, 1, 4), berlin(2026, 5, 1, 2)), "end"),
        (lambda: Recurring("daily", "02:00-04:00", "Europe/Nowhere"), "timezone"),
        (lambda: Recurring("daily", "2:00-4:00", "Europe/Berlin"), "hours"),
        (lambda: Recurring("daily", "25:00-04:00", "Europe/Berlin"), "hours"),
        (lambda: Recurring("weekly", "02:00-04:00", "Europe/Berlin"), "weekdays"),
        (lambda: Recurring("weekly", "02:00-04:00", "UTC", weekdays=frozenset({"funday"})), "weekdays"),
        (lambda: Recurring("monthly", "02:00-04:00", "UTC", month_days=frozenset({32})), "month_days"),
        (
            lambda: Recurring("monthly", "02:00-04:00", "UTC", nth_weekdays=frozenset({("fri", 6)})),
            "nth_weekdays",
        ),
        (lambda: Recurring("daily", "02:00-04:00", "UTC", weekdays=frozenset({"mon"})), "weekdays"),
        (lambda: Recurring("hourly", "02:00-04:00", "UTC"), "frequency"),  # type: ignore[arg-type]
    ],
)
def test_bad_schedules_name_the_field(build: Callable[[], object], field: str) -> None:
    with pytest.raises(RuleError) as caught:
        build()
    assert caught.value.field == field


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        OneOff(datetime(2026, 5, 1, 2), datetime(2026, 5, 1, 4))
