"""Silences: which silences mute an alert at an event time; expiry (by time or early) un-mutes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from ems.noise.errors import RuleError
from ems.noise.matchers import MatcherError
from ems.noise.silences import Silence, expire, silencing

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
M = timedelta(minutes=1)
WEB = {"alert_id": "a1", "service": ["web"], "severity": "critical", "environment": "production"}
DB = {"alert_id": "a2", "service": ["db"], "severity": "critical", "environment": "production"}


def silence(
    id: str = "s1", matchers: str = 'service="web"', start: datetime = T0, minutes: int = 30
) -> Silence:
    return Silence(id, matchers, start, start + minutes * M, created_by="ops", comment="deploy")


def test_a_silence_mutes_matching_alerts_only_while_active() -> None:
    s = silence()
    assert silencing([s], WEB, T0 - M) == []  # pending
    assert silencing([s], WEB, T0) == ["s1"]  # starts_at included
    assert silencing([s], DB, T0 + M) == []
    assert silencing([s], WEB, T0 + 30 * M) == []  # ends_at excluded
    assert [s.state_at(T0 - M), s.state_at(T0), s.state_at(T0 + 30 * M)] == ["pending", "active", "expired"]


def test_several_silences_are_listed_in_id_order() -> None:
    silences = [silence("s2", 'severity=~"crit.*"'), silence("s1"), silence("s3", 'environment="staging"')]
    assert silencing(silences, WEB, T0 + M) == ["s1", "s2"]
    assert silencing(silences, DB, T0 + M) == ["s2"]


def test_a_silence_expiring_mid_stream_unmutes() -> None:
    silences = [silence(minutes=10)]
    stream = [T0 + k * 3 * M for k in range(6)]  # an event every 3 minutes: 0, 3, ... 15
    assert [bool(silencing(silences, WEB, t)) for t in stream] == [True, True, True, True, False, False]
    # expired early by an operator at T0+5m: the event at T0+6m is no longer muted
    early = [expire(silences[0], T0 + 5 * M)]
    assert [bool(silencing(early, WEB, t)) for t in stream] == [True, True, False, False, False, False]
    assert early[0].state_at(T0 + 5 * M) == "expired"


def test_expiring_is_idempotent_and_keeps_the_earlier_time() -> None:
    s = expire(silence(), T0 + 5 * M)
    assert expire(s, T0 + 8 * M) == s  # a replayed or later expiry changes nothing
    assert expire(s, T0 + 2 * M).expired_at == T0 + 2 * M
    never = expire(silence(start=T0 + 60 * M), T0)  # expired while pending: never mutes
    assert [never.state_at(t) for t in (T0 + 61 * M, T0 + 89 * M)] == ["expired", "expired"]


@pytest.mark.parametrize(
    ("build", "error", "field"),
    [
        (lambda: silence(matchers=""), MatcherError, "matchers"),
        (lambda: silence(matchers='service=~".*"'), MatcherError, "matchers"),  # would mute every alert
        (lambda: silence(matchers='service=~"web("'), MatcherError, "matchers"),
        (lambda: silence(minutes=0), RuleError, "ends_at"),
        (
            lambda: Silence("s", 'service="web"', T0, T0 + M, created_by=" ", comment="x"),
            RuleError,
            "created_by",
        ),
        (
            lambda: Silence("s", 'service="web"', T0, T0 + M, created_by="ops", comment=""),
            RuleError,
            "comment",
        ),
    ],
)
def test_bad_silences_are_refused_naming_the_field(
    build: Callable[[], object], error: type[Exception], field: str
) -> None:
    with pytest.raises(error) as caught:
        build()
    assert caught.value.field == field  # type: ignore[attr-defined]


def test_a_negative_matcher_alone_is_allowed_when_it_does_not_match_empty() -> None:
    s = silence(matchers='environment!=""')  # "" does not satisfy != "": not everything is muted
    assert silencing([s], WEB, T0) == ["s1"]
    assert silencing([s], {"alert_id": "a3"}, T0) == []
