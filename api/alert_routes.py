"""HTTP routes of the alert dashboards: GET /api/v1/alerts (list), /alerts/count, /alerts/top.

The filterable fields are the `alerts` table's columns, read from PostgreSQL (information_schema)
on first use and again when a request names a field not seen yet (a migration may add columns).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from psycopg import sql
from psycopg.errors import QueryCanceled
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ems.api.alert_filters import Catalog, Column
from ems.api.alert_query import build_list, count_sql, encode_cursor, estimate_sql, top_sql, total_sql
from ems.api.ingest import BadRequest
from ems.api.responses import JSON
from ems.settings import Settings

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


async def with_catalog(request: Request, columns: Columns, build: Any) -> Any:
    """`build(params, catalog)`, retried once on fresh columns if it rejects a field."""
    pool = request.app.state.pool
    try:
        return build(request.query_params, await columns.get(pool))
    except BadRequest as exc:
        if "unknown filter" not in exc.reason and "cannot sort" not in exc.reason:
            raise
        return build(request.query_params, await columns.get(pool, refresh=True))


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


def routes(settings: Settings) -> list[Route]:
    """The alert query routes (they go before /api/v1/alerts/{alert_id})."""

    columns = Columns()
    cap = settings.alerts_exact_total_limit
    budget_ms = settings.alerts_total_budget_ms

    async def total(pool: Any, where: Any, args: list[Any], mode: str) -> dict[str, Any]:
        async with pool.connection() as conn:
            return await count_total(conn, where, args, mode, cap, budget_ms)

    async def page(pool: Any, query: Any) -> list[dict[str, Any]]:
        async with pool.connection() as conn:
            return await (await conn.execute(query.select, query.args)).fetchall()

    async def list_alerts(request: Request) -> Response:
        try:
            query = await with_catalog(request, columns, build_list)
        except BadRequest as exc:
            return exc.response()
        pool = request.app.state.pool
        if query.total:  # the page and the total run side by side on two connections
            rows, counted = await asyncio.gather(
                page(pool, query), total(pool, query.where, query.where_args, query.total)
            )
        else:
            rows, counted = await page(pool, query), {}
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        body: dict[str, Any] = {"alerts": rows, **counted, "limit": query.limit}
        if query.page is not None:
            body["page"] = query.page
        if more:
            body["next_cursor"] = encode_cursor(query.keys, rows[-1])
        return JSON(body)

    async def count_alerts(request: Request) -> Response:
        try:
            query = await with_catalog(request, columns, build_list)
        except BadRequest as exc:
            return exc.response()
        async with request.app.state.pool.connection() as conn:
            rows = await (await conn.execute(count_sql(query.where), query.where_args)).fetchall()
        by_status: dict[str, int] = {}
        by_severity: dict[str, int] = {}
        for r in rows:
            by_status[r["status"]] = by_status.get(r["status"], 0) + r["n"]
            by_severity[r["severity"]] = by_severity.get(r["severity"], 0) + r["n"]
        total_n = sum(by_status.values())
        return JSON({"total": total_n, "status_counts": by_status, "severity_counts": by_severity})

    async def top_alerts(request: Request) -> Response:
        try:
            select, args = await with_catalog(request, columns, top_sql)
        except BadRequest as exc:
            return exc.response()
        async with request.app.state.pool.connection() as conn:
            rows = await (await conn.execute(select, args)).fetchall()
        return JSON({"by": request.query_params.get("by", "duplicates"), "alerts": rows})

    return [
        Route("/api/v1/alerts", list_alerts, methods=["GET"]),
        Route("/api/v1/alerts/count", count_alerts, methods=["GET"]),
        Route("/api/v1/alerts/top", top_alerts, methods=["GET"]),
    ]
