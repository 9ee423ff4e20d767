"""SLA timers from a ticket's status history in event time: due, elapsed, pauses, breaches, warnings once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ems.itsm.calendar import DEFAULT_CALENDARS, AlwaysOpen, business_hours
from ems.itsm.priority import Priority
from ems.itsm.sla import (
    DEFAULT_POLICIES,
    SlaInputError,
    StatusChange,
    TimerState,
    calendar_of,
    due_warnings,
    mark_emitted,
    policy_for,
    read,
    timers_for,
    with_change,
)

BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
OFFICE = business_hours("berlin-office", "Europe/Berlin", {"mon-fri": "09:00-17:00"}, country="DE")
ALWAYS = AlwaysOpen()


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def timer(kind: str, target: timedelta, *changes: tuple[datetime, str], ticket_type: str = "incident"):
    history = tuple(StatusChange(at, status) for at, status in changes)
    return TimerState(ticket_type, kind, target, "office", history)  # type: ignore[arg-type]


def sweep(state: TimerState, calendar, start: datetime, end: datetime, step: timedelta):
    """Check the timer every `step` like a periodic sweep, recording what it emits."""
    emitted, now = [], start
    while now <= end:
        warnings = due_warnings(state, calendar, now)
        emitted += warnings
        state = mark_emitted(state, warnings)
        now += step
    return state, emitted


def test_p2_incident_across_a_weekend_and_a_public_holiday() -> None:
    # Opened Friday 22 May 2026 16:00; 8 business hours; Monday 25 May is Whit Monday.
    resolution = timer("resolution", 8 * H, (berlin(2026, 5, 22, 16), "new"))
    monday = read(resolution, OFFICE, berlin(2026, 5, 25, 12))
    assert monday.state == "running" and monday.elapsed == H and monday.elapsed_pct == 12.5
    assert monday.due_at == berlin(2026, 5, 26, 16) and not monday.breached
    tuesday = read(resolution, OFFICE, berlin(2026, 5, 26, 15, 48))
    assert tuesday.left == timedelta(minutes=12) and tuesday.elapsed_pct == pytest.approx(97.5)
    late = read(resolution, OFFICE, berlin(2026, 5, 26, 16, 1))
    assert late.breached and late.breached_at == berlin(2026, 5, 26, 16)
    assert late.left == -timedelta(minutes=1)


def test_on_hold_pauses_the_resolution_clock_and_resuming_moves_the_due_time() -> None:
    opened = berlin(2026, 5, 4, 9)  # Monday
    history = [(opened, "new"), (berlin(2026, 5, 4, 10), "in_progress"), (berlin(2026, 5, 4, 11), "on_hold")]
    resolution = timer("resolution", 4 * H, *history)
    held = read(resolution, OFFICE, berlin(2026, 5, 5, 10))
    assert held.state == "paused" and held.due_at is None and held.stopped_at == berlin(2026, 5, 4, 11)
    assert held.elapsed == 2 * H and held.left == 2 * H and not held.breached
    assert read(resolution, OFFICE, berlin(2026, 5, 8, 16)).elapsed == 2 * H  # a week on hold: still 2 h
    resumed = with_change(resolution, StatusChange(berlin(2026, 5, 5, 15), "in_progress"))
    reading = read(resumed, OFFICE, berlin(2026, 5, 5, 16))
    assert reading.state == "running" and reading.elapsed == 3 * H
    assert reading.due_at == berlin(2026, 5, 5, 17)  # the 2 h left, from 15:00 Tuesday
    response = timer("response", H / 2, *history)
    answered = read(response, OFFICE, berlin(2026, 5, 5, 16))
    assert answered.state == "stopped" and answered.elapsed == H and answered.breached
    assert answered.breached_at == berlin(2026, 5, 4, 9, 30)


def test_resolving_after_the_due_time_has_breached_even_outside_hours() -> None:
    resolution = timer(
        "resolution",
        2 * H,
        (berlin(2026, 5, 8, 15), "new"),  # Friday 15:00, due 17:00
        (berlin(2026, 5, 9, 10), "resolved"),  # Saturday
    )
    reading = read(resolution, OFFICE, berlin(2026, 5, 11, 9))
    assert reading.state == "stopped" and reading.elapsed == 2 * H
    assert reading.breached_at == berlin(2026, 5, 8, 17) and reading.due_at == berlin(2026, 5, 8, 17)
    late_look = due_warnings(resolution, OFFICE, berlin(2026, 5, 11, 9))
    assert [(w.threshold, w.at) for w in late_look][-1] == (100, berlin(2026, 5, 8, 17))
    assert len(late_look) == 4
    in_time = timer(
        "resolution", 2 * H, (berlin(2026, 5, 8, 15), "new"), (berlin(2026, 5, 8, 16), "resolved")
    )
    met = read(in_time, OFFICE, berlin(2026, 5, 11, 9))
    assert not met.breached and met.due_at is None and met.elapsed == H and met.left == H


def test_a_reopened_incident_runs_on_from_where_it_stopped() -> None:
    changes = [
        (berlin(2026, 5, 4, 9), "new"),
        (berlin(2026, 5, 4, 11), "resolved"),
        (berlin(2026, 5, 5, 9), "in_progress"),  # reopened the next morning
    ]
    resolution = timer("resolution", 4 * H, *changes)
    reading = read(resolution, OFFICE, berlin(2026, 5, 5, 10))
    assert reading.elapsed == 3 * H and reading.due_at == berlin(2026, 5, 5, 11)
    response = read(timer("response", H, *changes), OFFICE, berlin(2026, 5, 5, 10))
    assert response.state == "stopped" and response.elapsed == 2 * H  # the reopen does not restart it


def test_business_hours_in_the_week_the_clocks_go_forward() -> None:
    # Thursday 26 March 2026 12:00 CET, 24 business hours; clocks go forward on Sunday 29 March.
    resolution = timer("resolution", 24 * H, (berlin(2026, 3, 26, 12), "new"))
    reading = read(resolution, OFFICE, berlin(2026, 3, 30, 17))
    assert reading.elapsed == 21 * H  # Thu 5 + Fri 8 + Mon 8
    assert reading.due_at == berlin(2026, 3, 31, 12) == datetime(2026, 3, 31, 10, tzinfo=UTC)
    state, warnings = sweep(resolution, OFFICE, berlin(2026, 3, 26, 12), berlin(2026, 4, 1, 12), H / 4)
    assert [(w.threshold, w.at) for w in warnings] == [
        (50, berlin(2026, 3, 27, 16)),  # 12 h: Thu 5 + Fri 7
        (75, berlin(2026, 3, 30, 14)),  # 18 h: + Fri 1 + Mon 5, in summer time
        (90, berlin(2026, 3, 31, 9, 36)),
        (100, berlin(2026, 3, 31, 12)),
    ]


def test_round_the_clock_across_the_autumn_night_the_clocks_go_back() -> None:
    opened = berlin(2026, 10, 25, 1)  # 01:00 CEST; 02:00-03:00 happens twice this night
    resolution = timer("resolution", 4 * H, (opened, "new"))
    reading = read(resolution, ALWAYS, datetime(2026, 10, 25, 2, tzinfo=UTC))
    assert reading.elapsed == 3 * H and reading.left == H
    assert reading.due_at == datetime(2026, 10, 25, 3, tzinfo=UTC) == berlin(2026, 10, 25, 4)


def test_each_warning_and_the_breach_are_emitted_once() -> None:
    resolution = timer("resolution", 8 * H, (berlin(2026, 5, 22, 16), "new"))
    start, end = berlin(2026, 5, 22, 16), berlin(2026, 5, 28, 9)
    state, warnings = sweep(resolution, OFFICE, start, end, timedelta(minutes=7))
    assert [(w.threshold, w.breach, w.at) for w in warnings] == [
        (50, False, berlin(2026, 5, 26, 12)),
        (75, False, berlin(2026, 5, 26, 14)),
        (90, False, berlin(2026, 5, 26, 15, 12)),
        (100, True, berlin(2026, 5, 26, 16)),
    ]
    assert state.emitted == {50, 75, 90, 100}
    restarted = TimerState(**{**state.__dict__})  # stored and loaded again
    assert due_warnings(restarted, OFFICE, end + timedelta(days=30)) == []
    # A replay from the start (nothing emitted yet) finds the same crossings at the same event times,
    # all at once when its first look is late.
    assert due_warnings(resolution, OFFICE, end) == warnings
    assert [w.threshold for w in due_warnings(resolution, OFFICE, berlin(2026, 5, 26, 14, 30))] == [50, 75]


def test_no_warnings_while_on_hold_and_none_after_resolution() -> None:
    resolution = timer(
        "resolution",
        4 * H,
        (berlin(2026, 5, 4, 9), "new"),
        (berlin(2026, 5, 4, 10), "on_hold"),
        (berlin(2026, 5, 11, 9), "in_progress"),
        (berlin(2026, 5, 11, 10), "resolved"),  # 2 of 4 hours used: 50 % exactly, then done
    )
    _, warnings = sweep(resolution, OFFICE, berlin(2026, 5, 4, 9), berlin(2026, 5, 20, 9), H / 2)
    assert [(w.threshold, w.at) for w in warnings] == [(50, berlin(2026, 5, 11, 10))]


def test_changes_after_now_are_not_yet_known_and_before_creation_nothing_has_elapsed() -> None:
    resolution = timer(
        "resolution", 4 * H, (berlin(2026, 5, 4, 9), "new"), (berlin(2026, 5, 4, 10), "on_hold")
    )
    assert read(resolution, OFFICE, berlin(2026, 5, 4, 9, 30)).state == "running"
    early = read(resolution, OFFICE, berlin(2026, 5, 1, 9))
    assert early.elapsed == timedelta(0) and early.due_at == berlin(2026, 5, 4, 13)
    assert due_warnings(resolution, OFFICE, berlin(2026, 5, 1, 9)) == []


def test_default_policies_give_the_timers_of_a_new_ticket() -> None:
    p1 = policy_for(DEFAULT_POLICIES, "incident", Priority.P1)
    assert p1 is not None and p1.calendar == "24x7" and (p1.response, p1.resolution) == (H / 4, 4 * H)
    response, resolution = timers_for(p1, berlin(2026, 5, 4, 9))
    assert (response.kind, resolution.kind, resolution.history[0].status) == ("response", "resolution", "new")
    change = policy_for(DEFAULT_POLICIES, "change", Priority.P3)
    assert change is not None
    (only,) = timers_for(change, berlin(2026, 5, 4, 9))
    assert only.kind == "response" and only.history[0].status == "draft"
    assert {(p.ticket_type, p.priority) for p in DEFAULT_POLICIES} == {
        (t, p) for t in ("incident", "problem", "change") for p in Priority
    }
    assert {p.calendar for p in DEFAULT_POLICIES} <= set(DEFAULT_CALENDARS)
    assert calendar_of(response, DEFAULT_CALENDARS) is DEFAULT_CALENDARS["24x7"]
    with pytest.raises(SlaInputError, match="'office' is not a configured calendar"):
        calendar_of(timer("response", H, (berlin(2026, 5, 4, 9), "new")), DEFAULT_CALENDARS)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: timer("resolution", H, (berlin(2026, 5, 4, 9), "in_progress")), "history"),
        (lambda: timer("resolution", H), "history"),
        (lambda: timer("resolution", timedelta(0), (berlin(2026, 5, 4, 9), "new")), "target"),
        (lambda: timer("pickup", H, (berlin(2026, 5, 4, 9), "new")), "kind"),
        (
            lambda: timer(
                "resolution", H, (berlin(2026, 5, 4, 9), "new"), (berlin(2026, 5, 4, 8), "resolved")
            ),
            "history",
        ),
        (
            lambda: timer("resolution", H, (berlin(2026, 5, 4, 9), "new"), (berlin(2026, 5, 4, 10), "done")),
            "status",
        ),
        (lambda: timer("resolution", H, (berlin(2026, 5, 4, 9), "new"), ticket_type="task"), "type"),
    ],
)
def test_a_bad_timer_names_the_field(build, field: str) -> None:
    with pytest.raises(ValueError) as caught:
        build()
    assert caught.value.field == field  # type: ignore[attr-defined]


def test_naive_times_and_bad_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        timer("resolution", H, (datetime(2026, 5, 4, 9), "new"))
    resolution = timer("resolution", H, (berlin(2026, 5, 4, 9), "new"))
    with pytest.raises(ValueError, match="has no time zone"):
        read(resolution, OFFICE, datetime(2026, 5, 4, 10))
    with pytest.raises(SlaInputError, match="thresholds"):
        due_warnings(resolution, OFFICE, berlin(2026, 5, 4, 10), thresholds=(0, 50))
