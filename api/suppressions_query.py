"""Read queries of the silences and maintenance windows read models, for the routes in
`ems.api.suppressions`, with each one's status computed at read time (never stored):

- a silence is `pending` before `starts_at`, `active` until `ends_at` or its expiry, then `expired`
  (`ems.noise.silences.Silence.state_at`);
- a window is `pending` (will open), `active` (open now) or `ended` (will never open again), from its
  schedule and cancel time (`ems.noise.windows.status_at`), with the current or next interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import sql

from ems.api.tenancy import visible
from ems.noise import windows
from ems.schemas.suppression import SilenceArgs, WindowArgs

MAX_ROWS = 1000  # a list reads at most this many rows (newest first), then filters by status
SILENCE_COLUMNS = sql.SQL(
    "silence_id, tenant, matchers, starts_at, ends_at, expired_at, comment, created_by, created_at, "
    "updated_at, version"
)
WINDOW_COLUMNS = sql.SQL(
    "window_id, tenant, title, mode, scope, schedule, created_by, created_at, updated_at, cancelled_at, "
    "version"
)
HISTORY_SQL = (
    "SELECT version, kind, at, actor, reason, cause FROM suppression_history WHERE id = %s ORDER BY version"
)


def silence_status(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The row with its `status` at `now`."""
    args = SilenceArgs.model_validate({k: row[k] for k in ("matchers", "starts_at", "ends_at", "comment")})
    rule = args.rule(row["silence_id"], row["created_by"], row["expired_at"])
    return {**row, "status": rule.state_at(now)}


def window_status(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The row with its `status` at `now` and the interval open then, or the next one (`starts_at`,
    `ends_at`; null when it has ended)."""
    args = WindowArgs.model_validate({k: row[k] for k in ("title", "mode", "scope", "schedule")})
    rule = args.rule(row["window_id"], row["created_by"], row["cancelled_at"])
    found = windows.current_or_next(rule, now)
    return {
        **row,
        "status": windows.status_at(rule, now),
        "starts_at": found[0] if found else None,
        "ends_at": found[1] if found else None,
    }


@dataclass(frozen=True)
class Kind:
    """One kind of suppression as read: its table, id column, columns, status reader and answer keys."""

    table: str
    id_column: str
    columns: sql.Composable
    status: Callable[[dict[str, Any], datetime], dict[str, Any]]
    many: str  # the list answer's key
    one: str  # the detail answer's key


KINDS = {
    "silence": Kind("silences", "silence_id", SILENCE_COLUMNS, silence_status, "silences", "silence"),
    "window": Kind("maintenance_windows", "window_id", WINDOW_COLUMNS, window_status, "windows", "window"),
}


async def _rows(conn: Any, kind: Kind, tenant: str | None, one: str | None = None) -> list[dict[str, Any]]:
    """Up to MAX_ROWS rows of `kind` the caller may see, newest first; only the row `one` when given."""
    table, id_column, columns = kind.table, kind.id_column, kind.columns
    mine, args = visible(tenant)
    which = sql.SQL("TRUE") if one is None else sql.SQL("{} = %s").format(sql.Identifier(id_column))
    query = sql.SQL("SELECT {} FROM {} WHERE {} AND {} ORDER BY created_at DESC, {} DESC LIMIT %s").format(
        columns, sql.Identifier(table), mine, which, sql.Identifier(id_column)
    )
    params = (*args, *(() if one is None else (one,)), MAX_ROWS)
    return await (await conn.execute(query, params)).fetchall()


async def list_of(
    conn: Any, kind: str, statuses: list[str], limit: int, tenant: str | None
) -> dict[str, Any]:
    """The silences or windows (`kind`, newest first) with their status now, those in `statuses` when
    given."""
    k = KINDS[kind]
    now = datetime.now(UTC)
    rows = [k.status(r, now) for r in await _rows(conn, k, tenant)]
    rows = [r for r in rows if not statuses or r["status"] in statuses]
    return {k.many: rows[:limit], "total": len(rows), "limit": limit, "at": now}


async def one_of(conn: Any, kind: str, ident: str, tenant: str | None) -> dict[str, Any] | None:
    """One silence or window (`kind`) with its status now and its history; None when unknown (or
    another tenant's)."""
    k = KINDS[kind]
    found = await _rows(conn, k, tenant, ident)
    if not found:
        return None
    history = await (await conn.execute(HISTORY_SQL, (ident,))).fetchall()
    return {k.one: k.status(found[0], datetime.now(UTC)), "history": history}
