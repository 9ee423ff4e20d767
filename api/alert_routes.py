"""HTTP routes of the alert dashboards: GET /api/v1/alerts (list), /alerts/count, /alerts/top, one alert.

The filterable fields are the `alerts` table's columns, read from PostgreSQL (information_schema)
on first use and again when a request names a field not seen yet (a migration may add columns).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from psycopg import sql
from psycopg.errors import QueryCanceled
from pydantic import BaseModel, ConfigDict, Field

from ems.api.alert_filters import Catalog, Column
from ems.api.alert_query import (
    TOTAL_MODES,
    build_list,
    count_sql,
    encode_cursor,
    estimate_sql,
    top_sql,
    total_sql,
)
from ems.api.errors import ApiError
from ems.api.muting import muting
from ems.api.queries import fetch_alert
from ems.api.routing import Call, Endpoint
from ems.api.tenancy import tenant_of

CATALOG_SQL = (
    "SELECT column_name, data_type, is_nullable = 'YES' AS nullable FROM information_schema.columns"
    " WHERE table_schema = current_schema() AND table_name = 'alerts'"
)
RELTUPLES = "SELECT reltuples AS n FROM pg_class WHERE oid = 'alerts'::regclass"
NO_FILTER = sql.SQL("")
REFRESH_AFTER = 5.0  # seconds between re-reads of the columns prompted by unknown fields


class Columns:
    """The `alerts` columns, cached; re-read (at most every few seconds) when a request needs it."""

    def __init__(self) -> None:
        self.catalog: Catalog = {}
        self.read_at = 0.0
        self.lock = asyncio.Lock()

    async def get(self, pool: Any, refresh: bool = False) -> Catalog:
        if self.catalog and not (refresh and time.monotonic() - self.read_at > REFRESH_AFTER):
            return self.catalog
        async with self.lock, pool.connection() as conn:
            rows = await (await conn.execute(CATALOG_SQL)).fetchall()
            self.catalog = {r["column_name"]: Column(r["data_type"], r["nullable"]) for r in rows}
            self.read_at = time.monotonic()
        return self.catalog


async def alert_query(call: Call, build: Any, params: Any = None) -> Any:
    """`build(params, catalog, tenant)` (the request's parameters by default; the caller's tenant),
    retried once on fresh columns if it rejects a field. The one way alert lists are built: native
    and Alerta-shaped."""
    columns = getattr(call.state, "alert_columns", None)
    if columns is None:
        columns = call.state.alert_columns = Columns()
    params = call.request.query_params if params is None else params
    pool, tenant = call.state.pool, tenant_of(call)
    try:
        return build(params, await columns.get(pool), tenant)
    except ApiError as exc:
        if "unknown filter" not in exc.reason and "cannot sort" not in exc.reason:
            raise
        return build(params, await columns.get(pool, refresh=True), tenant)


async def planned_rows(conn: Any, where: Any, args: list[Any]) -> int:
    plan = (await (await conn.execute(estimate_sql(where), args)).fetchone())["QUERY PLAN"]
    return int(plan[0]["Plan"]["Plan Rows"])


async def count_total(conn: Any, where: Any, args: list[Any], mode: str, cap: int, budget_ms: int) -> dict:
    """The list's total: exact (mode "exact"), or (auto) exact when it is at most `cap` and counted
    within `budget_ms`, else the planner's estimate. A table of at most `cap` rows is always
    counted exactly; on a larger one a filter estimated at over 4 x `cap` matches is not counted."""
    if mode == "exact":
        return {
            "total": (await (await conn.execute(total_sql(where, None), args)).fetchone())["n"],
            "total_exact": True,
        }
    estimate = n = 0
    try:
        async with conn.transaction():
            rows = int((await (await conn.execute(RELTUPLES)).fetchone())["n"])
            if rows > cap:
                estimate = rows if where == NO_FILTER else await planned_rows(conn, where, args)
                if estimate > 4 * cap:
                    return {"total": estimate, "total_exact": False}
                await conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(budget_ms)))
            n = (await (await conn.execute(total_sql(where, cap), args)).fetchone())["n"]
        if n <= cap:
            return {"total": n, "total_exact": True}
    except QueryCanceled:
        pass
    if not estimate:
        estimate = await planned_rows(conn, where, args)
    return {"total": max(estimate, n), "total_exact": False}


FILTERS = (
    "Any other parameter filters on the `alerts` column of its name (the filter grammar in the "
    "README, Querying alerts): `field=value` (repeat for OR), `field!=value`, `field=~regex`, "
    "`field!=~regex`, `field>=value`, `field<value`, `field=null`; text search `q`; time window "
    "`from`/`to` on last_seen. Dropped alerts (a maintenance window in drop mode covered their latest "
    "change) are left out unless `dropped=true` (only them) or `include_dropped=true` (all)."
)


class AlertFilters(BaseModel):
    """Filters of the alert dashboards (documented fields; other `alerts` columns filter too)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    q: str | None = Field(None, max_length=1024, description="free text over title, resource, event, text")
    from_: str | None = Field(
        None, alias="from", description="last_seen at or after (ISO-8601; no zone = UTC)"
    )
    to: str | None = Field(None, description="last_seen before (ISO-8601; no zone = UTC)")
    dropped: str | None = Field(
        None,
        description="`true`: only the alerts whose latest change a maintenance window in drop mode "
        "covered (hidden unless asked: this, or include_dropped)",
    )
    include_dropped: str | None = Field(
        None,
        description="`true`: list dropped alerts along with the others (default false)",
        json_schema_extra={"pattern": "^([tT][rR][uU][eE]|[fF][aA][lL][sS][eE])$"},
    )


