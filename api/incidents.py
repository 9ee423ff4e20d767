"""The incident routes: the list (filters, sort, cursor) and one incident with its members, impact,
root cause and timeline (queries in `ems.api.incidents_query`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ems.api.errors import ApiError
from ems.api.incidents_query import get_incident, list_incidents
from ems.api.routing import Call, Endpoint
from ems.api.tenancy import tenant_of

MAX_ID = 64


class IncidentListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    status: list[str] = Field(default_factory=list, description="open, resolved, merged (! to exclude)")
    severity: list[str] = Field(default_factory=list, description="the worst open member's severity")
    root_asset_id: list[str] = Field(default_factory=list, description="the topology root cause's asset")
    rca_asset_id: list[str] = Field(default_factory=list, description="the asset the root-cause model names")
    merged_into: list[str] = Field(default_factory=list)
    incident_id: list[str] = Field(default_factory=list)
    asset: list[str] = Field(default_factory=list, description="holds an alert on this asset")
    q: str | None = Field(None, max_length=1024, description="free text (title, ids)")
    from_: str | None = Field(None, alias="from", description="updated_at at or after (ISO-8601)")
    to: str | None = Field(None, description="updated_at before (ISO-8601)")
    sort: str | None = Field(
        None, description="updated_at (default -updated_at), opened_at, impact, revenue, severity, alerts"
    )
    limit: int = Field(50, ge=1, le=1000)
    page: int | None = Field(None, ge=1)
    cursor: str | None = Field(None, max_length=4096)


async def incidents_list(call: Call) -> Any:
    async with call.state.pool.connection() as conn:
        return await list_incidents(conn, call.request.query_params, tenant_of(call))


async def incident_of(call: Call) -> dict[str, Any]:
    """The incident at `{incident_id}` as `GET /incidents/{id}` shows it, or a 404 (another tenant's too)."""
    incident_id = call.path["incident_id"]
    if len(incident_id) > MAX_ID or "\x00" in incident_id:
        raise ApiError(404, f"no incident {incident_id[:MAX_ID]!r}")
    async with call.state.pool.connection() as conn:
        found = await get_incident(conn, incident_id, tenant_of(call))
    if found is None:
        raise ApiError(404, f"no incident {incident_id!r}")
    return found


async def incident_detail(call: Call) -> Any:
    return await incident_of(call)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/v1/incidents",
        incidents_list,
        permission="read:incidents",
        summary="List incidents: filters, sort, page or cursor",
        description="Each incident groups alert episodes; `impact` holds the score and its components.",
        query=IncidentListQuery,
        response=dict[str, Any],
        responses={400: "a bad filter, sort or cursor"},
        tags=("incidents",),
    ),
    Endpoint(
        "GET",
        "/api/v1/incidents/{incident_id}",
        incident_detail,
        permission="read:incidents",
        summary="One incident: members (with the reason each joined), impact, root cause, timeline",
        description="`rca`: the root-cause model's verdict (asset, alert, confidence, top-3, explanation, "
        "model version); `root_cause`: the topology root where one is evident.",
        response=dict[str, Any],
        responses={404: "no such incident"},
        tags=("incidents",),
    ),
]
