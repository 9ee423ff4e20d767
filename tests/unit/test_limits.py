"""The record boundaries (schemas/limits.py): what PostgreSQL, Kafka and the stages' arithmetic accept.

Each boundary is checked on the type, on the schemas that use it, and through `decode`, whose
DecodeError message is the reason a stage dead-letters the record with.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from ems.schemas.alert import AlertState, Transition
from ems.schemas.alert_command import BadCommand, parse_args
from ems.schemas.asset import Asset, AssetChanged, CreateArgs, LinkArgs, UpdateArgs
from ems.schemas.command import Command
from ems.schemas.event import Event
from ems.schemas.limits import (
    INT4_MAX,
    MAX_DEPTH,
    MAX_JSON_BYTES,
    NUL_MESSAGE,
    UNICODE_MESSAGE,
    Attributes,
    Text,
    Time,
    json_problems,
    message,
    nul_paths,
)
from ems.schemas.observation import EventBody, MetricSample, Observation
from ems.streams.codecs import DecodeError, decode, encode
from tests.unit.helpers import observation


class _T(BaseModel):
    text: Text(16) = ""
    at: Time | None = None
    attributes: Attributes = {}


def _errors(model: type[BaseModel], data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as err:
        model.model_validate(data)
    return [(".".join(map(str, e["loc"])), message(e)) for e in err.value.errors()]


def _nested(levels: int, leaf: Any = 1) -> Any:
    """`levels` objects, each the value of the one around it."""
    value = leaf
    for _ in range(levels):
        value = {"n": value}
    return value


# -- the types ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("a\x00b", NUL_MESSAGE),
        ("\x00", NUL_MESSAGE),
        ("a\ud800b", UNICODE_MESSAGE),
        ("\udfff", UNICODE_MESSAGE),
        ("x" * 17, "String should have at most 16 characters"),
    ],
)
def test_text_refuses_nul_surrogates_and_length(value: str, why: str) -> None:
    assert _errors(_T, {"text": value}) == [("text", why)]


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=16))
def test_text_accepts_any_other_unicode(value: str) -> None:
    assert _T(text=value).text == value


@given(st.text(max_size=8).filter(lambda s: "\x00" not in s), st.text(max_size=7))
@settings(max_examples=50)
def test_text_with_a_nul_anywhere_is_refused(before: str, after: str) -> None:
    with pytest.raises(ValidationError):
        _T(text=before + "\x00" + after)


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "9999-12-31T23:59:59Z"],
)
def test_time_refuses_insane_years(value: str) -> None:
    [(field, why)] = _errors(_T, {"at": value})
    assert field == "at" and ("1970-01-01" in why or "2100-01-01" in why)


@pytest.mark.parametrize(
    "value",
    ["1970-01-01T00:00:00Z", "2099-12-31T23:59:59.999999Z", "2026-01-08T12:00:00+14:00", "2026-01-08"],
)
def test_time_accepts_sane_years(value: str) -> None:
    assert _T(at=value).at is not None


def test_naive_times_are_bounded_as_utc() -> None:
    assert _T(at=datetime(2099, 12, 31, 23, 0)).at == datetime(2099, 12, 31, 23, 0)
    assert _errors(_T, {"at": datetime(9999, 1, 1)})[0][0] == "at"


@pytest.mark.parametrize(
    ("attributes", "why"),
    [
        ({"a": "x\x00"}, f"{NUL_MESSAGE} at a"),
        ({"a": {"b": ["ok", "x\x00y"]}}, f"{NUL_MESSAGE} at a.b[1]"),
        ({"a": {"k\x00": 1}}, f"{NUL_MESSAGE} at a.k\\u0000"),
        ({"a": "\x00", "b": "\x00"}, f"{NUL_MESSAGE} at a (and 1 more)"),
        ({"a": _nested(MAX_DEPTH)}, f"nested deeper than {MAX_DEPTH} levels at a" + ".n" * (MAX_DEPTH - 1)),
        ({"a": _nested(300)}, f"nested deeper than {MAX_DEPTH} levels at a" + ".n" * (MAX_DEPTH - 1)),
        ({"a": "x" * MAX_JSON_BYTES}, f"at most {MAX_JSON_BYTES} bytes of JSON, got {MAX_JSON_BYTES + 8}"),
        ({"a": "\ud800"}, "not encodable as JSON: str is not valid UTF-8: surrogates not allowed"),
        ({"a": 2**64}, "not encodable as JSON: Integer exceeds 64-bit range"),
    ],
)
def test_free_form_json_is_checked_at_every_depth(attributes: dict, why: str) -> None:
    assert _errors(_T, {"attributes": attributes}) == [("attributes", why)]


def test_free_form_json_accepts_what_postgresql_does() -> None:
    ok = {"a": _nested(MAX_DEPTH - 1, "x"), "literal": "\\u0000", "n": [1, 2.5, None, True], "": "empty key"}
    assert _T(attributes=ok).attributes == ok
    assert _errors(_T, {"attributes": {"k" * 257: 1}})[0][1] == "String should have at most 256 characters"


def test_json_walks_name_every_problem_and_survive_deep_input() -> None:
    assert json_problems({"a": ["x\x00"], "b\x00": {}}) == [
        ("a[0]", NUL_MESSAGE),
        ("b\\u0000", NUL_MESSAGE),
    ]
    deep: Any = "\x00"
    for _ in range(1020):  # orjson parses 1024 levels; the walk is iterative
        deep = [deep]
    assert nul_paths(deep) == ["[0]" * 1020]


# -- the schemas -------------------------------------------------------------------------------------

T0 = "2026-01-08T12:00:00Z"
EVENT_BODY = {"kind": "event", "event": "NodeDown", "severity": "critical"}


@pytest.mark.parametrize(
    ("body", "field", "why"),
    [
        ({"resource": "a\x00b"}, "resource", NUL_MESSAGE),
        ({"title": "\ud800"}, "title", UNICODE_MESSAGE),
        ({"severity": "x" * 65}, "severity", "String should have at most 64 characters"),
        ({"tags": ["ok", "t\x00"]}, "tags.1", NUL_MESSAGE),
        ({"service": ["s" * 257]}, "service.0", "String should have at most 256 characters"),
        ({"timeout": 2**31}, "timeout", "Input should be less than or equal to 31536000"),
        ({"timeout": -1}, "timeout", "Input should be greater than or equal to 0"),
        ({"attributes": {"k": "v\x00"}}, "attributes", f"{NUL_MESSAGE} at k"),
    ],
)
def test_event_body_boundaries(body: dict, field: str, why: str) -> None:
    assert _errors(EventBody, {**EVENT_BODY, **body}) == [(field, why)]


@pytest.mark.parametrize(
    ("sample", "field", "why"),
    [
        ({"value": "NaN"}, "value", "Input should be a finite number"),
        ({"value": "-Infinity"}, "value", "Input should be a finite number"),
        ({"labels": {"if": "Gi0/1\x00"}}, "labels.if", NUL_MESSAGE),
        ({"labels": {"i\x00f": "x"}}, "labels.i\x00f.[key]", NUL_MESSAGE),
        (
            {"at": "0001-01-01T00:00:00Z"},
            "at",
            "Input should be greater than or equal to 1970-01-01T00:00:00Z",
        ),
    ],
)
def test_metric_sample_boundaries(sample: dict, field: str, why: str) -> None:
    assert _errors(MetricSample, {"name": "cpu", "value": 1.0, **sample}) == [(field, why)]


def test_envelope_time_and_ids_are_bounded_on_every_record() -> None:
    for occurred_at in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"):
        with pytest.raises(ValidationError, match="occurred_at"):
            Observation(source="nms", body=EVENT_BODY, occurred_at=occurred_at)
    with pytest.raises(ValidationError, match="event_id"):
        Observation(source="nms", body=EVENT_BODY, event_id="e\x00")
    # Derived ids are longer than client ones: `<asset id of 128 chars>:<version>` fits.
    assert Observation(source="nms", body=EVENT_BODY, event_id="x" * 256).event_id


def _event(**fields: Any) -> dict[str, Any]:
    return {
        "observation_id": "o1",
        "source": "nms",
        "severity": "critical",
        "event": "NodeDown",
        "resource": "r1",
        "fingerprint": "f" * 32,
        "raw_partition": 0,
        "raw_offset": 0,
        **fields,
    }


def test_event_keeps_its_integer_columns() -> None:
    assert Event.model_validate(_event(raw_partition=INT4_MAX, raw_offset=2**63 - 1)).raw_offset == 2**63 - 1
    assert _errors(Event, _event(raw_partition=INT4_MAX + 1))[0][0] == "raw_partition"
    assert _errors(Event, _event(raw_offset=2**63))[0][0] == "raw_offset"


def _alert(**fields: Any) -> dict[str, Any]:
    return {
        "alert_id": "alr_1",
        "fingerprint": "f1",
        "status": "open",
        "severity": "critical",
        "event_count": 1,
        "duplicate_count": 0,
        "first_seen": T0,
        "last_seen": T0,
        "last_event_id": "e1",
        "source": "nms",
        "event": "NodeDown",
        "resource": "r1",
        "environment": "production",
        "version": 1,
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"event_count": INT4_MAX + 1}, "event_count"),
        ({"event_count": 0}, "event_count"),
        ({"version": 0}, "version"),
        ({"timeout": INT4_MAX + 1}, "timeout"),
        ({"last_seen": "9999-12-31T00:00:00Z"}, "last_seen"),
        ({"ack_until": "2200-01-01T00:00:00Z"}, "ack_until"),
        ({"assignee": "a\x00"}, "assignee"),
    ],
)
def test_alert_state_boundaries(fields: dict, field: str) -> None:
    assert _errors(AlertState, _alert(**fields))[0][0] == field


def test_alert_state_keeps_what_the_lifecycle_makes() -> None:
    # Deadlines run past 2100 (an ack timeout added to a time just before it); tags and attributes are
    # unions over every event, so they have no count or size bound.
    state = AlertState.model_validate(
        _alert(
            ack_until="2100-06-01T00:00:00Z",
            tags=[f"t{i}" for i in range(500)],
            attributes={f"k{i}": "v" * 200 for i in range(1000)},
        )
    )
    assert len(state.tags) == 500
    assert Transition(kind="expired", event_id="timer:expired:" + T0, at=T0, severity="critical").at


def test_alert_command_args_boundaries() -> None:
    with pytest.raises(BadCommand, match="shelve: until: Input should be less than 2100"):
        parse_args("shelve", {"until": "9999-12-31T23:59:59Z"})
    with pytest.raises(BadCommand, match="shelve: duration: Input should be less than or equal to 31536000"):
        parse_args("shelve", {"duration": 2**40})
    with pytest.raises(BadCommand, match=r"assign: user: text must not contain NUL"):
        parse_args("assign", {"user": "bob\x00"})


def test_command_boundaries() -> None:
    base = {"name": "alert.note", "target": "f1", "actor": "bob"}
    assert _errors(Command, {**base, "reason": "r\x00"}) == [("reason", NUL_MESSAGE)]
    assert _errors(Command, {**base, "actor": "a" * 257})[0][0] == "actor"
    assert _errors(Command, {**base, "args": {"note": ["\x00"]}}) == [("args", f"{NUL_MESSAGE} at note[0]")]


@pytest.mark.parametrize(
    ("fields", "field", "why"),
    [
        (
            {"users_served": 3_000_000_000},
            "users_served",
            f"Input should be less than or equal to {INT4_MAX}",
        ),
        ({"users_served": -1}, "users_served", "Input should be greater than or equal to 0"),
        ({"criticality": 6}, "criticality", "Input should be less than or equal to 5"),
        ({"revenue_per_hour": "Infinity"}, "revenue_per_hour", "Input should be a finite number"),
        ({"revenue_per_hour": "NaN"}, "revenue_per_hour", "Input should be a finite number"),
        ({"location": "a\x00"}, "location", NUL_MESSAGE),
        ({"tags": ["x" * 129]}, "tags.0", "String should have at most 128 characters"),
        ({"attributes": {"rack": {"u": "\x00"}}}, "attributes", f"{NUL_MESSAGE} at rack.u"),
    ],
)
def test_asset_args_boundaries(fields: dict, field: str, why: str) -> None:
    assert _errors(CreateArgs, {"name": "r1", "type": "router", **fields}) == [(field, why)]
    assert _errors(UpdateArgs, fields) == [(field, why)]


def test_link_attributes_are_text() -> None:
    target = "ast_" + "b" * 20
    assert _errors(LinkArgs, {"type": "depends_on", "target": target, "attributes": {"via": "\x00"}}) == [
        ("attributes.via", NUL_MESSAGE)
    ]


def test_asset_changed_of_the_longest_asset_id_fits() -> None:
    # agents/assets.py names a change `<asset id>:<version>`: an asset id of 128 characters must fit.
    at = datetime(2026, 1, 8, tzinfo=UTC)
    asset = Asset(asset_id="ast_" + "a" * 124, name="n", type="router", created_at=at, updated_at=at)
    change = AssetChanged(event_id=f"{asset.asset_id}:1", kind="created", asset=asset, cause="c", actor="api")
    assert decode(encode(change), AssetChanged) == change


# -- decode: the dead-letter reasons -----------------------------------------------------------------


def _raw(**fields: Any) -> bytes:
    body = fields.pop("body", EVENT_BODY)
    return orjson.dumps({"type": "observation", "schema_version": 2, "source": "nms", "body": body, **fields})


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (_raw(body={**EVENT_BODY, "resource": "a\x00b"}), f"body.event.resource: {NUL_MESSAGE}"),
        (_raw(asset_id="\x00"), f"asset_id: {NUL_MESSAGE}"),
        (
            _raw(body={**EVENT_BODY, "attributes": {"a": {"b": "\x00"}}}),
            f"body.event.attributes: {NUL_MESSAGE} at a.b",
        ),
        (
            _raw(body={**EVENT_BODY, "timeout": 3_000_000_000}),
            "body.event.timeout: Input should be less than",
        ),
        (
            _raw(occurred_at="0001-01-01T00:00:00Z"),
            "occurred_at: Input should be greater than or equal to 1970",
        ),
        (_raw(occurred_at="9999-12-31T23:59:59Z"), "occurred_at: Input should be less than 2100-01-01"),
        (
            _raw(
                body={"kind": "metrics", "samples": [{"name": "m", "value": 1, "at": "9999-01-01T00:00:00Z"}]}
            ),
            "body.metrics.samples.0.at: Input should be less than 2100",
        ),
        (
            _raw(body={**EVENT_BODY, "attributes": {"a": _nested(40)}}),
            f"body.event.attributes: nested deeper than {MAX_DEPTH} levels at a.n",
        ),
        (  # deeper than orjson.dumps goes (255): the stages could not even encode it again
            b'{"source": "nms", "body": {"kind": "event", "event": "E", "severity": "x", "attributes": {"a": '
            + b'{"n": ' * 899
            + b"1"
            + b"}" * 899
            + b"}}}",
            f"body.event.attributes: nested deeper than {MAX_DEPTH} levels at a.n",
        ),
        (
            _raw(body={**EVENT_BODY, "attributes": {f"k{i}": "v" * 1000 for i in range(100)}}),
            "body.event.attributes: at most 65536 bytes of JSON",
        ),
        (
            b'{"source": "nms", "body": {"kind": "event", "event": "\\ud800", "severity": "x"}}',
            "invalid JSON",
        ),
        (
            b'{"source": "nms", "body": {"kind": "event", "event": "\xed\xa0\x80", "severity": "x"}}',
            "invalid JSON",
        ),
    ],
)
def test_decode_names_the_boundary_a_record_breaks(raw: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as err:
        decode(raw, Observation)
    assert reason in str(err.value)
    assert "\x00" not in str(err.value)  # the reason is stored as text too


def test_decode_reason_escapes_a_nul_in_a_key() -> None:
    raw = _raw(body={"kind": "metrics", "samples": [{"name": "m", "value": 1, "labels": {"a\x00": "x"}}]})
    with pytest.raises(DecodeError, match=r"labels\.a\\u0000\.\[key\]: text must not contain NUL"):
        decode(raw, Observation)


def test_a_typical_record_still_round_trips() -> None:
    obs = observation(tags=["dc=fra1"], attributes={"ip": "10.0.0.1", "poller": {"zone": "eu"}}, timeout=3600)
    assert decode(encode(obs), Observation) == obs
