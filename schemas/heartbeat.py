"""Heartbeats as the heartbeat stage keeps them: one snapshot per origin (and tenant), and the batch
it publishes on `ems.heartbeats` (agents/heartbeats.py, docs/noise.md "Heartbeats").
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ems.schemas.envelope import Record
from ems.schemas.limits import Attributes, Count, Name, Offset, Positive, Text, Time
from ems.schemas.observation import Tags, Tenant

Status = Literal["ok", "slow", "expired"]
ChangeKind = Literal["received", "expired"]


def heartbeat_id(origin: str, tenant: str | None) -> str:
    """The id of an origin's heartbeat: `hb_` + a digest of the tenant and the origin."""
    digest = hashlib.sha256(f"{tenant or ''}\x00{origin}".encode()).hexdigest()
    return f"hb_{digest[:24]}"


class HeartbeatSnapshot(BaseModel):
    """An origin's heartbeat after its latest beat or expiry, decided in event time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    heartbeat_id: Text(64, 1)
    origin: Name
    tenant: Tenant | None = None
    tags: Tags = Field(default_factory=list)
    attributes: Attributes = Field(default_factory=dict)
    timeout: Positive = Field(description="seconds within which the next beat is due")
    created_at: Time = Field(description="the last beat's own time (the sender's clock)")
    received_at: Time = Field(description="when the last beat was received (appended to the log)")
    latency_ms: Count = Field(description="received_at - created_at of the last beat")
    due_at: Time = Field(description="the next beat is due by then, else the heartbeat expires")
    status: Status
    expired_at: Time | None = Field(None, description="when it expired (the due time missed); none: alive")
    beats: Positive = Field(description="beats received")
    version: Positive


class HeartbeatChanged(Record):
    """A beat received, or a heartbeat expired, with the heartbeat after it."""

    TYPE: ClassVar[str] = "heartbeat_changed"
    VERSION: ClassVar[int] = 1

    kind: ChangeKind
    heartbeat: HeartbeatSnapshot

    @property
    def key(self) -> str:
        return self.heartbeat.heartbeat_id


class HeartbeatBatch(Record):
    """The heartbeat stage's changes of one input batch (all or nothing) and its input positions."""

    TYPE: ClassVar[str] = "heartbeat_batch"
    VERSION: ClassVar[int] = 1

    changes: list[HeartbeatChanged] = Field(default_factory=list)
    clock: datetime | None = Field(None, description="the latest event time the stage has seen")
    positions: dict[Text(300), Offset] = Field(
        default_factory=dict, description="'raw:<partition>' / 'commands:<partition>' -> next offset"
    )

    @property
    def key(self) -> str:
        return "heartbeats"
