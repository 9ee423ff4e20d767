"""The notification read models from `ems.notifications`: `notification_decisions` and
`notification_attempts` (infra/migrations/014_notifications.sql).

Pure mapping, as every projection: a decision gives its row and, per delivery, the `queued` attempt
(number 0, at the decision's event time); an attempt gives its row. First write wins everywhere: a
record re-appended after a crash changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg.types.json import Jsonb

from ems.projections.base import Row, Upsert
from ems.schemas.envelope import Record
from ems.schemas.notification import NotificationBatch, NotificationDecided

DECISION_COLUMNS = (
    "alert_id", "version", "kind", "at", "notify", "suppressed_by", "silenced_by", "inhibited_by",
    "flapping", "reasons", "receivers",
)  # fmt: skip
ATTEMPT_COLUMNS = ("key", "attempt", "alert_id", "receiver", "outcome", "reason", "at")


class NotificationsProjection:
    """NotificationBatch -> notification_decisions, notification_attempts."""

    name = "notifications"
    topic = "notifications"
    record_type = NotificationBatch
    decision = Upsert("notification_decisions", DECISION_COLUMNS, conflict=("alert_id", "version"))
    attempt = Upsert("notification_attempts", ATTEMPT_COLUMNS, conflict=("key", "attempt"))
    upserts = (decision, attempt)

    def rows(self, record: NotificationBatch) -> Iterable[tuple[Upsert, Row]]:
        for _, rows in self.units(record):
            yield from rows

    def units(self, record: NotificationBatch) -> Iterable[tuple[Record, Iterable[tuple[Upsert, Row]]]]:
        """Each decision and attempt with its rows (a refused value costs that item only)."""
        for d in record.decisions:
            yield d, list(self.decision_rows(d))
        for a in record.attempts:
            row = (a.notification_key, a.attempt, a.alert_id, a.receiver, a.outcome, a.reason, a.occurred_at)
            yield a, [(self.attempt, row)]

    def decision_rows(self, d: NotificationDecided) -> Iterable[tuple[Upsert, Row]]:
        yield (
            self.decision,
            (
                d.alert_id,
                d.version,
                d.kind,
                d.occurred_at,
                d.notify,
                Jsonb(d.suppressed_by),
                Jsonb(d.silenced_by),
                Jsonb(d.inhibited_by),
                d.flapping,
                Jsonb(d.reasons),
                Jsonb([x.receiver for x in d.deliveries]),
            ),
        )
        for x in d.deliveries:
            yield self.attempt, (x.key, 0, d.alert_id, x.receiver, "queued", "", d.occurred_at)
