"""`POST /api/v1/events` encodes a native event without building its Observation: the bytes are the
ones `encode` gives for the Observation `to_observation` builds, with the same ids and times."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ems.api.errors import ApiError
from ems.api.event_records import Outgoing, outgoing
from ems.api.idempotency import IdempotentWrite
from ems.api.ingest import EventIn, parse_items
from ems.schemas.observation import Observation
from ems.streams.codecs import decode, encode

KNOWN = {"critical", "major", "warning", "ok"}
FIRST_SEEN = datetime(2026, 12, 1, 8, 0, 0, 123456, tzinfo=UTC)

# JSON can carry neither a NUL (refused before validation) nor a lone surrogate.
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)
names = texts.filter(str.strip)
zones = st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=5, minutes=30))])
times = st.datetimes(datetime(1970, 1, 2), datetime(2099, 12, 30), timezones=st.none() | zones).map(
    lambda t: t.isoformat()
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
OPTIONAL = {
    "title": texts,
    "event": names,
    "resource": texts,
    "environment": names,
    "service": st.lists(names, max_size=3),
    "tags": st.lists(names, max_size=3),
    "text": texts,
    "value": texts,
    "tenant": st.sampled_from(["acme", "a.b-c_9"]),
}
ALIASED = {  # either spelling of each
    ("asset_id", "assetId"): texts,
    ("attributes", "metadata"): st.dictionaries(texts, values, max_size=4),
    ("occurred_at", "occurredAt"): times,
    ("event_id", "id"): names,
}


@st.composite
def posted_items(draw: st.DrawFn) -> dict[str, Any]:
    item: dict[str, Any] = {
        "source": draw(names),
        "severity": draw(st.sampled_from(["critical", " Major ", "WARNING", "ok"])),
    }
    for field, strategy in OPTIONAL.items():
        if draw(st.booleans()):
            item[field] = draw(strategy)
    for spellings, strategy in ALIASED.items():
        if draw(st.booleans()):
            item[draw(st.sampled_from(spellings))] = draw(strategy)
    if "event" not in item and draw(st.booleans()):
        item["title"] = draw(st.sampled_from(["t" * 256, "t" * 257, " Link down "]))
    return item


def reference(item: EventIn, posted: dict, out: Outgoing, keyed: IdempotentWrite | None, i: int) -> bytes:
    """What the API appended before: the Observation built and validated, then copied with the
    tenant, the caller and (for a keyed write) the derived id and first request's time."""
    obs = item.to_observation()
    update: dict[str, Any] = {
        "tenant": "acme" if item.tenant is None else item.tenant,
        "submitted_by": "key:k",
    }
    if not {"event_id", "id"} & posted.keys():
        update["event_id"] = keyed.record_id(i) if keyed else out.event_id  # random unless keyed
    if not {"occurred_at", "occurredAt"} & posted.keys():
        update["occurred_at"] = keyed.first_seen if keyed else decode(out.value, Observation).occurred_at
    return encode(obs.model_copy(update=update))


@settings(max_examples=300, deadline=None)
@given(st.lists(posted_items(), min_size=1, max_size=3), st.booleans())
def test_an_event_is_encoded_as_its_observation_would_be(posted: list[dict], is_keyed: bool) -> None:
    try:
        items = parse_items(orjson.loads(orjson.dumps(posted)), KNOWN)
    except ApiError:
        assume(False)
    keyed = IdempotentWrite("d1g35t", FIRST_SEEN) if is_keyed else None
    for i, (item, sent) in enumerate(zip(items, posted, strict=True)):
        assert isinstance(item, EventIn)
        tenant = "acme" if item.tenant is None else item.tenant
        out = outgoing(item, sent, tenant=tenant, submitted_by="key:k", keyed=keyed, index=i)
        assert out.value == reference(item, sent, out, keyed, i)
        obs = decode(out.value, Observation)  # and the pipeline reads it back as that Observation
        assert out.key == obs.key.encode() and out.event_id == obs.event_id


def test_ids_and_times_follow_the_key_or_the_item_or_are_new() -> None:
    sent = {"source": "nms", "severity": "ok", "event": "E"}
    [item] = parse_items(sent, KNOWN)
    fresh = [outgoing(item, sent, tenant=None, submitted_by="u", keyed=None, index=0) for _ in range(2)]
    assert fresh[0].event_id != fresh[1].event_id and re.fullmatch("[0-9a-f]{32}", fresh[0].event_id)
    at = decode(fresh[0].value, Observation).occurred_at
    assert abs(at - datetime.now(UTC)) < timedelta(seconds=5)
    keyed = IdempotentWrite("abc", FIRST_SEEN)
    out = outgoing(item, sent, tenant=None, submitted_by="u", keyed=keyed, index=3)
    obs = decode(out.value, Observation)
    assert (out.event_id, obs.event_id, obs.occurred_at) == ("idk-abc-3", "idk-abc-3", FIRST_SEEN)
    own = {**sent, "id": "mine", "occurredAt": "2026-01-01T01:00:00+01:00"}
    [item] = parse_items(own, KNOWN)
    obs = decode(outgoing(item, own, tenant="t", submitted_by="u", keyed=keyed, index=3).value, Observation)
    assert (obs.event_id, obs.occurred_at, obs.tenant) == ("mine", datetime(2026, 1, 1, tzinfo=UTC), "t")
    assert obs.submitted_by == "u"


def test_a_full_observation_is_copied_with_the_callers_fields() -> None:
    sent = {"source": "nms", "asset_id": "a1", "body": {"kind": "heartbeat"}, "submitted_by": "forged"}
    [item] = parse_items(sent, KNOWN)
    assert isinstance(item, Observation)
    out = outgoing(
        item, sent, tenant="acme", submitted_by="key:k", keyed=IdempotentWrite("x", FIRST_SEEN), index=0
    )
    obs = decode(out.value, Observation)
    # the caller, never the client, is the submitter
    assert (out.key, obs.tenant, obs.submitted_by, obs.event_id) == (b"a1", "acme", "key:k", "idk-x-0")
    assert obs.occurred_at == FIRST_SEEN and obs.body.kind == "heartbeat"


@pytest.mark.parametrize(
    ("item", "error"),
    [
        ({"title": "t" * 257}, {"field": "event", "message": "String should have at most 256 characters"}),
        ({}, {"field": "(body)", "message": "either event or title is required"}),
        ({"title": "   "}, {"field": "(body)", "message": "either event or title is required"}),
    ],
)
def test_an_event_without_a_name_it_can_hold_is_refused_before_encoding(item: dict, error: dict) -> None:
    with pytest.raises(ApiError) as err:
        parse_items({"source": "nms", "severity": "ok", **item}, KNOWN)
    assert err.value.status == 422 and err.value.errors == [error]
