"""Alert filters from URL query parameters, on ANY column of the `alerts` table (Alerta conventions).

Pure: turns a query string into a SQL WHERE clause + parameters; the table's columns come from a
`Catalog` (introspected from PostgreSQL by the API), so new columns are filterable without code.

    field=v          equals (repeat for OR; on array columns: contains, repeat for AND)
    field!=v         not equals / does not contain (also the legacy form field=!v); NULLs included
    field=~re        regex match (POSIX, case-sensitive); field!=~re excludes. At most MAX_PATTERN
                     characters; a pattern Python's `re` or PostgreSQL refuses (e.g. "regular
                     expression is too complex", SQLSTATE 2201B: see ems.api.guards) is a 400
    field=*          present (IS NOT NULL / key exists); field!=* absent
    field>=v         at least (key `field>`); field<=v at most (key `field<`)
    attributes.k=v   attribute key k (all the operators above; values are matched as JSON scalar or string)
    tag=v            alias of tags; id=v alias of alert_id
    q=text           free text (ILIKE over title, text, resource, event, asset_id)
    from=/to=        ISO-8601 time range on last_seen (from inclusive, to exclusive; no zone = UTC;
                     within 1970..2099, as every time we store)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from psycopg import sql

from ems.api.errors import ApiError
from ems.api.params import time_param
from ems.schemas.limits import DEADLINE_MAX, TIME_MAX

ALIASES = {"tag": "tags", "id": "alert_id"}
TEXT_COLUMNS = ("title", "text", "resource", "event", "asset_id")
TIME_COLUMN = "last_seen"
INTEGER_TYPES = {"integer", "bigint", "smallint"}
FLOAT_TYPES = {"numeric", "double precision", "real"}
MAX_PATTERN = 1024  # characters of one regular expression filter


@dataclass(frozen=True)
class Column:
    """One column: its PostgreSQL type name (information_schema data_type) and nullability."""

    type: str
    nullable: bool = True

    @property
    def is_array(self) -> bool:
        return self.type == "ARRAY"

    @property
    def is_json(self) -> bool:
        return self.type in ("jsonb", "json")


Catalog = Mapping[str, Column]


@dataclass(frozen=True)
class Condition:
    """One parsed filter term."""

    column: str
    op: str  # "eq", "re", "present", "ge", "le"
    negate: bool
    value: Any
    key: str | None = None  # attribute key for jsonb columns


def parse_time(raw: str, name: str, high: datetime = TIME_MAX) -> datetime:
    """An ISO-8601 time parameter (no zone = UTC) from 1970 to before `high`; 400 otherwise."""
    return time_param(raw, name, high=high)


def check_pattern(name: str, raw: str) -> str:
    """`raw` if Python's `re` compiles it (a first check; PostgreSQL's regex dialect is POSIX ARE),
    within MAX_PATTERN characters; a 400 naming the parameter otherwise, never a crash: deep
    nesting makes `re`'s parser recurse (RecursionError), huge repeats overflow (OverflowError)."""
    if len(raw) > MAX_PATTERN:
        raise ApiError(
            400, f"{name}: the regular expression has {len(raw)} characters; the limit is {MAX_PATTERN}"
        )
    try:
        re.compile(raw)
    except re.error as exc:
        raise ApiError(400, f"{name}: invalid regular expression {raw!r} ({exc})") from None
    except RecursionError:
        raise ApiError(400, f"{name}: the regular expression is nested too deeply") from None
    except OverflowError as exc:
        raise ApiError(400, f"{name}: the regular expression is too large ({exc})") from None
    return raw


def coerce(column: str, col: Column, raw: str, name: str) -> Any:
    """The value of `raw` in the column's type, or 400 naming the parameter."""
    try:
        if col.type in INTEGER_TYPES:
            return int(raw)
        if col.type in FLOAT_TYPES:
            return float(raw)
        if col.type == "boolean":
            return {"true": True, "false": False}[raw.lower()]
    except (ValueError, KeyError):
        raise ApiError(400, f"{name}: {column} is {col.type}, got {raw!r}") from None
    if col.type.startswith("timestamp"):
        return parse_time(raw, name, DEADLINE_MAX)  # the columns hold deadlines too (ack_until)
    return raw


