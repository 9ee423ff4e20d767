"""The silences and maintenance windows read models from `ems.suppressions`: `silences`,
`maintenance_windows` and `suppression_history` (infra/migrations/012_noise.sql).

Pure mapping, as every projection: per change of a `SuppressionBatch`, the silence or window row
(replaced by a higher version) and a history row (first write wins).
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg.types.json import Jsonb

from ems.projections.base import Row, Upsert
from ems.schemas.suppression import SuppressionBatch, SuppressionChanged

SILENCE_COLUMNS = (
    "silence_id",
    "tenant",
    "matchers",
    "starts_at",
    "ends_at",
    "expired_at",
    "comment",
    "created_by",
    "created_at",
    "updated_at",
    "version",
)
WINDOW_COLUMNS = (
    "window_id",
    "tenant",
    "title",
    "mode",
    "scope",
    "schedule",
    "created_by",
    "created_at",
    "updated_at",
    "cancelled_at",
    "version",
)
HISTORY_COLUMNS = ("id", "version", "kind", "at", "actor", "reason", "cause", "snapshot")


class SuppressionsProjection:
    """SuppressionBatch -> silences, maintenance_windows, suppression_history."""

    name = "suppressions"
    topic = "suppressions"
    record_type = SuppressionBatch
    silence = Upsert("silences", SILENCE_COLUMNS, conflict=("silence_id",), version="version")
    window = Upsert("maintenance_windows", WINDOW_COLUMNS, conflict=("window_id",), version="version")
    history = Upsert("suppression_history", HISTORY_COLUMNS, conflict=("id", "version"))
    upserts = (silence, window, history)

    def rows(self, record: SuppressionBatch) -> Iterable[tuple[Upsert, Row]]:
        for change in record.changes:
            yield from self.change_rows(change)

    def units(self, record: SuppressionBatch) -> Iterable[tuple[SuppressionChanged, Iterable]]:
        """Each change of a batch with its rows (a refused value costs that change only)."""
        for change in record.changes:
            yield change, self.change_rows(change)

    def change_rows(self, change: SuppressionChanged) -> Iterable[tuple[Upsert, Row]]:
        if change.silence is not None:
            s = change.silence
            ident, version, snapshot = s.silence_id, s.version, s.model_dump(mode="json")
            matchers = Jsonb([m.model_dump() for m in s.matchers])
            yield (
                self.silence,
                (
                    s.silence_id,
                    s.tenant,
                    matchers,
                    s.starts_at,
                    s.ends_at,
                    s.expired_at,
                    s.comment,
                    s.created_by,
                    s.created_at,
                    s.updated_at,
                    s.version,
                ),
            )
        else:
            w = change.window
            assert w is not None  # a change carries one of the two (SuppressionChanged)
            ident, version, snapshot = w.window_id, w.version, w.model_dump(mode="json")
            yield (
                self.window,
                (
                    w.window_id,
                    w.tenant,
                    w.title,
                    w.mode,
                    Jsonb(w.scope.model_dump(mode="json")),
                    Jsonb(w.schedule.model_dump(mode="json", exclude_defaults=True)),
                    w.created_by,
                    w.created_at,
                    w.updated_at,
                    w.cancelled_at,
                    w.version,
                ),
            )
        row = (ident, version, change.kind, change.occurred_at, change.actor, change.reason, change.cause)
        yield self.history, (*row, Jsonb(snapshot))
