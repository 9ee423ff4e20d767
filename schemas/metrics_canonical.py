"""Metrics observations in canonical form, checked without pydantic.

`encode` of a validated metrics `Observation` writes its canonical form: the current schema version,
every envelope field, every sample field, texts stripped, times in ISO 8601 with their offset.
Collectors and the API publish that form. `read_canonical` checks such a parsed record against
every rule the schema holds (lengths, NUL, counts, finite numbers, time range, the tenant pattern)
in plain Python, about a fifth of the cost of the pydantic validation, and returns its samples.
It accepts only a subset of what the schema accepts: anything else (an older version, a field more
or less, white space the schema would strip, a time in another format, an integer beyond 2**53)
raises `NotCanonical`, and the caller decodes the record in full, which validates it or says why
not. So a record it accepts is one the full decode accepts with the same key and samples
(`tests/unit/test_metrics_canonical.py` checks that on generated and mutated records).

Used where a metrics observation needs no other field: the normalize stage, which forwards the
record as it came when it is canonical, the metrics projection and the anomaly stage, which read
its samples.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from ems.schemas.envelope import as_utc
from ems.schemas.limits import TIME_MAX, TIME_MIN
from ems.schemas.observation import MetricsBody, Observation

FIELDS = len(Observation.model_fields)
Sample = tuple[str, float, dict[str, str], datetime]  # name, value, labels, time (aware, UTC)
MAX_SAMPLES, MAX_LABELS = 10_000, 32
EXACT_INT = 2**53  # integers converted to float exactly (beyond: left to the full decode)
# RFC 3339 as `encode` writes it (pydantic's own form, or isoformat with an offset): the subset
# that datetime.fromisoformat and pydantic read as the same instant.
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # schemas.observation.Tenant


class NotCanonical(ValueError):
    """Not a record in canonical form: decode it in full."""


@dataclass(frozen=True, slots=True)
class MetricsRecord:
    """What the metric readers need of one observation: its key, its samples and its tenant."""

    key: str
    samples: list[Sample]
    tenant: str | None = None


def from_observation(obs: Observation) -> MetricsRecord:
    """The samples of a validated observation (none for another kind of body)."""
    if not isinstance(obs.body, MetricsBody):
        return MetricsRecord(obs.key, [], obs.tenant)
    at = obs.occurred_at
    samples = [(s.name, s.value, s.labels, as_utc(s.at) if s.at else at) for s in obs.body.samples]
    return MetricsRecord(obs.key, samples, obs.tenant)


def _text(value: object, low: int, high: int) -> str:
    """A schema text: a str of low..high characters, stripped, without NUL."""
    if type(value) is not str or not low <= len(value) <= high or "\x00" in value or value != value.strip():
        raise NotCanonical(value)
    return value


def _optional(value: object, high: int) -> str | None:
    return None if value is None else _text(value, 0, high)


def _time(text: object) -> datetime:
    if type(text) is not str or not _TIME.fullmatch(text):
        raise NotCanonical(text)
    at = datetime.fromisoformat(text).astimezone(UTC)
    if not TIME_MIN <= at < TIME_MAX:
        raise NotCanonical(text)
    return at


def _value(value: object) -> float:
    if type(value) is float:
        if not math.isfinite(value):
            raise NotCanonical(value)
        return value
    if type(value) is not int or not -EXACT_INT <= value <= EXACT_INT:
        raise NotCanonical(value)
    return float(value)


def _labels(labels: object) -> dict[str, str]:
    if type(labels) is not dict or len(labels) > MAX_LABELS:
        raise NotCanonical(labels)
    for k, v in labels.items():
        _text(k, 1, 128)
        _text(v, 0, 1024)
    return labels


def canonical(raw: bytes | None) -> MetricsRecord | None:
    """`read_canonical` of the record's bytes, or None when they are not a canonical metrics
    observation (then the caller decodes them in full)."""
    if raw is None:
        return None
    try:
        return read_canonical(orjson.loads(raw))
    except (NotCanonical, orjson.JSONDecodeError):
        return None


def read_canonical(data: object) -> MetricsRecord:
    """The key and samples of a parsed canonical metrics observation; `NotCanonical` when it is
    not one in every respect (module docstring)."""
    try:
        return _read(data)
    except NotCanonical:
        raise
    except (KeyError, TypeError, ValueError, OverflowError) as exc:  # a field missing, a bad date
        raise NotCanonical(repr(exc)) from None


def _read(data: object) -> MetricsRecord:
    if type(data) is not dict or len(data) != FIELDS:  # every field, none more
        raise NotCanonical("fields")
    if data["type"] != Observation.TYPE or data["schema_version"] != Observation.VERSION:
        raise NotCanonical("version")
    _text(data["event_id"], 1, 256)
    occurred = _time(data["occurred_at"])
    source = _text(data["source"], 1, 256)
    asset = _optional(data["asset_id"], 128)
    tenant = data["tenant"]
    if tenant is not None and (type(tenant) is not str or not _TENANT.fullmatch(tenant)):
        raise NotCanonical(tenant)
    _optional(data["submitted_by"], 256)
    body = data["body"]
    if type(body) is not dict or len(body) != 2:
        raise NotCanonical("body")
    key = asset or source
    if body["kind"] != "metrics":
        raise NotCanonical("kind")
    items = body["samples"]
    if type(items) is not list or not 1 <= len(items) <= MAX_SAMPLES:
        raise NotCanonical("samples")
    times: dict[object, datetime] = {None: occurred}
    samples: list[Sample] = []
    for s in items:
        if type(s) is not dict or len(s) != 4:
            raise NotCanonical(s)
        at = s["at"]
        when = times.get(at)
        if when is None:
            when = times[at] = _time(at)
        samples.append((_text(s["name"], 1, 256), _value(s["value"]), _labels(s["labels"]), when))
    return MetricsRecord(key, samples, tenant)
