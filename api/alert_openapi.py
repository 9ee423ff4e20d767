"""OpenAPI paths of the alert query routes (api/alert_routes.py), merged into api/openapi.py."""

from __future__ import annotations

from typing import Any

from ems.api.alert_query import DEFAULT_SORT, MAX_LIMIT

FILTERS = (
    "Filter on any alert field (every column of the alerts table, e.g. status, severity, source, "
    "environment, asset_id, assignee): `field=v` (repeat for OR), `field!=v` or `field=!v` (not; NULLs "
    "included), `field=~regex`, `field!=~regex`, `field=*` (present), `field!=*` (absent), `field>=v`, "
    "`field<=v`. Arrays (`tags`/`tag`, `service`): contains (repeat for AND). Attributes: "
    "`attributes.<key>=v` with the same operators (v matches the string or its JSON scalar)."
)


def _q(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": schema or {"type": "string"}, "description": description}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


COMMON = [
    _q("q", "free text, case-insensitive, over title, text, resource, event, asset_id"),
    _q("from", "last_seen at or after (ISO-8601)", {"type": "string", "format": "date-time"}),
    _q("to", "last_seen before (ISO-8601)", {"type": "string", "format": "date-time"}),
]
LIST = [
    *COMMON,
    _q(
        "sort",
        "comma-separated fields, - for descending (severity sorts by rank, most severe first); "
        "ties broken by alert_id",
        {"type": "string", "default": DEFAULT_SORT},
    ),
    _q("limit", "page size", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}),
    _q("page", "page number (OFFSET; prefer cursor for deep pages)", {"type": "integer", "minimum": 1}),
    _q("cursor", "next_cursor of the previous page (keyset; stable while alerts change)"),
    _q(
        "total",
        "auto: exact up to EMS_ALERTS_EXACT_TOTAL_LIMIT matches, a planner estimate above "
        "(total_exact=false); exact; false: no total. Default: auto, false with a cursor",
        {"type": "string", "enum": ["auto", "exact", "false"], "default": "auto"},
    ),
]
BAD = _error("unknown field, bad value, regex, sort or cursor (the reason says which)")


def alert_paths() -> dict[str, Any]:
    """Paths for GET /api/v1/alerts, /alerts/count and /alerts/top."""
    return {
        "/api/v1/alerts": {
            "get": {
                "summary": "Alerts: filter on any field, sort, page with cursors",
                "description": FILTERS,
                "parameters": LIST,
                "responses": {
                    "200": {"description": "alerts, total, total_exact, limit, page, next_cursor"},
                    "400": BAD,
                },
            }
        },
        "/api/v1/alerts/count": {
            "get": {
                "summary": "Alert counts by status and by severity (same filters as the list)",
                "description": FILTERS,
                "parameters": COMMON,
                "responses": {"200": {"description": "total, status_counts, severity_counts"}, "400": BAD},
            }
        },
        "/api/v1/alerts/top": {
            "get": {
                "summary": "Top-N alerts: most duplicated, flapping (most transitions in window), standing",
                "description": FILTERS,
                "parameters": [
                    *COMMON,
                    _q("by", "ranking", {"type": "string", "enum": ["duplicates", "flapping", "standing"]}),
                    _q("n", "how many", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}),
                    _q("window", "flapping: seconds back from now", {"type": "integer", "default": 3600}),
                ],
                "responses": {"200": {"description": "by, alerts (flapping: with transitions)"}, "400": BAD},
            }
        },
    }
