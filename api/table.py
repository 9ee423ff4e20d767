"""The one route table of the API, in matching order, and the OpenAPI document generated from it."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ems.api import (
    alert_actions,
    alert_routes,
    apm_map,
    asset_endpoints,
    events,
    heartbeats,
    incident_feedback,
    incidents,
    integrations,
    models,
    notifications,
    otlp,
    series,
    service_list,
    status_routes,
    suppressions,
    synthetic_checks,
    ticket_parts,
    tickets,
)
from ems.api.openapi import generate
from ems.api.routing import Endpoint
from ems.api.security import routes as security_routes

ENDPOINTS: list[Endpoint] = [
    *events.ENDPOINTS,
    *alert_routes.ENDPOINTS,  # list, count, top: before /alerts/{alert_id}
    *notifications.ENDPOINTS,  # before /alerts/{alert_id}/{action}, so its 405s name GET
    *alert_actions.ENDPOINTS,
    *asset_endpoints.ENDPOINTS,
    *service_list.ENDPOINTS,  # the business services; the graph of one is an asset route
    *incidents.ENDPOINTS,
    *incident_feedback.ENDPOINTS,  # operator root-cause feedback (docs/rca.md)
    *models.ENDPOINTS,  # the root-cause model registry (docs/rca.md)
    *tickets.ENDPOINTS,
    *ticket_parts.ENDPOINTS,  # attachments, a change's window
    *suppressions.ENDPOINTS,
    *heartbeats.ENDPOINTS,
    *synthetic_checks.ENDPOINTS,
    *series.ENDPOINTS,
    *otlp.ENDPOINTS,  # OTLP/HTTP traces (docs/apm.md)
    *apm_map.ENDPOINTS,
    *integrations.ENDPOINTS,  # Alertmanager, Alerta and PagerDuty clients (docs/ingest.md)
    *security_routes.ENDPOINTS,  # login, sessions, users, keys
    *status_routes.ENDPOINTS,
]


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of `ENDPOINTS`."""
    return generate(ENDPOINTS)
