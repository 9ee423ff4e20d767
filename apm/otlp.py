"""OTLP/HTTP trace requests (protobuf or JSON) -> `SpanBatch`es, one per service. Pure.

JSON follows the OTLP/JSON rules: lowerCamelCase fields, trace and span ids in hex (not protobuf's
base64), enums as integers, 64-bit integers as numbers or strings; unknown fields are ignored.
A span that cannot be used (no end time, or ending before it starts) is rejected and counted
in the answer's `partial_success`; a body that is not an ExportTraceServiceRequest is an `OtlpError`.
"""

from __future__ import annotations

import base64
import gzip
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from pydantic import ValidationError

from ems.schemas.span import SpanBatch
from ems.streams.codecs import format_validation_error

PROTOBUF, JSON = "application/x-protobuf", "application/json"
SERVER_KINDS = {2, 5}  # SPAN_KIND_SERVER, SPAN_KIND_CONSUMER
CLIENT_KINDS = {3, 4}  # SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER
STATUS_ERROR = 2
UNKNOWN_SERVICE = "unknown_service"
MAX_TEXT = 256
ID_FIELDS = ("traceId", "spanId", "parentSpanId")


class OtlpError(ValueError):
    """The body is not a usable OTLP trace request; the message says why (a 400)."""


@dataclass
class Decoded:
    """The batches to append and what was refused (OTLP partial success)."""

    batches: list[SpanBatch] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def response(self, media: str) -> bytes:
        """The ExportTraceServiceResponse in the request's encoding."""
        answer = ExportTraceServiceResponse()
        if self.rejected:
            why = "; ".join(self.reasons[:5]) + (
                f"; and {len(self.reasons) - 5} more" if len(self.reasons) > 5 else ""
            )
            answer.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=self.rejected, error_message=why)
            )
        if media == PROTOBUF:
            return answer.SerializeToString()
        return orjson.dumps(json_format.MessageToDict(answer))


def inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """The body after its Content-Encoding (identity or gzip), at most `limit` bytes (else OtlpError)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise OtlpError(f"Content-Encoding {encoding!r} is not supported; use gzip or none")
    out = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = out.decompress(body, limit + 1)
    except zlib.error as exc:
        raise OtlpError(f"invalid gzip body: {exc}") from None
    if len(data) > limit:
        raise OverflowError(f"the body inflates to more than the limit of {limit} bytes")
    if not out.eof:
        raise OtlpError("invalid gzip body: truncated")
    return data


def parse(body: bytes, media: str) -> ExportTraceServiceRequest:
    """The request message of a protobuf or OTLP/JSON body."""
    request = ExportTraceServiceRequest()
    if media == PROTOBUF:
        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise OtlpError(f"invalid protobuf ExportTraceServiceRequest: {exc}") from None
        return request
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpError(f"invalid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise OtlpError("expected a JSON object (ExportTraceServiceRequest)")
    _hex_ids_to_base64(payload)
    try:
        json_format.ParseDict(payload, request, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise OtlpError(f"invalid OTLP/JSON ExportTraceServiceRequest: {exc}") from None
    return request


def _hex_ids_to_base64(payload: dict[str, Any]) -> None:
    """OTLP/JSON ids are hex; protobuf's JSON mapping reads bytes as base64: convert them in place."""

    def convert(obj: Any, where: str) -> None:
        if not isinstance(obj, dict):
            return
        for name in ID_FIELDS:
            value = obj.get(name)
            if isinstance(value, str) and value:
                try:
                    obj[name] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise OtlpError(f"{where}.{name}: {value[:40]!r} is not hex") from None

    for r, rs in enumerate(_list(payload, "resourceSpans")):
        for s, ss in enumerate(_list(rs, "scopeSpans")):
            for i, span in enumerate(_list(ss, "spans")):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                convert(span, where)
                for k, link in enumerate(_list(span, "links")):
                    convert(link, f"{where}.links[{k}]")


def _list(obj: Any, name: str) -> list[Any]:
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else []


def value_of(value: AnyValue) -> Any:
    """A scalar attribute value (arrays and maps are not needed here: None)."""
    kind = value.WhichOneof("value")
    if kind in ("string_value", "bool_value", "int_value", "double_value"):
        return getattr(value, kind)
    return None


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)[:MAX_TEXT]


def summarize(request: ExportTraceServiceRequest, tenant: str | None = None) -> Decoded:
    """Reduce the request's server and client spans to `SpanBatch`es, one per service."""
    out = Decoded()
    by_service: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for resource_spans in request.resource_spans:
        resource = {a.key: value_of(a.value) for a in resource_spans.resource.attributes}
        service = _text(resource.get("service.name")) or UNKNOWN_SERVICE
        spans = by_service[service]
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                kind, start, end = span.kind, span.start_time_unix_nano, span.end_time_unix_nano
                why = "no end time" if not end else "ends before it starts" if end < start else None
                if why:
                    out.rejected += 1
                    out.reasons.append(f"span {span.span_id.hex() or '(no id)'} of {service}: {why}")
                    continue
                out.accepted += 1
                role = "server" if kind in SERVER_KINDS else "client" if kind in CLIENT_KINDS else None
                if role is None:
                    continue  # internal spans: neither a request nor a dependency
                attrs = {a.key: value_of(a.value) for a in span.attributes}
                spans.append(
                    {
                        "endpoint": endpoint_of(span.name, attrs),
                        "role": role,
                        "end_ns": end,
                        "duration_ms": (end - start) / 1e6,
                        "error": span.status.code == STATUS_ERROR,
                        "peer_service": _text(attrs.get("peer.service")),
                        "db_system": _text(attrs.get("db.system.name") or attrs.get("db.system")),
                        "db_name": _text(attrs.get("db.namespace") or attrs.get("db.name")),
                        "server_address": _text(attrs.get("server.address") or attrs.get("net.peer.name")),
                    }
                )
    try:  # one validation per batch (NUL and length rules of the record), not one per span
        out.batches = [
            SpanBatch.model_validate({"service": s, "tenant": tenant, "spans": spans})
            for s, spans in by_service.items()
            if spans
        ]
    except ValidationError as exc:
        raise OtlpError(f"unusable span fields: {format_validation_error(exc)}") from None
    return out


def endpoint_of(name: str, attrs: dict[str, Any]) -> str:
    """`<method> <http.route>` when the span has a route, else the span name."""
    route = _text(attrs.get("http.route"))
    method = _text(attrs.get("http.request.method") or attrs.get("http.method"))
    if route:
        return f"{method} {route}"[:MAX_TEXT] if method else route
    return (name or "(unnamed)")[:MAX_TEXT]


def gzip_body(body: bytes) -> bytes:
    """`body` gzip-compressed (as exporters send it; for tests and the benchmark)."""
    return gzip.compress(body)
