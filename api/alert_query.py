"""SQL for the alert dashboards: list (multi-field sort, keyset cursors), total, count, top-N.

Pure: query parameters + the table's `Catalog` in, SQL + parameters out. Cursors are opaque
base64 JSON holding the sort they were made for and the last row's sort values (ties broken by
alert_id), so paging is stable while alerts change; a cursor that does not fit is a 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql

from ems.api.alert_filters import TIME_COLUMN, Catalog, parse_time, text_search, where_clause
from ems.api.cursor import pack, unpack
from ems.api.errors import ApiError
from ems.api.params import int_param
from ems.api.tenancy import scoped

RESERVED = frozenset(
    {"sort", "limit", "page", "cursor", "q", "from", "to", "total", "by", "n", "window", "include_dropped"}
)
DROPPED = "dropped"  # the column marking alerts whose latest decision was dropped (025_dropped_alerts.sql)
SORT_ALIASES = {"severity": "severity_rank", "id": "alert_id"}
DEFAULT_SORT = "-last_seen"
MAX_LIMIT = 1000
SETTLED = ("resolved", "closed", "expired")  # not standing
FLAP_KINDS = ("severity_changed", "resolved", "reopened")  # transitions that count as flapping
CURSOR_TYPES: dict[str, type | tuple[type, ...]] = {
    "integer": int,
    "bigint": int,
    "smallint": int,
    "numeric": (int, float),
    "double precision": (int, float),
    "real": (int, float),
    "boolean": bool,
}
TOTAL_MODES = {"auto": "auto", "exact": "exact", "true": "exact", "false": None, "none": None}


@dataclass(frozen=True)
class SortKey:
    column: str
    descending: bool
    nullable: bool
    type: str = "text"

    def order(self) -> sql.Composable:
        return sql.SQL("{} {}").format(
            sql.Identifier(self.column), sql.SQL("DESC" if self.descending else "ASC")
        )


@dataclass(frozen=True)
class ListQuery:
    """The page's SELECT (limit + 1 rows: one more tells whether a next page exists) and its filter."""

    select: sql.Composed
    args: list[Any]
    where: sql.Composable
    where_args: list[Any]
    limit: int
    page: int | None
    keys: tuple[SortKey, ...]
    total: str | None  # "auto", "exact" or None


def parse_sort(values: list[str], catalog: Catalog) -> tuple[SortKey, ...]:
    """`sort=-severity,last_seen` (or repeated sort=): any scalar field, - for descending; alert_id last."""
    names = [n.strip() for v in values for n in v.split(",") if n.strip()] or [DEFAULT_SORT]
    keys: list[SortKey] = []
    for name in names:
        column = SORT_ALIASES.get(name.lstrip("-+"), name.lstrip("-+"))
        col = catalog.get(column)
        if col is None or col.is_array or col.is_json:
            choices = sorted(c for c, t in catalog.items() if not (t.is_array or t.is_json))
            raise ApiError(
                400, f"cannot sort by {name!r}; choose from {', '.join(choices)} (prefix - for descending)"
            )
        if any(k.column == column for k in keys):
            raise ApiError(400, f"sort names {column} twice")
        keys.append(SortKey(column, name.startswith("-"), col.nullable, col.type))
    if keys[-1].column != "alert_id":
        keys.append(SortKey("alert_id", keys[-1].descending, False))
    return tuple(keys)


def signature(keys: tuple[SortKey, ...]) -> str:
    return ",".join(("-" if k.descending else "") + k.column for k in keys)


def encode_cursor(keys: tuple[SortKey, ...], row: dict[str, Any]) -> str:
    """Opaque cursor after `row` in the order `keys` (`ems.api.cursor`)."""
    return pack(signature(keys), [row[k.column] for k in keys])


