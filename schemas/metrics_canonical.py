"""Metrics observations in canonical form, checked without pydantic (`ems.schemas.canonical`).

`read_canonical` checks a parsed metrics observation against every rule the schema holds in plain
Python, about a fifth of the cost of the pydantic validation, and returns its samples; beyond the
envelope's rules it declines an integer value beyond 2**53 (left to the full decode). So a record
it accepts is one the full decode accepts with the same key and samples
(`tests/unit/test_metrics_canonical.py` checks that on generated and mutated records).

Used where a metrics observation needs no other field: the normalize stage, which forwards the
record as it came when it is canonical, the metrics projection and the anomaly stage, which read
its samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from ems.schemas.canonical import NotCanonical, checked, envelope, from_bytes, text, time
from ems.schemas.envelope import as_utc
from ems.schemas.field_bounds import item_length, length
from ems.schemas.observation import MetricSample, MetricsBody, Observation

__all__ = ["MetricsRecord", "NotCanonical", "Sample", "canonical", "from_observation", "read_canonical"]

Sample = tuple[str, float, dict[str, str], datetime]  # name, value, labels, time (aware, UTC)
# The schema's bounds, read from the models: samples per body, labels per sample, (min, max) characters.
SAMPLES, MAX_LABELS = length(MetricsBody, "samples"), length(MetricSample, "labels")[1]
NAME, LABEL_KEY, LABEL_VALUE = (
    length(MetricSample, "name"),
    item_length(MetricSample, "labels", 0),
    item_length(MetricSample, "labels", 1),
)
EXACT_INT = 2**53  # integers converted to float exactly (beyond: left to the full decode)


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
        text(k, *LABEL_KEY)
        text(v, *LABEL_VALUE)
    return labels


def canonical(raw: bytes | None) -> MetricsRecord | None:
    """`read_canonical` of the record's bytes, or None when they are not a canonical metrics
    observation (then the caller decodes them in full)."""
    return from_bytes(read_canonical, raw)


def read_canonical(data: object) -> MetricsRecord:
    """The key and samples of a parsed canonical metrics observation; `NotCanonical` when it is
    not one in every respect (module docstring)."""
    return checked(_read, data)


def _read(data: object) -> MetricsRecord:
    head = envelope(data, 2)
    body = head.body
    if body["kind"] != "metrics":
        raise NotCanonical("kind")
    items = body["samples"]
    if type(items) is not list or not SAMPLES[0] <= len(items) <= SAMPLES[1]:
        raise NotCanonical("samples")
    times: dict[object, datetime] = {None: head.occurred_at}
    samples: list[Sample] = []
    for s in items:
        if type(s) is not dict or len(s) != 4:
            raise NotCanonical(s)
        at = s["at"]
        when = times.get(at)
        if when is None:
            when = times[at] = time(at)
        samples.append((text(s["name"], *NAME), _value(s["value"]), _labels(s["labels"]), when))
    return MetricsRecord(head.key, samples, head.tenant)
