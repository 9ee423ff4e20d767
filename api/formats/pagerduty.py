"""PagerDuty Events API v2 (`POST /v2/enqueue`) -> an event observation or an `alert.ack` command.

Mapping (docs/ingest.md): the `dedup_key` is the alert's identity. Every event of one dedup_key
has resource = dedup_key, event = `pagerduty` and environment = `production`, so trigger, resolve
and acknowledge of one key share one fingerprint whatever else their payloads say (resolve and
acknowledge carry no payload at all). A trigger without a dedup_key gets a new one, returned to the
client as PagerDuty does. trigger -> an event with payload.severity mapped (critical -> critical,
error -> major, warning -> warning, info -> informational), title = summary, source/component/group/
class as tags, the rest in attributes.pagerduty; resolve -> the clearing severity (`ok`);
acknowledge -> an `alert.ack` Command for that fingerprint (built by the caller, which knows the
fingerprint: see `ack_command`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ems.api.body import as_json
from ems.api.formats.common import FormatError, Severities, natural_id
from ems.schemas.command import Command
from ems.schemas.limits import JsonValue, Text, Time, json_object
from ems.schemas.observation import EventBody, Observation

SOURCE = "pagerduty"
EVENT = "pagerduty"
ENVIRONMENT = "production"
SEVERITY = {"critical": "critical", "error": "major", "warning": "warning", "info": "informational"}


class PdPayload(BaseModel):
    """The `payload` of a trigger event."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=True)

    summary: Text(1024, 1)
    source: Text(255, 1)
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: Time | None = None
    component: Text(255) | None = None
    group: Text(255) | None = None
    class_: Text(255) | None = Field(None, alias="class")
    custom_details: JsonValue = None


class PdEvent(BaseModel):
    """One Events API v2 alert event."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    routing_key: Text(128, 1)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: Text(255, 1) | None = None
    payload: PdPayload | None = None
    images: Annotated[list[json_object(max_keys=16)], Field(max_length=50)] = Field(default_factory=list)
    links: Annotated[list[json_object(max_keys=16)], Field(max_length=50)] = Field(default_factory=list)
    client: Text(1024) | None = None
    client_url: Text(8192) | None = None

    @model_validator(mode="after")
    def _required(self) -> PdEvent:
        if self.event_action == "trigger" and self.payload is None:
            raise ValueError("payload is required when event_action is trigger")
        if self.event_action != "trigger" and not self.dedup_key:
            raise ValueError(f"dedup_key is required when event_action is {self.event_action}")
        return self


def parse(payload: Any) -> PdEvent:
    """The validated event; FormatError naming each bad field otherwise."""
    if not isinstance(payload, dict):
        raise FormatError.one("(body)", "expected a JSON object (a PagerDuty Events API v2 event)")
    try:
        return as_json(PdEvent, payload)
    except ValidationError as exc:
        raise FormatError.of(exc) from None


def translate(event: PdEvent, severities: Severities) -> tuple[str, Observation]:
    """(dedup_key, observation) for a trigger or resolve; for acknowledge, the observation the
    fingerprint is computed from (the caller appends `ack_command` instead)."""
    key = event.dedup_key or uuid.uuid4().hex
    p = event.payload
    if event.event_action != "trigger" or p is None:
        severity = (
            severities.clear if event.event_action == "resolve" else severities.pick(None, {}, "warning")
        )
        body = EventBody(event=EVENT, severity=severity, resource=key, environment=ENVIRONMENT)
        return key, Observation(source=SOURCE, body=body)
    details = {
        "dedup_key": key,
        "source": p.source,
        "component": p.component,
        "group": p.group,
        "class": p.class_,
        "custom_details": p.custom_details,
        "links": event.links,
        "images": event.images,
        "client": event.client,
        "client_url": event.client_url,
    }
    tags = [
        f"{k}={v}"
        for k, v in (
            ("source", p.source),
            ("component", p.component),
            ("group", p.group),
            ("class", p.class_),
        )
        if v
    ]
    body = EventBody(
        event=EVENT,
        severity=severities.pick(SEVERITY[p.severity], {}, "warning"),
        resource=key,
        title=p.summary,
        environment=ENVIRONMENT,
        service=[p.component] if p.component else [],
        tags=[t for t in tags if len(t) <= 128],
        attributes={"pagerduty": {k: v for k, v in details.items() if v not in (None, [], {})}},
    )
    extra: dict[str, Any] = {"occurred_at": p.timestamp} if p.timestamp else {}
    if event.dedup_key and p.timestamp:  # the same trigger sent again: applied once
        extra["event_id"] = natural_id("pd", event.dedup_key, p.timestamp.isoformat())
    return key, Observation(source=SOURCE, body=body, **extra)


def ack_command(fingerprint: str, dedup_key: str, actor: str = SOURCE) -> Command:
    """The acknowledge of a dedup_key by `actor` (the caller): the command the alert lifecycle applies."""
    return Command(
        name="alert.ack",
        target=fingerprint,
        actor=actor,
        reason=f"acknowledged through the PagerDuty Events API (dedup_key {dedup_key})",
    )
