"""The envelope every record carries: identity, schema version, event time, partition key."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ems.schemas.limits import EventId, Text, Time


def new_id() -> str:
    """A new random record id (UUID4 hex)."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """The current UTC time, timezone aware."""
    return datetime.now(UTC)


class Record(BaseModel):
    """Base of every versioned record on a topic.

    `type` names the schema, `schema_version` its version; old versions are never edited, they are
    upcast on read (see `ems.schemas.registry`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    TYPE: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    type: Text(64) = ""
    schema_version: int = 0
    event_id: EventId = Field(default_factory=new_id)
    occurred_at: Time = Field(default_factory=utcnow)

    def model_post_init(self, __context: Any) -> None:
        # Stamp the class's own type and version; a mismatch is a decoding bug, not user input.
        if not self.type:
            object.__setattr__(self, "type", self.TYPE)
        if not self.schema_version:
            object.__setattr__(self, "schema_version", self.VERSION)
        if self.type != self.TYPE or self.schema_version != self.VERSION:
            raise ValueError(
                f"{type(self).__name__} holds {self.TYPE} v{self.VERSION}, "
                f"got {self.type} v{self.schema_version}"
            )

    @field_validator("occurred_at")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @property
    def key(self) -> str:
        """The partition key of this record (overridden per schema)."""
        return self.event_id
