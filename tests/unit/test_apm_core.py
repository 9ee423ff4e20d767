"""APM cores without Kafka: OTLP decoding, spans -> windowed metrics, the alert, spans -> edges."""

from __future__ import annotations

import gzip
import json
import math
import random

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from ems.agents.apm_worker import ApmCore
from ems.apm.dependencies import DependencyMap, Target
from ems.apm.otlp import JSON, PROTOBUF, OtlpError, inflate, parse, summarize
from ems.apm.publish import HIGH_RESPONSE_TIME, ResponseTimeAlerts, ResponseTimeRule, metrics
from ems.apm.windows import NS, Windows
from ems.schemas.identity import asset_id_for
from ems.schemas.span import SpanBatch, SpanSummary
from ems.settings import Settings

T0 = 1_800_000_000  # a window boundary for windows of 60 s (30_000_000 minutes)


def kv(key, value):
    any_value = AnyValue(string_value=value) if isinstance(value, str) else AnyValue(int_value=value)
    return KeyValue(key=key, value=any_value)


def span(name, kind, end_s, ms, error=False, **attrs):
    end = int(end_s * NS)
    return Span(
        trace_id=bytes(range(16)),
        span_id=bytes(range(8)),
        name=name,
        kind=kind,
        start_time_unix_nano=end - int(ms * 1e6),
        end_time_unix_nano=end,
        attributes=[kv(k.replace("_", "."), v) for k, v in attrs.items()],
        status=Status(code=2 if error else 1),
    )


def request(service, *spans):
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource={"attributes": [kv("service.name", service)]},
                scope_spans=[ScopeSpans(spans=list(spans))],
            )
        ]
    )


def test_protobuf_request_becomes_one_batch_per_service_and_bad_spans_are_refused_with_why():
    req = request(
        "checkout",
        span("GET /pay", 2, T0 + 1, 12.5, http_route="/pay", http_request_method="GET"),
        span("SELECT", 3, T0 + 1, 3, db_system="postgresql", db_name="orders"),
        span("work", 1, T0 + 1, 1),  # internal: accepted, neither a request nor a dependency
        Span(name="broken", kind=2, start_time_unix_nano=10, end_time_unix_nano=5),
    )
    decoded = summarize(parse(req.SerializeToString(), PROTOBUF), tenant="acme")
    assert (decoded.accepted, decoded.rejected) == (3, 1)
    [batch] = decoded.batches
    assert (batch.service, batch.tenant, len(batch.spans)) == ("checkout", "acme", 2)
    server, client = batch.spans
    assert (server.endpoint, server.role, server.duration_ms) == ("GET /pay", "server", 12.5)
    assert (client.role, client.db_system, client.db_name) == ("client", "postgresql", "orders")
    answer = ExportTraceServiceResponse.FromString(decoded.response(PROTOBUF))
    assert answer.partial_success.rejected_spans == 1
    assert "ends before it starts" in answer.partial_success.error_message


def test_otlp_json_with_hex_ids_and_integer_enums():
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "GET /cart",
                                "kind": 2,
                                "startTimeUnixNano": str(T0 * NS),
                                "endTimeUnixNano": str(T0 * NS + 40_000_000),
                                "status": {"code": 2},
                                "unknownField": 1,
                            }
                        ]
                    }
                ],
            }
        ]
    }
    decoded = summarize(parse(orjson.dumps(body), JSON))
    [batch] = decoded.batches
    assert batch.spans[0].error and batch.spans[0].duration_ms == 40.0
    assert orjson.loads(decoded.response(JSON)) == {}


def deep_attribute(depth: int) -> bytes:
    """A resource attribute nested `depth` key-value lists deep (past protobuf's recursion limit)."""
    value = {"stringValue": "x"}
    for _ in range(depth):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    return json.dumps(
        {"resourceSpans": [{"resource": {"attributes": [{"key": "a", "value": value}]}}]}
    ).encode()


@pytest.mark.parametrize(
    ("body", "media", "why"),
    [
        (b"\x0a\x05\xff", PROTOBUF, "invalid protobuf"),
        (b"{not json", JSON, "invalid JSON"),
        (b"[]", JSON, "expected a JSON object"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', JSON, "is not hex"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"endTimeUnixNano": "soon"}]}]}]}',
            JSON,
            "OTLP/JSON",
        ),
        (deep_attribute(150), JSON, "OTLP/JSON"),
    ],
)
def test_malformed_bodies_are_refused_with_the_reason(body, media, why):
    with pytest.raises(OtlpError, match=why):
        parse(body, media)


def test_gzip_is_inflated_within_the_limit():
    data = b"x" * 5000
    assert inflate(gzip.compress(data), "gzip", 5000) == data
    with pytest.raises(OverflowError):
        inflate(gzip.compress(data), "gzip", 4999)
    with pytest.raises(OtlpError, match="gzip"):
        inflate(b"not gzip", "gzip", 5000)
    with pytest.raises(OtlpError, match="br"):
        inflate(data, "br", 5000)


