"""`GET /api/v1/apm/services`: the APM service map from the read models (docs/apm.md).

Services and databases are the assets the `apm` stage discovered (`attributes.apm`), the edges their
active `discovery:apm` dependencies, and each endpoint's figures the latest sample of its series
(`apm.request_rate`, `apm.error_rate`, `apm.latency_p95_ms`: the last closed window).
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from ems.api.routing import Call, Endpoint
from ems.api.series import NEWEST_SAMPLE
from ems.api.tenancy import tenant_of, visible

FIGURES = {"apm.request_rate": "request_rate", "apm.error_rate": "error_rate", "apm.latency_p95_ms": "p95_ms"}


async def get_services(call: Call) -> Any:
    tenant = tenant_of(call)
    own, args = visible(tenant, "a")
    assets_query = sql.SQL(
        "SELECT a.asset_id, a.name, a.type, a.vendor, a.last_seen FROM assets a "
        "WHERE a.attributes->>'apm' = 'true' AND a.type IN ('service', 'database') AND {} ORDER BY a.name"
    ).format(own)
    async with call.state.pool.connection() as conn:
        assets = await (await conn.execute(assets_query, args)).fetchall()
        ids = [a["asset_id"] for a in assets]
        edges = await (
            await conn.execute(
                "SELECT source_id, target_id, type, attributes FROM asset_dependencies "
                "WHERE active AND origin = 'discovery:apm' AND source_id = ANY(%s) "
                "ORDER BY source_id, target_id",
                (ids,),
            )
        ).fetchall()
        series = await (
            await conn.execute(
                "SELECT s.asset_id, s.name, s.labels->>'endpoint' AS endpoint, l.ts AS last_ts, "
                f"l.value AS last_value FROM metric_series s CROSS JOIN LATERAL ({NEWEST_SAMPLE}) l "
                "WHERE s.asset_id = ANY(%s) AND s.name = ANY(%s)",
                (ids, list(FIGURES)),
            )
        ).fetchall()
    names = {a["asset_id"]: a["name"] for a in assets}
    endpoints: dict[str, dict[str, dict[str, Any]]] = {}
    for row in series:
        item = endpoints.setdefault(row["asset_id"], {}).setdefault(
            row["endpoint"], {"endpoint": row["endpoint"]}
        )
        item[FIGURES[row["name"]]] = row["last_value"]
        item["at"] = max(item.get("at", row["last_ts"]), row["last_ts"])
    services = [
        {
            "asset_id": a["asset_id"],
            "name": a["name"],
            "last_seen": a["last_seen"],
            "endpoints": sorted(endpoints.get(a["asset_id"], {}).values(), key=lambda e: e["endpoint"]),
        }
        for a in assets
        if a["type"] == "service"
    ]
    databases = [
        {"asset_id": a["asset_id"], "name": a["name"], "system": a["vendor"], "last_seen": a["last_seen"]}
        for a in assets
        if a["type"] == "database"
    ]
    return {
        "services": services,
        "databases": databases,
        "edges": [
            {
                "source": e["source_id"],
                "source_name": names.get(e["source_id"]),
                "target": e["target_id"],
                "target_name": e["attributes"].get("target_name") or names.get(e["target_id"]),
                "target_type": e["attributes"].get("target_type"),
                "type": e["type"],
            }
            for e in edges
        ],
    }


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/v1/apm/services",
        get_services,
        permission="read:assets",
        summary="The APM service map: services with their endpoints' latest rate, error rate and P95, "
        "databases, and the dependency edges between them",
        response=dict[str, Any],
        tags=("apm",),
    ),
]
