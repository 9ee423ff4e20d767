"""The incidents projection's pure mapping: incident, membership, timeline and alert-incident rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ems.agents.severity import SeverityPolicy
from ems.ml.offline import alert_changes, correlate
from ems.projections.base import units_of
from ems.projections.incidents import IncidentsProjection
from ems.schemas.asset import Asset, Edge
from ems.schemas.incident import IncidentBatch
from ems.schemas.observation import EventBody, Observation
from ems.settings import Settings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = SeverityPolicy.of(Settings().severity_order, Settings().clearing_severities)


def _asset(name: str, *links: str) -> Asset:
    edges = [Edge(type="connected_to", target=f"ast_{x}") for x in links]
    return Asset(asset_id=f"ast_{name}", name=name, type="switch", edges=edges, created_at=T0, updated_at=T0)


def _obs(at: int, name: str) -> Observation:
    return Observation(
        event_id=f"{name}-{at}",
        source="nms",
        asset_id=f"ast_{name}",
        occurred_at=T0 + timedelta(seconds=at),
        body=EventBody(event="Service Down", severity="major"),
    )


def _merge_batch() -> IncidentBatch:
    """a - b - c - d - e: a and e alone first (4 hops apart), then c relates both (2 hops each)."""
    assets = [_asset("a", "b"), _asset("b", "c"), _asset("c", "d"), _asset("d", "e"), _asset("e")]
    _, records = correlate(alert_changes([_obs(0, "a"), _obs(10, "e"), _obs(20, "c")]), assets)
    return IncidentBatch(changes=records, positions={"alerts:0": 3}, seq=records[-1].incident.seq)


def test_every_row_fills_its_table_and_the_batch_is_framed_by_the_lock_and_the_copy() -> None:
    projection = IncidentsProjection(POLICY)
    rows = list(projection.rows(_merge_batch()))
    for upsert, row in rows:
        assert len(row) == len(upsert.columns), upsert.table
    assert rows[0][0] is projection.lock and rows[-1][0] is projection.copy
    # However many changes, each statement runs once per batch.
    assert projection.lock.collapse([r for u, r in rows if u is projection.lock]) == [()]
    assert "pg_advisory_xact_lock" in projection.lock.statement().as_string(None)
    assert "UPDATE alerts a SET incident_id" in projection.copy.statement().as_string(None)


def test_a_merge_leaves_the_moved_member_in_history_and_points_its_alert_at_the_survivor() -> None:
    projection = IncidentsProjection(POLICY)
    rows = list(projection.rows(_merge_batch()))
    cols = dict(enumerate(projection.member.columns))
    members = [{cols[i]: v for i, v in enumerate(r)} for u, r in rows if u is projection.member]
    left = [m for m in members if m["left_at"] is not None]
    assert len(left) == 1
    survivor = next(m["incident_id"] for m in members if m["left_at"] is None and m["arrival"] == "merge")
    links = projection.link.collapse([r for u, r in rows if u is projection.link])
    assert {r[0]: r[1] for r in links} == {m["alert_id"]: survivor for m in members}
    incidents = projection.incident.collapse([r for u, r in rows if u is projection.incident])
    at = projection.incident.columns.index("status")
    status = {r[0]: r[at] for r in incidents}
    assert sorted(status.values()) == ["merged", "open"] and status[survivor] == "open"
    kinds = [r[3] for u, r in rows if u is projection.history]
    assert "merged" in kinds and "absorbed" in kinds


def test_units_are_the_changes_of_the_batch() -> None:
    batch = _merge_batch()
    units = units_of(IncidentsProjection(POLICY), batch)
    assert [u for u, _ in units] == batch.changes
