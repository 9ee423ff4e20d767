"""Bytes <-> records. JSON on the wire (orjson); decoding validates and upcasts, except for the
internal batch records `decode_trusted` builds without validating."""

from __future__ import annotations

from typing import TypeVar

import orjson
from pydantic import ValidationError

from ems.schemas.alert import AlertChangedBatch
from ems.schemas.envelope import Record
from ems.schemas.event import EventBatch
from ems.schemas.limits import message, printable
from ems.schemas.registry import upcast
from ems.streams.trusted import construct

R = TypeVar("R", bound=Record)

# Records that only our stages write, from records validated where they entered (normalize's events,
# the lifecycle stage's alert changes): `decode_trusted` builds them without validating again.
# Operator commands, ticks and raw observations are never here.
TRUSTED: frozenset[type[Record]] = frozenset({EventBatch, AlertChangedBatch})


class DecodeError(ValueError):
    """The bytes are not a valid record; the message says why (for the dead-letter topic)."""


def encode(record: Record) -> bytes:
    """Serialize a record to JSON bytes: pydantic's own writer, the same bytes as
    `orjson.dumps(record.model_dump(mode="json"))` at half its cost (no Python dict in between)."""
    return record.__pydantic_serializer__.to_json(record)


def encode_with(record: Record, field: str, items: list[bytes]) -> bytes:
    """Serialize `record` with its list `field` made of `items`, each already encoded (e.g. once, to
    size a split): it decodes as `record` holding those items would."""
    body = record.model_dump(mode="json", exclude={field})
    body[field] = [orjson.Fragment(item) for item in items]
    return orjson.dumps(body)


def format_validation_error(exc: ValidationError) -> str:
    """One line per field error: `body.severity: Input should be ...`."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(printable(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {message(err)}")
    return "; ".join(parts)


def decode(
    raw: bytes | None, expect: type[R] | tuple[type[Record], ...], defaults: dict[str, object] | None = None
) -> R:
    """Parse, upcast and validate `raw` as a record of type `expect`; raise DecodeError otherwise.

    `defaults` fill envelope fields the producer left out (e.g. `occurred_at` from the Kafka record
    timestamp, an `event_id` from the record position) so that a replay decodes the same record.
    """
    if raw is None:
        raise DecodeError("empty record (no value)")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DecodeError(f"expected a JSON object, got {type(data).__name__}")
    kinds = expect if isinstance(expect, tuple) else (expect,)
    if "type" not in data:
        data["type"] = kinds[0].TYPE
    for field, value in (defaults or {}).items():
        data.setdefault(field, value)
    try:
        record = upcast(data)
    except ValidationError as exc:
        raise DecodeError(f"invalid {data.get('type')}: {format_validation_error(exc)}") from None
    except ValueError as exc:
        raise DecodeError(str(exc)) from None
    if not isinstance(record, kinds):
        names = " or ".join(k.TYPE for k in kinds)
        raise DecodeError(f"expected a {names} record, got {record.type}")
    return record


def decode_trusted(raw: bytes | None, expect: type[R] | tuple[type[Record], ...]) -> R:
    """`decode` for an internal hop: a current-version record of a TRUSTED type among `expect` is
    built from its JSON without validation (`ems.streams.trusted`); anything else, and anything not
    shaped as `encode` writes it, is decoded (and validated, or refused with its reason) by `decode`."""
    kinds = expect if isinstance(expect, tuple) else (expect,)
    if raw is None or TRUSTED.isdisjoint(kinds):  # e.g. an IncidentBatch read where alerts are
        return decode(raw, expect)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"invalid JSON: {exc}") from None
    if isinstance(data, dict):
        for kind in kinds:
            if kind in TRUSTED and data.get("type") == kind.TYPE:
                try:
                    return construct(kind, data)
                except Exception:  # not as `encode` writes it (it was parsed again below)
                    break
    return decode(raw, expect)
