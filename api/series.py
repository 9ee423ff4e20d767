"""Metric queries: `/api/v1/metrics/series`, `/latest` and `/top` over the metric store.

(Not to be confused with `ems.api.metrics`, the Prometheus `/metrics` of the API process itself.)
Parameter parsing and resolution choice are pure; a bad parameter is a 400 naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from ems.api.errors import ApiError
from ems.api.params import int_param, time_param
from ems.api.responses import JSON
from ems.api.routing import Call, Endpoint
from ems.api.tenancy import of_owned_asset, tenant_of
from ems.projections.metrics import EPOCH, RAW, ROLLUPS, Resolution, floor_time
from ems.projections.metrics_rollup import pending_cut

MAX_POINTS = 11_000  # per series and request (Prometheus' limit)
MAX_RAW_RANGE = timedelta(hours=6)  # without a step, raw samples are returned as they are
MAX_TOP = 100
# A series' newest sample: one backward step of each daily partition's (series_id, ts) key. Series whose
# samples are all past the raw retention have none, and are not listed by /latest.
NEWEST_SAMPLE = (
    "SELECT r.ts, r.value FROM metric_samples r WHERE r.series_id = s.series_id ORDER BY r.ts DESC LIMIT 1"
)
_STEP = re.compile(r"^([1-9][0-9]{0,6})([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
COMMON = {"asset", "name", "from", "to"}


def parse_step(raw: str) -> timedelta:
    """`30s`, `1m`, `15m`, `1h`, `1d`... as a duration; 400 otherwise."""
    m = _STEP.match(raw.strip())
    if not m:
        raise ApiError(400, f"step must be a whole number of s, m, h or d (e.g. 5m), got {raw!r}")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def parse_time(raw: str, name: str) -> datetime:
    """ISO-8601 (no zone = UTC) or Unix seconds, within sane years (1970..2099); 400 otherwise."""
    return time_param(raw, name, unix=True)


def time_range(params: Mapping[str, str], now: datetime, default: timedelta) -> tuple[datetime, datetime]:
    """(from, to): `to` defaults to now, `from` to `to - default`; from must be before to."""
    to = parse_time(params["to"], "to") if params.get("to") else now
    start = parse_time(params["from"], "from") if params.get("from") else to - default
    if start >= to:
        raise ApiError(400, f"from ({start.isoformat()}) must be before to ({to.isoformat()})")
    return start, to


def labels_of(params: Mapping[str, str], allowed: set[str]) -> dict[str, str]:
    """The `label.<key>=<value>` filters; 400 for any other unknown parameter."""
    labels = {}
    for key, value in params.items():
        if key.startswith("label.") and len(key) > 6:
            labels[key[6:]] = value
        elif key not in allowed:
            raise ApiError(400, f"unknown parameter {key!r}; expected {', '.join(sorted(allowed))}, label.*")
    return labels


def required(params: Mapping[str, str], name: str) -> str:
    value = (params.get(name) or "").strip()
    if not value:
        raise ApiError(400, f"{name} is required")
    return value


def resolution_for_step(step: timedelta | None) -> Resolution:
    """The coarsest rollup whose bucket divides `step` (exact re-bucketing), else raw."""
    if step is None:
        return RAW
    for res in reversed(ROLLUPS):
        if step % res.bucket == timedelta(0):
            return res
    return RAW


def resolution_for_range(start: datetime, end: datetime) -> Resolution:
    """The coarsest rollup whose buckets tile [start, end) exactly, else raw (used by top-N)."""
    for res in reversed(ROLLUPS):
        if (start - EPOCH) % res.bucket == timedelta(0) and (end - EPOCH) % res.bucket == timedelta(0):
            return res
    return RAW


@dataclass(frozen=True)
class Query:
    text: sql.Composed
    params: list[Any]


def _series_filter(
    asset: str | None, name: str | None, labels: dict[str, str], tenant: str | None, alias: str = "s"
) -> tuple[sql.Composed, list[Any]]:
    """The conditions on `metric_series` (as `alias`): name, asset, labels, and (for a caller bound to a
    tenant) only series of that tenant's assets."""
    where: list[sql.Composable] = []
    params: list[Any] = []
    for column, value in (("name", name), ("asset_id", asset)):
        if value is not None:
            where.append(sql.SQL(f"{alias}.{column} = %s"))
            params.append(value)
    if labels:
        where.append(sql.SQL(f"{alias}.labels @> %s"))
        params.append(Jsonb(labels))
    owned = of_owned_asset(tenant, sql.SQL(f"{alias}.asset_id"))
    if owned is not None:
        where.append(owned[0])
        params += owned[1]
    return sql.SQL(" AND ").join(where), params


