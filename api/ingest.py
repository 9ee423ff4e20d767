"""`POST /api/v1/events`: validate, append Observations to the raw topic, answer 202 with ids."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from ems.api.body import as_json
from ems.api.errors import ApiError, field_errors
from ems.schemas.limits import (
    NAME_MAX,
    Attributes,
    EventId,
    Name,
    Text,
    Time,
)
from ems.schemas.observation import EventBody, Observation, Services, Severity, Tags, Tenant

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
    tenant: Tenant | None = Field(
        None, description="The tenant (customer); a caller bound to a tenant may name only its own"
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
        return Observation(source=self.source, asset_id=self.asset_id, tenant=self.tenant, body=body, **extra)


def parse_items(payload: Any, known_severities: set[str]) -> list[EventIn | Observation]:
    """Validate a posted object or array of objects; raise ApiError (422) listing every bad field.

    An item with a `body` is a full Observation (collectors); anything else is an EventIn, checked
    to make a valid Observation (`to_observation` succeeds for each one returned).
    """
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise ApiError(422, "empty array; expected at least one event")
    if len(items) > MAX_ITEMS:
        raise ApiError(413, f"{len(items)} events in one request; the limit is {MAX_ITEMS}")
    parsed: list[EventIn | Observation] = []
    errors: list[dict[str, str]] = []
    for i, item in enumerate(items):
        prefix = f"[{i}]." if isinstance(payload, list) else ""
        if not isinstance(item, dict):
            errors.append({"field": prefix.rstrip(".") or "(body)", "message": "expected a JSON object"})
            continue
        try:
            one = _parse_item(item)
        except ValidationError as exc:
            errors.extend(field_errors(exc, prefix))
            continue
        except ValueError as exc:
            errors.append({"field": prefix.rstrip(".") or "(body)", "message": str(exc)})
            continue
        if isinstance(one, EventIn):
            severity: str | None = one.severity
        else:
            severity = one.body.severity if isinstance(one.body, EventBody) else None
        if severity is not None and severity not in known_severities:
            errors.append(
                {
                    "field": f"{prefix}severity",
                    "message": f"unknown severity {severity!r}; expected one of "
                    f"{', '.join(sorted(known_severities))}",
                }
            )
            continue
        parsed.append(one)
    if errors:
        raise ApiError(422, "validation failed", errors)
    return parsed


def _parse_item(item: dict[str, Any]) -> EventIn | Observation:
    if "body" in item:
        return as_json(Observation, {**item, "type": "observation", "schema_version": Observation.VERSION})
    event = as_json(EventIn, item)
    if event.event is None and not 0 < len(event.title) <= NAME_MAX:
        event.to_observation()  # raises the reason: no name, or a title too long to be one
    return event
