"""Prometheus metrics of the API, served at `/metrics`, and the pipeline's stages as the API sees them
in their Redis heartbeats (consumer lag, live workers, healthy) at the moment of the scrape.

With `ems api --workers N` the processes count into files under `PROMETHEUS_MULTIPROC_DIR` (set
by `multiprocess_metrics` before they start), and whichever process answers `/metrics` serves the
sum over all of them, not its own share.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send


class ApiMetrics:
    """The API's counters and histograms, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "ems_api_events_accepted", "Observations appended to Kafka", registry=self.registry
        )
        self.rejected = Counter(
            "ems_api_requests_rejected",
            "Write requests refused, by HTTP status",
            ["status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ems_api_request_seconds",
            "Request duration, by route and method",
            ["route", "method", "status"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

        self.stage_lag = self._stage_gauge(
            "ems_stage_lag",
            "Records waiting on a stage's or projection's input (consumer lag), summed over its workers",
        )
        self.stage_instances = self._stage_gauge(
            "ems_stage_instances", "Live workers of a stage (reporting heartbeats)"
        )
        self.stage_healthy = self._stage_gauge(
            "ems_stage_healthy",
            "1 when a stage is alive and keeping up, 0 when /health names a problem of it",
        )
        self.stage_stalled = self._stage_gauge(
            "ems_stage_stalled_seconds",
            "Seconds a stage's longest-waiting worker has had records waiting and made no progress "
            "(0 when keeping up; stuck past EMS_STUCK_AFTER)",
        )

    def _stage_gauge(self, name: str, documentation: str) -> Gauge:
        """A per-stage gauge set at each scrape (with --workers: the latest scrape's, not one per process)."""
        return Gauge(
            name, documentation, ["stage"], registry=self.registry, multiprocess_mode="livemostrecent"
        )

    def set_stages(self, report: dict[str, Any]) -> None:
        """The gauges of every stage of a `judge_stages` report (stages no longer reported are dropped)."""
        for gauge in (self.stage_lag, self.stage_instances, self.stage_healthy, self.stage_stalled):
            gauge.clear()
        for stage, facts in report.items():
            if facts.get("lag") is not None:
                self.stage_lag.labels(stage).set(facts["lag"])
            self.stage_instances.labels(stage).set(len(facts.get("instances", [])))
            self.stage_healthy.labels(stage).set(1 if facts.get("ok") else 0)
            if facts.get("stalled_s") is not None:
                self.stage_stalled.labels(stage).set(facts["stalled_s"])

    async def endpoint(self, request: Request) -> Response:
        registry = self.registry
        if os.environ.get(MULTIPROC_DIR):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


@contextlib.contextmanager
def multiprocess_metrics() -> Iterator[str]:
    """A fresh folder for the counters of the processes started inside (removed after), named by
    `PROMETHEUS_MULTIPROC_DIR` in this process's environment, which they inherit. It must be set
    before they import prometheus_client; one the operator set is used as it is, and kept."""
    given = os.environ.get(MULTIPROC_DIR)
    if given:
        yield given
        return
    folder = tempfile.mkdtemp(prefix="ems-api-metrics-")
    os.environ[MULTIPROC_DIR] = folder
    try:
        yield folder
    finally:
        os.environ.pop(MULTIPROC_DIR, None)
        shutil.rmtree(folder, ignore_errors=True)


class MetricsMiddleware:
    """Times every HTTP request by its route template (not its raw path: ids would explode labels)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def record_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", "unmatched")
            self.metrics.latency.labels(name, scope["method"], str(status[0])).observe(
                time.perf_counter() - start
            )
            if status[0] >= 400 and scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
                self.metrics.rejected.labels(str(status[0])).inc()
