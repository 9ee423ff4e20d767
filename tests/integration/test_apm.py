"""APM end to end: a 3-service app instrumented with the real OpenTelemetry SDK exports its traces over
OTLP/HTTP (protobuf, gzip) to the running API; the worker's apm stage turns them into metrics, the
dependency map and the High Response Time alert, checked through the API and the read models."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

from ems.schemas.identity import asset_id_for
from tests.integration.harness import Pipeline, wait_for

WINDOW = 10  # s (EMS_APM_WINDOW_SECONDS); the spans carry past times, so nothing waits for a window
THRESHOLD = 500.0  # ms (EMS_APM_P95_THRESHOLD_MS)
# P95 of POST /pay per window: normal, slow (raises High Response Time), normal again (clears it)
PHASES = ["normal"] * 3 + ["slow"] * 2 + ["normal"] * 2
PER_WINDOW = 100
NS = 1_000_000_000
CHECKOUT = asset_id_for("service:checkout")


class Recording(OTLPSpanExporter):
    """The SDK's OTLP/HTTP exporter, keeping the result of each export."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.results: list[SpanExportResult] = []

    def export(self, spans):
        result = super().export(spans)
        self.results.append(result)
        return result


class App:
    """frontend -> checkout -> (inventory, postgresql orders): one tracer provider per service."""

    def __init__(self, api: str, key: str) -> None:
        self.exporters: list[Recording] = []
        self.providers = {s: self._provider(s, api, key) for s in ("frontend", "checkout", "inventory")}
        self.tracers = {s: p.get_tracer("apm-test") for s, p in self.providers.items()}

    def _provider(self, service: str, api: str, key: str) -> TracerProvider:
        exporter = Recording(
            endpoint=f"{api}/v1/traces", headers={"Authorization": f"Key {key}"}, compression=Compression.Gzip
        )
        self.exporters.append(exporter)
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=200))
        return provider

    def span(self, service, name, kind, end_ns, ms, parent=None, error=False, **attrs):
        start = end_ns - int(ms * 1e6)
        context = trace.set_span_in_context(parent) if parent is not None else None
        span = self.tracers[service].start_span(name, context, kind, attrs, start_time=start)
        if error:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end_ns)
        return span

    def request(self, end_ns: int, ms: float, error: bool) -> None:
        """One checkout request, called by the frontend, calling inventory and the database."""
        front = self.span(
            "frontend", "GET /", SpanKind.SERVER, end_ns + 2_000_000, ms + 2, **{"http.route": "/"}
        )
        self.span(
            "frontend",
            "POST",
            SpanKind.CLIENT,
            end_ns + 1_000_000,
            ms + 1,
            front,
            **{"peer.service": "checkout"},
        )
        pay = self.span(
            "checkout",
            "POST /pay",
            SpanKind.SERVER,
            end_ns,
            ms,
            error=error,
            **{"http.route": "/pay", "http.request.method": "POST"},
        )
        self.span(
            "checkout", "GET", SpanKind.CLIENT, end_ns - 100_000, 1, pay, **{"peer.service": "inventory"}
        )
        self.span(
            "inventory", "GET /stock", SpanKind.SERVER, end_ns - 200_000, 0.5, **{"http.route": "/stock"}
        )
        self.span(
            "checkout",
            "INSERT orders",
            SpanKind.CLIENT,
            end_ns - 300_000,
            2,
            pay,
            **{"db.system": "postgresql", "db.name": "orders", "server.address": "db1"},
        )

    def flush(self) -> None:
        for provider in self.providers.values():
            provider.force_flush()
            provider.shutdown()


@pytest.fixture(scope="module")
def apm(servers, tmp_path_factory) -> Iterator[Pipeline]:
    p = Pipeline(
        servers,
        tmp_path_factory.mktemp("logs"),
        apm_window_seconds=str(WINDOW),
        apm_grace_seconds="0",
        apm_p95_threshold_ms=str(THRESHOLD),
    )
    try:
        p.start_worker(stages="normalize,dedupe,projections,assets,apm")
        p.start_api()
        yield p
    finally:
        p.stop_all()


