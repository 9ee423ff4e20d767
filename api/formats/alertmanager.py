"""Prometheus Alertmanager webhook (payload version 4) -> event observations, one per alert.

Mapping (docs/ingest.md): event = labels.alertname; resource = labels.instance, else labels.job;
severity = labels.severity when it is one of ours (or an alias such as `page`, `error`, `info`),
else `warning`; a `resolved` alert carries the clearing severity (`ok`) so it clears the alert its
firing opened (same environment/resource/event, so the same fingerprint); environment = labels.env
or labels.environment (default `production`); service = labels.service; every other label becomes
a `name=value` tag; title/text = annotations summary/description; occurred_at = startsAt (firing)
or endsAt (resolved); the webhook's own fields stay in attributes.alertmanager.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ems.api.body import as_json
from ems.api.formats.common import FormatError, Severities, natural_id
from ems.schemas.limits import Text, Time
from ems.schemas.observation import EventBody, Observation

SOURCE = "alertmanager"
MAX_ALERTS = 1000
DEFAULT_SEVERITY = "warning"
ALIASES = {
    "page": "critical",
    "fatal": "critical",
    "emergency": "critical",
    "error": "major",
    "high": "major",
    "medium": "minor",
    "low": "minor",
    "warn": "warning",
    "info": "informational",
    "information": "informational",
    "none": "informational",
}
_OWN_LABELS = {"alertname", "instance", "severity", "env", "environment", "service"}
MAX_TITLE = 1024  # EventBody.title: a longer summary is cut there (it stays whole in the attributes)
GO_ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: what Alertmanager sends for "not set"


def _without_zero_times(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with Go's zero time (e.g. the endsAt of a firing alert: no time, not year 1) as null;
    the times left are then validated as JSON like any other."""
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        return payload
    unset = [
        {**a, **{k: None for k in ("startsAt", "endsAt") if str(a.get(k, "")).startswith(GO_ZERO_TIME[:19])}}
        if isinstance(a, dict)
        else a
        for a in alerts
    ]
    return {**payload, "alerts": unset}


Labels = dict[Text(1024, 1), Text(8192)]
GoTime = Time | None
URL = Text(8192)


class AmAlert(BaseModel):
    """One alert of the webhook."""

    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: Labels
    annotations: Labels = Field(default_factory=dict)
    startsAt: GoTime = None
    endsAt: GoTime = None
    generatorURL: URL = ""
    fingerprint: Text(64) = ""


class AmWebhook(BaseModel):
    """The webhook body Alertmanager POSTs to a `webhook_configs` receiver."""

    model_config = ConfigDict(extra="allow")

    version: Text(16) = "4"
    groupKey: Text(8192) = ""
    truncatedAlerts: int = Field(0, ge=0)
    status: Literal["firing", "resolved"]
    receiver: Text(1024) = ""
    groupLabels: Labels = Field(default_factory=dict)
    commonLabels: Labels = Field(default_factory=dict)
    commonAnnotations: Labels = Field(default_factory=dict)
    externalURL: URL = ""
    alerts: list[AmAlert] = Field(min_length=1, max_length=MAX_ALERTS)


def translate(payload: Any, severities: Severities) -> list[Observation]:
    """Every alert of the webhook as an observation; FormatError naming each bad field otherwise."""
    if not isinstance(payload, dict):
        raise FormatError.one("(body)", "expected a JSON object (the Alertmanager webhook payload)")
    try:
        hook = as_json(AmWebhook, _without_zero_times(payload))
    except ValidationError as exc:
        raise FormatError.of(exc) from None
    out, errors = [], []
    for i, alert in enumerate(hook.alerts):
        try:
            out.append(_observation(hook, alert, severities))
        except ValidationError as exc:
            errors += FormatError.of(exc, f"alerts[{i}].").errors
        except FormatError as exc:
            errors += [{**e, "field": f"alerts[{i}].{e['field']}"} for e in exc.errors]
    if errors:
        raise FormatError(errors)
    return out


def _observation(hook: AmWebhook, alert: AmAlert, severities: Severities) -> Observation:
    labels, notes = alert.labels, alert.annotations
    name = labels.get("alertname", "").strip()
    if not name:
        raise FormatError.one("labels.alertname", "required: the alert's name (our event)")
    wanted = labels.get("severity", "").strip().lower() or None
    firing = alert.status == "firing"
    severity = severities.pick(wanted, ALIASES, DEFAULT_SEVERITY) if firing else severities.clear
    tags = [f"{k}={v}" for k, v in sorted(labels.items()) if k not in _OWN_LABELS]
    body = EventBody(
        event=name,
        severity=severity,
        resource=labels.get("instance") or labels.get("job") or None,
        title=(notes.get("summary") or notes.get("title") or name)[:MAX_TITLE],
        text=notes.get("description") or notes.get("message") or "",
        environment=labels.get("env") or labels.get("environment") or "production",
        service=[labels["service"]] if labels.get("service") else [],
        tags=[t for t in tags if len(t) <= 128][:64],
        attributes={
            "alertmanager": {
                "status": alert.status,
                "fingerprint": alert.fingerprint,
                "generatorURL": alert.generatorURL,
                "externalURL": hook.externalURL,
                "groupKey": hook.groupKey,
                "receiver": hook.receiver,
                "startsAt": alert.startsAt.isoformat() if alert.startsAt else None,
                "endsAt": alert.endsAt.isoformat() if alert.endsAt else None,
                "labels": labels,
                "annotations": notes,
            }
        },
    )
    at = alert.startsAt if firing else alert.endsAt
    extra: dict[str, Any] = {"occurred_at": at} if at else {}
    if alert.fingerprint and alert.startsAt:  # one firing (or its resolution) of one alert
        extra["event_id"] = natural_id("am", alert.fingerprint, alert.startsAt.isoformat(), alert.status)
    return Observation(source=SOURCE, body=body, **extra)
