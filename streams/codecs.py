"""Bytes <-> records. JSON on the wire (orjson); decoding validates and upcasts."""

from __future__ import annotations

from typing import TypeVar

import orjson
from pydantic import ValidationError

from ems.schemas.envelope import Record
from ems.schemas.limits import message, printable
from ems.schemas.registry import upcast

R = TypeVar("R", bound=Record)


class DecodeError(ValueError):
    """The bytes are not a valid record; the message says why (for the dead-letter topic)."""


def encode(record: Record) -> bytes:
    """Serialize a record to JSON bytes."""
    return orjson.dumps(record.model_dump(mode="json"))


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
