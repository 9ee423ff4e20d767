"""Translator cost: Alertmanager/Alerta/PagerDuty payloads -> observations, against the baseline of
`POST /api/v1/events`'s own parser on the same number of events (pure CPU, no servers).

Run: `.venv/bin/python -m ems.bench.formats [N]`.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable

from ems.api.formats import alerta, alertmanager, pagerduty
from ems.api.formats.common import Severities
from ems.api.ingest import parse_observations
from ems.settings import Settings


def _rate(fn: Callable[[], int], seconds: float = 1.0) -> float:
    """Events per second of `fn` (which returns how many events it translated)."""
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += fn()
    return done / (time.perf_counter() - start)


def main(n: int = 1000) -> None:
    settings = Settings()
    sev = Severities.of(settings.severity_order, settings.clearing_severities)
    known = set(settings.severity_order)
    one = {
        "status": "firing",
        "labels": {"alertname": "ProbeFailure", "instance": "h1", "job": "http", "severity": "critical"},
        "annotations": {"summary": "down", "description": "Instance h1 down for 5m"},
        "startsAt": "2023-02-06T13:08:45.828Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": "1a30ba71cca2921f",
    }
    hook = {"status": "firing", "receiver": "ems", "version": "4", "alerts": []}
    for i in range(n):
        alert = copy.deepcopy(one)
        alert["labels"]["instance"] = f"h{i}"
        hook["alerts"].append(alert)
    events = [
        {
            "source": "alertmanager",
            "severity": "critical",
            "event": "ProbeFailure",
            "resource": f"h{i}",
            "title": "down",
            "text": "Instance h1 down for 5m",
            "tags": ["job=http"],
            "metadata": {"u": "x"},
        }
        for i in range(n)
    ]
    al = {
        "resource": "web01",
        "event": "HttpServerError",
        "severity": "major",
        "environment": "Production",
        "service": ["example.com"],
        "tags": ["dc1"],
        "text": "Site is down.",
        "correlate": ["A", "B"],
    }
    pd = {
        "routing_key": "k",
        "event_action": "trigger",
        "dedup_key": "d",
        "payload": {"summary": "s", "source": "h", "severity": "error", "custom_details": {"a": 1}},
    }

    base = _rate(lambda: len(parse_observations(events, known)))
    rows = {
        "POST /api/v1/events parser (baseline)": base,
        f"alertmanager webhook ({n} alerts)": _rate(lambda: len(alertmanager.translate(hook, sev))),
        "alerta alert": _rate(lambda: [alerta.translate(al, sev)] and 1),
        "pagerduty trigger": _rate(lambda: [pagerduty.translate(pagerduty.parse(pd), sev)] and 1),
    }
    print(f"{'translator':42} {'events/s':>12} {'vs baseline':>12}")
    for name, rate in rows.items():
        print(f"{name:42} {rate:12,.0f} {rate / base:11.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
