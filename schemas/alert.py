"""Alert state and its change records on `ems.alerts`, keyed by fingerprint."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ems.schemas.envelope import Record

AlertStatus = Literal["open", "acknowledged", "shelved", "resolved", "closed", "expired"]
Trend = Literal["new", "more_severe", "less_severe", "no_change"]
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
    event_id: str
    at: datetime
    severity: str
    previous_severity: str | None = None
    status: AlertStatus | None = Field(None, description="Status after the transition")
    previous_status: AlertStatus | None = None
    actor: str | None = Field(None, description="Operator who asked; None for events, 'system' for timers")
    reason: str = Field("", description="The operator's comment, or why a timer fired")


class AlertState(BaseModel):
    """The current state of one alert: what the dedupe stage keeps per fingerprint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_id: str
    fingerprint: str
    status: AlertStatus
    severity: str
    previous_severity: str | None = None
    trend: Trend = "new"
    event_count: int = Field(ge=1, description="Events folded into this alert, the first included")
    duplicate_count: int = Field(ge=0, description="Repeats after the first event")
    first_seen: datetime
    last_seen: datetime
    last_event_id: str
    source: str
    event: str
    resource: str
    title: str = ""
    text: str = ""
    asset_id: str | None = None
    environment: str
    service: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    value: str | None = None
    version: int = Field(ge=1, description="Bumped on every applied change; projections keep the highest")
    # Lifecycle (fields added after v1 records were written; they default, so old records still parse).
    timeout: int = Field(0, ge=0, description="Expire after this many seconds without a repeat; 0 = never")
    assignee: str | None = None
    assigned_team: str | None = None
    acked_by: str | None = None
    acked_at: datetime | None = None
    ack_until: datetime | None = Field(None, description="Auto-unack at this time (None = never)")
    shelved_by: str | None = None
    shelved_until: datetime | None = None
    status_changed_at: datetime | None = None


class Tracked(BaseModel):
    """What the dedupe stage stores per fingerprint: the alert (if any), the positions and the ids seen.

    Positions are kept for every event of the fingerprint, including those that changed nothing (a
    clear with no alert), so that a redelivered copy of any of them is recognised. Ids catch the
    other kind of copy: the same event appended again by a client that retried (same id, new
    position).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert: AlertState | None = None
    positions: dict[str, int] = Field(
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
    events_applied: int = Field(ge=0, description="How many events this change folds together")

    @property
    def key(self) -> str:
        return self.alert.fingerprint


class AlertChangedBatch(Record):
    """The alert changes one dedupe step produced for one partition, published as one record."""

    TYPE: ClassVar[str] = "alert_changed_batch"
    VERSION: ClassVar[int] = 1

    partition: int = Field(ge=0)
    changes: list[AlertChanged] = Field(min_length=1)

    @property
    def key(self) -> str:
        return f"partition-{self.partition}"
