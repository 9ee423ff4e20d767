"""Read queries of the incidents read models, as plain async functions over a psycopg connection
(dict rows), for the routes in `ems.api.incidents`.

- `list_incidents`: filters, sort and page or keyset cursor, as the other lists (`ems.api.queries`);
- `get_incident`: one incident with its members (current, and those that moved: with `left_at`),
  the reason and evidence each joined by, its impact, its topology root cause, the model's
  root-cause ranking (`rca`, docs/rca.md), the operators' feedback on it (`rca_feedback`, oldest
  first) and its timeline;
- `incident_of_alert`: an alert's current incident (also on the alert's row as `incident_id`).
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from ems.api.queries import ListSpec, build_list
from ems.api.tenancy import visible

INCIDENTS = ListSpec(
    table="incidents",
    id_column="incident_id",
    equals={
        "status": "status",
        "severity": "severity",
        "root_asset_id": "root_asset_id",
        "rca_asset_id": "rca_asset_id",
        "merged_into": "merged_into",
        "incident_id": "incident_id",
    },
    sortable={
        "updated_at": "updated_at",
        "opened_at": "opened_at",
        "impact": "impact_score",
        "revenue": "revenue_per_hour",
        "severity": "severity_rank",
        "alerts": "alerts",
    },
    default_sort="-updated_at",
    time_column="updated_at",
    text_columns=("title", "incident_id", "root_asset_id"),
    array_columns={"asset": "assets"},
)
LIST_COLUMNS = sql.SQL(
    "incident_id, tenant, status, title, severity, severity_rank, opened_at, updated_at, resolved_at, "
    "merged_into, members_total, members_open, alerts, assets, root_asset_id, root_cause, rca_asset_id, rca, "
    "impact_score, revenue_per_hour, impact, version"
)
MEMBERS_SQL = """
SELECT alert_id, episode, fingerprint, asset_id, source, event, resource, title, severity, status,
       opened_at, since, ended_at, joined_at, left_at, reason, arrival, linked_to, detail, event_ids,
       event_count, impact, revenue_per_hour
FROM incident_members WHERE incident_id = %s
ORDER BY left_at IS NOT NULL, joined_at, opened_at, alert_id, episode
"""
FEEDBACK_SQL = """
SELECT actor, at, asset_id, alert_id, verdict, comment, model, model_asset_id, command_id
FROM incident_rca_feedback WHERE incident_id = %s ORDER BY at, command_id
"""
TIMELINE_SQL = """
SELECT version, kind, at, reason, status, alerts, impact_score, changed
FROM incident_history WHERE incident_id = %s ORDER BY version
"""


async def list_incidents(conn: Any, params: Any, tenant: str | None = None) -> dict[str, Any]:
    """A page of incidents for the query parameters `params` (a multi-dict with `getlist`).

    Filters: status, severity, root_asset_id, rca_asset_id, merged_into, incident_id (repeat = OR,
    `!` excludes), asset (the incident holds an alert on it), q (title, ids), from/to (updated_at). Sort:
    updated_at (default, newest first), opened_at, impact, revenue, severity, alerts; `-` descending.
    `limit`, and `page` or `cursor` (`next_cursor` of the previous page). A bad one is a 400.
    A caller bound to `tenant` sees that tenant's incidents only (an incident never mixes tenants)."""
    query = build_list(INCIDENTS, params, LIST_COLUMNS, tenant)
    rows = await (await conn.execute(query.select, query.params)).fetchall()
    total = (await (await conn.execute(query.count, query.count_params)).fetchone())["count"]
    body: dict[str, Any] = {"incidents": rows, "total": total, "limit": query.limit}
    if query.page is not None:
        body["page"] = query.page
    if len(rows) == query.limit:
        body["next_cursor"] = query.cursor_after(rows[-1])
    return body


async def get_incident(conn: Any, incident_id: str, tenant: str | None = None) -> dict[str, Any] | None:
    """One incident with its members, impact, root cause and timeline; None when unknown (or of
    another tenant than the caller's)."""
    mine, args = visible(tenant)
    cur = await conn.execute(
        sql.SQL("SELECT {} FROM incidents WHERE incident_id = %s AND {}").format(LIST_COLUMNS, mine),
        (incident_id, *args),
    )
    incident = await cur.fetchone()
    if incident is None:
        return None
    members = await (await conn.execute(MEMBERS_SQL, (incident_id,))).fetchall()
    timeline = await (await conn.execute(TIMELINE_SQL, (incident_id,))).fetchall()
    feedback = await (await conn.execute(FEEDBACK_SQL, (incident_id,))).fetchall()
    return {
        "incident": incident,
        "members": [m for m in members if m["left_at"] is None],
        "former_members": [m for m in members if m["left_at"] is not None],
        "root_cause": incident["root_cause"],
        "rca": incident["rca"],
        "rca_feedback": feedback,
        "impact": incident["impact"],
        "timeline": timeline,
    }


async def incident_of_alert(conn: Any, alert_id: str, tenant: str | None = None) -> dict[str, Any] | None:
    """The alert's current incident id and episode, or None."""
    mine, args = visible(tenant, "i")
    query = sql.SQL(
        "SELECT ai.incident_id, ai.episode FROM alert_incidents ai "
        "JOIN incidents i ON i.incident_id = ai.incident_id WHERE ai.alert_id = %s AND {}"
    ).format(mine)
    return await (await conn.execute(query, (alert_id, *args))).fetchone()
