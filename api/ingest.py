"""`POST /api/v1/events`: validate, append Observations to the raw topic, answer 202 with ids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.requests import Request
from starlette.responses import JSONResponse

from ems.schemas.observation import EventBody, Observation

MAX_ITEMS = 1000


class EventIn(BaseModel):
    """The event a client posts (the seed's shape: source, severity, title, assetId, metadata)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    source: str = Field(min_length=1, max_length=256)
    severity: str
    title: str = Field("", max_length=1024)
    event: str | None = Field(None, min_length=1, max_length=256, description="Event name; default: title")
    resource: str | None = Field(None, max_length=256)
    asset_id: str | None = Field(None, max_length=128, validation_alias=AliasChoices("asset_id", "assetId"))
    environment: str = Field("production", min_length=1, max_length=64)
    service: list[str] = Field(default_factory=list, max_length=32)
    tags: list[str] = Field(default_factory=list, max_length=64)
    attributes: dict[str, Any] = Field(
        default_factory=dict, max_length=128, validation_alias=AliasChoices("attributes", "metadata")
    )
    text: str = Field("", max_length=8192)
    value: str | None = Field(None, max_length=256)
    occurred_at: datetime | None = Field(None, validation_alias=AliasChoices("occurred_at", "occurredAt"))

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
        extra = {"occurred_at": self.occurred_at} if self.occurred_at else {}
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
        loc = ".".join(str(p) for p in err["loc"])
        field = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "(body)"
        out.append({"field": field, "message": err["msg"]})
    return out


async def read_json(request: Request, limit: int) -> Any:
    """The request body parsed as JSON, refusing bodies over `limit` bytes (413) and bad JSON (400)."""
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
    try:
        return orjson.loads(bytes(body))
    except orjson.JSONDecodeError as exc:
        raise BadRequest(400, f"invalid JSON: {exc}") from None


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
