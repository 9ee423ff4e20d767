"""The `events` read model: append-only history of normalized events."""

from __future__ import annotations

from collections.abc import Iterable

from psycopg.types.json import Jsonb

from ems.projections.base import Row, Upsert
from ems.schemas.event import Event

EVENT_COLUMNS = (
    "event_id", "fingerprint", "occurred_at", "source", "severity", "event", "resource", "title", "text",
    "asset_id", "environment", "service", "tags", "attributes", "value", "raw_partition", "raw_offset",
)


class EventsProjection:
    """Event -> one `events` row; a redelivered event (same id) is ignored by the table's key."""

    name = "events"
    topic = "events"
    record_type = Event
    insert = Upsert("events", EVENT_COLUMNS, conflict=("event_id",))
    upserts = (insert,)

    def rows(self, record: Event) -> Iterable[tuple[Upsert, Row]]:
        r = record
        yield self.insert, (
            r.event_id, r.fingerprint, r.occurred_at, r.source, r.severity, r.event, r.resource, r.title,
            r.text, r.asset_id, r.environment, r.service, r.tags, Jsonb(r.attributes), r.value,
            r.raw_partition, r.raw_offset,
        )