def decode_cursor(cursor: str, keys: tuple[SortKey, ...]) -> list[Any]:
    """The sort values in `cursor`, checked against the request's sort and the columns' types (400)."""
    out = unpack(cursor, signature(keys), len(keys))
    for key, value in zip(keys, out, strict=True):
        if value is None:
            if not key.nullable:
                raise ApiError(400, f"invalid cursor: {key.column} cannot be null")
        elif key.type.startswith("timestamp"):
            if not isinstance(value, datetime):
                raise ApiError(400, f"invalid cursor: bad time for {key.column}")
        elif isinstance(value, datetime) or (
            not isinstance(value, CURSOR_TYPES.get(key.type, str))
            or isinstance(value, bool) != (key.type == "boolean")
        ):
            raise ApiError(400, f"invalid cursor: bad value for {key.column} ({key.type})")
    return out


def keyset(keys: tuple[SortKey, ...], values: list[Any]) -> tuple[sql.Composable, list[Any]]:
    """Rows strictly after `values` in the order `keys` (NULLs sort as the largest value)."""
    idents = [sql.Identifier(k.column) for k in keys]
    if len({k.descending for k in keys}) == 1 and not any(k.nullable for k in keys):
        row = sql.SQL(", ").join(idents)
        marks = sql.SQL(", ").join(sql.Placeholder() * len(keys))
        op = sql.SQL("<" if keys[0].descending else ">")
        return sql.SQL("({}) {} ({})").format(row, op, marks), list(values)
    ors: list[sql.Composable] = []
    args: list[Any] = []
    for i, key in enumerate(keys):
        ands: list[sql.Composable] = []
        for ident, v in zip(idents[:i], values[:i], strict=True):
            ands.append(
                sql.SQL("{} IS NULL").format(ident) if v is None else sql.SQL("{} = %s").format(ident)
            )
            args += [] if v is None else [v]
        v, ident = values[i], idents[i]
        if v is None:
            ands.append(sql.SQL("{} IS NOT NULL").format(ident) if key.descending else sql.SQL("FALSE"))
        elif key.descending:
            ands.append(sql.SQL("{} < %s").format(ident))
            args.append(v)
        else:
            tail = " OR {} IS NULL" if key.nullable else ""
            ands.append(sql.SQL("({} > %s" + tail + ")").format(ident, ident))
            args.append(v)
        ors.append(sql.SQL("({})").format(sql.SQL(" AND ").join(ands)))
    clause = sql.SQL("({})").format(sql.SQL(" OR ").join(ors))
    first, v = keys[0], values[0]
    if v is not None and not first.nullable:  # an index-usable bound on the leading key
        bound = sql.SQL("{} {} %s").format(idents[0], sql.SQL("<=" if first.descending else ">="))
        return sql.SQL("{} AND {}").format(bound, clause), [v, *args]
    return clause, args


def include_dropped(params: Any) -> bool:
    """`include_dropped=true|false` (default false; 400 otherwise), or any filter on `dropped`
    (`dropped=true`, `dropped!=false`...): the caller asks for dropped alerts itself."""
    raw = params.get("include_dropped", "false").lower()
    if raw not in ("true", "false"):
        raise ApiError(400, f"include_dropped must be true or false, got {params['include_dropped']!r}")
    return raw == "true" or any(k.rstrip("!<>") == DROPPED for k in params)


def filters(
    params: Any, catalog: Catalog, tenant: str | None = None
) -> tuple[list[sql.Composable], list[Any]]:
    """The AND-ed conditions of every filter parameter of `params`, and of the caller's tenant (the one
    place every alert list, total, count and top gets it: `ems.api.tenancy`). Dropped alerts (a
    window in drop mode covered their latest change) are left out unless `include_dropped`."""
    items = [(k, v) for k, v in params.multi_items() if k not in RESERVED]
    where, args = scoped(tenant, *where_clause(items, catalog))
    if DROPPED in catalog and not include_dropped(params):
        where.append(sql.SQL("NOT {}").format(sql.Identifier(DROPPED)))
    if params.get("q"):
        clause, more = text_search(params["q"])
        where.append(clause)
        args += more
    for name, op in (("from", ">="), ("to", "<")):
        if params.get(name):
            where.append(sql.SQL("{} {} %s").format(sql.Identifier(TIME_COLUMN), sql.SQL(op)))
            args.append(parse_time(params[name], name))
    return where, args


def where_sql(where: list[sql.Composable]) -> sql.Composable:
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL("")


