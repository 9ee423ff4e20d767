"""The OpenAPI 3.1 document served at `/openapi.json` (request schemas generated from pydantic)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ems.api.alert_actions import openapi_paths as alert_action_paths
from ems.api.alert_openapi import alert_paths
from ems.api.assets_openapi import asset_components, asset_paths
from ems.api.ingest import MAX_ITEMS, EventIn
from ems.api.integrations_openapi import integration_paths
from ems.api.queries import EVENTS, ListSpec
from ems.api.series_openapi import METRIC_SERIES_PATHS
from ems.schemas.observation import Observation


def _list_params(spec: ListSpec) -> list[dict[str, Any]]:
    params = [
        {
            "name": n,
            "in": "query",
            "schema": {"type": "string"},
            "description": f"equals {c} (repeat for OR, prefix ! to exclude)",
        }
        for n, c in spec.equals.items()
    ]
    params += [
        {
            "name": n,
            "in": "query",
            "schema": {"type": "string"},
            "description": f"{c} contains the value (prefix ! to exclude)",
        }
        for n, c in (spec.array_columns or {}).items()
    ]
    params += [
        {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "free text (ILIKE)"},
        {"name": "from", "in": "query", "schema": {"type": "string", "format": "date-time"}},
        {"name": "to", "in": "query", "schema": {"type": "string", "format": "date-time"}},
        {
            "name": "sort",
            "in": "query",
            "schema": {
                "type": "string",
                "default": spec.default_sort,
                "enum": [p + s for s in spec.sortable for p in ("", "-")],
            },
        },
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        {
            "name": "cursor",
            "in": "query",
            "schema": {"type": "string"},
            "description": "next_cursor of the previous page (keyset pagination)",
        },
    ]
    return params


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "schema": {"type": "string", "maxLength": 255},
    "description": "Sent again with the same key (after a timeout or a 503), the write is applied once "
    "and answered as the first time (docs/reliability.md)",
}
UNAVAILABLE_WRITE = {
    "description": "Kafka unavailable (Retry-After): `appended` false = nothing was appended, retry; "
    "`unknown` = it may still land, retry with the same Idempotency-Key",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


@lru_cache(maxsize=1)
def openapi_spec() -> dict[str, Any]:
    """The whole document."""
    event_in = EventIn.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=False)
    observation = Observation.model_json_schema(ref_template="#/components/schemas/{model}")
    components = {
        "EventIn": event_in,
        "Observation": observation,
        **event_in.pop("$defs", {}),
        **observation.pop("$defs", {}),
    }
    components["Error"] = {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    }
    one = {"oneOf": [{"$ref": "#/components/schemas/EventIn"}, {"$ref": "#/components/schemas/Observation"}]}
    return {
        "openapi": "3.1.0",
        "info": {"title": "EMS API", "version": "1"},
        "paths": {
            "/api/v1/events": {
                "post": {
                    "summary": "Append events or observations (one object or an array)",
                    "parameters": [IDEMPOTENCY_KEY],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [one, {"type": "array", "items": one, "maxItems": MAX_ITEMS}]
                                }
                            }
                        },
                    },
                    "responses": {
                        "202": {"description": "appended to Kafka; ids returned"},
                        "400": _error("malformed JSON or query"),
                        "413": _error("payload too large"),
                        "422": _error(
                            "validation failed, per-field errors; an Idempotency-Key reused with another body"
                        ),
                        "429": _error("rate limit exceeded"),
                        "503": UNAVAILABLE_WRITE,
                    },
                },
                "get": {
                    "summary": "Event history",
                    "parameters": _list_params(EVENTS),
                    "responses": {"200": {"description": "events, total, next_cursor"}},
                },
            },
            "/api/v1/alerts/{alert_id}": {
                "get": {
                    "summary": "One alert (by id or fingerprint) with its history",
                    "parameters": [
                        {"name": "alert_id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {"description": "alert and history"},
                        "404": _error("no such alert"),
                    },
                }
            },
            **alert_action_paths(),
            **{
                path: {
                    "get": {
                        "summary": "Kafka, PostgreSQL and Redis reachable, every pipeline stage alive and "
                        "keeping up (from the workers' heartbeats: state, reason, consumer lag)",
                        "responses": {
                            "200": {"description": "healthy: checks and stages"},
                            "503": {"description": "degraded: `problems` says what and why"},
                        },
                    }
                }
                for path in ("/health", "/health/ready")
            },
            "/health/live": {
                "get": {
                    "summary": "The API process answers (says nothing about the pipeline)",
                    "responses": {"200": {"description": "alive"}},
                }
            },
            **integration_paths(),  # Alertmanager, Alerta, PagerDuty formats (docs/ingest.md)
            **METRIC_SERIES_PATHS,
            **alert_paths(),  # list, count, top of the alert dashboards
            **asset_paths(),
        },
        "components": {"schemas": components | asset_components()},
    }
