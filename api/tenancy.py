"""Tenants in the API: whose rows a caller reads, and which tenant its writes carry.

A principal (user or API key) bound to a tenant sees only the rows of that tenant: every read adds
the condition `owned` builds (events, alerts, assets), or one built on it for rows that only name an
asset (metric series: `of_owned_asset`; topology: `asset_visible`). A row of another tenant, or of
none, is absent: a 404 for one row, not a 403, so its existence is not revealed. A principal bound to
no tenant (`tenant` None) sees every row.

Writes: a tenant-bound principal's observations and created assets carry its tenant; a body naming
another tenant is a 403 (`tenant_to_record`). An unbound principal may name any tenant, or none.

Pure: SQL fragments and parameters out, no connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import sql

from ems.api.errors import ApiError
from ems.schemas.observation import Observation

COLUMN = "tenant"


def tenant_of(call: Any) -> str | None:
    """The tenant the caller is bound to (None: every tenant; also for an anonymous public route)."""
    principal = getattr(call, "principal", None)
    return None if principal is None else principal.tenant


def owned(tenant: str | None, table: str | None = None) -> tuple[sql.Composable, list[Any]] | None:
    """`<table>.tenant = %s` and its parameter for a tenant-bound caller; None when it sees every row.

    The one condition every tenant-scoped read adds (AND-ed to its own filters)."""
    if tenant is None:
        return None
    column = sql.Identifier(COLUMN) if table is None else sql.Identifier(table, COLUMN)
    return sql.SQL("{} = %s").format(column), [tenant]


def scoped(
    tenant: str | None,
    where: Iterable[sql.Composable] = (),
    args: Iterable[Any] = (),
    table: str | None = None,
) -> tuple[list[sql.Composable], list[Any]]:
    """`where` and `args` with the tenant condition appended (unchanged for an unbound caller)."""
    where, args = list(where), list(args)
    condition = owned(tenant, table)
    if condition is not None:
        where.append(condition[0])
        args += condition[1]
    return where, args


def visible(tenant: str | None, table: str | None = None) -> tuple[sql.Composable, list[Any]]:
    """`owned` as one SQL boolean for statements written out in full: TRUE for an unbound caller."""
    condition = owned(tenant, table)
    return condition if condition is not None else (sql.SQL("TRUE"), [])


def of_owned_asset(tenant: str | None, asset_id: sql.Composable) -> tuple[sql.Composable, list[Any]] | None:
    """`asset_id` (an SQL expression) is a known asset of `tenant` (rows that only name an asset, such
    as metric series); None when the caller sees every row."""
    condition = owned(tenant, "o")
    if condition is None:
        return None
    query = sql.SQL("EXISTS (SELECT 1 FROM assets o WHERE o.asset_id = {} AND {})")
    return query.format(asset_id, condition[0]), condition[1]


def asset_visible(tenant: str | None, asset_id: sql.Composable) -> tuple[sql.Composable, list[Any]]:
    """TRUE unless `asset_id` (an SQL expression) is a known asset the caller may not see.

    For topology: an edge may point at an asset not known yet (shown as `known: false`), which any
    caller may see; a known asset of another tenant (or of none) is left out, and so is what lies
    beyond it."""
    if tenant is None:
        return sql.SQL("TRUE"), []
    column = sql.Identifier("o", COLUMN)
    return (
        sql.SQL(
            "NOT EXISTS (SELECT 1 FROM assets o WHERE o.asset_id = {} AND {} IS DISTINCT FROM %s)"
        ).format(asset_id, column),
        [tenant],
    )


def tenant_to_record(bound: str | None, named: str | None, field: str = "tenant") -> str | None:
    """The tenant a write records: the caller's own when it is bound (403 if the body names another),
    else what the body names (or none)."""
    if bound is None or named == bound:
        return named
    if named is None:
        return bound
    raise ApiError(403, f"{field} {named!r} is not yours: this caller writes for tenant {bound!r} only")


def stamp(call: Any, observations: list[Observation], field: str = "tenant") -> list[Observation]:
    """The observations as the caller appends them: with the tenant each records (`tenant_to_record`;
    403 before anything is appended when one names another tenant) and the caller as `submitted_by`."""
    bound, actor = tenant_of(call), call.actor
    return [
        obs.model_copy(update={"tenant": tenant_to_record(bound, obs.tenant, field), "submitted_by": actor})
        for obs in observations
    ]
