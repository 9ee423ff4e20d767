"""Reading `ems.metrics` records fast: parsed, not re-validated.

The normalize stage validates and upcasts every observation at the raw topic and publishes each
metrics observation to `ems.metrics` in its canonical form (`encode` of the validated record: the
current schema version, every envelope field set, texts stripped, times in UTC). Such a record need
not go through pydantic again: `read_metrics` parses it with orjson and checks only what a bad row
would need (shapes and types, finite values, times within the schema's range, texts without
surrounding white space), which costs about a fifth of the full decode. Anything else (an older
schema version, a record normalize forwarded as it came before it published canonical records: a
replay of old log, a record a stage did not write) goes through the full decode, so every record
gives the rows it gave before, and a record the full decode refuses raises its `DecodeError`, with
the field and the reason, which the runner dead-letters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from ems.schemas.limits import TIME_MAX, TIME_MIN
from ems.schemas.observation import MetricsBody, Observation
from ems.streams.codecs import decode

FIELDS = len(Observation.model_fields)
Sample = tuple[str, float, dict[str, str], datetime]  # name, value, labels, time (aware, UTC)


@dataclass(frozen=True, slots=True)
class MetricsRecord:
    """What the metrics projection needs of one observation: its key and its samples' times."""

    key: str
    samples: list[Sample]


def from_observation(obs: Observation) -> MetricsRecord:
    """The samples of a validated observation (none for another kind of body)."""
    if not isinstance(obs.body, MetricsBody):
        return MetricsRecord(obs.key, [])
    at = obs.occurred_at
    samples = [(s.name, s.value, s.labels, _utc(s.at) if s.at else at) for s in obs.body.samples]
    return MetricsRecord(obs.key, samples)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _time(text: object) -> datetime:
    at = _utc(datetime.fromisoformat(text))
    if not TIME_MIN <= at < TIME_MAX:
        raise ValueError(text)
    return at


def _canonical(data: object) -> bool:
    return (
        type(data) is dict
        and data.get("type") == Observation.TYPE
        and data.get("schema_version") == Observation.VERSION
        and len(data) == FIELDS  # every field, none more (canonical), so extra ones are refused
    )


def _stripped(text: object) -> bool:
    return type(text) is str and text == text.strip()


def read_metrics(raw: bytes | None) -> MetricsRecord:
    """The record's samples, parsed without re-validation when canonical (module docstring)."""
    try:
        data = orjson.loads(raw) if raw is not None else None
        if _canonical(data):
            return _read(data)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        pass  # not as normalize writes it: the full decode reads it or says why not
    return from_observation(decode(raw, Observation))


class _NotPlain(ValueError):
    """Not as normalize writes it (white space the full decode strips, a field more or less)."""


def _read(data: dict) -> MetricsRecord:
    key = data.get("asset_id") or data["source"]
    if not _stripped(key):
        raise _NotPlain(key)
    body = data["body"]
    if len(body) != 2:
        raise _NotPlain(body)
    if body["kind"] != "metrics":
        return MetricsRecord(key, [])
    occurred = _time(data["occurred_at"])
    times: dict[object, datetime] = {None: occurred}
    samples: list[Sample] = []
    for s in body["samples"]:
        name, value, labels, at = s["name"], s["value"], s["labels"], s["at"]
        if len(s) != 4:
            raise _NotPlain(s)
        if not _stripped(name) or type(labels) is not dict:
            raise _NotPlain(name)
        for k, v in labels.items():
            if not _stripped(v) or k != k.strip():
                raise _NotPlain(k)
        if type(value) is not float:
            if type(value) is not int:
                raise TypeError(name)
            value = float(value)
        elif not math.isfinite(value):
            raise ValueError(name)
        when = times.get(at)
        if when is None:
            when = times[at] = _time(at)
        samples.append((name, value, labels, when))
    return MetricsRecord(key, samples)
