"""Maintenance windows: scopes, status pending/active/ended, next start/end, cancelling, DST days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ems.noise.errors import RuleError
from ems.noise.matchers import alert_fields, parse_matchers
from ems.noise.schedule import OneOff, Recurring
from ems.noise.windows import (
    MaintenanceWindow,
    Scope,
    active_at,
    covering,
    next_end,
    next_start,
    status_at,
)

BERLIN = ZoneInfo("Europe/Berlin")
NIGHTLY = Recurring("daily", "02:00-04:00", "Europe/Berlin")
ROUTER = alert_fields(
    {"alert_id": "a1", "asset_id": "ast_r1", "event": "if_down", "source": "snmp",
     "environment": "production", "severity": "major", "service": ["network"], "tags": [], "attributes": {}},
    {"tags": ["core", "fra"], "business_service": "payments", "site": "fra1"},
)  # fmt: skip


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def window(scope: Scope, schedule: OneOff | Recurring = NIGHTLY, **kw: object) -> MaintenanceWindow:
    return MaintenanceWindow("w1", scope, schedule, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scope", "covers"),
    [
        (Scope(asset_ids=frozenset({"ast_r1"})), True),
        (Scope(asset_ids=frozenset({"ast_r2"})), False),
        (Scope(asset_tags=frozenset({"core"})), True),
        (Scope(asset_tags=frozenset({"edge"})), False),
        (Scope(business_services=frozenset({"payments"})), True),
        (Scope(business_services=frozenset({"network"})), True),  # the alert's own service
        (Scope(business_services=frozenset({"shop"})), False),
        (Scope(sites=frozenset({"fra1", "ams1"})), True),
        (Scope(sites=frozenset({"ams1"})), False),
        (Scope(environments=frozenset({"staging"})), False),
        (Scope(events=frozenset({"if_down"}), sources=frozenset({"snmp"})), True),
        (Scope(events=frozenset({"if_down"}), sources=frozenset({"syslog"})), False),  # every part must match
        (Scope(sites=frozenset({"fra1"}), matchers=parse_matchers('severity=~"crit.*"')), False),
        (Scope(sites=frozenset({"fra1"}), matchers=parse_matchers('severity=~"maj.*"')), True),
    ],
)
def test_scopes(scope: Scope, covers: bool) -> None:
    assert scope.covers(ROUTER) is covers


def test_an_empty_scope_is_refused() -> None:
    with pytest.raises(RuleError) as caught:
        Scope()
    assert caught.value.field == "scope"


def test_one_off_status_pending_active_ended() -> None:
    once = window(Scope(sites=frozenset({"fra1"})), OneOff(berlin(2026, 5, 1, 2), berlin(2026, 5, 1, 4)))
    assert status_at(once, berlin(2026, 5, 1, 1)) == "pending"
    assert next_start(once, berlin(2026, 5, 1, 1)) == berlin(2026, 5, 1, 2)
    assert status_at(once, berlin(2026, 5, 1, 2)) == "active"  # start included
    assert active_at(once, berlin(2026, 5, 1, 3, 59))
    assert next_end(once, berlin(2026, 5, 1, 3)) == berlin(2026, 5, 1, 4)
    assert next_start(once, berlin(2026, 5, 1, 3)) is None
    assert status_at(once, berlin(2026, 5, 1, 4)) == "ended"  # end excluded
    assert next_end(once, berlin(2026, 5, 1, 4)) is None


def test_recurring_status_and_next_edges_across_the_spring_change() -> None:
    nightly = window(Scope(sites=frozenset({"fra1"})))
    # 02:30 CET does not exist on 29 March; just before the change the window is not open yet
    before_change = datetime(2026, 3, 29, 0, 59, tzinfo=UTC)  # 01:59 CET
    assert status_at(nightly, before_change) == "pending"
    assert next_start(nightly, before_change) == datetime(2026, 3, 29, 1, tzinfo=UTC)  # 03:00 CEST
    assert active_at(nightly, berlin(2026, 3, 29, 3, 30))
    assert next_end(nightly, berlin(2026, 3, 29, 3, 30)) == berlin(2026, 3, 29, 4)
    assert next_start(nightly, berlin(2026, 3, 29, 3, 30)) == berlin(2026, 3, 30, 2)
    assert status_at(nightly, berlin(2026, 3, 29, 4)) == "pending"  # recurring: never ends


def test_recurring_window_on_the_fall_back_day() -> None:
    nightly = window(Scope(sites=frozenset({"fra1"})))
    assert active_at(nightly, datetime(2026, 10, 25, 0, 0, tzinfo=UTC))  # 02:00 CEST
    assert active_at(nightly, datetime(2026, 10, 25, 1, 30, tzinfo=UTC))  # 02:30 CET, the second pass
    assert active_at(nightly, datetime(2026, 10, 25, 2, 59, tzinfo=UTC))  # 03:59 CET
    assert not active_at(nightly, datetime(2026, 10, 25, 3, 0, tzinfo=UTC))  # 04:00 CET
    assert next_end(nightly, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)) == datetime(
        2026, 10, 25, 3, tzinfo=UTC
    )


def test_bounded_recurring_window_ends() -> None:
    bounded = Recurring("daily", "02:00-04:00", "Europe/Berlin", not_after=berlin(2026, 5, 3))
    w = window(Scope(sites=frozenset({"fra1"})), bounded)
    assert status_at(w, berlin(2026, 5, 2, 5)) == "ended"
    assert status_at(w, berlin(2026, 5, 2, 1)) == "pending"


def test_cancelling_ends_the_window_at_the_cancel_time() -> None:
    w = window(Scope(sites=frozenset({"fra1"})), cancelled_at=berlin(2026, 5, 2, 3))
    assert active_at(w, berlin(2026, 5, 2, 2, 30))
    assert next_end(w, berlin(2026, 5, 2, 2, 30)) == berlin(2026, 5, 2, 3)
    assert not active_at(w, berlin(2026, 5, 2, 3, 30))
    assert status_at(w, berlin(2026, 5, 2, 3)) == "ended"
    assert next_start(w, berlin(2026, 5, 1, 12)) == berlin(2026, 5, 2, 2)
    assert next_start(w, berlin(2026, 5, 2, 12)) is None


def test_touching_intervals_are_one() -> None:
    always = window(Scope(sites=frozenset({"fra1"})), Recurring("daily", "00:00-24:00", "UTC"))
    at = datetime(2026, 5, 1, 12, tzinfo=UTC)
    assert active_at(always, datetime(2026, 5, 2, tzinfo=UTC))
    assert next_start(always, at) is None  # open without a break until the search horizon
    assert next_end(always, at) is not None and next_end(always, at) - at > timedelta(days=365)  # type: ignore[operator]


def test_covering_lists_open_windows_in_scope_in_id_order() -> None:
    at = berlin(2026, 5, 1, 3)
    windows = [
        MaintenanceWindow("w2", Scope(sites=frozenset({"fra1"})), NIGHTLY, mode="drop"),
        MaintenanceWindow("w1", Scope(asset_tags=frozenset({"core"})), NIGHTLY),
        MaintenanceWindow("w3", Scope(sites=frozenset({"ams1"})), NIGHTLY),
        MaintenanceWindow(
            "w4", Scope(sites=frozenset({"fra1"})), OneOff(berlin(2026, 6, 1), berlin(2026, 6, 2))
        ),
    ]
    assert [w.id for w in covering(windows, ROUTER, at)] == ["w1", "w2"]
    assert covering(windows, ROUTER, berlin(2026, 5, 1, 5)) == []


def test_bad_mode_is_refused() -> None:
    with pytest.raises(RuleError) as caught:
        window(Scope(sites=frozenset({"fra1"})), mode="mute")
    assert caught.value.field == "mode"
