"""Closed windows -> metric observations, and the `High Response Time` warning with its clear. Pure.

Every output's id and time derive from its window, so a replay (or a redelivery) publishes the same
records with the same ids: the metric store keeps one sample per series and time, and the event
pipeline recognises an event id it has seen.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ems.apm.dependencies import SOURCE, service_key
from ems.apm.windows import Window
from ems.schemas.identity import asset_id_for
from ems.schemas.observation import EventBody, MetricSample, MetricsBody, Observation

HIGH_RESPONSE_TIME = "High Response Time"
QUANTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))


def _id(*parts: object) -> str:
    return "apm-" + hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


def _time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def metrics(window: Window) -> Observation:
    """The window's samples (labelled by endpoint, timed at the window start) on the service's asset."""
    values = {
        "apm.requests": window.requests,
        "apm.errors": window.errors,
        "apm.request_rate": window.rate,
        "apm.error_rate": window.error_rate,
    }
    for name, q in QUANTILES:
        values[f"apm.latency_{name}_ms"] = window.latency.quantile(q) or 0.0
    at, labels = _time(window.start), {"endpoint": window.endpoint}
    samples = [MetricSample(name=n, value=float(v), labels=labels, at=at) for n, v in values.items()]
    return Observation(
        event_id=_id("metrics", window.tenant, window.service, window.endpoint, window.start),
        occurred_at=_time(window.end),
        source=SOURCE,
        asset_id=asset_id_for(service_key(window.service)),
        tenant=window.tenant,
        body=MetricsBody(samples=samples),
    )


@dataclass
class ResponseTimeRule:
    """P95 thresholds (ms): one default, and overrides per `"<service> <endpoint>"`."""

    default_ms: float = 1000.0
    overrides: dict[str, float] = field(default_factory=dict)

    def threshold(self, service: str, endpoint: str) -> float:
        return self.overrides.get(f"{service} {endpoint}", self.overrides.get(service, self.default_ms))


@dataclass
class ResponseTimeAlerts:
    """Raises `High Response Time` when a window's P95 goes above the threshold, clears it (severity
    ok) at the first window back at or below it."""

    rule: ResponseTimeRule = field(default_factory=ResponseTimeRule)
    breached: set[tuple[str | None, str, str]] = field(default_factory=set)

    def observe(self, window: Window) -> Observation | None:
        p95 = window.latency.quantile(0.95)
        if p95 is None:
            return None
        key = (window.tenant, window.service, window.endpoint)
        threshold = self.rule.threshold(window.service, window.endpoint)
        if p95 > threshold and key not in self.breached:
            self.breached.add(key)
            severity, title = "warning", f"P95 {p95:.0f} ms above {threshold:g} ms"
        elif p95 <= threshold and key in self.breached:
            self.breached.discard(key)
            severity, title = "ok", f"P95 {p95:.0f} ms back within {threshold:g} ms"
        else:
            return None
        body = EventBody(
            event=HIGH_RESPONSE_TIME,
            severity=severity,
            resource=f"{window.service} {window.endpoint}"[:256],
            title=f"{HIGH_RESPONSE_TIME} on {window.service} {window.endpoint}: {title}"[:1024],
            value=f"{p95:.1f} ms",
            service=[window.service],
            attributes={
                "p95_ms": round(p95, 3),
                "threshold_ms": threshold,
                "endpoint": window.endpoint,
                "service": window.service,
                "window_start": _time(window.start).isoformat(),
                "requests": window.requests,
            },
        )
        return Observation(
            event_id=_id("event", *key, window.start, severity),
            occurred_at=_time(window.end),
            source=SOURCE,
            asset_id=asset_id_for(service_key(window.service)),
            tenant=window.tenant,
            body=body,
        )