def build_list(params: Any, catalog: Catalog, tenant: str | None = None) -> ListQuery:
    """The list endpoint's query for `params` (a multi-dict), within `tenant`'s alerts when not None."""
    where, args = filters(params, catalog, tenant)
    keys = parse_sort(params.getlist("sort"), catalog)
    limit = int_param(params, "limit", 50, 1, MAX_LIMIT)
    # Page 1 carries the total; cursor pages (infinite scroll) only when asked for.
    total = params.get("total", "false" if params.get("cursor") else "auto").lower()
    if total not in TOTAL_MODES:
        raise ApiError(400, f"total must be auto, exact or false, got {total!r}")
    page, offset, page_where, page_args = None, 0, list(where), list(args)
    if params.get("cursor"):
        if params.get("page"):
            raise ApiError(400, "use either page or cursor, not both")
        clause, more = keyset(keys, decode_cursor(params["cursor"], keys))
        page_where.append(clause)
        page_args += more
    else:
        page = int_param(params, "page", 1, 1, 1_000_000)
        offset = (page - 1) * limit
    select = sql.SQL("SELECT * FROM alerts{} ORDER BY {} LIMIT %s OFFSET %s").format(
        where_sql(page_where), sql.SQL(", ").join(k.order() for k in keys)
    )
    return ListQuery(
        select, [*page_args, limit + 1, offset], where_sql(where), args, limit, page, keys, TOTAL_MODES[total]
    )


def total_sql(where: sql.Composable, cap: int | None) -> sql.Composed:
    """Exact count, or (with `cap`) a count that stops after cap + 1 rows."""
    if cap is None:
        return sql.SQL("SELECT count(*) AS n FROM alerts{}").format(where)
    return sql.SQL("SELECT count(*) AS n FROM (SELECT 1 FROM alerts{} LIMIT {}) _c").format(where, cap + 1)


def estimate_sql(where: sql.Composable) -> sql.Composed:
    """The planner's row estimate for the filter (EXPLAIN, no execution)."""
    return sql.SQL("EXPLAIN (FORMAT JSON) SELECT 1 FROM alerts{}").format(where)


def count_sql(where: sql.Composable) -> sql.Composed:
    return sql.SQL("SELECT status, severity, count(*) AS n FROM alerts{} GROUP BY status, severity").format(
        where
    )


def top_sql(params: Any, catalog: Catalog, tenant: str | None = None) -> tuple[sql.Composed, list[Any]]:
    """`by=duplicates|flapping|standing`, `n` (1..100), same filters as the list; flapping over `window` s."""
    by = params.get("by", "duplicates")
    n = int_param(params, "n", 10, 1, 100)
    where, args = filters(params, catalog, tenant)
    if by == "duplicates":
        query = sql.SQL("SELECT * FROM alerts{} ORDER BY duplicate_count DESC, alert_id DESC LIMIT %s")
        return query.format(where_sql(where)), [*args, n]
    if by == "standing":
        where.append(sql.SQL("status <> ALL(%s)"))
        query = sql.SQL("SELECT * FROM alerts{} ORDER BY first_seen ASC, alert_id ASC LIMIT %s")
        return query.format(where_sql(where)), [*args, list(SETTLED), n]
    if by == "flapping":
        window = int_param(params, "window", 3600, 1, 366 * 86400)
        # Without filters rank first and join only the top n; with them, filter before ranking.
        ranked = sql.SQL(
            "SELECT alert_id, count(*) AS transitions FROM alert_history"
            " WHERE at >= now() - make_interval(secs => %s) AND kind = ANY(%s) GROUP BY alert_id"
        )
        if not where:
            ranked = ranked + sql.SQL(" ORDER BY transitions DESC, alert_id LIMIT %s")
            args = [n]
        query = sql.SQL(
            "WITH f AS ({}) SELECT a.*, f.transitions FROM f JOIN alerts a USING (alert_id){}"
            " ORDER BY f.transitions DESC, alert_id LIMIT %s"
        )
        return query.format(ranked, where_sql(where)), [window, list(FLAP_KINDS), *args, n]
    raise ApiError(400, f"by must be duplicates, flapping or standing, got {by!r}")