def server(endpoint, end_s, ms, error=False):
    return SpanSummary(endpoint=endpoint, role="server", end_ns=int(end_s * NS), duration_ms=ms, error=error)


def batch(service, *spans, tenant=None):
    return SpanBatch(service=service, tenant=tenant, spans=list(spans))


def test_windows_count_requests_errors_and_percentiles_by_end_time_and_close_after_grace():
    rng = random.Random(3)
    durations = [rng.lognormvariate(4, 0.8) for _ in range(2000)]
    windows = Windows(seconds=60, grace=5)
    spans = [server("GET /pay", T0 + 59 * i / 2000, d, error=i % 10 == 0) for i, d in enumerate(durations)]
    windows.add(batch("checkout", *spans))
    windows.add(batch("checkout", server("GET /pay", T0 + 64, 1)))  # next window; not past grace
    assert windows.close() == []
    windows.add(batch("checkout", server("GET /pay", T0 + 65, 1)))
    [closed] = windows.close()
    assert (closed.start, closed.requests, closed.errors) == (T0, 2000, 200)
    obs = metrics(closed)
    values = {s.name: s.value for s in obs.body.samples}
    assert values["apm.error_rate"] == 0.1 and values["apm.request_rate"] == pytest.approx(2000 / 60)
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        want = sorted(durations)[math.floor(q * 1999)]
        assert abs(values[f"apm.latency_{name}_ms"] - want) <= 0.01 * want
    assert obs.asset_id == asset_id_for("service:checkout")
    assert {s.labels["endpoint"] for s in obs.body.samples} == {"GET /pay"}
    windows.add(batch("checkout", server("GET /pay", T0 + 30, 1)))  # its window was published
    assert windows.late == 1


def test_high_response_time_is_raised_once_and_cleared_on_recovery():
    alerts = ResponseTimeAlerts(ResponseTimeRule(500, {"checkout GET /slow": 100}))
    events = []
    for minute, ms in enumerate([50, 300, 400, 20, 20]):
        windows = Windows(seconds=60, grace=0)
        start = T0 + 60 * minute
        windows.add(batch("checkout", *(server("GET /slow", start + i / 10, ms) for i in range(20))))
        windows.add(batch("checkout", server("GET /other", start + 61, 1)))
        for window in windows.close():
            event = alerts.observe(window)
            if event is not None:
                events.append(event)
    assert [(e.body.event, e.body.severity) for e in events] == [
        (HIGH_RESPONSE_TIME, "warning"),
        (HIGH_RESPONSE_TIME, "ok"),
    ]
    raised = events[0].body
    assert raised.attributes["endpoint"] == "GET /slow" and raised.attributes["threshold_ms"] == 100
    assert abs(raised.attributes["p95_ms"] - 300) <= 3
    assert events[0].body.resource == events[1].body.resource


def client(**attrs):
    return SpanSummary(endpoint="call", role="client", end_ns=T0 * NS, duration_ms=1, **attrs)


def test_client_spans_become_depends_on_edges_published_whole_when_they_grow():
    deps = DependencyMap()
    first = deps.add(batch("frontend", server("GET /", T0, 1), client(peer_service="checkout")))
    assert [o.body.facts["natural_key"] for o in first] == ["service:frontend"]
    assert first[0].body.edges == [
        {
            "type": "depends_on",
            "target": asset_id_for("service:checkout"),
            "target_name": "checkout",
            "target_type": "service",
        }
    ]
    assert deps.add(batch("frontend", client(peer_service="checkout"))) == []  # nothing new
    grown = deps.add(batch("frontend", client(db_system="redis", server_address="cache")))
    assert [o.body.facts["type"] for o in grown] == ["database", "service"]
    assert {e["target_name"] for e in grown[1].body.edges} == {"checkout", "cache"}
    assert grown[0].asset_id == Target("database", "cache", "redis").asset_id
    assert [o.body.edges for o in deps.add(batch("checkout", server("GET /pay", T0, 1)))] == [[]]
    only_address = deps.add(batch("checkout", client(server_address="payments.internal")))
    assert only_address[0].body.edges[0]["target_name"] == "payments.internal"


def test_the_stage_core_gives_the_same_records_when_its_input_is_replayed():
    settings = Settings(apm_window_seconds=10, apm_grace_seconds=1, apm_p95_threshold_ms=50)
    batches = [
        batch("api", *(server("GET /x", T0 + i + k / 10, 10 + 100 * (i // 10 % 2)) for k in range(5)))
        for i in range(40)
    ]

    def run():
        core, out = ApmCore(settings), []
        for b in batches:
            out += core.add(b)
            out += core.close()
        return [o.model_dump() for o in out]

    first = run()
    assert first == run()
    kinds = [o["body"]["kind"] for o in first]
    assert kinds.count("metrics") == 3 and kinds.count("discovery") == 1
    assert [o["body"]["severity"] for o in first if o["body"]["kind"] == "event"] == ["warning", "ok"]
