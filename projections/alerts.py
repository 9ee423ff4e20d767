"""The `alerts` read model (current state per fingerprint) and `alert_history` (transitions)."""

from __future__ import annotations

from collections.abc import Iterable

from psycopg.types.json import Jsonb

from ems.agents.severity import SeverityPolicy
from ems.projections.base import Row, Upsert, columns_and_types
from ems.schemas.alert import AlertChanged, AlertChangedBatch

ALERT_TABLE = (  # (column, type): the types make the binary COPY (`Upsert.copy_types`)
    ("alert_id", "text"),
    ("fingerprint", "text"),
    ("status", "text"),
    ("severity", "text"),
    ("severity_rank", "int4"),
    ("previous_severity", "text"),
    ("trend", "text"),
    ("event_count", "int4"),
    ("duplicate_count", "int4"),
    ("first_seen", "timestamptz"),
    ("last_seen", "timestamptz"),
    ("last_event_id", "text"),
    ("source", "text"),
    ("event", "text"),
    ("resource", "text"),
    ("title", "text"),
    ("text", "text"),
    ("asset_id", "text"),
    ("environment", "text"),
    ("service", "text[]"),
    ("tags", "text[]"),
    ("attributes", "jsonb"),
    ("value", "text"),
    ("version", "int4"),
    ("timeout", "int4"),
    ("assignee", "text"),
    ("assigned_team", "text"),
    ("acked_by", "text"),
    ("acked_at", "timestamptz"),
    ("ack_until", "timestamptz"),
    ("shelved_by", "text"),
    ("shelved_until", "timestamptz"),
    ("status_changed_at", "timestamptz"),
    ("repeats_at_severity", "int4"),
    ("tenant", "text"),
)
ALERT_COLUMNS, ALERT_TYPES = columns_and_types(ALERT_TABLE)
HISTORY_TABLE = (  # (column, type): the types make the binary COPY (`Upsert.copy_types`)
    ("alert_id", "text"),
    ("event_id", "text"),
    ("kind", "text"),
    ("at", "timestamptz"),
    ("severity", "text"),
    ("previous_severity", "text"),
    ("status", "text"),
    ("previous_status", "text"),
    ("actor", "text"),
    ("reason", "text"),
)
HISTORY_COLUMNS, HISTORY_TYPES = columns_and_types(HISTORY_TABLE)


class AlertsProjection:
    """AlertChangedBatch -> per change, the alert's row (kept only if its version is newer) and its
    transitions."""

    name = "alerts"
    topic = "alerts"
    record_type = AlertChangedBatch
    trusted = True  # written only by the lifecycle stage (see `decoder_of`)
    alert = Upsert(
        "alerts", ALERT_COLUMNS, conflict=("fingerprint",), version="version", copy_types=ALERT_TYPES
    )
    history = Upsert(
        "alert_history", HISTORY_COLUMNS, conflict=("alert_id", "event_id", "kind"), copy_types=HISTORY_TYPES
    )
    upserts = (alert, history)

    def __init__(self, policy: SeverityPolicy) -> None:
        self._rank = {name: i for i, name in enumerate(policy.order)}

    def rows(self, record: AlertChangedBatch) -> Iterable[tuple[Upsert, Row]]:
        for change in record.changes:
            yield from self.change_rows(change)

    def units(self, record: AlertChangedBatch) -> Iterable[tuple[AlertChanged, Iterable]]:
        """Each change of a batch with its rows (a refused value costs that change only)."""
        for change in record.changes:
            yield change, self.change_rows(change)

    def change_rows(self, record: AlertChanged) -> Iterable[tuple[Upsert, Row]]:
        """The rows of one alert change."""
        a = record.alert
        yield (
            self.alert,
            (
                a.alert_id,
                a.fingerprint,
                a.status,
                a.severity,
                self._rank.get(a.severity, len(self._rank)),
                a.previous_severity,
                a.trend,
                a.event_count,
                a.duplicate_count,
                a.first_seen,
                a.last_seen,
                a.last_event_id,
                a.source,
                a.event,
                a.resource,
                a.title,
                a.text,
                a.asset_id,
                a.environment,
                a.service,
                a.tags,
                Jsonb(a.attributes),
                a.value,
                a.version,
                a.timeout,
                a.assignee,
                a.assigned_team,
                a.acked_by,
                a.acked_at,
                a.ack_until,
                a.shelved_by,
                a.shelved_until,
                a.status_changed_at,
                a.repeats_at_severity,
                a.tenant,
            ),
        )
        for t in record.transitions:
            yield (
                self.history,
                (
                    a.alert_id,
                    t.event_id,
                    t.kind,
                    t.at,
                    t.severity,
                    t.previous_severity,
                    t.status,
                    t.previous_status,
                    t.actor,
                    t.reason,
                ),
            )
