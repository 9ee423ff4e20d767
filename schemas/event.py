"""Normalized events on `ems.events`, keyed by their alert fingerprint."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from ems.schemas.envelope import Record


class Event(Record):
    """A normalized event: every field the pipeline needs, defaults filled in, fingerprint computed.

    `raw_partition`/`raw_offset` give the position of the observation it came from on the raw topic;
    the dedupe stage uses them to make redelivery idempotent.
    """

    TYPE: ClassVar[str] = "event"
    VERSION: ClassVar[int] = 1

    observation_id: str
    source: str
    severity: str
    event: str
    resource: str
    title: str = ""
    text: str = ""
    asset_id: str | None = None
    environment: str = "production"
    service: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    value: str | None = None
    timeout: int | None = Field(None, ge=0, description="Alert timeout in seconds; None = the default")
    fingerprint: str
    raw_partition: int = Field(ge=0)
    raw_offset: int = Field(ge=0)

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

    partition: int = Field(ge=0, description="The ems.events partition every event here hashes to")
    events: list[Event] = Field(min_length=1)

    @property
    def key(self) -> str:
        return f"partition-{self.partition}"