def parse_term(name: str, raw: str, catalog: Catalog) -> Condition:
    """One `name=raw` query item as a Condition (Alerta's =, !=, =~, !=~ plus *, >=, <=)."""
    field, negate, op = name, False, "eq"
    if field.endswith("!"):
        field, negate = field[:-1], True
    elif field.endswith(">") or field.endswith("<"):
        field, op = field[:-1], "ge" if field.endswith(">") else "le"
    elif raw.startswith("!"):
        raw, negate = raw[1:], True
    if op == "eq" and raw.startswith("~"):
        raw, op = raw[1:], "re"
    elif op == "eq" and raw == "*":
        op = "present"
    column, _, key = field.partition(".")
    column = ALIASES.get(column, column)
    col = catalog.get(column)
    if col is None:
        raise ApiError(
            400,
            f"unknown filter {name!r}; filter on any alert field ({', '.join(sorted(catalog))}), "
            "attributes.<key>, or q, from, to, sort, limit, page, cursor, total",
        )
    if key and not col.is_json:
        raise ApiError(400, f"{name!r}: only JSON fields take a .key ({column} is {col.type})")
    if col.is_json and not key:
        raise ApiError(400, f"{name!r}: filter {column} by key, e.g. {column}.region=eu-west-1")
    if (col.is_array or col.is_json) and op in ("ge", "le"):
        raise ApiError(400, f"{name!r}: >= and <= need a scalar field, {column} is {col.type}")
    if op == "re":
        value: Any = check_pattern(name, raw)
    elif op == "present" or col.is_array or col.is_json:
        value = raw
    else:
        value = coerce(column, col, raw, name)
    return Condition(column, op, negate, value, key or None)


def _json_scalars(raw: str) -> list[Any]:
    """The attribute values `raw` may stand for: the string, and its JSON scalar reading if any."""
    out: list[Any] = [raw]
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return out
    if isinstance(parsed, int | float | bool) or parsed is None:
        out.append(parsed)
    return out


def condition_sql(c: Condition, col: Column) -> tuple[sql.Composable, list[Any]]:
    """SQL for one condition (index-friendly forms: = ANY, @>, ?, range)."""
    ident = sql.Identifier(c.column)
    if c.key is not None:
        if c.op == "present":
            return sql.SQL("{} ? %s").format(ident), [c.key]
        if c.op == "re":
            return sql.SQL("({} ->> %s) ~ %s").format(ident), [c.key, c.value]
        alternatives = [orjson.dumps({c.key: v}).decode() for v in _json_scalars(c.value)]
        parts = sql.SQL(" OR ").join(sql.SQL("{} @> %s::jsonb").format(ident) for _ in alternatives)
        return sql.SQL("({})").format(parts), alternatives
    if c.op == "present":
        return sql.SQL("{} IS NOT NULL").format(ident), []
    if c.op in ("ge", "le"):
        return sql.SQL("{} {} %s").format(ident, sql.SQL(">=" if c.op == "ge" else "<=")), [c.value]
    if col.is_array:
        if c.op == "re":
            return sql.SQL("EXISTS (SELECT 1 FROM unnest({}) _v WHERE _v ~ %s)").format(ident), [c.value]
        return sql.SQL("{} @> %s").format(ident), [[c.value]]
    if c.op == "re":
        return sql.SQL("{}::text ~ %s").format(ident), [c.value]
    return sql.SQL("{} = %s").format(ident), [c.value]


def where_clause(
    items: Iterable[tuple[str, str]], catalog: Catalog
) -> tuple[list[sql.Composable], list[Any]]:
    """AND of all filters in `items` ((name, value) pairs, reserved names already removed).

    Positive equals on one scalar field are OR-ed (`= ANY`), negative ones AND-ed (`<> ALL`,
    NULLs kept); every other term is AND-ed; a negated term also keeps rows where the field is NULL.
    """
    where: list[sql.Composable] = []
    args: list[Any] = []
    anyof: dict[tuple[str, bool], list[Any]] = {}
    for name, raw in items:
        c = parse_term(name, raw, catalog)
        col = catalog[c.column]
        if c.op == "eq" and c.key is None and not col.is_array:
            anyof.setdefault((c.column, c.negate), []).append(c.value)
            continue
        clause, params = condition_sql(c, col)
        if c.negate:
            null = sql.SQL("{} IS NULL OR ").format(sql.Identifier(c.column)) if col.nullable else sql.SQL("")
            clause = sql.SQL("({}NOT ({}))").format(null, clause)
        where.append(clause)
        args += params
    for (column, negate), values in anyof.items():
        ident = sql.Identifier(column)
        if negate:
            null = sql.SQL("{} IS NULL OR ").format(ident) if catalog[column].nullable else sql.SQL("")
            where.append(sql.SQL("({}{} <> ALL(%s))").format(null, ident))
        else:
            where.append(sql.SQL("{} = ANY(%s)").format(ident))
        args.append(values)
    return where, args


def text_search(q: str) -> tuple[sql.Composable, list[Any]]:
    """Free text: one ILIKE over the text columns (the trigram index of migration 005 covers it)."""
    text = sql.SQL(" || ' ' || ").join(
        sql.SQL("coalesce({}, '')").format(sql.Identifier(c)) for c in TEXT_COLUMNS
    )
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sql.SQL("({}) ILIKE %s").format(text), [f"%{escaped}%"]
