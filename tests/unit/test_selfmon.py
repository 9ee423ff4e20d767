"""Self-monitoring decisions (agents/selfmon.py): readings -> alert events with clears, no repeats."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from ems.agents.selfmon import (
    PROCESS_GONE,
    PROCESS_UNHEALTHY,
    STAGE_LAG_HIGH,
    Probe,
    SelfMonitor,
    stage_verdicts,
    target_verdicts,
)
from ems.api.health import judge_stages
from ems.settings import Settings

AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
NOW = AT.timestamp()
API = "http://api:8080/health"
SETTINGS = Settings(stuck_after=60, health_forget_after=3600)


def hb(stage: str, **fields: object) -> dict:
    base = {"stage": stage, "instance": "host:1", "state": "running", "since": NOW - 300}
    return base | {"last_progress": NOW - 1, "lag": 0, "process_restarts": 0} | fields


def report(*beats: dict, seen: dict | None = None) -> dict:
    return judge_stages(seen or {}, list(beats), NOW, SETTINGS)[0]


def summary(events: list) -> list[tuple[str, str, str]]:
    return [(e.body.event, e.body.resource, e.body.severity) for e in events]


def started(monitor: SelfMonitor, verdicts: dict) -> None:
    """Past the first round (whose clears resolve what an earlier run raised)."""
    monitor.step(verdicts, AT)


def test_a_target_that_does_not_answer_is_gone_then_back() -> None:
    monitor = SelfMonitor()
    started(monitor, target_verdicts(Probe(API, 200, {"status": "ok"})))
    down = monitor.step(target_verdicts(Probe(API, error="ConnectError: refused")), AT)
    assert summary(down) == [(PROCESS_GONE, API, "major")]
    event = down[0]
    assert "self-monitoring" in event.body.tags and event.source == "self-monitor"
    assert event.body.timeout == 0 and "refused" in event.body.text
    assert monitor.step(target_verdicts(Probe(API, error="ConnectError: refused")), AT) == []  # no repeat
    assert summary(monitor.step(target_verdicts(Probe(API, 200, {})), AT)) == [(PROCESS_GONE, API, "ok")]


def test_a_target_is_unhealthy_for_its_own_failed_checks_not_for_the_stages() -> None:
    stages_only = {
        "status": "degraded",
        "problems": ["normalize: no live worker"],
        "checks": {"kafka": {"ok": True}},
    }
    assert all(v.healthy for v in target_verdicts(Probe(API, 503, stages_only)).values())
    pg_down = {"checks": {"kafka": {"ok": True}, "postgres": {"ok": False, "error": "TimeoutError"}}}
    verdict = target_verdicts(Probe(API, 503, pg_down))[(PROCESS_UNHEALTHY, API)]
    assert verdict.severity == "minor" and "postgres: TimeoutError" in verdict.text
    refused = target_verdicts(Probe(API, 401, {"detail": "no credentials"}))[(PROCESS_UNHEALTHY, API)]
    assert refused.severity == "minor" and "HTTP 401" in refused.text


def test_the_first_round_clears_what_is_healthy_once() -> None:
    monitor = SelfMonitor()
    first = monitor.step(target_verdicts(Probe(API, 200, {})), AT)
    assert sorted(summary(first)) == [(PROCESS_GONE, API, "ok"), (PROCESS_UNHEALTHY, API, "ok")]
    assert monitor.step(target_verdicts(Probe(API, 200, {})), AT) == []


def test_a_stage_without_a_live_worker_is_gone_and_its_lag_left_as_it_was() -> None:
    monitor = SelfMonitor()
    started(monitor, stage_verdicts(report(hb("normalize", lag=20_000)), 10_000))
    assert monitor.raised.keys() == {(STAGE_LAG_HIGH, "normalize")}
    gone = monitor.step(stage_verdicts(report(seen={"normalize": NOW - 20}), 10_000), AT, settled=["stage"])
    assert summary(gone) == [(PROCESS_GONE, "normalize", "major")]
    assert (STAGE_LAG_HIGH, "normalize") in monitor.raised
    back = monitor.step(stage_verdicts(report(hb("normalize", lag=5)), 10_000), AT, settled=["stage"])
    assert sorted(summary(back)) == [(PROCESS_GONE, "normalize", "ok"), (STAGE_LAG_HIGH, "normalize", "ok")]


def test_lag_above_the_threshold_then_stalled_escalates_then_clears() -> None:
    monitor = SelfMonitor()
    started(monitor, stage_verdicts(report(hb("projection:alerts")), 10_000))
    high = monitor.step(stage_verdicts(report(hb("projection:alerts", lag=10_001)), 10_000), AT)
    assert summary(high) == [(STAGE_LAG_HIGH, "projection:alerts", "warning")]
    assert high[0].body.attributes["lag"] == 10_001 and high[0].body.attributes["threshold"] == 10_000
    assert monitor.step(stage_verdicts(report(hb("projection:alerts", lag=12_000)), 10_000), AT) == []
    stalled = stage_verdicts(report(hb("projection:alerts", lag=12, last_progress=NOW - 90)), 10_000)
    events = monitor.step(stalled, AT)
    assert summary(events) == [(STAGE_LAG_HIGH, "projection:alerts", "minor")]
    assert "stuck" in events[0].body.text and events[0].body.attributes["stalled_s"] == 90.0
    ok = monitor.step(stage_verdicts(report(hb("projection:alerts", lag=0)), 10_000), AT)
    assert summary(ok) == [(STAGE_LAG_HIGH, "projection:alerts", "ok")]


def test_a_paused_or_crash_looping_stage_is_unhealthy() -> None:
    monitor = SelfMonitor()
    started(monitor, stage_verdicts(report(hb("assets")), 10_000))
    paused = monitor.step(stage_verdicts(report(hb("assets", state="paused", reason="pg away")), 10_000), AT)
    assert summary(paused) == [(PROCESS_UNHEALTHY, "assets", "minor")]
    assert "pg away" in paused[0].body.text and paused[0].body.attributes["kinds"] == ["paused"]
    loop = hb("assets", process_restarts=6, process_started=NOW - 5)
    assert monitor.step(stage_verdicts(report(loop), 10_000), AT) == []  # still minor: unchanged
    assert summary(monitor.step(stage_verdicts(report(hb("assets")), 10_000), AT)) == [
        (PROCESS_UNHEALTHY, "assets", "ok")
    ]


def test_a_stage_no_longer_monitored_is_cleared_only_when_the_reading_was_complete() -> None:
    monitor = SelfMonitor()
    started(monitor, stage_verdicts(report(seen={"apm": NOW - 10}), 10_000))
    assert monitor.raised.keys() == {(PROCESS_GONE, "apm")}
    assert monitor.step({}, AT) == []  # Redis unreadable: nothing known, nothing cleared
    assert summary(monitor.step({}, AT, settled=["target"])) == []  # other scope
    assert summary(monitor.step({}, AT, settled=["stage"])) == [(PROCESS_GONE, "apm", "ok")]


def test_a_target_that_is_not_an_http_url_is_refused_naming_the_setting() -> None:
    for bad in (["ftp://api/health"], ["api:8080/health"], ["http://api/" + "x" * 300]):
        with pytest.raises(ValidationError, match="selfmon_targets"):
            Settings(selfmon_targets=bad)
    assert Settings(selfmon_targets=[" http://api:8080/health/live "]).selfmon_targets == [
        "http://api:8080/health/live"
    ]
