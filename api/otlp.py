"""`POST /v1/traces`: the OTLP/HTTP trace receiver (docs/apm.md).

Protobuf (`application/x-protobuf`) or OTLP/JSON (`application/json`), optionally gzip-compressed;
the same credentials, permission (`write:observations`), rate limit and size limit
(`EMS_MAX_PAYLOAD_BYTES`, on the body as sent and again once inflated) as the other ingest writes.
The spans are reduced per service (`ems.apm.otlp`) and appended to `ems.apm.spans`; the answer is an
`ExportTraceServiceResponse` in the request's encoding, whose `partial_success` counts and explains
the spans refused. A body that is not a trace request is a 400 with the reason; nothing is appended.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ems.api.body import read_bytes
from ems.api.errors import ApiError
from ems.api.routing import Call, Endpoint
from ems.api.tenancy import tenant_of
from ems.apm.otlp import JSON, PROTOBUF, Decoded, OtlpError, inflate, parse, summarize

MEDIA_TYPES = (PROTOBUF, JSON)


async def post_traces(call: Call) -> Any:
    request = call.request
    limit = call.settings.max_payload_bytes
    body = await read_bytes(request, MEDIA_TYPES, required=False, limit=limit)
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    media = PROTOBUF if media == PROTOBUF else JSON
    try:
        data = inflate(body or b"", request.headers.get("content-encoding", ""), limit)
        decoded = summarize(parse(data, media), tenant_of(call)) if data else Decoded()  # empty: no spans
    except OtlpError as exc:
        raise ApiError(400, str(exc)) from None
    except OverflowError as exc:
        raise ApiError(413, str(exc)) from None
    if decoded.batches:
        await call.state.appender.append(call.settings.topic("apm.spans"), decoded.batches)
    return Response(decoded.response(media), status_code=200, media_type=media)


ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/traces",
        post_traces,
        permission="write:observations",
        summary="OTLP/HTTP traces: an ExportTraceServiceRequest in protobuf or JSON, gzip allowed",
        description="The spans feed the APM metrics, the dependency map and the High Response Time "
        "alert (docs/apm.md). The answer is an ExportTraceServiceResponse in the request's encoding; "
        "`partial_success` counts the spans refused (no end time, ending before they start) with why.",
        media_types=MEDIA_TYPES,
        response=dict[str, Any],
        responses={
            400: "not an ExportTraceServiceRequest (protobuf or OTLP/JSON), a bad id, or bad gzip",
            413: "over the size limit, as sent or once inflated",
            415: "not application/x-protobuf or application/json",
        },
        tags=("apm",),
    ),
]
