"""Query builders for the list endpoints: filters, sort, page or cursor pagination (Alerta-like).

Pure: they turn query parameters into SQL + parameters and never touch a connection.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from psycopg import sql

from ems.api.errors import ApiError
from ems.api.params import int_param, time_param

MAX_LIMIT = 1000


@dataclass(frozen=True)
class ListSpec:
    """What a list endpoint allows: filterable columns, sortable columns, the tie-breaking id."""

    table: str
    id_column: str
    equals: Mapping[str, str]  # query parameter -> column (repeatable = OR)
    sortable: Mapping[str, str]  # sort name -> column
    default_sort: str  # e.g. "-last_seen"
    time_column: str
    text_columns: Sequence[str] = ()
    array_columns: Mapping[str, str] = None  # query parameter -> text[] column (contains)


@dataclass(frozen=True)
class ListQuery:
    """A built query: the page's SELECT, the COUNT, and how to make the next cursor."""

    select: sql.Composed
    params: list[Any]
    count: sql.Composed
    count_params: list[Any]
    limit: int
    sort_column: str
    page: int | None


def _time(raw: str, name: str) -> datetime:
    return time_param(raw, name)


def encode_cursor(sort_value: Any, row_id: str) -> str:
    """Opaque cursor from the last row's sort value and id."""
    if isinstance(sort_value, datetime):
        sort_value = {"t": sort_value.isoformat()}
    return base64.urlsafe_b64encode(orjson.dumps([sort_value, row_id])).decode()


def decode_cursor(cursor: str) -> tuple[Any, str]:
    """The (sort value, row id) of a cursor made by `encode_cursor`; 400 for anything else (a
    crafted one must not reach PostgreSQL with a NUL, a wrong type or a time it cannot compare)."""
    try:
        value, row_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        if isinstance(value, dict):
            value = time_param(value["t"], "cursor")
    except Exception:
        raise ApiError(400, "invalid cursor") from None
    if not isinstance(row_id, str) or not isinstance(value, str | int | float | datetime | None):
        raise ApiError(400, "invalid cursor")
    if "\x00" in row_id or (isinstance(value, str) and "\x00" in value):
        raise ApiError(400, "invalid cursor")
    return value, row_id


def build_list(spec: ListSpec, params: Any, columns: sql.Composable) -> ListQuery:
    """Build the SELECT for `params` (a multi-dict with `getlist`)."""
    where: list[sql.Composable] = []
    args: list[Any] = []
    unknown = (
        set(params.keys())
        - set(spec.equals)
        - set(spec.array_columns or {})
        - {"sort", "limit", "page", "cursor", "q", "from", "to"}
    )
    if unknown:
        allowed = sorted(
            {*spec.equals, *(spec.array_columns or {}), "sort", "limit", "page", "cursor", "q", "from", "to"}
        )
        raise ApiError(
            400, f"unknown query parameter(s) {', '.join(sorted(unknown))}; allowed: {', '.join(allowed)}"
        )
    for name, column in spec.equals.items():
        values = params.getlist(name)
        include = [v for v in values if not v.startswith("!")]
        exclude = [v[1:] for v in values if v.startswith("!")]
        if include:
            where.append(sql.SQL("{} = ANY(%s)").format(sql.Identifier(column)))
            args.append(include)
        if exclude:
            where.append(sql.SQL("({0} IS NULL OR {0} <> ALL(%s))").format(sql.Identifier(column)))
            args.append(exclude)
    for name, column in (spec.array_columns or {}).items():
        for value in params.getlist(name):
            op = "NOT ({} @> %s)" if value.startswith("!") else "{} @> %s"
            where.append(sql.SQL(op).format(sql.Identifier(column)))
            args.append([value.lstrip("!")])
    if params.get("q"):
        text = sql.SQL(" || ' ' || ").join(
            sql.SQL("coalesce({}, '')").format(sql.Identifier(c)) for c in spec.text_columns
        )
        where.append(sql.SQL("({}) ILIKE %s").format(text))
        args.append(f"%{params['q']}%")
    for name, op in (("from", ">="), ("to", "<")):
        if params.get(name):
            where.append(sql.SQL("{} {} %s").format(sql.Identifier(spec.time_column), sql.SQL(op)))
            args.append(_time(params[name], name))

    sort = params.get("sort", spec.default_sort)
    descending = sort.startswith("-")
    if sort.lstrip("-") not in spec.sortable:
        raise ApiError(
            400,
            f"cannot sort by {sort!r}; choose from {', '.join(sorted(spec.sortable))} "
            "(prefix - for descending)",
        )
    sort_column = spec.sortable[sort.lstrip("-")]
    limit = int_param(params, "limit", 50, 1, MAX_LIMIT)
    count_where = list(where)
    count_args = list(args)
    page = None
    if params.get("cursor"):
        value, row_id = decode_cursor(params["cursor"])
        where.append(
            sql.SQL("({}, {}) {} (%s, %s)").format(
                sql.Identifier(sort_column),
                sql.Identifier(spec.id_column),
                sql.SQL("<" if descending else ">"),
            )
        )
        args += [value, row_id]
        offset = 0
    else:
        page = int_param(params, "page", 1, 1, 1_000_000)
        offset = (page - 1) * limit
    direction = sql.SQL("DESC" if descending else "ASC")
    where_sql = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")
    count_sql = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(count_where) if count_where else sql.SQL("")
    table = sql.Identifier(spec.table)
    select = sql.SQL("SELECT {} FROM {}{} ORDER BY {} {}, {} {} LIMIT %s OFFSET %s").format(
        columns,
        table,
        where_sql,
        sql.Identifier(sort_column),
        direction,
        sql.Identifier(spec.id_column),
        direction,
    )
    count = sql.SQL("SELECT count(*) FROM {}{}").format(table, count_sql)
    return ListQuery(select, [*args, limit, offset], count, count_args, limit, sort_column, page)


ALERTS = ListSpec(
    table="alerts",
    id_column="alert_id",
    equals={
        "severity": "severity",
        "status": "status",
        "asset_id": "asset_id",
        "source": "source",
        "environment": "environment",
        "resource": "resource",
        "event": "event",
        "fingerprint": "fingerprint",
        "trend": "trend",
    },
    sortable={
        "last_seen": "last_seen",
        "first_seen": "first_seen",
        "severity": "severity_rank",
        "event_count": "event_count",
        "duplicate_count": "duplicate_count",
        "status": "status",
        "resource": "resource",
    },
    default_sort="-last_seen",
    time_column="last_seen",
    text_columns=("title", "text", "resource", "event", "asset_id"),
    array_columns={"tag": "tags", "service": "service"},
)

EVENTS = ListSpec(
    table="events",
    id_column="event_id",
    equals={
        "severity": "severity",
        "asset_id": "asset_id",
        "source": "source",
        "fingerprint": "fingerprint",
        "environment": "environment",
        "resource": "resource",
        "event": "event",
    },
    sortable={"occurred_at": "occurred_at"},
    default_sort="-occurred_at",
    time_column="occurred_at",
    text_columns=("title", "text", "resource", "event"),
    array_columns={"tag": "tags"},
)


async def fetch_alert(conn: Any, alert_id: str) -> dict[str, Any] | None:
    """The `alerts` row with this id or fingerprint, or None."""
    cur = await conn.execute(
        "SELECT * FROM alerts WHERE alert_id = %s OR fingerprint = %s", (alert_id, alert_id)
    )
    return await cur.fetchone()
