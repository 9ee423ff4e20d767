"""The plain check of canonical event observations: whatever it accepts normalizes to the very event
(JSON form, bytes) the full decode and `Normalizer.normalize` give; what it declines goes to the
full decode, which validates it or dead-letters it with the reason."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import ConsumerRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from ems.agents.fingerprint import Fingerprinter
from ems.agents.normalize import Normalizer, Rejected
from ems.agents.normalize_worker import NormalizeWorker, events_value
from ems.schemas.event import EventBatch
from ems.schemas.event_canonical import NotCanonical, canonical_event, read_event
from ems.schemas.limits import MAX_TIMEOUT
from ems.schemas.observation import EventBody, Observation
from ems.settings import Settings
from ems.streams.codecs import decode, encode
from tests.unit.helpers import ENVELOPE_MUTATIONS, POLICY, canonical_texts, canonical_times, mutated

T0 = datetime(2026, 11, 27, 23, 59, 30, tzinfo=UTC)
CORE = Normalizer(
    severities=POLICY,
    fingerprint=Fingerprinter({"nms": ["resource", "event", "attributes.interface", "service"]}),
    correlated=Normalizer.correlation_map([["NodeDown", "NodeUp"]]),
)
texts, times = canonical_texts, canonical_times
names = texts.filter(str.strip)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
bodies = st.builds(
    EventBody,
    event=st.sampled_from(["NodeDown", "NodeUp", "DiskFull"]) | names,
    severity=st.sampled_from(["critical", "Major", "ok", "normal", " warning "]),
    resource=st.none() | texts,
    title=texts,
    text=texts,
    environment=names,
    service=st.lists(names, max_size=3),
    tags=st.lists(names, max_size=3),
    attributes=st.dictionaries(st.sampled_from(["interface", "x", " y "]) | texts, json_values, max_size=3),
    value=st.none() | texts,
    timeout=st.none() | st.integers(0, MAX_TIMEOUT),
    correlate=st.lists(st.sampled_from(["NodeDown", "NodeUp", "Other"]), max_size=2),
)
observations = st.builds(
    Observation,
    source=st.sampled_from(["nms", "api", "alerta"]) | names,
    asset_id=st.none() | texts,
    tenant=st.none() | st.sampled_from(["acme", "a.b-c_9"]),
    submitted_by=st.none() | texts,
    occurred_at=times,
    body=bodies,
)


def _full(raw: bytes, partition: int = 2, offset: int = 41) -> dict:
    """What the normalize stage gave before the check: decode, validate, normalize, dump."""
    return CORE.normalize(decode(raw, Observation), partition, offset).model_dump(mode="json")


@settings(max_examples=300, deadline=None)
@given(observations)
def test_encoded_event_observations_normalize_to_the_same_bytes(obs: Observation) -> None:
    raw = encode(obs)
    checked = canonical_event(raw)
    assert checked is not None  # what `encode` writes is canonical
    fast = CORE.normalize_canonical(checked, 2, 41)
    assert orjson.dumps(fast) == orjson.dumps(_full(raw))  # same fields, values and order


# (path into the record, a value put there); "+" adds a key, "-" removes it.
DEEP: dict = {}
_node = DEEP
for _ in range(40):
    _node["d"] = {}
    _node = _node["d"]
MUTATIONS = [
    *ENVELOPE_MUTATIONS,
    (("body", "kind"), "metrics"),
    (("body", "+", "extra"), 1),
    (("body", "-", "title"), None),
    (("body", "event"), ""),
    (("body", "event"), "x" * 257),
    (("body", "event"), "Node\x00Down"),
    (("body", "event"), "NodeDown\x1f"),
    (("body", "severity"), "Major"),
    (("body", "severity"), " major"),
    (("body", "severity"), ""),
    (("body", "severity"), "x" * 65),
    (("body", "resource"), "x" * 257),
    (("body", "resource"), 5),
    (("body", "title"), "x" * 1025),
    (("body", "title"), " t"),
    (("body", "text"), "x" * 8193),
    (("body", "environment"), ""),
    (("body", "service"), ["s"] * 33),
    (("body", "service"), [""]),
    (("body", "service"), "s"),
    (("body", "tags"), ["t"] * 65),
    (("body", "tags"), ["x" * 129]),
    (("body", "correlate"), ["c"] * 17),
    (("body", "value"), 5),
    (("body", "value"), "x" * 257),
    (("body", "timeout"), -1),
    (("body", "timeout"), MAX_TIMEOUT + 1),
    (("body", "timeout"), 5.0),
    (("body", "timeout"), True),
    (("body", "timeout"), "5"),
    (("body", "attributes"), {f"k{i}": 1 for i in range(129)}),
    (("body", "attributes"), {" k": 1}),
    (("body", "attributes"), {"x" * 257: 1}),
    (("body", "attributes"), {"k": "a\x00"}),
    (("body", "attributes"), {"k\x00": 1}),
    (("body", "attributes"), {"k": "x" * 70_000}),
    (("body", "attributes"), DEEP),
    (("body", "attributes"), [1]),
]


@settings(max_examples=300, deadline=None)
@given(observations, st.sampled_from(MUTATIONS))
def test_what_the_check_accepts_normalizes_as_the_full_decode(obs: Observation, mutation: tuple) -> None:
    raw = orjson.dumps(mutated(orjson.loads(encode(obs)), *mutation))
    try:
        checked = read_event(orjson.loads(raw))
    except NotCanonical:
        return  # the full decode reads it (or refuses it) where this is used
    assert orjson.dumps(CORE.normalize_canonical(checked, 2, 41)) == orjson.dumps(_full(raw))


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: f"{m[0]}={str(m[1])[:20]!r}")
def test_every_rule_of_the_schema_is_checked(mutation: tuple) -> None:
    obs = Observation(
        source="nms",
        asset_id="r1",
        occurred_at=T0,
        body=EventBody(event="NodeDown", severity="major", attributes={"interface": "eth0"}),
    )
    data = mutated(orjson.loads(encode(obs)), *mutation)
    with pytest.raises(NotCanonical):
        read_event(data)


def test_an_unknown_severity_is_rejected_alike() -> None:
    raw = encode(Observation(source="nms", asset_id="r1", body=EventBody(event="E", severity="apocalyptic")))
    checked = canonical_event(raw)
    assert checked is not None
    with pytest.raises(Rejected) as fast:
        CORE.normalize_canonical(checked, 0, 0)
    with pytest.raises(Rejected) as full:
        _full(raw)
    assert str(fast.value) == str(full.value) and "unknown severity 'apocalyptic'" in str(fast.value)


def test_the_batch_writer_writes_what_encode_writes() -> None:
    events = [
        _full(encode(Observation(source="nms", asset_id=f"r{i}", body=EventBody(event="E", severity="ok"))))
        for i in range(3)
    ]
    value = events_value(5, events)
    batch = decode(value, EventBatch)  # validated
    assert encode(batch) == value and batch.partition == 5
    assert [e.model_dump(mode="json") for e in batch.events] == events


def _msg(raw: bytes, offset: int) -> ConsumerRecord:
    return ConsumerRecord("raw", 3, offset, 1_764_000_000_000, 0, None, raw, None, len(raw), 0, [])


async def test_the_stage_takes_either_path_and_letters_what_either_refuses() -> None:
    worker, letters = NormalizeWorker(Settings()), []

    class Dead:
        async def reject(self, reason: str, msg: ConsumerRecord) -> None:
            letters.append(reason)

    obs = Observation(
        source="nms", asset_id="r1", occurred_at=T0, body=EventBody(event="E", severity="major")
    )
    raw = encode(obs)
    expected = worker.core.normalize(obs, 3, 7).model_dump(mode="json")
    assert await worker._handle(_msg(raw, 7), None, Dead()) == expected  # canonical
    spaced = raw.replace(b'"major"', b'" Major "')  # not canonical: decoded in full
    assert canonical_event(spaced) is None
    assert await worker._handle(_msg(spaced, 7), None, Dead()) == expected
    loose = raw.replace(b'"kind":"event"', b'"kind": "event"')  # not as orjson writes it
    assert canonical_event(loose) is None and read_event(orjson.loads(loose)) is not None
    assert await worker._handle(_msg(loose, 7), None, Dead()) == expected  # decoded in full
    assert not letters
    assert await worker._handle(_msg(raw.replace(b'"major"', b'"doom"'), 8), None, Dead()) is None
    assert await worker._handle(_msg(raw.replace(b'"E"', b'"E\\u0000"'), 9), None, Dead()) is None
    assert "unknown severity 'doom'" in letters[0] and "must not contain NUL" in letters[1]
