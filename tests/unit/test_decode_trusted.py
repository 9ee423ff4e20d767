"""decode_trusted: internal batch records built without validation equal the validated ones; anything
not shaped as `encode` writes it is validated (or refused with its reason) as `decode` does."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from pydantic import BaseModel

from ems.bench.hops import build
from ems.projections.alerts import AlertsProjection
from ems.projections.base import decoder_of
from ems.projections.events import EventsProjection
from ems.projections.metrics import MetricsProjection
from ems.schemas.alert import AlertChanged, AlertChangedBatch, AlertState, Transition
from ems.schemas.alert_command import EVENTS_TOPIC_RECORDS, AlertCommand
from ems.schemas.command import Command
from ems.schemas.event import Event, EventBatch
from ems.schemas.observation import Observation
from ems.settings import Settings
from ems.streams.codecs import DecodeError, decode, decode_trusted, encode
from ems.streams.trusted import plan
from tests.unit.helpers import POLICY

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
STATUSES = ["open", "acknowledged", "shelved", "resolved", "closed", "expired"]
KINDS = ["opened", "severity_changed", "resolved", "acked", "shelved", "assigned", "note", "expired"]


def maybe(rng: random.Random, value: object) -> object:
    return value if rng.random() < 0.5 else None


def when(rng: random.Random) -> datetime:
    """A time with microseconds, mostly UTC, sometimes another offset or naive."""
    at = T0 + timedelta(seconds=rng.randrange(10**7), microseconds=rng.randrange(10**6))
    pick = rng.random()
    if pick < 0.15:
        return at.astimezone(timezone(timedelta(hours=rng.choice([-5, 2, 9]))))
    return at.replace(tzinfo=None) if pick < 0.25 else at


def attributes(rng: random.Random) -> dict:
    return rng.choice([{}, {"seq": rng.randrange(100)}, {"a": {"b": [1, 2.5, None, "x"]}, "ok": True}])


def random_event(rng: random.Random, i: int) -> Event:
    return Event(
        occurred_at=when(rng),
        observation_id=f"obs-{i}",
        source=rng.choice(["nms", "prometheus"]),
        severity=rng.choice(["critical", "major", "ok"]),
        event="NodeDown",
        resource=f"ast_{i}",
        title=rng.choice(["", "Node down"]),
        asset_id=maybe(rng, f"ast_{i}"),
        service=rng.choice([[], ["web", "db"]]),
        tags=rng.choice([[], ["t-edge"]]),
        attributes=attributes(rng),
        value=maybe(rng, "97%"),
        timeout=maybe(rng, rng.randrange(3600)),
        fingerprint=f"fp-{i}",
        tenant=maybe(rng, "acme"),
        submitted_by=maybe(rng, "key:ops"),
        raw_partition=rng.randrange(4),
        raw_offset=rng.randrange(10**12),
    )


def random_change(rng: random.Random, i: int) -> AlertChanged:
    state = AlertState(
        alert_id=f"al-{i}",
        fingerprint=f"fp-{i}",
        status=rng.choice(STATUSES),
        severity="major",
        previous_severity=maybe(rng, "minor"),
        trend=rng.choice(["new", "more_severe", "no_change"]),
        event_count=rng.randrange(1, 50),
        duplicate_count=rng.randrange(50),
        first_seen=when(rng),
        last_seen=when(rng),
        last_event_id=f"ev-{i}",
        source="nms",
        event="LinkDown",
        resource="eth0",
        environment="production",
        service=rng.choice([[], ["web"]]),
        tags=rng.choice([[], ["t-core", "t-dns"]]),
        attributes=attributes(rng),
        version=rng.randrange(1, 100),
        timeout=rng.randrange(1000),
        assignee=maybe(rng, "ann"),
        acked_by=maybe(rng, "bob"),
        acked_at=maybe(rng, when(rng)),
        ack_until=maybe(rng, when(rng)),
        shelved_until=maybe(rng, when(rng)),
        status_changed_at=maybe(rng, when(rng)),
        tenant=maybe(rng, "acme"),
        repeats_at_severity=rng.randrange(10),
    )
    transitions = [
        Transition(
            kind=rng.choice(KINDS),
            event_id=f"ev-{i}-{j}",
            at=when(rng),
            severity="major",
            previous_severity=maybe(rng, "critical"),
            status=maybe(rng, rng.choice(STATUSES)),
            previous_status=maybe(rng, rng.choice(STATUSES)),
            actor=maybe(rng, "system"),
            reason=rng.choice(["", "maintenance"]),
        )
        for j in range(rng.randrange(3))
    ]
    return AlertChanged(occurred_at=when(rng), alert=state, transitions=transitions, events_applied=1)


def assert_same(raw: bytes, expect: type | tuple) -> None:
    trusted, validated = decode_trusted(raw, expect), decode(raw, expect)
    assert trusted == validated
    assert type(trusted) is type(validated)
    assert encode(trusted) == encode(validated)


@pytest.mark.parametrize("seed", range(60))
def test_random_batches_built_without_validation_equal_the_validated_ones(seed: int) -> None:
    rng = random.Random(seed)
    events = EventBatch(partition=1, events=[random_event(rng, i) for i in range(rng.randrange(1, 8))])
    changes = AlertChangedBatch(
        partition=2, changes=[random_change(rng, i) for i in range(rng.randrange(1, 8))]
    )
    assert_same(encode(events), EVENTS_TOPIC_RECORDS)
    assert_same(encode(changes), AlertChangedBatch)
    built = decode_trusted(encode(changes), AlertChangedBatch)
    assert all(type(c.alert) is AlertState for c in built.changes)
    assert all(type(t) is Transition for c in built.changes for t in c.transitions)


def test_the_records_the_stages_write_for_the_bench_decode_alike() -> None:
    data = build(400, 30, Settings())
    assert data["events"] and data["alerts"]
    for msg in data["events"]:
        assert_same(msg.value, EVENTS_TOPIC_RECORDS)
    for msg in data["alerts"]:
        assert_same(msg.value, AlertChangedBatch)


def change_dict(**alert: object) -> dict:
    """An encoded batch of one change (aware times only: trusted as written), `alert` fields replaced."""
    change = random_change(random.Random(1), 1)
    state = change.alert.model_copy(update={"first_seen": T0, "last_seen": T0, "acked_at": None})
    state = state.model_copy(update={"ack_until": None, "shelved_until": None, "status_changed_at": None})
    change = AlertChanged(occurred_at=T0, alert=state, transitions=[], events_applied=1)
    body = orjson.loads(encode(AlertChangedBatch(partition=0, changes=[change])))
    body["changes"][0]["alert"].update(alert)
    return body


def test_the_complete_record_of_the_helper_is_built_without_validation() -> None:
    raw = orjson.dumps(change_dict(status="gone"))  # a wrong value validation would refuse
    assert decode_trusted(raw, AlertChangedBatch).changes[0].alert.status == "gone"


def test_a_state_written_before_a_field_existed_gets_the_validators_default() -> None:
    body = change_dict(previous_severity=None, duplicate_count=7)
    del body["changes"][0]["alert"]["repeats_at_severity"]
    raw = orjson.dumps(body)
    assert decode_trusted(raw, AlertChangedBatch).changes[0].alert.repeats_at_severity == 7
    assert_same(raw, AlertChangedBatch)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b'"text"', "expected a JSON object, got str"),
        (None, "empty record"),
        (orjson.dumps({"type": "alert_changed_batch", "partition": 0, "changes": 5}), "changes"),
        (orjson.dumps({"type": "alert_changed_batch", "partition": 0, "changes": [1]}), "changes.0"),
        (orjson.dumps(change_dict(surplus=1)), "surplus"),
        (orjson.dumps(change_dict(first_seen="yesterday")), "first_seen"),
        (
            orjson.dumps({"type": "event_batch", "partition": 0, "events": []}),
            "invalid event_batch",
        ),
    ],
)
def test_what_encode_did_not_write_is_validated_or_refused_with_its_reason(raw, reason) -> None:
    with pytest.raises(DecodeError) as trusted:
        decode_trusted(raw, AlertChangedBatch)
    with pytest.raises(DecodeError) as validated:
        decode(raw, AlertChangedBatch)
    assert str(trusted.value) == str(validated.value)
    assert reason in str(trusted.value)


def test_operator_commands_on_the_events_topic_are_still_validated() -> None:
    good = AlertCommand(
        command=Command(name="alert.ack", target="fp", actor="ann"),
        fingerprint="fp",
        source_partition=0,
        source_offset=1,
    )
    body = orjson.loads(encode(good))
    body["command"]["actor"] = "x" * 300  # beyond its bound: a validated record refuses it
    with pytest.raises(DecodeError, match="command.actor"):
        decode_trusted(orjson.dumps(body), EVENTS_TOPIC_RECORDS)
    assert decode_trusted(encode(good), EVENTS_TOPIC_RECORDS) == good


def test_a_model_with_a_field_the_plan_cannot_build_is_refused_when_planned() -> None:
    class Odd(BaseModel):
        times: dict[str, datetime]

    with pytest.raises(TypeError, match="no trusted construction"):
        plan(Odd)


def test_projections_of_internal_topics_choose_the_trusted_decoder() -> None:
    assert decoder_of(AlertsProjection(POLICY)) is decode_trusted
    assert decoder_of(EventsProjection()) is decode_trusted
    assert decoder_of(MetricsProjection.__new__(MetricsProjection)) is decode  # the raw topic


def test_a_type_outside_trusted_is_validated() -> None:
    raw = orjson.dumps({"type": "observation", "source": "nms", "body": {"kind": "event"}})
    with pytest.raises(DecodeError) as trusted:
        decode_trusted(raw, Observation)
    with pytest.raises(DecodeError) as validated:
        decode(raw, Observation)
    assert str(trusted.value) == str(validated.value) and "body.event.event" in str(trusted.value)
