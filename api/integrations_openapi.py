"""OpenAPI paths of the integration endpoints (merged into /openapi.json by `ems.api.openapi`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ems.api.formats.alerta import AlertaAlert, AlertaHeartbeat
from ems.api.formats.alertmanager import AmWebhook
from ems.api.formats.pagerduty import PdEvent


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    """`schema` with its local `$ref`s replaced by the definitions (self-contained, no components)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


def _body(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True)
    return {
        "required": True,
        "content": {"application/json": {"schema": _inline(schema, schema.get("$defs", {}))}},
    }


def _post(summary: str, model: type[BaseModel], responses: dict[str, str], tag: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "tags": [tag],
            "requestBody": _body(model),
            "responses": {code: {"description": text} for code, text in responses.items()},
        }
    }


AM = {
    "202": "appended; {status: accepted, ids}",
    "400": "malformed JSON",
    "413": "payload too large",
    "422": "validation failed: {error, errors: [{field, message}]}, e.g. field alerts[2].labels.alertname; "
    "nothing of the batch is appended",
    "429": "rate limit exceeded",
}
ALERTA = {
    "201": "appended; {status: ok, id, alert}: id is the alert id the pipeline gives it, "
    "counters from the read model",
    "400": "{status: error, message, code, errors: ['field: reason']}",
    "413": "payload too large",
    "429": "rate limit exceeded",
}
PD = {
    "202": "{status: success, message: Event processed, dedup_key}",
    "400": "{status: invalid event, message, errors: ['field: reason']}",
    "413": "payload too large",
    "429": "{status: throttle event, message}",
}


def integration_paths() -> dict[str, Any]:
    """Paths of Alertmanager's, Alerta's and PagerDuty's formats (docs/ingest.md)."""
    pd = _post("PagerDuty Events API v2 event (trigger, acknowledge, resolve)", PdEvent, PD, "integrations")
    get_alert = {"name": "alert_id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "/api/v1/integrations/alertmanager": _post(
            "Prometheus Alertmanager webhook (payload version 4); one event per alert",
            AmWebhook,
            AM,
            "integrations",
        ),
        "/api/alert": _post(
            "Alerta: create or update an alert (Alerta's API and answer)", AlertaAlert, ALERTA, "alerta"
        ),
        "/api/heartbeat": _post("Alerta: heartbeat of an origin", AlertaHeartbeat, ALERTA, "alerta"),
        "/api/alerts": {
            "get": {
                "summary": "Alerta: list alerts (filters severity, status, environment, resource, event; "
                "page, page-size)",
                "tags": ["alerta"],
                "responses": {
                    "200": {"description": "{status: ok, alerts, total, page, pageSize, pages, more}"}
                },
            }
        },
        "/api/alert/{alert_id}": {
            "get": {
                "summary": "Alerta: one alert by id",
                "tags": ["alerta"],
                "parameters": [get_alert],
                "responses": {
                    "200": {"description": "{status: ok, alert}"},
                    "404": {"description": "not found"},
                },
            }
        },
        "/api/config": {
            "get": {
                "summary": "Alerta: client configuration (read by the alerta CLI at start)",
                "tags": ["alerta"],
                "responses": {"200": {"description": "endpoint, severities, timeouts"}},
            }
        },
        "/v2/enqueue": pd,
        "/api/v1/integrations/pagerduty": pd,
    }
