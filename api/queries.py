"""Query builders for the list endpoints: filters, sort, page or cursor pagination (Alerta-like).

Pure: they turn query parameters into SQL + parameters and never touch a connection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import sql

from ems.api.cursor import pack, unpack
from ems.api.errors import ApiError
from ems.api.params import int_param, time_param
from ems.api.tenancy import scoped, visible

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
    flags: Mapping[str, str] = None  # query parameter -> SQL condition: true holds it, false negates it
    # query parameter -> its values to a condition and its parameters (400 from it on a bad value)
    conditions: Mapping[str, Callable[[list[str]], tuple[sql.Composable, list[Any]]]] = None


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
    sort: str = ""
    id_column: str = ""
    # the filters alone (" WHERE ...", no cursor), as in `count`
    where: sql.Composable = field(default_factory=lambda: sql.SQL(""))

    def cursor_after(self, row: dict[str, Any]) -> str:
        """The next page's cursor, after `row`."""
        return pack(self.sort, [row[self.sort_column], row[self.id_column]])


def _time(raw: str, name: str) -> datetime:
    return time_param(raw, name)


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    """The (sort value, row id) of a cursor made for `sort` by `ListQuery.cursor_after`; 400 otherwise."""
    value, row_id = unpack(cursor, sort, 2)
    if not isinstance(row_id, str):
        raise ApiError(400, "invalid cursor: bad row id")
    return value, row_id


def build_list(spec: ListSpec, params: Any, columns: sql.Composable, tenant: str | None = None) -> ListQuery:
    """Build the SELECT for `params` (a multi-dict with `getlist`), within `tenant`'s rows when not None."""
    where, args = scoped(tenant)
    unknown = (
        set(params.keys())
        - set(spec.equals)
        - set(spec.array_columns or {})
        - set(spec.flags or {})
        - set(spec.conditions or {})
        - {"sort", "limit", "page", "cursor", "q", "from", "to"}
    )
    if unknown:
        allowed = sorted(
            {
                *spec.equals,
                *(spec.array_columns or {}),
                *(spec.flags or {}),
                *(spec.conditions or {}),
                "sort",
                "limit",
                "page",
                "cursor",
                "q",
                "from",
                "to",
            }
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
    for name, condition in (spec.flags or {}).items():
        if params.get(name) is None:
            continue
        value = params[name].strip().lower()
        if value not in ("true", "false"):
            raise ApiError(400, f"{name} must be true or false, got {params[name]!r}")
        negate = sql.SQL("" if value == "true" else "NOT ")
        where.append(sql.SQL("{}({})").format(negate, sql.SQL(condition)))
    for name, condition in (spec.conditions or {}).items():
        if values := params.getlist(name):
            clause, clause_args = condition(values)
            where.append(clause)
            args.extend(clause_args)
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
        value, row_id = decode_cursor(params["cursor"], sort)
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
    return ListQuery(
        select,
        [*args, limit, offset],
        count,
        count_args,
        limit,
        sort_column,
        page,
        sort,
        spec.id_column,
        count_sql,
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
        "tenant": "tenant",
    },
    sortable={"occurred_at": "occurred_at"},
    default_sort="-occurred_at",
    time_column="occurred_at",
    text_columns=("title", "text", "resource", "event"),
    array_columns={"tag": "tags"},
)


async def fetch_alert(conn: Any, alert_id: str, *, tenant: str | None) -> dict[str, Any] | None:
    """The `alerts` row with this id or fingerprint, or None (also when it is not of `tenant`'s)."""
    own, args = visible(tenant)
    query = sql.SQL("SELECT * FROM alerts WHERE (alert_id = %s OR fingerprint = %s) AND {}").format(own)
    cur = await conn.execute(query, (alert_id, alert_id, *args))
    return await cur.fetchone()
