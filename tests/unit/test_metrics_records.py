"""Reading ems.metrics records without re-validation: same samples as the full decode, clear rejects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from aiokafka import ConsumerRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from ems.agents.normalize_worker import NormalizeWorker
from ems.projections.metrics import MetricsProjection
from ems.projections.metrics_records import MetricsRecord, from_observation, read_metrics
from ems.schemas.metrics_canonical import read_canonical
from ems.schemas.observation import EventBody, MetricSample, MetricsBody, Observation
from ems.settings import Settings
from ems.streams.codecs import DecodeError, decode, encode

T0 = datetime(2026, 11, 27, 23, 59, 30, tzinfo=UTC)
texts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=8
)
samples = st.builds(
    MetricSample,
    name=texts.filter(str.strip),
    value=st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53),
    labels=st.dictionaries(texts.filter(str.strip), texts, max_size=3),
    at=st.none()
    | st.datetimes(
        datetime(1971, 1, 1),
        datetime(2099, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))]),
    ),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(samples, min_size=1, max_size=5), st.sampled_from(["r1", " r1 ", None]))
def test_canonical_records_read_as_the_full_decode_does(items: list[MetricSample], asset: str | None) -> None:
    obs = Observation(source="nms", asset_id=asset, occurred_at=T0, body=MetricsBody(samples=items))
    raw = encode(obs)
    assert read_metrics(raw) == from_observation(decode(raw, Observation))


def test_records_not_in_canonical_form_are_decoded_in_full() -> None:
    sample = {"name": " cpu ", "value": 1, "labels": {"core": " 0"}}
    v3 = {
        "type": "observation",
        "schema_version": 3,
        "event_id": "e",
        "occurred_at": "2026-11-27T23:59:30+01:00",
    }
    for raw in (
        orjson.dumps(
            {**v3, "source": "nms", "asset_id": "r1", "body": {"kind": "metrics", "samples": [sample]}}
        ),
        orjson.dumps(
            {
                "source": "nms",
                "asset_id": "r1",
                "occurred_at": T0.isoformat(),
                "body": {"kind": "metrics", "samples": [sample]},
            }
        ),
    ):
        record = read_metrics(raw)
        assert record == from_observation(decode(raw, Observation))
        assert record.samples[0][0] == "cpu" and record.samples[0][2] == {"core": "0"}


def test_other_kinds_have_no_samples() -> None:
    obs = Observation(source="nms", asset_id="r1", body=EventBody(event="Down", severity="critical"))
    assert read_metrics(encode(obs)) == MetricsRecord("r1", [])


def _patched(**sample: object) -> bytes:
    obs = Observation(
        source="nms",
        asset_id="r1",
        occurred_at=T0,
        body=MetricsBody(samples=[MetricSample(name="m", value=1)]),
    )
    data = orjson.loads(encode(obs))
    data["body"]["samples"][0].update(sample)
    return orjson.dumps(data)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (None, "empty record"),
        (_patched(value="x"), "body.metrics.samples.0.value: Input should be a valid number"),
        (_patched(value=1.5).replace(b"1.5", b"1e400"), "invalid JSON"),
        (_patched(at="0001-01-01T00:00:00Z"), "samples.0.at: Input should be greater than or equal to 1970"),
        (_patched(at="yesterday"), "samples.0.at: Input should be a valid datetime"),
        (_patched(labels=["a"]), "samples.0.labels: Input should be a valid dictionary"),
        (_patched(labels={"k": 5}), "samples.0.labels.k: Input should be a valid string"),
        (_patched(name=7), "samples.0.name: Input should be a valid string"),
        (_patched(extra=1), "samples.0.extra: Extra inputs are not permitted"),  # the full decode's rule
    ],
)
def test_records_the_full_decode_refuses_raise_its_reason(raw: bytes | None, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        read_metrics(raw)


def test_projection_rows_are_the_same_from_either_reading() -> None:
    obs = Observation(
        source="nms",
        asset_id="r1",
        occurred_at=T0,
        body=MetricsBody(samples=[MetricSample(name="ifInOctets", value=3, labels={"b": "2", "a": "1"})]),
    )
    assert list(MetricsProjection().rows(read_metrics(encode(obs)))) == list(MetricsProjection().rows(obs))


async def test_normalize_publishes_metrics_in_the_form_read_without_validation() -> None:
    worker, sent = NormalizeWorker(Settings()), []

    async def emit(producer, topic, value, key=None, partition=None) -> None:
        sent.append((topic, key, value))

    worker.emit = emit
    raw = orjson.dumps(
        {
            "source": " nms",
            "asset_id": "r1",
            "body": {"kind": "metrics", "samples": [{"name": "m ", "value": 1}]},
        }
    )
    msg = ConsumerRecord("raw", 0, 7, 1_764_000_000_000, 0, None, raw, None, len(raw), 0, [])
    assert await worker._handle(msg, None, None) is None
    [(topic, key, value)] = sent
    assert topic == worker.metrics_topic and key == b"r1" and read_canonical(orjson.loads(value))
    assert read_metrics(value) == MetricsRecord(
        "r1", [("m", 1.0, {}, datetime.fromtimestamp(1_764_000_000, UTC))]
    )
