"""Alerta's alert and heartbeat JSON -> observations, and Alerta-shaped answers.

Alerta clients (the `alerta` SDK and CLI, and the many integrations built on them) POST
`{endpoint}/alert` and read back `{"status": "ok", "id": ..., "alert": {...}}`. Our pipeline is
asynchronous, so the answer is computed from what is known synchronously, before anything is
appended (`reply`): the id is the id the pipeline will give the alert (`alert_id_for` of the
fingerprint of the normalized event), and the counters are the dedupe fold of the event over the alert
in the read model when it exists.

Mapping (docs/ingest.md): resource, event, environment (default `Production`), severity (default
`normal`; `security` -> critical, `trace` -> debug, `unknown` -> indeterminate), service, value,
text, tags and attributes map 1:1; `correlate` (with the event added, as Alerta does) is kept as
attributes.correlate; customer is the tenant (a caller bound to a tenant may name only its own: see
`ems.api.tenancy`); group, origin, type, timeout, rawData and status in attributes.alerta;
createTime is occurred_at.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from ems.agents.dedupe import alert_id_for, apply
from ems.agents.lifecycle import LifecyclePolicy
from ems.api.body import as_json
from ems.api.formats.common import FormatError, Severities, natural_id
from ems.schemas.alert import AlertState
from ems.schemas.event import Event
from ems.schemas.limits import NO_NUL, Attributes, Name, Text, Time, Timeout, between, json_object
from ems.schemas.observation import EventBody, HeartbeatBody, Observation, Services, Tags, Tenant

SOURCE = "alerta"
DEFAULT_ENVIRONMENT = "Production"
DEFAULT_SEVERITY = "normal"
DEFAULT_TIMEOUT = 86400
ALIASES = {"security": "critical", "trace": "debug", "unknown": "indeterminate"}
STATUS = {"acknowledged": "ack", "resolved": "closed"}  # the others share Alerta's names
MAX_RAW_DATA = 32 * 1024  # rawData is kept in the attributes, which hold 64 KiB of JSON in all


NUMBER_OR_TEXT = {  # what `value` takes, as the document shows it
    "anyOf": [{"type": "string", "maxLength": 256, "pattern": NO_NUL}, {"type": "number"}, {"type": "null"}],
    "description": "a number is kept as its text",
}


def _number_as_text(value: Any) -> Any:
    """Alerta's `value` may be a number: kept as its text."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class AlertaAlert(BaseModel):
    """The body of Alerta's `POST /alert` (unknown fields are ignored, as Alerta does)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    # The bounds of the observation fields each one becomes; Alerta's own fields are kept in
    # attributes.alerta. (With the event's name added to `correlate` and `correlate`/`alerta` to the
    # attributes, the event body may still refuse one more item: same field names.)
    id: Text(256) | None = None
    resource: Text(256, 1)
    event: Name
    environment: Text(64) | None = None
    severity: Text(64) | None = None
    correlate: Annotated[list[Name], Field(max_length=16)] | None = None
    status: Text(64) | None = None
    service: Services | None = None
    group: Text(256) | None = None
    value: Annotated[Text(256) | None, BeforeValidator(_number_as_text), WithJsonSchema(NUMBER_OR_TEXT)] = (
        None
    )
    text: Text(8192) | None = None
    tags: Tags | None = None
    attributes: Attributes | None = None
    origin: Text(256) | None = None
    type: Text(256) | None = None
    createTime: Time | None = None
    timeout: Timeout | None = None
    rawData: Text(MAX_RAW_DATA) | None = None
    customer: Tenant | None = Field(None, description="The tenant: 1-64 letters, digits, . _ - (not first)")

    @field_validator("severity")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.strip().lower() if value else None


class AlertaHeartbeat(BaseModel):
    """The body of Alerta's `POST /heartbeat`."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    origin: Text(256) | None = None
    tags: Tags | None = None
    attributes: json_object() | None = None
    timeout: between(1, 86_400) | None = None
    createTime: Time | None = None
    customer: Tenant | None = Field(None, description="The tenant: 1-64 letters, digits, . _ - (not first)")


def _validate(model: type[BaseModel], payload: Any) -> Any:
    if not isinstance(payload, dict):
        raise FormatError.one("(body)", "expected a JSON object")
    try:
        return as_json(model, payload)
    except ValidationError as exc:
        raise FormatError.of(exc) from None


