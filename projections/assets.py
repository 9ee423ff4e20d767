"""The `assets`, `asset_dependencies` and `asset_changes` read models from `ems.assets`.

Each `AssetChanged` carries the whole snapshot: the asset row and every current edge are upserted
at its version (a row is replaced only by a higher version), removed edges are kept with
`active = false` (upserts only, so a replay writes exactly the same rows), and the change itself
is appended to `asset_changes`.
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg.types.json import Jsonb

from ems.projections.base import Row, Upsert
from ems.schemas.asset import AssetChanged

ASSET_COLUMNS = (
    "asset_id",
    "natural_key",
    "name",
    "type",
    "vendor",
    "model",
    "addresses",
    "environment",
    "location",
    "contact",
    "owner_team",
    "tags",
    "attributes",
    "criticality",
    "business_service",
    "revenue_per_hour",
    "users_served",
    "lifecycle",
    "first_seen",
    "last_seen",
    "created_at",
    "updated_at",
    "pinned",
    "version",
    "tenant",
)
EDGE_COLUMNS = ("source_id", "type", "target_id", "origin", "attributes", "active", "version")
CHANGE_COLUMNS = ("asset_id", "version", "kind", "cause", "actor", "reason", "at")


class AssetsProjection:
    """AssetChanged -> the asset row, its edges (active or removed) and the change."""

    name = "assets"
    topic = "assets"
    record_type = AssetChanged
    asset = Upsert("assets", ASSET_COLUMNS, conflict=("asset_id",), version="version")
    edge = Upsert(
        "asset_dependencies", EDGE_COLUMNS, conflict=("source_id", "type", "target_id"), version="version"
    )
    change = Upsert("asset_changes", CHANGE_COLUMNS, conflict=("asset_id", "version"))
    upserts = (asset, edge, change)

    def rows(self, record: AssetChanged) -> Iterable[tuple[Upsert, Row]]:
        a = record.asset
        yield (
            self.asset,
            (
                a.asset_id,
                a.natural_key,
                a.name,
                a.type,
                a.vendor,
                a.model,
                a.addresses,
                a.environment,
                a.location,
                a.contact,
                a.owner_team,
                a.tags,
                Jsonb(a.attributes),
                a.criticality,
                a.business_service,
                a.revenue_per_hour,
                a.users_served,
                a.lifecycle,
                a.first_seen,
                a.last_seen,
                a.created_at,
                a.updated_at,
                a.pinned,
                a.version,
                a.tenant,
            ),
        )
        for e in a.edges:
            yield self.edge, (a.asset_id, e.type, e.target, e.origin, Jsonb(e.attributes), True, a.version)
        for r in record.removed_edges:
            yield self.edge, (a.asset_id, r.type, r.target, "", Jsonb({}), False, a.version)
        yield (
            self.change,
            (
                a.asset_id,
                a.version,
                record.kind,
                record.cause,
                record.actor,
                record.reason,
                record.occurred_at,
            ),
        )