def test_traces_become_percentiles_error_rates_the_dependency_map_and_the_alert(apm):
    rng = random.Random(14)
    base = (int(time.time()) - 900) // WINDOW * WINDOW  # 15 min ago, on a window boundary
    app = App(apm.api, apm.admin_key())
    durations: list[list[float]] = []
    for w, phase in enumerate(PHASES):
        window = []
        for i in range(PER_WINDOW):
            ms = rng.uniform(700, 1200) if phase == "slow" else rng.lognormvariate(3.5, 0.6)
            ms = round(ms, 3)
            window.append(ms)
            app.request((base + w * WINDOW) * NS + int((i + 0.5) * WINDOW * NS / PER_WINDOW), ms, i % 10 == 0)
        durations.append(window)
    # A last request in a later window moves every service's watermark past the windows above.
    app.request((base + (len(PHASES) + 1) * WINDOW) * NS, 10, False)
    app.flush()
    results = [r for e in app.exporters for r in e.results]
    assert results and all(r is SpanExportResult.SUCCESS for r in results)

    with apm.client() as api:
        # Percentiles within the sketch's 1% of the exact ones, per window, and the error rate.
        series = {}

        def stored() -> bool:
            for name in ("apm.latency_p95_ms", "apm.latency_p50_ms", "apm.error_rate", "apm.requests"):
                answer = api.get(
                    "/api/v1/metrics/series",
                    params={
                        "asset": CHECKOUT,
                        "name": name,
                        "label.endpoint": "POST /pay",
                        "from": str(base),
                        "to": str(base + 100 * WINDOW),
                    },
                )
                assert answer.status_code == 200, answer.text
                found = answer.json()["series"]
                series[name] = [p["avg"] for p in found[0]["points"]] if found else []
            return all(len(v) == len(PHASES) for v in series.values())

        wait_for(stored, 120, "the APM metrics of every window")
        for name, q in (("apm.latency_p95_ms", 0.95), ("apm.latency_p50_ms", 0.5)):
            for got, window in zip(series[name], durations, strict=True):
                want = sorted(window)[math.floor(q * (len(window) - 1))]
                assert abs(got - want) <= 0.01 * want, (name, got, want)
        assert series["apm.error_rate"] == [0.1] * len(PHASES)
        assert series["apm.requests"] == [PER_WINDOW] * len(PHASES)

        # The dependency map, in the APM map and in the asset registry.
        want_edges = {("frontend", "checkout"), ("checkout", "inventory"), ("checkout", "orders")}

        def mapped() -> dict | None:
            body = api.get("/api/v1/apm/services").json()
            edges = {(e["source_name"], e["target_name"]) for e in body["edges"]}
            return body if edges == want_edges and len(body["services"]) == 3 and body["databases"] else None

        body = wait_for(mapped, 120, "the APM service map")
        checkout = next(s for s in body["services"] if s["name"] == "checkout")
        [pay] = [e for e in checkout["endpoints"] if e["endpoint"] == "POST /pay"]
        assert pay["error_rate"] == 0.1 and pay["request_rate"] == PER_WINDOW / WINDOW
        assert body["databases"][0]["name"] == "orders" and body["databases"][0]["system"] == "postgresql"
        asset = api.get(f"/api/v1/assets/{CHECKOUT}").json()
        assert asset["asset"]["type"] == "service"
        assert {(d["type"], d["target"]) for d in asset["dependencies"]} == {
            ("depends_on", asset_id_for("service:inventory")),
            ("depends_on", asset_id_for("database:postgresql/orders")),
        }
        front = api.get(f"/api/v1/assets/{asset_id_for('service:frontend')}").json()
        assert [d["target"] for d in front["dependencies"]] == [CHECKOUT]

    # High Response Time: raised on the slow windows with p95, threshold and endpoint, then cleared.
    def resolved() -> bool:
        rows = apm.query(
            "SELECT status FROM alerts WHERE asset_id = %s AND event = 'High Response Time'", (CHECKOUT,)
        )
        return bool(rows) and rows[0]["status"] == "resolved"

    wait_for(resolved, 120, "High Response Time to be raised and cleared")

    def both_events() -> list | None:  # the events read model has its own runner: it may trail alerts
        rows = apm.query(
            "SELECT severity, attributes FROM events WHERE asset_id = %s AND event = 'High Response Time' "
            "ORDER BY occurred_at",
            (CHECKOUT,),
        )
        return rows if len(rows) >= 2 else None

    events = wait_for(both_events, 60, "the raise and the clear in the events read model")
    assert [e["severity"] for e in events] == ["warning", "ok"]
    raised = events[0]["attributes"]
    assert raised["endpoint"] == "POST /pay" and raised["threshold_ms"] == THRESHOLD
    slow = sorted(durations[PHASES.index("slow")])
    want = slow[math.floor(0.95 * (len(slow) - 1))]
    assert abs(raised["p95_ms"] - want) <= 0.01 * want


def test_malformed_bodies_get_400_partial_success_names_bad_spans_and_no_credential_401(apm):
    url = f"{apm.api}/v1/traces"
    with apm.client() as api:
        bad = api.post(
            "/v1/traces", content=b"\x0a\x05\xff", headers={"Content-Type": "application/x-protobuf"}
        )
        assert bad.status_code == 400 and "protobuf" in bad.text
        bad = api.post("/v1/traces", content=b"{nope", headers={"Content-Type": "application/json"})
        assert bad.status_code == 400 and "invalid JSON" in bad.text
        bad = api.post(
            "/v1/traces",
            json={"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]},
        )
        assert bad.status_code == 400 and "traceId" in bad.text
        wrong = api.post("/v1/traces", content=b"x", headers={"Content-Type": "text/plain"})
        assert wrong.status_code == 415
        # OTLP/JSON with one usable span and one ending before it starts: 200, partial success.
        now = time.time_ns()
        spans = [
            {
                "traceId": "ab" * 16,
                "spanId": "cd" * 8,
                "name": "GET /json",
                "kind": 2,
                "startTimeUnixNano": str(now - 5_000_000),
                "endTimeUnixNano": str(now),
            },
            {
                "traceId": "ab" * 16,
                "spanId": "ef" * 8,
                "name": "GET /json",
                "kind": 2,
                "startTimeUnixNano": str(now),
                "endTimeUnixNano": str(now - 1),
            },
        ]
        service = {"attributes": [{"key": "service.name", "value": {"stringValue": "json-app"}}]}
        body = {"resourceSpans": [{"resource": service, "scopeSpans": [{"spans": spans}]}]}
        partial = api.post("/v1/traces", json=body)
        assert partial.status_code == 200 and partial.headers["content-type"] == "application/json"
        answer = partial.json()["partialSuccess"]
        assert answer["rejectedSpans"] == "1" and "efefefefefefefef" in answer["errorMessage"]
    anonymous = httpx.post(url, content=b"", headers={"Content-Type": "application/x-protobuf"}, timeout=30)
    assert anonymous.status_code == 401