# The values `alert_query` takes for `total`, in any case (`[aA][uU]...`).
TOTAL_PATTERN = "^(" + "|".join("".join(f"[{c}{c.upper()}]" for c in m) for m in TOTAL_MODES) + ")$"


class AlertListQuery(AlertFilters):
    sort: list[str] = Field(default_factory=list, description="sort keys, e.g. `-severity`, `last_seen`")
    limit: int = Field(50, ge=1, le=1000)
    page: int | None = Field(None, ge=1, le=1_000_000, description="page number (or use cursor)")
    cursor: str | None = Field(None, max_length=4096, description="next_cursor of the previous page")
    total: str | None = Field(
        None,
        description="auto, exact (or true), false (or none); any case",
        json_schema_extra={"pattern": TOTAL_PATTERN},
    )


class AlertTopQuery(AlertFilters):
    by: str = Field("duplicates", json_schema_extra={"enum": ["duplicates", "flapping", "standing"]})
    n: int = Field(10, ge=1, le=100)
    window: int = Field(3600, ge=1, le=366 * 86400, description="flapping: seconds of history")


class AlertList(BaseModel):
    alerts: list[dict[str, Any]]
    limit: int
    total: int | None = None
    total_exact: bool | None = None
    page: int | None = None
    next_cursor: str | None = None


class AlertCounts(BaseModel):
    total: int
    status_counts: dict[str, int]
    severity_counts: dict[str, int]


class AlertTop(BaseModel):
    by: str
    alerts: list[dict[str, Any]]


class AlertDetail(BaseModel):
    alert: dict[str, Any]
    history: list[dict[str, Any]]
    muting: dict[str, Any] = Field(
        description="the silences and maintenance windows muting it now, computed when read"
    )


async def list_alerts(call: Call) -> Any:
    pool, settings = call.state.pool, call.settings
    query = await alert_query(call, build_list)

    async def page() -> list[dict[str, Any]]:
        async with pool.connection() as conn:
            return await (await conn.execute(query.select, query.args)).fetchall()

    async def total() -> dict[str, Any]:
        async with pool.connection() as conn:
            return await count_total(
                conn,
                query.where,
                query.where_args,
                query.total,
                settings.alerts_exact_total_limit,
                settings.alerts_total_budget_ms,
            )

    if query.total:  # the page and the total run side by side on two connections
        rows, counted = await asyncio.gather(page(), total())
    else:
        rows, counted = await page(), {}
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    body: dict[str, Any] = {"alerts": rows, **counted, "limit": query.limit}
    if query.page is not None:
        body["page"] = query.page
    if more:
        body["next_cursor"] = encode_cursor(query.keys, rows[-1])
    return body


async def count_alerts(call: Call) -> Any:
    query = await alert_query(call, build_list)
    async with call.state.pool.connection() as conn:
        rows = await (await conn.execute(count_sql(query.where), query.where_args)).fetchall()
    by_status: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + r["n"]
        by_severity[r["severity"]] = by_severity.get(r["severity"], 0) + r["n"]
    return {"total": sum(by_status.values()), "status_counts": by_status, "severity_counts": by_severity}


async def top_alerts(call: Call) -> Any:
    select, args = await alert_query(call, top_sql)
    async with call.state.pool.connection() as conn:
        rows = await (await conn.execute(select, args)).fetchall()
    return {"by": call.query.by, "alerts": rows}


async def get_alert(call: Call) -> Any:
    alert_id = call.path["alert_id"]
    async with call.state.pool.connection() as conn:
        alert = await fetch_alert(conn, alert_id, tenant=tenant_of(call))
        if alert is None:
            raise ApiError(404, f"no alert {alert_id!r}")
        history = await (
            await conn.execute(
                "SELECT event_id, kind, at, severity, previous_severity, status, previous_status, "
                "actor, reason FROM alert_history WHERE alert_id = %s ORDER BY at, kind",
                (alert["alert_id"],),
            )
        ).fetchall()
        muted = await muting(conn, alert)
    return {"alert": alert, "history": history, "muting": muted}


ENDPOINTS = [  # list, count, top: before /alerts/{alert_id}
    Endpoint(
        "GET",
        "/api/v1/alerts",
        list_alerts,
        permission="read:alerts",
        summary="List alerts: filters, multi-field sort, page or keyset cursor, total",
        description=FILTERS,
        query=AlertListQuery,
        response=AlertList,
        responses={400: "a bad filter, sort, cursor or limit"},
        tags=("alerts",),
    ),
    Endpoint(
        "GET",
        "/api/v1/alerts/count",
        count_alerts,
        permission="read:alerts",
        summary="Count alerts by status and severity (same filters as the list)",
        description=FILTERS,
        query=AlertFilters,
        response=AlertCounts,
        responses={400: "a bad filter"},
        tags=("alerts",),
    ),
    Endpoint(
        "GET",
        "/api/v1/alerts/top",
        top_alerts,
        permission="read:alerts",
        summary="Top alerts by duplicates, flapping or standing time (same filters as the list)",
        description=FILTERS,
        query=AlertTopQuery,
        response=AlertTop,
        responses={400: "a bad filter, by or n"},
        tags=("alerts",),
    ),
    Endpoint(
        "GET",
        "/api/v1/alerts/{alert_id}",
        get_alert,
        permission="read:alerts",
        summary="One alert (by id or fingerprint) with its history and the silences and windows muting it",
        response=AlertDetail,
        responses={404: "no such alert"},
        tags=("alerts",),
    ),
]
