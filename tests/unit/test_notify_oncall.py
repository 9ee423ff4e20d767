"""On-call schedules (notify/oncall.py): who is on call at an instant across hand-offs, a DST change in
the schedule's zone, a hand-off in the DST gap, weekly rotations and overrides; the settings refusing
bad schedules naming the field at fault."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from ems.notify.oncall import ScheduleConfig, on_call
from ems.settings import Settings


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def paris(**given: object) -> ScheduleConfig:
    spec = {"name": "primary", "time_zone": "Europe/Paris", "rotation": ["alice", "bob"], "handoff": "09:00",
            "length": "1d", "start": "2026-03-27"} | given  # fmt: skip
    return ScheduleConfig.model_validate(spec)


def test_a_daily_rotation_hands_off_at_nine_local_time_across_the_spring_dst_change() -> None:
    s = paris()
    # 27 March: alice from 09:00 CET (08:00 UTC); 28th: bob; 29th (clocks moved on at 02:00): alice again
    # from 09:00 CEST, which is 07:00 UTC; a naive 24 h shift would have kept bob until 08:00 UTC.
    assert [on_call(s, utc(t)) for t in ("2026-03-27T07:59", "2026-03-27T08:00", "2026-03-28T07:59")] == [
        "bob", "alice", "alice"
    ]  # fmt: skip
    assert on_call(s, utc("2026-03-28T08:00")) == "bob"
    assert on_call(s, utc("2026-03-29T06:59")) == "bob"
    assert on_call(s, utc("2026-03-29T07:00")) == "alice"
    assert on_call(s, utc("2026-03-30T07:00")) == "bob"
    # The autumn change (03:00 CEST became 02:00 CET): 25 October, 212 days on (alice's), starts at 09:00
    # CET, 08:00 UTC again.
    assert on_call(s, utc("2026-10-25T07:59")) == "bob" and on_call(s, utc("2026-10-25T08:00")) == "alice"


def test_a_hand_off_in_the_dst_gap_happens_at_the_change() -> None:
    s = paris(handoff="02:30", start="2026-03-28")  # 29 March 02:30 does not exist in Paris
    assert on_call(s, utc("2026-03-28T01:30")) == "alice"  # 02:30 CET
    assert on_call(s, utc("2026-03-29T00:59")) == "alice"
    assert on_call(s, utc("2026-03-29T01:00")) == "bob"  # 02:00 CET became 03:00 CEST


def test_a_weekly_rotation_starts_on_the_first_handoff_weekday_and_wraps() -> None:
    s = paris(rotation=["alice", "bob", "carol"], handoff="Mon 09:00", length="1w", start="2026-03-25")
    assert on_call(s, utc("2026-03-30T06:59")) == "carol"  # before the first shift: the one before it
    assert on_call(s, utc("2026-03-30T07:00")) == "alice"  # Monday 30 March 09:00 CEST
    assert on_call(s, utc("2026-04-06T07:00")) == "bob"
    assert on_call(s, utc("2026-04-13T06:59")) == "bob" and on_call(s, utc("2026-04-13T07:00")) == "carol"
    assert on_call(s, utc("2026-04-20T07:00")) == "alice"


def test_an_override_puts_another_user_on_call_for_its_span_the_last_listed_winning() -> None:
    overrides = [
        {"user": "carol", "start": "2026-03-29T12:00", "end": "2026-03-29T18:00"},  # naive: Paris time
        {"user": "dave", "start": "2026-03-29T15:00:00+00:00", "end": "2026-03-29T15:30:00+00:00"},
    ]
    s = paris(rotation=["alice", "bob", "carol", "dave"], overrides=overrides)
    assert on_call(s, utc("2026-03-29T09:59")) == "carol"  # the rotation: 29th is carol's day anyway
    s = paris(overrides=overrides)
    assert on_call(s, utc("2026-03-29T09:59")) == "alice"
    assert on_call(s, utc("2026-03-29T10:00")) == "carol"  # 12:00 CEST
    assert on_call(s, utc("2026-03-29T15:10")) == "dave"
    assert on_call(s, utc("2026-03-29T15:59")) == "carol" and on_call(s, utc("2026-03-29T16:00")) == "alice"
    with pytest.raises(ValueError, match="naive"):
        on_call(s, datetime(2026, 3, 29, 12))


def test_settings_refuse_bad_schedules_and_users_naming_the_field() -> None:
    hook = {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:1/x", "secret": "s3cret-zz"}
    users = [{"name": "alice", "receivers": ["hook"]}]
    base = {"name": "p", "time_zone": "UTC", "rotation": ["alice"], "start": "2026-01-01"}
    ok = Settings(notify_receivers=[hook], notify_users=users, notify_schedules=[base])
    assert ok.notify_schedules[0].length == 7 * 86_400

    def overridden(user: str, start: str, end: str) -> dict:
        return {"notify_schedules": [base | {"overrides": [{"user": user, "start": start, "end": end}]}]}

    stranger = {"notify_users": [{"name": "a", "receivers": ["no"]}]}
    cases = {
        "not an IANA time zone": {"notify_schedules": [base | {"time_zone": "Mars/Olympus"}]},
        "not a hand-off time": {"notify_schedules": [base | {"handoff": "Mon 9h"}]},
        "not a whole number of days": {"notify_schedules": [base | {"length": "36h"}]},
        "length: a weekly hand-off": {"notify_schedules": [base | {"handoff": "Tue 10:00", "length": "10d"}]},
        r"rotation: unknown user\(s\) zed": {"notify_schedules": [base | {"rotation": ["zed"]}]},
        "overrides.0: end 2026-01-01T00:00:00 is not after": overridden("alice", "2026-01-02", "2026-01-01"),
        "notify_schedules.0.overrides.0.user: unknown user": overridden("zed", "2026-01-01", "2026-01-02"),
        r"notify_users.0.receivers: unknown receiver\(s\) no": stranger,
        "notify_users: names used twice": {"notify_users": users + users},
    }  # fmt: skip
    for reason, given in cases.items():
        with pytest.raises(ValidationError, match=reason):
            Settings(**{"notify_receivers": [hook], "notify_users": users, **given})
