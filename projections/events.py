"""The `events` read model: append-only history of normalized events."""

from __future__ import annotations

from collections.abc import Iterable

from psycopg.types.json import Jsonb

from ems.projections.base import Row, Upsert, columns_and_types
from ems.schemas.alert_command import EVENTS_TOPIC_RECORDS, AlertCommand, Tick
from ems.schemas.event import Event, EventBatch

EVENT_TABLE = (  # (column, type): the types make the binary COPY (`Upsert.copy_types`)
    ("event_id", "text"),
    ("fingerprint", "text"),
    ("occurred_at", "timestamptz"),
    ("source", "text"),
    ("severity", "text"),
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
    ("raw_partition", "int4"),
    ("raw_offset", "int8"),
    ("tenant", "text"),
    ("submitted_by", "text"),
)
EVENT_COLUMNS, EVENT_TYPES = columns_and_types(EVENT_TABLE)


class EventsProjection:
    """EventBatch -> one `events` row per event; a redelivered event (same id) is ignored.

    The topic also carries operator commands and clock ticks for the lifecycle stage: no rows.
    """

    name = "events"
    topic = "events"
    record_type = EVENTS_TOPIC_RECORDS
    trusted = True  # its EventBatch records, written by normalize (commands and ticks are validated)
    # Append-only, each event new but after a crash: copied straight in (see `Upsert.direct`).
    insert = Upsert("events", EVENT_COLUMNS, conflict=("event_id",), direct=True, copy_types=EVENT_TYPES)
    upserts = (insert,)

    def rows(self, record: EventBatch | AlertCommand | Tick) -> Iterable[tuple[Upsert, Row]]:
        for _, rows in self.units(record):
            yield from rows

    def units(self, record: EventBatch | AlertCommand | Tick) -> Iterable[tuple[Event, list]]:
        """Each event of a batch with its row (a refused value costs that event only)."""
        if not isinstance(record, EventBatch):
            return
        for event in record.events:
            yield event, [(self.insert, self.row(event))]

    @staticmethod
    def row(r: Event) -> Row:
        """The `events` row of one event."""
        return (
            r.event_id,
            r.fingerprint,
            r.occurred_at,
            r.source,
            r.severity,
            r.event,
            r.resource,
            r.title,
            r.text,
            r.asset_id,
            r.environment,
            r.service,
            r.tags,
            Jsonb(r.attributes),
            r.value,
            r.raw_partition,
            r.raw_offset,
            r.tenant,
            r.submitted_by,
        )
