"""Verdicts -> `MetricAnomaly` observations on the raw topic, as a collector would publish them. Pure.

A raise is severity `warning`, a clear severity `ok` on the same alert (the fingerprint hashes the
resource, event and asset: the resource names the series). Ids derive from the series, the sample
time and the severity, so a replay or a redelivery publishes the same records with the same ids.
"""

from __future__ import annotations

import hashlib

from ems.ml.anomaly.detector import Detector, SeriesKey, Verdict
from ems.schemas.metrics_canonical import MetricsRecord, from_observation
from ems.schemas.observation import EventBody, Observation

EVENT = "MetricAnomaly"
SOURCE = "anomaly"


def resource(key: SeriesKey) -> str:
    """The series as the alert's resource: `name` or `name{k=v,...}` (labels sorted)."""
    _, _, name, labels = key
    inner = ",".join(f"{k}={v}" for k, v in labels)
    return (f"{name}{{{inner}}}" if labels else name)[:256]


def observation(verdict: Verdict) -> Observation:
    """The raise (warning) or clear (ok) of one series' anomaly."""
    tenant, asset, name, labels = verdict.key
    severity = "warning" if verdict.anomalous else "ok"
    series = resource(verdict.key)
    what = "anomalous" if verdict.anomalous else "back to normal"
    ident = "\x1f".join(map(str, (tenant, asset, series, verdict.at.isoformat(), severity)))
    return Observation(
        event_id="anomaly-" + hashlib.sha256(ident.encode()).hexdigest()[:32],
        occurred_at=verdict.at,
        source=SOURCE,
        asset_id=asset,
        tenant=tenant,
        body=EventBody(
            event=EVENT,
            severity=severity,
            resource=series,
            title=f"{EVENT}: {series} on {asset} {what} ({verdict.value:g}, usual {verdict.mean:.4g})"[:1024],
            value=f"{verdict.value:g}",
            attributes={
                "metric": name,
                "labels": dict(labels),
                "value": verdict.value,
                "score": round(verdict.score, 4),
                "usual": round(verdict.mean, 6),
                "sample_at": verdict.at.isoformat(),
            },
        ),
    )


def feed(detector: Detector, record: MetricsRecord | Observation) -> list[Observation]:
    """Every sample of a metrics observation through `detector`; the raises and clears it causes."""
    if isinstance(record, Observation):
        record = from_observation(record)
    out = []
    asset, tenant = record.key, record.tenant
    for name, value, labels, at in record.samples:
        verdict = detector.observe((tenant, asset, name, tuple(sorted(labels.items()))), at, value)
        if verdict is not None:
            out.append(observation(verdict))
    return out
