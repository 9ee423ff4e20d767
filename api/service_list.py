"""`GET /api/v1/services`: the business services the asset registry names, with their open alerts.

A business service is a value of `assets.business_service`; each comes with the number of assets
naming it, the open (open, acknowledged, shelved) alerts on those assets and the worst severity among
them. Services are sorted by name and paged by `limit` and `cursor` (the one cursor codec of the list
endpoints). A caller bound to a tenant counts only its own assets and alerts. The graph of one is
`GET /api/v1/services/{name}/graph` (members also by `member_of` edges; only the column is listed here).
"""

from __future__ import annotations

from typing import Any

from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field

from ems.api.assets import OPEN_STATUSES
from ems.api.cursor import pack, unpack
from ems.api.errors import ApiError
from ems.api.routing import Call, Endpoint
from ems.api.tenancy import tenant_of, visible

SORT = "service"  # what a cursor of this list is made for

# Parameters: open statuses, the alerts' tenant condition's, the assets', the name to start after, limit.
SERVICES_SQL = """
SELECT a.business_service AS name,
       count(DISTINCT a.asset_id) AS assets,
       count(al.alert_id) AS open_alerts,
       (array_agg(al.severity ORDER BY al.severity_rank, al.last_seen DESC)
            FILTER (WHERE al.alert_id IS NOT NULL))[1] AS worst_severity
FROM assets a
LEFT JOIN alerts al ON al.asset_id = a.asset_id AND al.status = ANY(%s) AND {alerts_seen}
WHERE a.business_service IS NOT NULL AND a.business_service <> '' AND {assets_seen}
  AND a.business_service > %s
GROUP BY a.business_service
ORDER BY a.business_service
LIMIT %s
"""
TOTAL_SQL = """
SELECT count(DISTINCT a.business_service) AS total FROM assets a
WHERE a.business_service IS NOT NULL AND a.business_service <> '' AND {assets_seen}
"""


class ServiceListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(200, ge=1, le=1000, description="services per page")
    cursor: str | None = Field(None, max_length=4096, description="next_cursor of the previous page")


def after_name(cursor: str | None) -> str:
    """The service name a page starts after: '' for the first page; a 400 for a cursor not made here."""
    if not cursor:
        return ""
    (name,) = unpack(cursor, SORT, 1)
    if not isinstance(name, str):
        raise ApiError(400, "invalid cursor: bad value")
    return name


def statements(tenant: str | None) -> tuple[sql.Composed, list[Any], sql.Composed, list[Any]]:
    """The page's SELECT and its tenant parameters (alerts', then assets'), the COUNT and its parameters."""
    alerts_seen, alert_args = visible(tenant, "al")
    assets_seen, asset_args = visible(tenant, "a")
    page = sql.SQL(SERVICES_SQL).format(alerts_seen=alerts_seen, assets_seen=assets_seen)
    total = sql.SQL(TOTAL_SQL).format(assets_seen=assets_seen)
    return page, [*alert_args, *asset_args], total, asset_args


def answer(rows: list[dict[str, Any]], total: int, limit: int) -> dict[str, Any]:
    """The body: the services, their total, and `next_cursor` when the page is full."""
    body: dict[str, Any] = {"services": rows, "total": total, "limit": limit}
    if len(rows) == limit:
        body["next_cursor"] = pack(SORT, [rows[-1]["name"]])
    return body


async def list_services(call: Call) -> Any:
    limit, after = call.query.limit, after_name(call.query.cursor)
    page, args, total_query, total_args = statements(tenant_of(call))
    async with call.state.pool.connection() as conn:
        rows = await (await conn.execute(page, [list(OPEN_STATUSES), *args, after, limit])).fetchall()
        total = (await (await conn.execute(total_query, total_args)).fetchone())["total"]
    return answer(rows, total, limit)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/v1/services",
        list_services,
        permission="read:assets",
        summary="List business services by name: assets, open alerts and their worst severity",
        query=ServiceListQuery,
        response=dict[str, Any],
        responses={400: "a bad cursor"},
        tags=("topology",),
    ),
]
