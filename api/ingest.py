"""`POST /api/v1/events`: validate, append Observations to the raw topic, answer 202 with ids."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse

from ems.schemas.limits import (
    NUL_MESSAGE,
    Attributes,
    EventId,
    Name,
    Text,
    Time,
    message,
    nul_paths,
    printable,
)
from ems.schemas.observation import EventBody, Observation, Services, Severity, Tags

MAX_ITEMS = 1000


class EventIn(BaseModel):
    """The event a client posts (the seed's shape: source, severity, title, assetId, metadata)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    # The bounds of the observation fields each one becomes (schemas/observation.py, schemas/limits.py).
    source: Name
    severity: Severity
    title: Text(1024) = ""
    event: Name | None = Field(None, description="Event name; default: title")
    resource: Text(256) | None = None
    asset_id: Text(128) | None = Field(None, validation_alias=AliasChoices("asset_id", "assetId"))
    environment: Text(64, 1) = "production"
    service: Services = Field(default_factory=list)
    tags: Tags = Field(default_factory=list)
    attributes: Attributes = Field(
        default_factory=dict, validation_alias=AliasChoices("attributes", "metadata")
    )
    text: Text(8192) = ""
    value: Text(256) | None = None
    occurred_at: Time | None = Field(None, validation_alias=AliasChoices("occurred_at", "occurredAt"))
    event_id: EventId | None = Field(
        None,
        validation_alias=AliasChoices("event_id", "id"),
        description="The client's own id of this event: sent again, it is applied once",
    )

    @field_validator("severity")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    def to_observation(self) -> Observation:
        """The raw observation this event is appended as."""
        name = self.event or self.title
        if not name:
            raise ValueError("either event or title is required")
        body = EventBody(
            event=name,
            severity=self.severity,
            resource=self.resource,
            title=self.title,
            text=self.text,
            environment=self.environment,
            service=self.service,
            tags=self.tags,
            attributes=self.attributes,
            value=self.value,
        )
        extra: dict[str, Any] = {"occurred_at": self.occurred_at} if self.occurred_at else {}
        if self.event_id:
            extra["event_id"] = self.event_id
        return Observation(source=self.source, asset_id=self.asset_id, body=body, **extra)


class BadRequest(Exception):
    """A 4xx answer with a reason and optional field errors."""

    def __init__(self, status: int, reason: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.errors = status, reason, errors or []

    def response(self) -> JSONResponse:
        content: dict[str, Any] = {"error": self.reason}
        if self.errors:
            content["errors"] = self.errors
        return JSONResponse(content, status_code=self.status)


def field_errors(exc: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    """Pydantic errors as `{field, message}` items for the client."""
    out = []
    for err in exc.errors(include_url=False):
        loc = ".".join(printable(p) for p in err["loc"])
        field = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "(body)"
        out.append({"field": field, "message": message(err)})
    return out


async def read_json(request: Request, limit: int) -> Any:
    """The request body parsed as JSON, refusing bodies over `limit` bytes (413), bad JSON or UTF-8
    (400) and a NUL in any string or key (422 naming each: no PostgreSQL text or jsonb holds one)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadRequest(413, f"request body exceeds the limit of {limit} bytes")
    if not body:
        raise BadRequest(400, "empty request body; expected a JSON object or array")
    return parse_json(bytes(body))


def parse_json(body: bytes) -> Any:
    """`read_json`'s checks of a whole body: BadRequest (400, 422) with the reason."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as bad:
            # orjson says "surrogates not allowed" of any bad byte: name the byte instead.
            raise BadRequest(
                400, f"request body is not valid UTF-8: byte 0x{body[bad.start]:02x} at offset {bad.start}"
            ) from None
        raise BadRequest(400, f"invalid JSON: {exc}") from None
    if b"\\u0000" in body:  # how JSON writes a NUL (raw control characters are invalid JSON)
        paths = nul_paths(payload)  # e.g. `resource`, `[2].attributes.note`, `tags[0]`
        if paths:
            raise BadRequest(422, "validation failed", [{"field": p, "message": NUL_MESSAGE} for p in paths])
    return payload


def parse_observations(payload: Any, known_severities: set[str]) -> list[Observation]:
    """Validate a posted object or array of objects; raise BadRequest (422) listing every bad field.

    An item with a `body` is a full Observation (collectors); anything else is an EventIn.
    """
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise BadRequest(422, "empty array; expected at least one event")
    if len(items) > MAX_ITEMS:
        raise BadRequest(413, f"{len(items)} events in one request; the limit is {MAX_ITEMS}")
    observations, errors = [], []
    for i, item in enumerate(items):
        prefix = f"[{i}]." if isinstance(payload, list) else ""
        if not isinstance(item, dict):
            errors.append({"field": prefix.rstrip(".") or "(body)", "message": "expected a JSON object"})
            continue
        try:
            if "body" in item:
                obs = Observation.model_validate({**item, "type": "observation", "schema_version": 2})
            else:
                obs = EventIn.model_validate(item).to_observation()
        except ValidationError as exc:
            errors.extend(field_errors(exc, prefix))
            continue
        except ValueError as exc:
            errors.append({"field": prefix.rstrip(".") or "(body)", "message": str(exc)})
            continue
        if isinstance(obs.body, EventBody) and obs.body.severity not in known_severities:
            errors.append(
                {
                    "field": f"{prefix}severity",
                    "message": f"unknown severity {obs.body.severity!r}; expected one of "
                    f"{', '.join(sorted(known_severities))}",
                }
            )
            continue
        observations.append(obs)
    if errors:
        raise BadRequest(422, "validation failed", errors)
    return observations
