"""Alert state and its change records on `ems.alerts`, keyed by fingerprint."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ems.schemas.envelope import Record
from ems.schemas.limits import (
    INT4_MAX,
    Count,
    Deadline,
    EventId,
    Name,
    Offset,
    Positive,
    Tag,
    Text,
    Time,
    json_object,
)
from ems.schemas.observation import Severity, Tenant

AlertStatus = Literal["open", "acknowledged", "shelved", "resolved", "closed", "expired"]
Trend = Literal["new", "more_severe", "less_severe", "no_change"]
Actor = Text(256)  # an operator, a team, or "system"
Reason = Text(4096)
TransitionKind = Literal[
    # by events
    "opened",
    "severity_changed",
    "resolved",
    "reopened",
    # by operator commands
    "acked",
    "unacked",
    "shelved",
    "unshelved",
    "assigned",
    "closed",
    "note",
    # by timers
    "auto_unacked",
    "auto_unshelved",
    "expired",
]


class Transition(BaseModel):
    """One non-trivial change of an alert (plain duplicates are counted, not listed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: TransitionKind
    event_id: EventId
    at: Time = Field(description="A timer fires when a later event, command or tick comes: never after 2100")
    severity: Severity
    previous_severity: Severity | None = None
    status: AlertStatus | None = Field(None, description="Status after the transition")
    previous_status: AlertStatus | None = None
    actor: Actor | None = Field(None, description="Operator who asked; None for events, 'system' for timers")
    reason: Reason = Field("", description="The operator's comment, or why a timer fired")


class AlertState(BaseModel):
    """The current state of one alert: what the dedupe stage keeps per fingerprint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Bounds: those of the event and command fields each one is made of (agents/lifecycle.py).
    # Tags, services and attributes are the union of every event's: no bound on their number or size.
    alert_id: Text(128, 1)
    fingerprint: Text(128, 1)
    status: AlertStatus
    severity: Severity
    previous_severity: Severity | None = None
    trend: Trend = "new"
    event_count: Positive = Field(description="Events folded into this alert, the first included")
    duplicate_count: Count = Field(description="Repeats after the first event")
    first_seen: Time
    last_seen: Time
    last_event_id: EventId
    source: Name
    event: Name
    resource: Text(256)
    title: Text(1024) = ""
    text: Text(8192) = ""
    asset_id: Text(128) | None = None
    environment: Text(64, 1)
    service: list[Name] = Field(default_factory=list)
    tags: list[Tag] = Field(default_factory=list)
    attributes: json_object(max_keys=INT4_MAX, max_bytes=None) = Field(default_factory=dict)
    value: Text(256) | None = None
    version: Positive = Field(description="Bumped on every applied change; projections keep the highest")
    # Lifecycle (fields added after v1 records were written; they default, so old records still parse).
    timeout: Count = Field(0, description="Expire after this many seconds without a repeat; 0 = never")
    assignee: Actor | None = None
    assigned_team: Actor | None = None
    acked_by: Actor | None = None
    acked_at: Time | None = None
    ack_until: Deadline | None = Field(None, description="Auto-unack at this time (None = never)")
    shelved_by: Actor | None = None
    shelved_until: Deadline | None = None
    status_changed_at: Time | None = None
    # The tenant of its events (added later too; none for older states): fixed when the alert opens,
    # since the fingerprint of a tenant's events includes the tenant.
    tenant: Tenant | None = None
    # Alerta's duplicateCount (added later too; see `_older_states` for records without it).
    repeats_at_severity: Count = Field(
        0,
        description="Repeats since the event name or severity last changed (reset to 0 by a change): "
        "Alerta's duplicateCount. `duplicate_count` counts every repeat since the alert opened",
    )

    @model_validator(mode="before")
    @classmethod
    def _older_states(cls, data: Any) -> Any:
        """A state stored before `repeats_at_severity` existed: an alert that never changed severity
        (no previous_severity) has had every repeat at its severity, so the count is duplicate_count;
        otherwise it is unknown and starts again at 0. Pure, so a replay of old records decides alike."""
        if not isinstance(data, dict) or "repeats_at_severity" in data:
            return data
        if data.get("previous_severity") is None:
            return {**data, "repeats_at_severity": data.get("duplicate_count", 0)}
        return data


class Tracked(BaseModel):
    """What the dedupe stage stores per fingerprint: the alert (if any), the positions and the ids seen.

    Positions are kept for every event of the fingerprint, including those that changed nothing (a
    clear with no alert), so that a redelivered copy of any of them is recognised. Ids catch the
    other kind of copy: the same event appended again by a client that retried (same id, new
    position).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert: AlertState | None = None
    positions: dict[Text(64), Offset] = Field(
        default_factory=dict, description="Highest raw-topic offset seen, per raw partition"
    )
    recent_ids: list[str] = Field(
        default_factory=list,
        description="Digests of the ids of the last items applied (oldest first): a retry that "
        "carries one of them at a new position is skipped",
    )


class AlertChanged(Record):
    """The alert's state after one or more events, with the transitions they caused."""

    TYPE: ClassVar[str] = "alert_changed"
    VERSION: ClassVar[int] = 1

    alert: AlertState
    transitions: list[Transition] = Field(default_factory=list)
    events_applied: Count = Field(description="How many events this change folds together")

    @property
    def key(self) -> str:
        return self.alert.fingerprint


class AlertChangedBatch(Record):
    """The alert changes one dedupe step produced for one partition, published as one record."""

    TYPE: ClassVar[str] = "alert_changed_batch"
    VERSION: ClassVar[int] = 1

    partition: Count
    changes: list[AlertChanged] = Field(min_length=1)

    @property
    def key(self) -> str:
        return f"partition-{self.partition}"
