"""Normalized events on `ems.events`, keyed by their alert fingerprint."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from ems.schemas.envelope import Record
from ems.schemas.limits import Attributes, Count, EventId, Name, Offset, Text, Timeout
from ems.schemas.observation import Services, Severity, Tags, Tenant


class Event(Record):
    """A normalized event: every field the pipeline needs, defaults filled in, fingerprint computed.

    `raw_partition`/`raw_offset` give the position of the observation it came from on the raw topic;
    the dedupe stage uses them to make redelivery idempotent. `tenant` was added after v1 records were
    written; it defaults to none, so they still parse (an `Event` also travels inside `EventBatch`
    records, whose nested version a bump would break).
    """

    TYPE: ClassVar[str] = "event"
    VERSION: ClassVar[int] = 1

    # Bounds: those of the observation fields each one is made of (agents/normalize.py).
    observation_id: EventId
    source: Name
    severity: Severity
    event: Name
    resource: Text(256)
    title: Text(1024) = ""
    text: Text(8192) = ""
    asset_id: Text(128) | None = None
    environment: Text(64, 1) = "production"
    service: Services = Field(default_factory=list)
    tags: Tags = Field(default_factory=list)
    attributes: Attributes = Field(default_factory=dict)
    value: Text(256) | None = None
    timeout: Timeout | None = Field(None, description="Alert timeout in seconds; None = the default")
    fingerprint: Text(128, 1)
    tenant: Tenant | None = Field(None, description="The observation's tenant; part of the fingerprint")
    submitted_by: Text(256) | None = Field(
        None, description="The API principal that appended the observation"
    )
    raw_partition: Count
    raw_offset: Offset

    @property
    def key(self) -> str:
        return self.fingerprint

    @property
    def position(self) -> tuple[str, int]:
        """Where it came from, for redelivery checks: (raw partition, raw offset)."""
        return str(self.raw_partition), self.raw_offset


class EventBatch(Record):
    """Normalized events that share one partition of `ems.events`, published as one Kafka record.

    Normalize groups each of its input batches by the partition of the event fingerprints (the
    same murmur2 partitioner as keyed records and the dedupe table's changelog), so every event of
    a fingerprint still lands on one partition, in order. One record per group amortizes the
    per-record cost of the Faust stage over the whole group.
    """

    TYPE: ClassVar[str] = "event_batch"
    VERSION: ClassVar[int] = 1

    partition: Count = Field(description="The ems.events partition every event here hashes to")
    events: list[Event] = Field(min_length=1)

    @property
    def key(self) -> str:
        return f"partition-{self.partition}"
