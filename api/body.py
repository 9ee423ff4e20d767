"""The one body reader of the API: media type, size, UTF-8, JSON, depth and NUL checks, in that order.

- a body-bearing request whose `Content-Type` is not one the route accepts: 415 (a `text/plain`
  or form post is refused: a cross-site form needs no CORS preflight, a JSON request does);
- over `EMS_MAX_PAYLOAD_BYTES`: 413 (by the declared length, before reading, or while reading);
- not UTF-8 or not JSON: 400 naming the byte or the parse error;
- nested deeper than `MAX_BODY_DEPTH`: 422;
- a NUL in any string or key: 422 naming each (no PostgreSQL text or jsonb holds one).

`as_json` validates a parsed body the way the OpenAPI document describes it: by JSON type, strictly
(an integer field refuses `true`, `"5"` and `1.0`, a boolean `0`, a time a number), as pydantic's
strict JSON mode does; its lax Python mode would take all of those.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, TypeAdapter
from starlette.requests import Request

from ems.api.edge import has_body, require_json
from ems.api.errors import ApiError
from ems.schemas.limits import MAX_DEPTH, NUL_MESSAGE, nul_paths

MAX_BODY_DEPTH = MAX_DEPTH + 8  # a record's attributes may nest MAX_DEPTH levels inside a batch
JSON_TYPES = ("application/json",)


async def read_body(
    request: Request,
    accepted: tuple[str, ...] = JSON_TYPES,
    *,
    required: bool = True,
    limit: int | None = None,
) -> Any:
    """The request body parsed as JSON after the checks above; None for an absent optional body."""
    body = await read_bytes(request, accepted, required=required, limit=limit)
    return None if body is None else parse_json(body)


async def read_bytes(
    request: Request,
    accepted: tuple[str, ...] = JSON_TYPES,
    *,
    required: bool = True,
    limit: int | None = None,
) -> bytes | None:
    """The raw request body after the media type and size checks; None for an absent optional body."""
    if not has_body(request.headers):
        if required:
            raise ApiError(400, "empty request body; expected a JSON object or array")
        return None
    require_json(request, accepted)
    limit = limit or request.app.state.settings.max_payload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, f"request body exceeds the limit of {limit} bytes")
    if not body:
        if required:
            raise ApiError(400, "empty request body; expected a JSON object or array")
        return None
    return bytes(body)


def parse_json(body: bytes) -> Any:
    """`read_body`'s checks of a whole body: ApiError (400, 422) with the reason."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as bad:
            # orjson says "surrogates not allowed" of any bad byte: name the byte instead.
            raise ApiError(
                400, f"request body is not valid UTF-8: byte 0x{body[bad.start]:02x} at offset {bad.start}"
            ) from None
        raise ApiError(400, f"invalid JSON: {exc}") from None
    deep = too_deep(payload, MAX_BODY_DEPTH)
    if deep is not None:
        raise ApiError(
            422,
            "validation failed",
            [{"field": deep, "message": f"nested deeper than {MAX_BODY_DEPTH} levels"}],
        )
    if b"\\u0000" in body:  # how JSON writes a NUL (raw control characters are invalid JSON)
        paths = nul_paths(payload)  # e.g. `resource`, `[2].attributes.note`, `tags[0]`
        if paths:
            raise ApiError(422, "validation failed", [{"field": p, "message": NUL_MESSAGE} for p in paths])
    return payload


def too_deep(value: Any, limit: int) -> str | None:
    """The path of the first container nested deeper than `limit` levels (None when none is)."""
    stack: list[tuple[Any, str, int]] = [(value, "(body)", 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return path
            pairs = enumerate(item) if isinstance(item, list) else item.items()
            stack.extend((v, f"{path}.{k}", depth + 1) for k, v in pairs if isinstance(v, dict | list))
    return None


def as_json(model: type[BaseModel] | TypeAdapter, payload: Any) -> Any:
    """`payload` (parsed JSON) validated as the JSON it came from, in strict mode; ValidationError."""
    try:
        data = orjson.dumps(payload)
    except (TypeError, orjson.JSONEncodeError):  # built in Python (a lone surrogate...): never JSON input
        return (
            model.validate_python(payload)
            if isinstance(model, TypeAdapter)
            else model.model_validate(payload)
        )
    if isinstance(model, TypeAdapter):
        return model.validate_json(data, strict=True)
    return model.model_validate_json(data, strict=True)
