import uuid

import orjson
import pytest

from ems.ml.offline import alert_changes
from ems.schemas.alert import AlertChanged, AlertChangedBatch
from ems.schemas.envelope import new_id
from ems.schemas.observation import Observation
from ems.schemas.registry import observation_v1_to_v2
from ems.streams.codecs import DecodeError, decode, encode, encode_with
from tests.unit.helpers import observation

SEED_V1 = {  # the seed's first API shape, as v1 records were written
    "type": "observation",
    "schema_version": 1,
    "event_id": "e1",
    "occurred_at": "2026-01-08T10:00:00Z",
    "source": "nms",
    "severity": "critical",
    "title": "Device Unreachable",
    "asset_id": "ast_router_01",
    "metadata": {"retries": 3},
}


def test_round_trip() -> None:
    obs = observation(tags=["x"])
    assert decode(encode(obs), Observation) == obs


def test_v1_observation_is_upcast_to_the_current_version() -> None:
    obs = decode(orjson.dumps(SEED_V1), Observation)
    assert obs.schema_version == 3 and obs.event_id == "e1" and obs.asset_id == "ast_router_01"
    assert obs.tenant is None
    assert obs.body.kind == "event" and obs.body.event == "Device Unreachable"
    assert obs.body.severity == "critical" and obs.body.attributes == {"retries": 3}


def test_v2_observation_reads_as_v3_without_tenant_and_keeps_v2_fields() -> None:
    v2 = {**orjson.loads(encode(observation(tags=["x"]))), "schema_version": 2}
    del v2["tenant"]
    obs = decode(orjson.dumps(v2), Observation)
    assert obs.schema_version == 3 and obs.tenant is None and obs.body.tags == ["x"]
    with pytest.raises(DecodeError, match="observation v2 has no tenant field"):
        decode(orjson.dumps({**v2, "tenant": "acme"}), Observation)
    v3 = decode(orjson.dumps({**v2, "schema_version": 3, "tenant": "acme"}), Observation)
    assert v3.tenant == "acme"
    with pytest.raises(DecodeError, match="tenant"):
        decode(orjson.dumps({**v2, "schema_version": 3, "tenant": "Acme Corp"}), Observation)


def test_upcaster_refuses_unknown_v1_fields() -> None:
    with pytest.raises(ValueError, match="unknown fields: surprise"):
        observation_v1_to_v2({**SEED_V1, "surprise": 1})


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (None, "empty record"),
        (b'{"type": "nope"}', "unknown record type 'nope'"),
        (b'{"type": "observation", "schema_version": 9}', "schema_version 9 is not between 1 and 3"),
        (b'{"source": "x", "body": {"kind": "event", "event": "e"}}', "body.event.severity: Field required"),
        (b'{"source": "x", "body": {"kind": "smoke"}}', "body: Input tag 'smoke'"),
    ],
)
def test_bad_bytes_raise_decode_error_with_reason(raw, reason) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(raw, Observation)


def test_wrong_record_type_is_refused() -> None:
    with pytest.raises(DecodeError, match="expected a alert_changed record"):
        decode(encode(observation()), AlertChanged)


def test_defaults_fill_missing_envelope_fields_only() -> None:
    raw = orjson.dumps({"source": "x", "body": {"kind": "heartbeat"}})
    obs = decode(raw, Observation, defaults={"event_id": "raw-1-2", "occurred_at": "2026-01-01T00:00:00Z"})
    assert obs.event_id == "raw-1-2" and obs.occurred_at.year == 2026
    given = decode(encode(observation()), Observation, defaults={"event_id": "raw-1-2"})
    assert given.event_id != "raw-1-2"


def test_a_record_encoded_with_its_items_pre_encoded_decodes_as_the_whole_record() -> None:
    changes = alert_changes([observation(seconds=i, severity=s) for i, s in enumerate(["minor", "major"])])
    whole = AlertChangedBatch(partition=3, changes=changes)
    empty = whole.model_copy(update={"changes": []})
    value = encode_with(empty, "changes", [encode(c) for c in changes])
    assert decode(value, AlertChangedBatch) == whole
    assert orjson.loads(value) == orjson.loads(encode(whole))


def test_new_ids_are_distinct_uuid4_hex() -> None:
    ids = [new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(hex=value)
        assert parsed.hex == value and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    # every other bit is random: over 2,000 ids each of the 122 free bits was seen both ways
    ones = [sum(int(v, 16) >> bit & 1 for v in ids) for bit in range(128)]
    fixed = {bit for bit, count in enumerate(ones) if count in (0, len(ids))}
    assert fixed == {76, 77, 78, 79, 62, 63}