def translate(payload: Any, severities: Severities) -> Observation:
    """One Alerta alert as an event observation; FormatError naming each bad field otherwise."""
    a: AlertaAlert = _validate(AlertaAlert, payload)
    severity = severities.pick(a.severity, ALIASES, a.severity or DEFAULT_SEVERITY)
    if severity not in severities.known:
        allowed = ", ".join(sorted(severities.known | set(ALIASES)))
        raise FormatError.one("severity", f"unknown severity {severity!r}; expected one of {allowed}")
    attributes = dict(a.attributes or {})
    if a.correlate:
        attributes["correlate"] = sorted({*a.correlate, a.event})
    extras = {
        "group": a.group or "Misc",
        "origin": a.origin,
        "type": a.type or "exceptionAlert",
        "timeout": DEFAULT_TIMEOUT if a.timeout is None else a.timeout,
        "rawData": a.rawData,
        "status": a.status,
    }
    attributes["alerta"] = {k: v for k, v in extras.items() if v is not None}
    try:
        body = EventBody(
            event=a.event,
            severity=severity,
            resource=a.resource,
            text=a.text or "",
            environment=a.environment or DEFAULT_ENVIRONMENT,
            service=a.service or [],
            tags=a.tags or [],
            attributes=attributes,
            value=a.value,
            correlate=sorted({*a.correlate, a.event}) if a.correlate else [],
            timeout=DEFAULT_TIMEOUT if a.timeout is None else a.timeout,
        )
    except ValidationError as exc:
        raise FormatError.of(exc) from None
    extra: dict[str, Any] = {"occurred_at": a.createTime} if a.createTime else {}
    if a.id:  # the client's own id of this alert (with its createTime): sent again, applied once
        extra["event_id"] = natural_id("alerta", a.id, a.createTime.isoformat() if a.createTime else "")
    return Observation(source=SOURCE, tenant=a.customer, body=body, **extra)


def translate_heartbeat(payload: Any) -> Observation:
    """An Alerta heartbeat as a heartbeat observation of its origin."""
    hb: AlertaHeartbeat = _validate(AlertaHeartbeat, payload)
    try:
        body = HeartbeatBody(
            timeout=hb.timeout or DEFAULT_TIMEOUT, tags=hb.tags or [], attributes=hb.attributes or {}
        )
    except ValidationError as exc:
        raise FormatError.of(exc) from None
    extra = {"occurred_at": hb.createTime} if hb.createTime else {}
    return Observation(source=hb.origin or SOURCE, tenant=hb.customer, body=body, **extra)


def iso(at: datetime | None) -> str | None:
    """Alerta's time format (UTC, milliseconds, `Z`), which its client parses strictly."""
    if at is None:
        return None
    at = at.astimezone(UTC) if at.tzinfo else at
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


TREND = {
    "new": "moreSevere",
    "more_severe": "moreSevere",
    "less_severe": "lessSevere",
    "no_change": "noChange",
}
# Alerta's own severity levels (alerta/models/alarms/alerta.py SEVERITY_MAP; lower is more severe) and
# the previousSeverity of a new alert (DEFAULT_PREVIOUS_SEVERITY).
ALERTA_LEVELS = {
    "security": 0,
    "critical": 1,
    "major": 2,
    "minor": 3,
    "warning": 4,
    "indeterminate": 5,
    "informational": 6,
    "normal": 7,
    "ok": 7,
    "cleared": 7,
    "debug": 8,
    "trace": 9,
    "unknown": 10,
}
DEFAULT_PREVIOUS_SEVERITY = "indeterminate"


def trend_indication(state: AlertState) -> str:
    """Alerta's trendIndication: its `trend(previousSeverity, severity)` on its own levels (so ok after
    normal is noChange), set when the alert is created or changes severity or event, kept by repeats.
    Severities Alerta does not know fall back to our trend (EMS_SEVERITY_ORDER)."""
    previous = state.previous_severity or DEFAULT_PREVIOUS_SEVERITY
    if previous in ALERTA_LEVELS and state.severity in ALERTA_LEVELS:
        a, b = ALERTA_LEVELS[previous], ALERTA_LEVELS[state.severity]
        return "moreSevere" if b < a else "lessSevere" if b > a else "noChange"
    return TREND.get(state.trend, "noChange")