def _ceil(at: datetime, width: timedelta) -> datetime:
    """`at` rounded up to a multiple of `width` since EPOCH."""
    floor = floor_time(at, width)
    return floor if floor == at else floor + width


def _rolled(res: Resolution, columns: tuple[str, ...], where: sql.Composed) -> sql.Composed:
    """`WITH sel, cut SELECT ... UNION ALL SELECT ...`: the rows fully materialized rollups of `res` would
    hold for the series `where` selects (their `columns`) and the buckets in [start, end).

    Rollups are recomputed after their bucket closes (migration 028), so a bucket of `res` is trusted
    only if no bucket of `res` or of a finer rollup inside it is pending; 1m rows exist only below the
    archived point (migration 029). `cut` is `pending_cut(res)`: below it rollup rows are read, from
    it on the raw samples as one-count rows. Both branches join `sel`, so each reads its primary key
    (series_id, time) per selected series. Parameters: see `_rolled_params`."""
    return sql.SQL(
        "WITH sel AS (SELECT {columns} FROM metric_series s WHERE {where}), "
        "cut AS (SELECT {cut} AS at) "
        "SELECT {out}, r.bucket AS at, r.count, r.sum, r.min, r.max "
        "FROM sel JOIN {table} r USING (series_id) "
        "WHERE r.bucket >= %s AND r.bucket < %s AND r.bucket < (SELECT at FROM cut) "
        "UNION ALL "
        "SELECT {out}, r.ts, 1, r.value::numeric, r.value, r.value "
        "FROM sel JOIN metric_samples r USING (series_id) "
        "WHERE r.ts >= greatest(%s, (SELECT at FROM cut)) AND r.ts < %s"
    ).format(
        columns=sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(c)) for c in columns),
        where=where,
        cut=pending_cut(res),
        out=sql.SQL(", ").join(sql.SQL("sel.{}").format(sql.Identifier(c)) for c in columns),
        table=sql.Identifier(res.table),
    )


def _rolled_params(res: Resolution, start: datetime, end: datetime) -> list[datetime]:
    """The time parameters of `_rolled`: buckets in [start, end), so samples from start and up to end
    rounded up to `res` (a bucket's samples are those from its start on)."""
    assert res.bucket is not None
    return [start, end, _ceil(start, res.bucket), _ceil(end, res.bucket)]


def series_query(
    asset: str,
    name: str,
    labels: dict[str, str],
    start: datetime,
    end: datetime,
    step: timedelta | None,
    tenant: str | None = None,
) -> tuple[Resolution, Query]:
    """Points of every matching series: per step bucket avg/min/max/count (raw: each sample)."""
    res = resolution_for_step(step)
    where, params = _series_filter(asset, name, labels, tenant)
    if step is None or res is RAW:
        return res, _raw_series_query(where, params, start, end, step)
    text = sql.SQL(
        "SELECT u.series_id, u.labels, date_bin({step}::interval, u.at, {epoch}::timestamptz) AS t, "
        "(sum(u.sum) / sum(u.count))::float8 AS avg, min(u.min) AS min, max(u.max) AS max, "
        "sum(u.count)::bigint AS count FROM ({rolled}) u GROUP BY u.series_id, u.labels, 3 "
        "ORDER BY u.series_id, t"
    ).format(
        step=sql.Literal(f"{int(step.total_seconds())} seconds"),
        epoch=sql.Literal(EPOCH.isoformat()),
        rolled=_rolled(res, ("series_id", "labels"), where),
    )
    return res, Query(text, [*params, *_rolled_params(res, start, end)])


