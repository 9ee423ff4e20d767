"""Rejected input, kept with the reason and the original bytes on `ems.deadletter`."""

from __future__ import annotations

import base64
from typing import ClassVar

from pydantic import Field

from ems.schemas.envelope import Record


class DeadLetter(Record):
    """A record a stage could not accept. `payload_b64` holds the original bytes, untouched."""

    TYPE: ClassVar[str] = "dead_letter"
    VERSION: ClassVar[int] = 1

    stage: str = Field(description="Which stage rejected it: normalize, dedupe, projection, api...")
    reason: str
    source_topic: str
    source_partition: int | None = None
    source_offset: int | None = None
    key_b64: str | None = None
    payload_b64: str

    @classmethod
    def of(
        cls,
        *,
        stage: str,
        reason: str,
        topic: str,
        partition: int | None,
        offset: int | None,
        key: bytes | None,
        payload: bytes | None,
    ) -> DeadLetter:
        """Build a dead letter from the raw pieces of a rejected Kafka record.

        Its event_id names the stage and the source position, so a letter re-sent after a
        redelivery (delivery is at-least-once) carries the same id as the first one.
        """
        return cls(
            event_id=f"{stage}:{topic}:{partition}:{offset}",
            stage=stage,
            reason=reason[:4000],
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            key_b64=base64.b64encode(key).decode() if key is not None else None,
            payload_b64=base64.b64encode(payload or b"").decode(),
        )

    @property
    def payload(self) -> bytes:
        """The original bytes of the rejected record."""
        return base64.b64decode(self.payload_b64)

    @property
    def key(self) -> str:
        return f"{self.source_topic}:{self.source_partition}:{self.source_offset}"
