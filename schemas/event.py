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
    fingerprint: str
    raw_partition: int = Field(ge=0)
    raw_offset: int = Field(ge=0)

    @property
    def key(self) -> str:
        return self.fingerprint
