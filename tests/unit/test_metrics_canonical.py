"""The plain check of canonical metrics observations: whatever it accepts, the full decode accepts
with the same key and samples; what it declines goes to the full decode (normalize, projection)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import ConsumerRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from ems.agents.anomaly_worker import read_samples
from ems.agents.normalize_worker import NormalizeWorker, canonical_metrics_key
from ems.projections.metrics_records import from_observation
from ems.schemas.metrics_canonical import NotCanonical, read_canonical
from ems.schemas.observation import EventBody, MetricSample, MetricsBody, Observation
from ems.settings import Settings
from ems.streams.codecs import DecodeError, decode, encode
from tests.unit.helpers import ENVELOPE_MUTATIONS, canonical_texts, canonical_times, mutated

T0 = datetime(2026, 11, 27, 23, 59, 30, tzinfo=UTC)
texts, times = canonical_texts, canonical_times
samples = st.builds(
    MetricSample,
    name=texts.filter(str.strip),
    value=st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53),
    labels=st.dictionaries(texts.filter(str.strip), texts, max_size=3),
    at=st.none() | times,
)
observations = st.builds(
    Observation,
    source=texts.filter(str.strip),
    asset_id=st.none() | texts,
    tenant=st.none() | st.sampled_from(["acme", "a.b-c_9"]),
    submitted_by=st.none() | texts,
    occurred_at=times,
    body=st.builds(MetricsBody, samples=st.lists(samples, min_size=1, max_size=4)),
)


@settings(max_examples=200, deadline=None)
@given(observations)
def test_encoded_observations_are_canonical_and_read_as_validated(obs: Observation) -> None:
    assert read_canonical(orjson.loads(encode(obs))) == from_observation(obs)


# (path into the record, a value put there); "+" adds a key, "-" removes it.
MUTATIONS = [
    *ENVELOPE_MUTATIONS,
    (("body", "kind"), "event"),
    (("body", "+", "extra"), 1),
    (("body", "samples"), []),
    (("body", "samples"), [{"name": "m", "value": 1.0, "labels": {}, "at": None}] * 10_001),
    (("body", "samples", 0, "name"), "m\x00"),
    (("body", "samples", 0, "name"), "m "),
    (("body", "samples", 0, "name"), ""),
    (("body", "samples", 0, "value"), True),
    (("body", "samples", 0, "value"), 2**60),
    (("body", "samples", 0, "value"), "1"),
    (("body", "samples", 0, "value"), None),
    (("body", "samples", 0, "labels"), {f"k{i}": "v" for i in range(33)}),
    (("body", "samples", 0, "labels"), {"": "v"}),
    (("body", "samples", 0, "labels"), {"k": "v\x00"}),
    (("body", "samples", 0, "labels"), {"k": "x" * 1025}),
    (("body", "samples", 0, "labels"), {"k": 1}),
    (("body", "samples", 0, "labels"), ["k"]),
    (("body", "samples", 0, "at"), "0001-01-01T00:00:00Z"),
    (("body", "samples", 0, "at"), "2026-11-27T23:59:30+24:00"),
    (("body", "samples", 0, "at"), ["x"]),
    (("body", "samples", 0, "+", "extra"), 1),
    (("body", "samples", 0, "-", "at"), None),
]


@settings(max_examples=300, deadline=None)
@given(observations, st.sampled_from(MUTATIONS))
def test_what_the_check_accepts_the_full_decode_accepts_alike(obs: Observation, mutation: tuple) -> None:
    raw = orjson.dumps(mutated(orjson.loads(encode(obs)), *mutation))
    try:
        fast = read_canonical(orjson.loads(raw))
    except NotCanonical:
        return  # the full decode reads it (or refuses it) where this is used
    assert fast == from_observation(decode(raw, Observation))


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: f"{m[0]}={str(m[1])[:20]!r}")
def test_every_rule_of_the_schema_is_checked(mutation: tuple) -> None:
    obs = Observation(
        source="nms",
        asset_id="r1",
        occurred_at=T0,
        body=MetricsBody(samples=[MetricSample(name="m", value=1, labels={"if": "1"})]),
    )
    data = mutated(orjson.loads(encode(obs)), *mutation)
    with pytest.raises(NotCanonical):
        read_canonical(data)


def _msg(raw: bytes) -> ConsumerRecord:
    return ConsumerRecord("raw", 0, 7, 1_764_000_000_000, 0, None, raw, None, len(raw), 0, [])


async def test_normalize_forwards_a_canonical_record_as_it_came_and_letters_a_bad_one() -> None:
    worker, sent, letters = NormalizeWorker(Settings()), [], []

    async def emit(producer, topic, value, key=None, partition=None) -> None:
        sent.append((topic, key, value))

    class Dead:
        async def reject(self, reason: str, msg: ConsumerRecord) -> None:
            letters.append(reason)

    worker.emit = emit
    obs = Observation(
        source="nms",
        asset_id="r1",
        occurred_at=T0,
        body=MetricsBody(samples=[MetricSample(name="m", value=1)]),
    )
    raw = encode(obs)
    assert canonical_metrics_key(raw) == "r1"
    assert await worker._handle(_msg(raw), None, Dead()) is None
    assert sent == [(worker.metrics_topic, b"r1", raw)]  # the very bytes

    bad = raw.replace(b'"name":"m"', b'"name":"m\\u0000"')
    assert canonical_metrics_key(bad) is None
    assert await worker._handle(_msg(bad), None, Dead()) is None
    assert len(sent) == 1 and letters and "must not contain NUL" in letters[0]
    with pytest.raises(DecodeError, match="must not contain NUL"):
        decode(bad, Observation)


def test_other_kinds_are_not_taken_for_metrics() -> None:
    obs = Observation(source="nms", asset_id="r1", body=EventBody(event="metrics", severity="critical"))
    assert canonical_metrics_key(encode(obs)) is None


def test_the_anomaly_stage_reads_the_samples_either_way_with_the_tenant() -> None:
    obs = Observation(
        source="nms",
        asset_id="r1",
        tenant="acme",
        occurred_at=T0,
        body=MetricsBody(samples=[MetricSample(name="m", value=1, labels={"if": "1"})]),
    )
    assert read_samples(_msg(encode(obs))) == from_observation(obs)
    assert from_observation(obs).tenant == "acme"
    bare = orjson.dumps(
        {
            "source": "nms",
            "asset_id": "r1",
            "body": {"kind": "metrics", "samples": [{"name": "m", "value": 2}]},
        }
    )
    [(name, value, labels, at)] = read_samples(_msg(bare)).samples  # no time: the Kafka record's
    assert (name, value, at) == ("m", 2.0, datetime.fromtimestamp(1_764_000_000, UTC))
    with pytest.raises(DecodeError, match="must not contain NUL"):
        read_samples(_msg(encode(obs).replace(b'"name":"m"', b'"name":"m\\u0000"')))
