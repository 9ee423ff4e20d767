"""Read queries of the tickets read models, as plain async functions over a psycopg connection (dict
rows), for the routes in `ems.api.tickets`.

- `list_tickets`: filters, sort and page or keyset cursor, as the other lists (`ems.api.queries`);
  `assignee=me` is the caller and `group=mine` the caller's groups (`with_me`), `due_within=2h` a
  running SLA timer due within that time;
- `count_tickets`: the same filters, counted by status, priority, type, assignment group, breached;
- `get_ticket`: one ticket by number with its SLA timers read live at the current time (from the
  status history the timers are stored with), comments, links and history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import sql
from starlette.datastructures import QueryParams

from ems.api.errors import ApiError
from ems.api.queries import ListSpec, build_list
from ems.api.tenancy import visible
from ems.itsm import sla
from ems.itsm.calendar import DEFAULT_CALENDARS, Calendar
from ems.itsm.numbers import TicketNumberError, parse_number
from ems.itsm.sla_config import parse_duration

LINK_KINDS = ("alert", "incident", "asset", "ticket")
LINKED = (
    "EXISTS (SELECT 1 FROM ticket_links l "
    "WHERE l.ticket_id = tickets.ticket_id AND l.kind = %s AND l.ref = %s)"
)


def parse_link(value: str) -> tuple[str, str]:
    """("incident", "inc_1") from `incident:inc_1`: a linked thing as `kind:ref`, kind one of alert,
    incident, asset, ticket (a ticket's ref is its number, any case); 400 naming `link` otherwise."""
    kind, sep, ref = value.partition(":")
    kind, ref = kind.strip().lower(), ref.strip()
    if not sep or kind not in LINK_KINDS or not ref:
        raise ApiError(
            400,
            f"link must be kind:ref with kind one of {', '.join(LINK_KINDS)} "
            f"(e.g. incident:<id>), got {value!r}",
        )
    if kind == "ticket":
        try:
            parse_number(ref)
        except TicketNumberError as exc:
            raise ApiError(400, f"link: {exc}") from None
        ref = ref.upper()
    return kind, ref


def linked(values: list[str]) -> tuple[sql.Composable, list[Any]]:
    """The condition "linked to any of `values`" (each `kind:ref`, see `parse_link`) and its parameters."""
    links = [parse_link(v) for v in values]
    clause = sql.SQL("({})").format(sql.SQL(" OR ").join(sql.SQL(LINKED) for _ in links))
    return clause, [part for link in links for part in link]


DUE_SOON = (
    "EXISTS (SELECT 1 FROM sla_timers s WHERE s.ticket_id = tickets.ticket_id AND s.state = 'running' "
    "AND s.due_at > now() AND s.due_at <= now() + %s)"
)
ME = "me"
MINE = "mine"


def due_within(values: list[str]) -> tuple[sql.Composable, list[Any]]:
    """The condition "an SLA timer not met yet, running (not paused), due within `values[-1]` from now"
    (a duration like 30m, 2h, 1h30m, 1d); 422 naming `due_within` for anything else."""
    try:
        window = parse_duration(values[-1])
    except ValueError as exc:
        raise ApiError(422, "validation failed", [{"field": "due_within", "message": str(exc)}]) from None
    return sql.SQL(DUE_SOON), [window]


def with_me(params: Any, actor: str, groups: Mapping[str, Sequence[str]] | None = None) -> QueryParams:
    """`params` with `assignee=me` (and `!me`) standing for the authenticated `actor`, and `group=mine`
    (and `!mine`) for the assignment groups `actor` is a member of (`groups`: EMS_TICKET_GROUPS).

    A caller in no group gets `group=""`, which no ticket has (a ticket always has a group), so
    `group=mine` then matches nothing rather than everything.
    """
    own = sorted(name for name, members in (groups or {}).items() if actor in members) or [""]
    items = []
    for key, value in params.multi_items():
        word = value.strip().lower()
        if key == "assignee" and word in (ME, "!" + ME):
            value = ("!" if word.startswith("!") else "") + actor
        elif key == "group" and word in (MINE, "!" + MINE):
            items += [(key, ("!" if word.startswith("!") else "") + g) for g in own]
            continue
        items.append((key, value))
    return QueryParams(items)


BREACHED = "sla_breached_at IS NOT NULL OR sla_due_at <= now()"
TICKETS = ListSpec(
    table="tickets",
    id_column="ticket_id",
    equals={
        "status": "status",
        "priority": "priority",
        "type": "type",
        "assignee": "assignee",
        "group": "assignment_group",
        "number": "number",
    },
    sortable={"updated_at": "updated_at", "created_at": "created_at", "priority": "priority"},
    default_sort="-updated_at",
    time_column="updated_at",
    text_columns=("title", "number", "description"),
    array_columns={"service": "services", "tag": "tags"},
    flags={"breached": BREACHED},
    conditions={"link": linked, "due_within": due_within},
)
LIST_COLUMNS = sql.SQL(
    "ticket_id, number, type, tenant, title, status, pending_reason, priority, impact, urgency, "
    "assignment_group, assignee, requester, services, site, tags, created_by, created_at, updated_at, "
    "resolved_at, closed_at, comments, sla_due_at, sla_breached_at, "
    f"({BREACHED}) AS breached, version"
)
TIMERS_SQL = """
SELECT kind, target_s, calendar, state, elapsed_s, due_at, breached_at, emitted, history
FROM sla_timers WHERE ticket_id = %s ORDER BY kind DESC
"""
COMMENTS_SQL = """
SELECT version, at, actor, visibility, text FROM ticket_comments WHERE ticket_id = %s ORDER BY version
"""
LINKS_SQL = "SELECT kind, ref, at, by FROM ticket_links WHERE ticket_id = %s ORDER BY at, kind, ref"
ATTACHMENTS_SQL = """
SELECT attachment_id, name, url, content_type, size, at, by FROM ticket_attachments
WHERE ticket_id = %s AND removed_at IS NULL ORDER BY at, attachment_id
"""
HISTORY_SQL = """
SELECT version, kind, at, actor, from_status, status, reason, cause, sla
FROM ticket_history WHERE ticket_id = %s ORDER BY version
"""


async def list_tickets(conn: Any, params: Any, tenant: str | None = None) -> dict[str, Any]:
    """A page of tickets for the query parameters `params` (a multi-dict with `getlist`).

    Filters: status, priority, type, assignee, group, number (repeat = OR, `!` excludes), service,
    tag, breached (true/false), link (`kind:ref`, see `parse_link`), due_within (see `due_within`),
    q (title, number, description),
    from/to (updated_at). Sort: updated_at (default, newest first), created_at, priority; `-`
    descending. `limit`, and `page` or `cursor`."""
    query = build_list(TICKETS, params, LIST_COLUMNS, tenant)
    rows = await (await conn.execute(query.select, query.params)).fetchall()
    total = (await (await conn.execute(query.count, query.count_params)).fetchone())["count"]
    body: dict[str, Any] = {"tickets": rows, "total": total, "limit": query.limit}
    if query.page is not None:
        body["page"] = query.page
    if len(rows) == query.limit:
        body["next_cursor"] = query.cursor_after(rows[-1])
    return body


COUNTED = ("status", "priority", "type", "assignment_group", "breached")
NO_PAGING = ("sort", "limit", "page", "cursor")


def counts_sql(where: sql.Composable) -> sql.Composed:
    """Tickets matching `where` (" WHERE ..." or empty) grouped by the counted columns."""
    return sql.SQL(
        "SELECT status, priority, type, assignment_group, ({}) AS breached, count(*) AS n "
        "FROM tickets{} GROUP BY 1, 2, 3, 4, 5"
    ).format(sql.SQL(BREACHED), where)


def fold_counts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Grouped rows to `{total, by_status, by_priority, by_type, by_group, breached}` (unassigned: "")."""
    out: dict[str, Any] = {"total": 0, **{f"by_{c}": {} for c in ("status", "priority", "type", "group")}}
    out["breached"] = {"true": 0, "false": 0}
    for r in rows:
        out["total"] += r["n"]
        for column, key in zip(COUNTED[:4], ("status", "priority", "type", "group"), strict=True):
            bucket = out[f"by_{key}"]
            name = r[column] or ""
            bucket[name] = bucket.get(name, 0) + r["n"]
        out["breached"]["true" if r["breached"] else "false"] += r["n"]
    return out


async def count_tickets(conn: Any, params: Any, tenant: str | None = None) -> dict[str, Any]:
    """Tickets matching the list's filters (`list_tickets`), counted by status, priority, type,
    assignment group and breached."""
    filters = QueryParams([(k, v) for k, v in params.multi_items() if k not in NO_PAGING])
    query = build_list(TICKETS, filters, LIST_COLUMNS, tenant)
    rows = await (await conn.execute(counts_sql(query.where), query.count_params)).fetchall()
    return fold_counts(rows)


def live_timer(
    ticket_type: str, row: dict[str, Any], now: datetime, calendars: dict[str, Calendar] | None = None
) -> dict[str, Any]:
    """A stored timer read at `now` (its stored reading is as of the ticket's last change), in its
    calendar from `calendars` (the configured ones; default: the built-in)."""
    history = tuple(
        sla.StatusChange(datetime.fromisoformat(h["at"]), h["status"]) for h in row.pop("history")
    )
    state = sla.TimerState(
        ticket_type, row["kind"], timedelta(seconds=row["target_s"]), row["calendar"], history
    )
    calendar = (DEFAULT_CALENDARS if calendars is None else calendars).get(row["calendar"])
    if calendar is None:
        return {**row, "now": None}
    r = sla.read(state, calendar, now)
    left = int(r.left.total_seconds())
    summary = (
        f"SLA {r.kind}: breached at {r.breached_at.isoformat()}"
        if r.breached
        else f"SLA {r.kind}: {_duration(left)} remaining" + ("" if r.state == "running" else f" ({r.state})")
    )
    return {
        **row,
        "now": {
            "at": now,
            "state": r.state,
            "elapsed_s": r.elapsed.total_seconds(),
            "elapsed_pct": round(r.elapsed_pct, 1),
            "left_s": left,
            "due_at": r.due_at,
            "breached": r.breached,
            "breached_at": r.breached_at,
            "summary": summary,
        },
    }


def _duration(seconds: int) -> str:
    minutes = max(seconds, 0) // 60
    if minutes < 120:
        return f"{minutes} minutes"
    return f"{minutes // 60} hours {minutes % 60} minutes"


async def ticket_row(conn: Any, number: str, tenant: str | None = None) -> dict[str, Any] | None:
    """The ticket's row by number; None when unknown (or of another tenant than the caller's)."""
    mine, args = visible(tenant)
    cur = await conn.execute(
        sql.SQL("SELECT {}, description, change_window FROM tickets WHERE number = %s AND {}").format(
            LIST_COLUMNS, mine
        ),
        (number, *args),
    )
    return await cur.fetchone()


async def get_ticket(
    conn: Any, number: str, tenant: str | None = None, calendars: dict[str, Calendar] | None = None
) -> dict[str, Any] | None:
    """One ticket with its timers (read now in `calendars`), comments, links, attachments (the current
    ones) and history; None when unknown."""
    ticket = await ticket_row(conn, number, tenant)
    if ticket is None:
        return None
    tid = ticket["ticket_id"]
    now = datetime.now(UTC)
    timers = await (await conn.execute(TIMERS_SQL, (tid,))).fetchall()
    return {
        "ticket": ticket,
        "sla": [live_timer(ticket["type"], t, now, calendars) for t in timers],
        "comments": await (await conn.execute(COMMENTS_SQL, (tid,))).fetchall(),
        "links": await (await conn.execute(LINKS_SQL, (tid,))).fetchall(),
        "attachments": await (await conn.execute(ATTACHMENTS_SQL, (tid,))).fetchall(),
        "history": await (await conn.execute(HISTORY_SQL, (tid,))).fetchall(),
    }
