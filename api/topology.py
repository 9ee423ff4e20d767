"""Topology queries over `asset_dependencies`: bounded breadth-first walks in one recursive CTE.

Direction: an edge `A -depends_on-> B` means A needs B. **Upstream** of A follows edges forward
(what A needs: B, then what B needs...); **downstream** of B follows them backwards (what needs B:
the assets impacted when B fails). A network link (`connected_to`) has no direction: whichever side
recorded it, both walks cross it both ways, so the downstream of a core router whose links were
recorded from its own side is everything behind it. Cycles are accepted: the walk carries (asset,
depth) pairs with `UNION`, so a cycle can only repeat until the depth bound, and each asset is
reported once at its shortest distance. Edges to assets not known yet (discovered later) are
reported with `known: false`. For a caller bound to a tenant the walk neither reports nor crosses a
known asset of another tenant (or of none): `ems.api.tenancy.asset_visible`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import sql

from ems.api.errors import ApiError
from ems.api.tenancy import asset_visible, visible
from ems.schemas.asset import EDGE_TYPES

# The recursive term may name `walk` only once, so the two ways out of a node (its edges in the walk's
# direction, and its links recorded from the other side) are one LATERAL union. Parameters: roots,
# types, types, depth, then those of {visible}.
_WALK = """
WITH RECURSIVE walk(asset_id, depth) AS (
    SELECT root, 0 FROM unnest(%s::text[]) AS root
  UNION
    SELECT n.asset_id, w.depth + 1
    FROM walk w CROSS JOIN LATERAL (
        SELECT d.{next} FROM asset_dependencies d
        WHERE d.{here} = w.asset_id AND d.active AND d.type = ANY(%s)
      UNION ALL
        SELECT d.{here} FROM asset_dependencies d
        WHERE d.{next} = w.asset_id AND d.active AND d.type = 'connected_to'
          AND 'connected_to' = ANY(%s)
    ) AS n(asset_id)
    WHERE w.depth < %s AND {{visible}}
)
SELECT w.asset_id, min(w.depth) AS depth FROM walk w GROUP BY w.asset_id
"""
WALK_SQL = {  # {visible}: the tenant's condition on the next asset (n.asset_id)
    "upstream": _WALK.format(here="source_id", next="target_id"),
    "downstream": _WALK.format(here="target_id", next="source_id"),
}
NODES_SQL = """
SELECT n.id AS asset_id, n.depth, a.name, a.type, a.lifecycle, a.criticality, a.business_service,
       a.environment, (a.asset_id IS NOT NULL) AS known
FROM unnest(%s::text[], %s::int[]) AS n(id, depth) LEFT JOIN assets a ON a.asset_id = n.id
ORDER BY n.depth, n.id
"""
EDGES_SQL = """
SELECT source_id AS source, type, target_id AS target, origin, attributes FROM asset_dependencies
WHERE active AND type = ANY(%s) AND source_id = ANY(%s) AND target_id = ANY(%s)
ORDER BY source_id, type, target_id
"""

# Members of a business service: assets naming it, assets `member_of` its service asset (natural key
# `service:<name>`), and that service asset itself; those the caller may see.
SERVICE_MEMBERS_SQL = """
SELECT asset_id FROM assets WHERE (business_service = %s OR asset_id = %s) AND {owned}
UNION
SELECT source_id FROM asset_dependencies WHERE active AND type = 'member_of' AND target_id = %s AND {seen}
ORDER BY asset_id
"""


def parse_depth(params: Mapping[str, str], default: int, maximum: int) -> int:
    """`?depth=N`, 1..maximum (400 otherwise)."""
    raw = params.get("depth")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ApiError(400, f"depth must be an integer between 1 and {maximum}, got {raw!r}")
    return int(raw)


def parse_types(params: Any, default: Sequence[str] = EDGE_TYPES) -> list[str]:
    """`?type=depends_on&type=runs_on` (or comma separated); default: `default`."""
    values = [t.strip() for v in params.getlist("type") for t in v.split(",") if t.strip()]
    unknown = sorted(set(values) - set(EDGE_TYPES))
    if unknown:
        raise ApiError(400, f"unknown edge type(s) {', '.join(unknown)}; choose from {', '.join(EDGE_TYPES)}")
    return values or list(default)


async def service_members(conn: Any, name: str, service_id: str, tenant: str | None) -> list[str]:
    """The ids of the members of business service `name` (service asset `service_id`) `tenant` sees."""
    owned, owned_args = visible(tenant)
    seen, seen_args = asset_visible(tenant, sql.SQL("source_id"))
    query = sql.SQL(SERVICE_MEMBERS_SQL).format(owned=owned, seen=seen)
    rows = await (
        await conn.execute(query, (name, service_id, *owned_args, service_id, *seen_args))
    ).fetchall()
    return [r["asset_id"] for r in rows]


async def walk(
    conn: Any, roots: list[str], direction: str, depth: int, types: list[str], tenant: str | None
) -> dict[str, Any]:
    """Nodes (with their distance from the roots) and the edges among them, as `tenant` sees them
    (the roots are the caller's to check)."""
    seen, seen_args = asset_visible(tenant, sql.Identifier("n", "asset_id"))
    query = sql.SQL(WALK_SQL[direction]).format(visible=seen)
    cur = await conn.execute(query, (roots, types, types, depth, *seen_args))
    found = await cur.fetchall()
    ids = [r["asset_id"] for r in found]
    nodes = await (await conn.execute(NODES_SQL, (ids, [r["depth"] for r in found]))).fetchall()
    edges = await (await conn.execute(EDGES_SQL, (types, ids, ids))).fetchall()
    return {"nodes": nodes, "edges": edges}