def alert_view(state: AlertState, href: str, *, at: datetime | None = None) -> dict:
    """Our alert as Alerta's alert object (what its client's `Alert.parse` reads).

    duplicateCount is `repeats_at_severity` (repeats since the severity or event name last changed),
    and `repeat` is whether the last event was such a repeat (Alerta sets both together). `at` is the
    receive time of the event being answered (default: the alert's last_seen).
    """
    # Alerta's client refuses attribute names with "." or "$" (events from other sources may have them).
    attributes = {k.replace(".", "_").replace("$", "_"): v for k, v in state.attributes.items()}
    correlate = attributes.pop("correlate", None) or []
    extras = attributes.pop("alerta", None) or {}
    received = at or state.last_seen
    return {
        "id": state.alert_id,
        "href": href,
        "resource": state.resource,
        "event": state.event,
        "environment": state.environment,
        "severity": state.severity,
        "correlate": correlate if isinstance(correlate, list) else [],
        "status": STATUS.get(state.status, state.status),
        "service": state.service,
        "group": extras.get("group", "Misc"),
        "value": state.value,
        "text": state.text,
        "tags": state.tags,
        "attributes": attributes,
        "origin": extras.get("origin", state.source),
        "type": extras.get("type", "exceptionAlert"),
        "createTime": iso(state.last_seen),
        "timeout": extras.get("timeout", DEFAULT_TIMEOUT),
        "rawData": extras.get("rawData"),
        "customer": state.tenant,
        "duplicateCount": state.repeats_at_severity,
        "repeat": state.repeats_at_severity > 0,
        "previousSeverity": state.previous_severity or DEFAULT_PREVIOUS_SEVERITY,
        "trendIndication": trend_indication(state),
        "receiveTime": iso(received),
        "lastReceiveId": state.last_event_id,
        "lastReceiveTime": iso(received),
        "updateTime": iso(received),
        "history": [],
    }


def reply(before: AlertState | None, event: Event, policy: LifecyclePolicy, href: str, at: datetime) -> dict:
    """The alert `POST /alert` answers with: the dedupe fold of `event` over `before` (the alert as
    the read model holds it, None if none), as Alerta's alert object.

    Built before the observation is appended, so that nothing can fail after a write took effect. A
    clearing event that meets no alert opens none here (the pipeline keeps it as an event only); Alerta
    creates a closed alert in that case, so that is what is answered (see `closed_alert`).
    """
    after, _ = apply(before, event, policy)
    return alert_view(after or closed_alert(event), href, at=at)


def closed_alert(event: Event) -> AlertState:
    """What Alerta answers for a clearing event with no alert: a new alert, closed (`resolved` here),
    at the event's severity, duplicateCount 0, previousSeverity indeterminate."""
    return AlertState(
        alert_id=alert_id_for(event.fingerprint),
        fingerprint=event.fingerprint,
        status="resolved",
        severity=event.severity,
        event_count=1,
        duplicate_count=0,
        repeats_at_severity=0,
        first_seen=event.occurred_at,
        last_seen=event.occurred_at,
        last_event_id=event.event_id,
        version=1,
        timeout=event.timeout or 0,
        **event.model_dump(include={"source", "event", "resource", "title", "text", "asset_id"}),
        **event.model_dump(include={"environment", "service", "tags", "attributes", "value", "tenant"}),
    )


def alerts_page(alerts: list[dict], total: int, page: int, page_size: int, now: datetime) -> dict:
    """Alerta's `GET /alerts` body. Its CLI's `query` reads `lastTime` (the newest lastReceiveTime,
    or the query time when nothing matched) and `autoRefresh` (Alerta's switch, on by default)."""
    received = [a["lastReceiveTime"] for a in alerts if a.get("lastReceiveTime")]
    return {
        "status": "ok",
        "alerts": alerts,
        "total": total,
        "page": page,
        "pageSize": page_size,
        "pages": max(1, -(-total // page_size)),
        "more": page * page_size < total,
        "lastTime": max(received) if received else iso(now),
        "autoRefresh": True,
    }


def state_of(row: dict[str, Any]) -> AlertState | None:
    """A read-model row as the dedupe state it projects (None if it no longer fits the schema)."""
    try:
        return AlertState.model_validate({k: row[k] for k in AlertState.model_fields if k in row})
    except ValidationError:
        return None


def heartbeat_view(obs: Observation, href: str, received: datetime) -> dict:
    """A heartbeat observation as Alerta's heartbeat object."""
    assert isinstance(obs.body, HeartbeatBody)
    latency = max(0, int((received - obs.occurred_at).total_seconds() * 1000))
    return {
        "id": obs.event_id,
        "href": href,
        "origin": obs.source,
        "tags": obs.body.tags,
        "attributes": obs.body.attributes,
        "type": "Heartbeat",
        "createTime": iso(obs.occurred_at),
        "timeout": obs.body.timeout,
        "maxLatency": 2000,
        "receiveTime": iso(received),
        "latency": latency,
        "since": 0,
        "status": "ok",
        "customer": obs.tenant,
    }
