"""The heartbeat stage's pure core: ok / slow / expired in event time, the missing alert raised once at
the due time and cleared by the next beat, a late beat never expiring at once, restore from batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ems.agents.heartbeats import EVENT, Beat, Monitor
from ems.projections.heartbeats import HeartbeatsProjection
from ems.schemas.heartbeat import HeartbeatBatch, heartbeat_id
from ems.schemas.observation import HeartbeatBody, Observation

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def beat(at: datetime, origin: str = "cron/web01", timeout: int = 60, latency_ms: int = 5, **kw) -> Beat:
    return Beat(origin, timeout, at - timedelta(milliseconds=latency_ms), at, **kw)


def alerts(step) -> list[tuple[str, str, str, datetime]]:
    return [(a.body.event, a.body.severity, a.body.resource, a.occurred_at) for a in step.alerts]


def test_a_beat_is_ok_then_slow_by_its_latency() -> None:
    m = Monitor()
    step = m.receive(beat(T0, tags=("dc1",), attributes={"environment": "staging"}))
    [change] = step.changes
    hb = change.heartbeat
    assert (change.kind, hb.status, hb.latency_ms, hb.due_at, hb.beats, hb.version) == (
        "received",
        "ok",
        5,
        T0 + timedelta(seconds=60),
        1,
        1,
    )
    assert hb.heartbeat_id == heartbeat_id("cron/web01", None) and step.alerts == []
    slow = m.receive(beat(T0 + timedelta(seconds=30), latency_ms=2500)).changes[0].heartbeat
    assert (slow.status, slow.latency_ms, slow.beats, slow.version) == ("slow", 2500, 2, 2)


def test_missed_beat_raises_the_alert_at_the_due_time_once_and_the_next_beat_clears_it() -> None:
    m = Monitor()
    m.receive(beat(T0, attributes={"environment": "staging"}))
    assert m.advance(T0 + timedelta(seconds=60) - timedelta(microseconds=1)).changes == []
    step = m.advance(T0 + timedelta(minutes=5))
    due = T0 + timedelta(seconds=60)
    assert alerts(step) == [(EVENT, "major", "cron/web01", due)]
    assert step.alerts[0].body.environment == "staging"
    [expired] = step.changes
    assert (expired.kind, expired.heartbeat.status, expired.heartbeat.expired_at) == (
        "expired",
        "expired",
        due,
    )
    assert m.advance(T0 + timedelta(hours=1)).changes == []  # raised once
    back = m.receive(beat(T0 + timedelta(hours=2)))
    assert alerts(back) == [(EVENT, "ok", "cron/web01", T0 + timedelta(hours=2))]
    assert back.changes[0].heartbeat.status == "ok" and back.changes[0].heartbeat.expired_at is None
    assert back.alerts[0].body.event == step.alerts[0].body.event  # same alert: raise and clear


def test_time_never_runs_backwards_a_late_beat_counts_at_the_clock() -> None:
    m = Monitor()
    m.receive(beat(T0, origin="a"))
    m.advance(T0 + timedelta(minutes=10))  # a tick far ahead: "a" expired
    late = m.receive(beat(T0 + timedelta(seconds=1), origin="a"))
    hb = late.changes[-1].heartbeat
    assert hb.received_at == T0 + timedelta(seconds=1)  # shown as received
    assert hb.due_at == T0 + timedelta(minutes=11)  # but due a timeout after the clock
    assert [a.body.severity for a in late.alerts] == ["ok"]
    assert m.advance(T0 + timedelta(minutes=10, seconds=30)).changes == []


def test_origins_are_separate_per_tenant_and_ids_are_stable() -> None:
    m = Monitor()
    a = m.receive(beat(T0, tenant="acme")).changes[0].heartbeat
    b = m.receive(beat(T0, tenant=None)).changes[0].heartbeat
    assert a.heartbeat_id != b.heartbeat_id and len(m.heartbeats) == 2
    step = m.advance(T0 + timedelta(minutes=2))
    assert sorted((o.tenant or "", o.event_id) for o in step.alerts) == sorted(
        [("acme", f"{a.heartbeat_id}:2:major"), ("", f"{b.heartbeat_id}:2:major")]
    )


def test_restored_monitor_decides_the_same_and_positions_skip_redeliveries() -> None:
    m = Monitor()
    assert m.seen("raw:0", 0) and m.seen("raw:0", 1) and not m.seen("raw:0", 1)
    first = m.receive(beat(T0))
    record = HeartbeatBatch.model_validate_json(m.batch(first.changes).model_dump_json())
    again = Monitor()
    again.restore([record])
    assert again.clock == T0 and not again.seen("raw:0", 1) and again.seen("raw:0", 2)
    assert alerts(again.advance(T0 + timedelta(minutes=2))) == alerts(m.advance(T0 + timedelta(minutes=2)))


def test_beat_of_an_observation_and_the_projection_rows() -> None:
    obs = Observation(
        source="cron/web01",
        occurred_at=T0,
        tenant="acme",
        body=HeartbeatBody(timeout=90, tags=["dc1"], attributes={"k": 1}),
    )
    b = Beat.of(obs, T0 + timedelta(milliseconds=40))
    assert (b.origin, b.timeout, b.tenant, b.tags, b.attributes) == (
        "cron/web01",
        90,
        "acme",
        ("dc1",),
        {"k": 1},
    )
    step = Monitor().receive(b)
    rows = list(HeartbeatsProjection().rows(HeartbeatBatch(changes=step.changes)))
    [(upsert, row)] = rows
    values = dict(zip(upsert.columns, row, strict=True))
    assert (values["origin"], values["status"], values["latency_ms"], values["timeout"]) == (
        "cron/web01",
        "ok",
        40,
        90,
    )