def _raw_series_query(
    where: sql.Composed, params: list[Any], start: datetime, end: datetime, step: timedelta | None
) -> Query:
    """Raw samples: each one (no step), or aggregated per step bucket (a step no rollup divides)."""
    if step is None:
        select = sql.SQL("r.ts AS t, r.value AS avg, r.value AS min, r.value AS max, 1 AS count")
        group = sql.SQL("")
    else:
        t = sql.SQL("date_bin({}::interval, r.ts, {}::timestamptz)").format(
            sql.Literal(f"{int(step.total_seconds())} seconds"), sql.Literal(EPOCH.isoformat())
        )
        agg = "avg(r.value) AS avg, min(r.value) AS min, max(r.value) AS max, count(*) AS count"
        select = sql.SQL("{} AS t, {}").format(t, sql.SQL(agg))
        group = sql.SQL(" GROUP BY s.series_id, s.labels, 3")
    text = sql.SQL(
        "SELECT s.series_id, s.labels, {select} FROM metric_series s JOIN {table} r USING (series_id) "
        "WHERE {where} AND r.ts >= %s AND r.ts < %s{group} ORDER BY s.series_id, t"
    ).format(select=select, table=sql.Identifier(RAW.table), where=where, group=group)
    return Query(text, [*params, start, end])


def top_query(
    name: str,
    labels: dict[str, str],
    start: datetime,
    end: datetime,
    n: int,
    agg: str,
    tenant: str | None = None,
) -> tuple[Resolution, Query]:
    """The `n` assets with the highest avg (or max) of metric `name` over [start, end)."""
    res = resolution_for_range(start, end)
    where, params = _series_filter(None, name, labels, tenant)
    order = sql.Identifier(agg)
    if res is RAW:
        text = sql.SQL(
            "SELECT s.asset_id, avg(r.value) AS avg, max(r.value) AS max, count(*) AS count "
            "FROM metric_series s JOIN {table} r USING (series_id) "
            "WHERE {where} AND r.ts >= %s AND r.ts < %s GROUP BY s.asset_id "
            "ORDER BY {order} DESC, s.asset_id LIMIT %s"
        ).format(table=sql.Identifier(RAW.table), where=where, order=order)
        return res, Query(text, [*params, start, end, n])
    text = sql.SQL(
        "SELECT u.asset_id, (sum(u.sum) / sum(u.count))::float8 AS avg, max(u.max) AS max, "
        "sum(u.count)::bigint AS count FROM ({rolled}) u GROUP BY u.asset_id "
        "ORDER BY {order} DESC, u.asset_id LIMIT %s"
    ).format(rolled=_rolled(res, ("series_id", "asset_id"), where), order=order)
    return res, Query(text, [*params, *_rolled_params(res, start, end), n])


async def _fetch(request: Request, query: Query) -> list[dict[str, Any]]:
    async with request.app.state.pool.connection() as conn:
        return await (await conn.execute(query.text, query.params)).fetchall()


async def get_series(call: Call) -> Response:
    """GET /api/v1/metrics/series?asset=&name=&from=&to=&step=&label.<k>="""
    request = call.request
    params = request.query_params
    labels = labels_of(params, COMMON | {"step"})
    asset, name = required(params, "asset"), required(params, "name")
    step = parse_step(params["step"]) if params.get("step") else None
    start, end = time_range(params, datetime.now(UTC), timedelta(hours=1))
    if step is None and end - start > MAX_RAW_RANGE:
        raise ApiError(400, f"ranges over {MAX_RAW_RANGE} need a step (e.g. step=5m)")
    if step is not None and (end - start) / step > MAX_POINTS:
        raise ApiError(
            400, f"{(end - start) // step} points per series exceed {MAX_POINTS}; use a larger step"
        )
    res, query = series_query(asset, name, labels, start, end, step, tenant_of(call))
    series: dict[int, dict[str, Any]] = {}
    for row in await _fetch(request, query):
        item = series.setdefault(row["series_id"], {"labels": row["labels"], "points": []})
        item["points"].append({k: row[k] for k in ("t", "avg", "min", "max", "count")})
    return JSON(
        {
            "asset": asset,
            "name": name,
            "from": start,
            "to": end,
            "step": params.get("step"),
            "resolution": res.name,
            "series": list(series.values()),
        }
    )


