"""Checks of raw observations in canonical form, in plain Python (no pydantic).

`encode` of a validated `Observation` writes its canonical form: the current schema version, every
envelope and body field, texts stripped, times in ISO 8601 with their offset. Collectors and the API
publish that form. The readers built on these checks (`ems.schemas.metrics_canonical`,
`ems.schemas.event_canonical`) hold such a parsed record against every rule the schema holds
(lengths, NUL, counts, time range, the tenant pattern) at a fraction of the validation's cost. They
accept only a subset of what the schema accepts: anything else (an older version, a field more or
less, white space the schema would strip, a time in another format) raises `NotCanonical`, and the
caller decodes the record in full, which validates it or says why not.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import orjson

from ems.schemas.field_bounds import length
from ems.schemas.limits import TIME_MAX, TIME_MIN
from ems.schemas.observation import Observation

FIELDS = len(Observation.model_fields)
EVENT_ID, SOURCE = length(Observation, "event_id"), length(Observation, "source")
ASSET_ID, SUBMITTED_BY = length(Observation, "asset_id")[1], length(Observation, "submitted_by")[1]
# RFC 3339 as `encode` writes it (pydantic's own form, or isoformat with an offset): the subset
# that datetime.fromisoformat and pydantic read as the same instant.
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # schemas.observation.Tenant
T = TypeVar("T")


class NotCanonical(ValueError):
    """Not a record in canonical form: decode it in full."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """The checked envelope of a canonical observation; `body` is its body, not checked yet."""

    event_id: str
    occurred_at: datetime  # aware, UTC
    source: str
    asset_id: str | None
    tenant: str | None
    submitted_by: str | None
    body: dict

    @property
    def key(self) -> str:
        return self.asset_id or self.source


def text(value: object, low: int, high: int) -> str:
    """A schema text: a str of low..high characters, stripped, without NUL."""
    if type(value) is not str or not low <= len(value) <= high or "\x00" in value or value != value.strip():
        raise NotCanonical(value)
    return value


def optional(value: object, high: int) -> str | None:
    """An optional schema text of at most `high` characters."""
    return None if value is None else text(value, 0, high)


def texts(values: object, items: int, low: int, high: int) -> list[str]:
    """A list of at most `items` schema texts of low..high characters each."""
    if type(values) is not list or len(values) > items:
        raise NotCanonical(values)
    for value in values:
        text(value, low, high)
    return values


def time(value: object) -> datetime:
    """A schema time (`limits.Time`) in one of the forms `encode` writes, as an aware UTC datetime."""
    if type(value) is not str or not _TIME.fullmatch(value):
        raise NotCanonical(value)
    at = datetime.fromisoformat(value).astimezone(UTC)
    if not TIME_MIN <= at < TIME_MAX:
        raise NotCanonical(value)
    return at


def utc_text(at: datetime) -> str:
    """An aware UTC time as pydantic writes it in JSON (`Z`, microseconds only when not zero)."""
    return at.isoformat().replace("+00:00", "Z")


def envelope(data: object, body_fields: int) -> Envelope:
    """The envelope of a parsed canonical observation whose body has `body_fields` fields."""
    if type(data) is not dict or len(data) != FIELDS:  # every field, none more
        raise NotCanonical("fields")
    if data["type"] != Observation.TYPE or data["schema_version"] != Observation.VERSION:
        raise NotCanonical("version")
    tenant = data["tenant"]
    if tenant is not None and (type(tenant) is not str or not _TENANT.fullmatch(tenant)):
        raise NotCanonical(tenant)
    body = data["body"]
    if type(body) is not dict or len(body) != body_fields:
        raise NotCanonical("body")
    return Envelope(
        event_id=text(data["event_id"], *EVENT_ID),
        occurred_at=time(data["occurred_at"]),
        source=text(data["source"], *SOURCE),
        asset_id=optional(data["asset_id"], ASSET_ID),
        tenant=tenant,
        submitted_by=optional(data["submitted_by"], SUBMITTED_BY),
        body=body,
    )


def checked(read: Callable[[object], T], data: object) -> T:
    """`read(data)`, with a field missing or a value Python cannot take raised as `NotCanonical`."""
    try:
        return read(data)
    except NotCanonical:
        raise
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # a field missing, a bad date
        raise NotCanonical(repr(exc)) from None


def from_bytes(read: Callable[[object], T], raw: bytes | None) -> T | None:
    """`read` of a record's parsed bytes, or None when they are not JSON or not canonical (then the
    caller decodes them in full)."""
    if raw is None:
        return None
    try:
        return read(orjson.loads(raw))
    except (NotCanonical, orjson.JSONDecodeError):
        return None
