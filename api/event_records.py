"""The records `POST /api/v1/events` appends, encoded straight from the validated items.

An `EventIn` holds each field of the Observation it becomes within that field's own bounds
(`ems.api.ingest`), so building its `EventBody` and `Observation` validated the same values twice
more, and dumping them walked them again: about 25 µs of the ~40 µs an event of an array of 500
cost the API. `event_value` writes the bytes `encode` gives for that Observation (the same fields
in the same order, times in UTC with `Z`; `tests/unit/test_event_records.py` compares them on
generated events), without building it. A full Observation (an item with a `body`) is copied
with its tenant, caller and ids, and encoded as before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

import orjson

from ems.api.idempotency import IdempotentWrite
from ems.api.ingest import EventIn
from ems.schemas.envelope import as_utc, new_id, utcnow
from ems.schemas.observation import Observation
from ems.streams.codecs import encode


class Outgoing(NamedTuple):
    """One record as the appender sends it: partition key, value, and the id the answer gives."""

    key: bytes
    value: bytes
    event_id: str


def outgoing(
    item: EventIn | Observation,
    posted: dict[str, Any],
    *,
    tenant: str | None,
    submitted_by: str,
    keyed: IdempotentWrite | None,
    index: int,
) -> Outgoing:
    """The record of one validated `item` (`posted` is the object the client sent for it).

    A keyed write (`Idempotency-Key`) derives each record's id from the key and takes the first
    request's time, unless the item names its own (`ems.api.idempotency`)."""
    named_id = bool({"event_id", "id"} & posted.keys())
    named_time = bool({"occurred_at", "occurredAt"} & posted.keys())
    derived_id = keyed.record_id(index) if keyed is not None and not named_id else None
    first_time = keyed.first_seen if keyed is not None and not named_time else None
    if isinstance(item, Observation):
        update: dict[str, Any] = {"tenant": tenant, "submitted_by": submitted_by}
        if derived_id is not None:
            update["event_id"] = derived_id
        if first_time is not None:
            update["occurred_at"] = first_time
        obs = item.model_copy(update=update)
        return Outgoing(obs.key.encode(), encode(obs), obs.event_id)
    event_id = derived_id or item.event_id or new_id()
    at = first_time or item.occurred_at or utcnow()
    value = event_value(item, event_id=event_id, occurred_at=at, tenant=tenant, submitted_by=submitted_by)
    return Outgoing((item.asset_id or item.source).encode(), value, event_id)


def event_value(
    event: EventIn, *, event_id: str, occurred_at: datetime, tenant: str | None, submitted_by: str | None
) -> bytes:
    """`encode` of the Observation `event.to_observation()` with these envelope fields would give."""
    body = {
        "kind": "event",
        "event": event.event or event.title,
        "severity": event.severity,
        "resource": event.resource,
        "title": event.title,
        "text": event.text,
        "environment": event.environment,
        "service": event.service,
        "tags": event.tags,
        "attributes": event.attributes,
        "value": event.value,
        "timeout": None,
        "correlate": [],
    }
    record = {
        "type": Observation.TYPE,
        "schema_version": Observation.VERSION,
        "event_id": event_id,
        "occurred_at": as_utc(occurred_at),
        "source": event.source,
        "asset_id": event.asset_id,
        "tenant": tenant,
        "submitted_by": submitted_by,
        "body": body,
    }
    return orjson.dumps(record, option=orjson.OPT_UTC_Z)
