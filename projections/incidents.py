"""The incidents read models from `ems.incidents`: `incidents`, `incident_members`, `incident_history`
and each alert's current incident (`alert_incidents`, copied onto `alerts.incident_id`).

Pure mapping, as every projection: an `IncidentBatch` gives, per incident change, the incident row
(replaced by a higher version), one row per membership it changed (by the incident version), a
timeline row, and for every current membership the alert's incident (replaced by a later decision:
`seq`). Two statements frame the batch (see infra/migrations/007_incidents.sql): first the lock that
keeps alert inserts out while the batch runs, last the copy of the pending alert incidents onto the
alerts rows that exist.
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg.types.json import Jsonb

from ems.agents.severity import SeverityPolicy
from ems.projections.base import Row, Statement, Upsert
from ems.schemas.incident import IncidentBatch, IncidentChanged

INCIDENT_COLUMNS = (
    "incident_id",
    "tenant",
    "status",
    "title",
    "severity",
    "severity_rank",
    "opened_at",
    "updated_at",
    "resolved_at",
    "merged_into",
    "members_total",
    "members_open",
    "alerts",
    "assets",
    "root_asset_id",
    "root_cause",
    "rca_asset_id",
    "rca",
    "impact_score",
    "revenue_per_hour",
    "impact",
    "version",
    "seq",
)
MEMBER_COLUMNS = (
    "incident_id",
    "alert_id",
    "episode",
    "fingerprint",
    "tenant",
    "asset_id",
    "source",
    "event",
    "resource",
    "title",
    "severity",
    "status",
    "opened_at",
    "since",
    "ended_at",
    "joined_at",
    "left_at",
    "reason",
    "arrival",
    "linked_to",
    "detail",
    "event_ids",
    "event_count",
    "alert_version",
    "impact",
    "revenue_per_hour",
    "version",
)
HISTORY_COLUMNS = (
    "incident_id",
    "version",
    "seq",
    "kind",
    "at",
    "reason",
    "status",
    "alerts",
    "impact_score",
    "changed",
)
LINK_COLUMNS = ("alert_id", "incident_id", "episode", "seq", "pending")

LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.alert_incidents'))"
COPY_SQL = """
WITH copied AS (
    UPDATE alerts a SET incident_id = ai.incident_id FROM alert_incidents ai
    WHERE ai.pending AND a.alert_id = ai.alert_id
    RETURNING a.alert_id
)
UPDATE alert_incidents SET pending = false WHERE pending AND alert_id IN (SELECT alert_id FROM copied)
"""


class IncidentsProjection:
    """IncidentBatch -> incidents, memberships, timeline, alert incidents."""

    name = "incidents"
    topic = "incidents"
    record_type = IncidentBatch
    lock = Statement("alert_incidents", (), (), text=LOCK_SQL)
    incident = Upsert("incidents", INCIDENT_COLUMNS, conflict=("incident_id",), version="version")
    member = Upsert(
        "incident_members", MEMBER_COLUMNS, conflict=("incident_id", "alert_id", "episode"), version="version"
    )
    history = Upsert("incident_history", HISTORY_COLUMNS, conflict=("incident_id", "version"))
    link = Upsert("alert_incidents", LINK_COLUMNS, conflict=("alert_id",), version="seq")
    copy = Statement("alerts", (), (), text=COPY_SQL)
    upserts = (lock, incident, member, history, link, copy)

    def __init__(self, policy: SeverityPolicy) -> None:
        self._rank = {name: i for i, name in enumerate(policy.order)}

    def rows(self, record: IncidentBatch) -> Iterable[tuple[Upsert, Row]]:
        for change in record.changes:
            yield from self.change_rows(change)

    def units(self, record: IncidentBatch) -> Iterable[tuple[IncidentChanged, Iterable]]:
        """Each change of a batch with its rows (a refused value costs that change only)."""
        for change in record.changes:
            yield change, self.change_rows(change)

    def change_rows(self, change: IncidentChanged) -> Iterable[tuple[Upsert, Row]]:
        """The rows of one incident change."""
        i = change.incident
        root = i.root_cause
        yield self.lock, ()
        yield (
            self.incident,
            (
                i.incident_id,
                i.tenant,
                i.status,
                i.title,
                i.severity,
                self._rank.get(i.severity, len(self._rank)),
                i.opened_at,
                i.updated_at,
                i.resolved_at,
                i.merged_into,
                i.members_total,
                i.members_open,
                i.alerts,
                i.assets,
                root.asset_id if root else None,
                Jsonb(root.model_dump(mode="json")) if root else None,
                i.rca.asset_id if i.rca else None,
                Jsonb(i.rca.model_dump(mode="json")) if i.rca else None,
                i.impact.score,
                i.impact.revenue_per_hour,
                Jsonb(i.impact.model_dump(mode="json")),
                i.version,
                i.seq,
            ),
        )
        changed = []
        for m in change.members:
            yield (
                self.member,
                (
                    i.incident_id,
                    m.alert_id,
                    m.episode,
                    m.fingerprint,
                    m.tenant,
                    m.asset_id,
                    m.source,
                    m.event,
                    m.resource,
                    m.title,
                    m.severity,
                    m.status,
                    m.opened_at,
                    m.since,
                    m.ended_at,
                    m.joined_at,
                    m.left_at,
                    m.reason,
                    m.arrival,
                    m.linked_to,
                    m.detail,
                    m.event_ids,
                    m.event_count,
                    m.alert_version,
                    m.impact,
                    m.revenue_per_hour,
                    m.version,
                ),
            )
            if m.left_at is None:
                yield self.link, (m.alert_id, i.incident_id, m.episode, i.seq, True)
            changed.append({"alert_id": m.alert_id, "episode": m.episode, "left": m.left_at is not None})
        yield (
            self.history,
            (
                i.incident_id,
                i.version,
                i.seq,
                change.kind,
                change.occurred_at,
                change.reason,
                i.status,
                i.alerts,
                i.impact.score,
                Jsonb(changed[:200]),
            ),
        )
        yield self.copy, ()
