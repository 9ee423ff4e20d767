"""The heartbeats read model from `ems.heartbeats` (infra/migrations/013_heartbeats.sql).

Pure mapping, as every projection: per change of a `HeartbeatBatch`, the heartbeat's row (replaced by
a higher version).
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg.types.json import Jsonb

from ems.projections.base import Row, Upsert
from ems.schemas.heartbeat import HeartbeatBatch, HeartbeatChanged

COLUMNS = (
    "heartbeat_id",
    "origin",
    "tenant",
    "tags",
    "attributes",
    "timeout",
    "created_at",
    "received_at",
    "latency_ms",
    "due_at",
    "status",
    "expired_at",
    "beats",
    "version",
)


class HeartbeatsProjection:
    """HeartbeatBatch -> heartbeats."""

    name = "heartbeats"
    topic = "heartbeats"
    record_type = HeartbeatBatch
    heartbeat = Upsert("heartbeats", COLUMNS, conflict=("heartbeat_id",), version="version")
    upserts = (heartbeat,)

    def rows(self, record: HeartbeatBatch) -> Iterable[tuple[Upsert, Row]]:
        for change in record.changes:
            yield from self.change_rows(change)

    def units(self, record: HeartbeatBatch) -> Iterable[tuple[HeartbeatChanged, Iterable]]:
        """Each change of a batch with its rows (a refused value costs that change only)."""
        for change in record.changes:
            yield change, self.change_rows(change)

    def change_rows(self, change: HeartbeatChanged) -> Iterable[tuple[Upsert, Row]]:
        h = change.heartbeat
        yield (
            self.heartbeat,
            (
                h.heartbeat_id,
                h.origin,
                h.tenant,
                Jsonb(list(h.tags)),
                Jsonb(h.attributes),
                h.timeout,
                h.created_at,
                h.received_at,
                h.latency_ms,
                h.due_at,
                h.status,
                h.expired_at,
                h.beats,
                h.version,
            ),
        )