async def get_latest(call: Call) -> Response:
    """GET /api/v1/metrics/latest?asset=[&name=][&label.<k>=]"""
    request = call.request
    params = request.query_params
    labels = labels_of(params, {"asset", "name"})
    asset = required(params, "asset")
    where, args = _series_filter(asset, params.get("name") or None, labels, tenant_of(call))
    text = sql.SQL(
        "SELECT s.name, s.labels, l.ts, l.value FROM metric_series s CROSS JOIN LATERAL "
        f"({NEWEST_SAMPLE}) l WHERE {{}} ORDER BY s.name, s.labels::text"
    ).format(where)
    rows = await _fetch(request, Query(text, args))
    return JSON({"asset": asset, "series": rows})


async def get_top(call: Call) -> Response:
    """GET /api/v1/metrics/top?name=&n=10&from=&to=&agg=avg|max[&label.<k>=]"""
    request = call.request
    params = request.query_params
    labels = labels_of(params, {"name", "n", "from", "to", "agg"})
    name = required(params, "name")
    n = int_param(params, "n", 10, 1, MAX_TOP)
    agg = params.get("agg", "avg")
    if agg not in ("avg", "max"):
        raise ApiError(400, f"agg must be avg or max, got {agg!r}")
    start, end = time_range(params, datetime.now(UTC), timedelta(hours=1))
    res, query = top_query(name, labels, start, end, n, agg, tenant_of(call))
    rows = await _fetch(request, query)
    return JSON({"name": name, "agg": agg, "from": start, "to": end, "resolution": res.name, "assets": rows})


# What the handlers refuse with their own message (400), documented in the parameters' schemas.
NOT_BLANK: dict[str, Any] = {"pattern": r"^[^\x00]*[^\s\x00][^\x00]*$"}  # no NUL: see ems.api.guards
LABELS = "Series labels filter as `label.<key>=<value>` (e.g. label.interface=eth0)."


class SeriesQuery(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    asset: str = Field(description="asset id", json_schema_extra=NOT_BLANK)
    name: str = Field(description="metric name", json_schema_extra=NOT_BLANK)
    from_: str | None = Field(None, alias="from", description="ISO-8601 or Unix seconds; default: 1 h ago")
    to: str | None = Field(None, description="ISO-8601 or Unix seconds; default: now")
    step: str | None = Field(
        None,
        description="bucket, e.g. 30s, 5m, 1h (needed beyond 6 h)",
        json_schema_extra={"pattern": _STEP.pattern},
    )


class LatestQuery(BaseModel):
    model_config = ConfigDict(extra="allow")

    asset: str = Field(description="asset id", json_schema_extra=NOT_BLANK)
    name: str | None = Field(None, description="metric name")


class TopQuery(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str = Field(description="metric name", json_schema_extra=NOT_BLANK)
    n: int = Field(10, ge=1, le=MAX_TOP)
    agg: str = Field("avg", description="avg or max", json_schema_extra={"enum": ["avg", "max"]})
    from_: str | None = Field(None, alias="from")
    to: str | None = None


ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/v1/metrics/series",
        get_series,
        permission="read:metrics",
        summary="A metric's series of one asset over a time range (raw, or rolled up by step)",
        description=LABELS,
        query=SeriesQuery,
        response=dict[str, Any],
        responses={400: "unknown parameter or step, bad time, from not before to, too many points"},
        tags=("metrics",),
    ),
    Endpoint(
        "GET",
        "/api/v1/metrics/latest",
        get_latest,
        permission="read:metrics",
        summary="The latest value of each series of an asset",
        description=LABELS,
        query=LatestQuery,
        response=dict[str, Any],
        responses={400: "unknown parameter"},
        tags=("metrics",),
    ),
    Endpoint(
        "GET",
        "/api/v1/metrics/top",
        get_top,
        permission="read:metrics",
        summary="The top assets of a metric over a time range (avg or max)",
        description=LABELS,
        query=TopQuery,
        response=dict[str, Any],
        responses={400: "unknown parameter, bad n or agg"},
        tags=("metrics",),
    ),
]
