"""The notification read models from `ems.notifications`: `notification_decisions` and
`notification_attempts` (infra/migrations/014_notifications.sql), and each alert's muting
(`alert_muting`, copied onto `alerts.muted` / `alerts.muted_by` / `alerts.dropped`:
infra/migrations/017_alert_muting.sql, 025_dropped_alerts.sql).

Pure mapping, as every projection: a decision gives its row and, per delivery, the `queued` attempt
(number 0, at the decision's event time); an attempt gives its row. A group's notification is a
decision row under its group id and flush number, an escalation step one under its escalation id and
step number; neither sets an alert's muting. First write wins everywhere: a
record re-appended after a crash changes nothing, except for an alert's muting, which the decision of
its highest version sets whatever order the decisions come in (a surfaced decision, notify/surfacing.py,
after its version's own). Two statements frame the batch, as for
incidents: first the lock that keeps alert inserts out while it runs, last the copy of the pending
muting onto the alerts rows that exist (an alert inserted later takes it in a trigger).
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg.types.json import Jsonb

from ems.projections.base import Row, Statement, Upsert
from ems.schemas.envelope import Record
from ems.schemas.notification import NotificationBatch, NotificationDecided

DECISION_COLUMNS = (
    "alert_id", "version", "kind", "at", "notify", "suppressed_by", "silenced_by", "inhibited_by",
    "flapping", "reasons", "receivers", "dropped_by", "surfaced",
)  # fmt: skip
ATTEMPT_COLUMNS = ("key", "attempt", "alert_id", "receiver", "outcome", "reason", "at")
MUTING_COLUMNS = ("alert_id", "version", "at", "muted", "muted_by", "pending", "seq", "dropped")

LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.alert_muting'))"
COPY_SQL = """
WITH copied AS (
    UPDATE alerts a SET muted = m.muted, muted_by = m.muted_by, dropped = m.dropped FROM alert_muting m
    WHERE m.pending AND a.alert_id = m.alert_id
    RETURNING a.alert_id
)
UPDATE alert_muting SET pending = false WHERE pending AND alert_id IN (SELECT alert_id FROM copied)
"""


def muted_by(d: NotificationDecided) -> dict:
    """What mutes the decided change: `{windows, silences, inhibitions, symptom_of, flapping}`, and
    `dropped_by` (the windows in drop mode) when it is dropped."""
    out = {
        "windows": list(d.suppressed_by),
        "silences": list(d.silenced_by),
        "inhibitions": [dict(x) for x in d.inhibited_by],
        "symptom_of": dict(d.symptom_of) if d.symptom_of else None,
        "flapping": d.flapping,
    }
    return {**out, "dropped_by": list(d.dropped_by)} if d.dropped_by else out


def is_muted(d: NotificationDecided) -> bool:
    """Held back by a window, a silence, an inhibition, a down device it sits behind or flapping (a
    notified change that no route matches is not muted)."""
    return bool(d.suppressed_by or d.silenced_by or d.inhibited_by or d.symptom_of or d.flapping)


class NotificationsProjection:
    """NotificationBatch -> notification_decisions, notification_attempts, alert muting."""

    name = "notifications"
    topic = "notifications"
    record_type = NotificationBatch
    decision = Upsert(
        "notification_decisions", DECISION_COLUMNS, conflict=("alert_id", "version", "surfaced")
    )
    attempt = Upsert("notification_attempts", ATTEMPT_COLUMNS, conflict=("key", "attempt"))
    lock = Statement("alert_muting", (), (), text=LOCK_SQL)
    muting = Upsert("alert_muting", MUTING_COLUMNS, conflict=("alert_id",), version="seq")
    copy = Statement("alerts", (), (), text=COPY_SQL)
    upserts = (lock, decision, attempt, muting, copy)

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
        if d.group_id is None and d.escalation is None:  # a group's or a step's notification mutes no alert
            yield self.lock, ()
            seq = 2 * d.version + (d.surfaced is not None)  # a surfaced decision follows its version's
            muted, dropped = is_muted(d), bool(d.dropped_by)
            muting = (d.alert_id, d.version, d.occurred_at, muted, Jsonb(muted_by(d)), True, seq, dropped)
            yield self.muting, muting
            yield self.copy, ()
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
                Jsonb(d.dropped_by),
                d.surfaced or "",
            ),
        )
        for x in d.deliveries:
            yield self.attempt, (x.key, 0, d.alert_id, x.receiver, "queued", "", d.occurred_at)
