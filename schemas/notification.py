"""Notification decisions and delivery attempts on `ems.notifications` (one partition, `NotificationBatch`).

The notification stage (agents/notify_worker.py) appends a `NotificationDecided` per alert change that
calls for a notification (opened, reopened, a severity change; resolved, closed, expired), decided on the
change's event time, BEFORE anything is sent: notified or muted (by which windows, silences, inhibitions,
the down device it is a symptom of, flapping), and one `Delivery` (idempotency key, receiver) per routed
receiver. The sender (agents/notify_sender.py) appends a `NotificationAttempt` per try: delivered, retried
(with the reason, tried again after a backoff) or failed (the reason; not tried again).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ems.schemas.envelope import Record
from ems.schemas.limits import Name, Offset, Positive, Text, Time

Kind = Literal["firing", "resolved"]
Outcome = Literal["delivered", "retried", "failed"]


class Delivery(BaseModel):
    """One notification to send: its idempotency key and receiver."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: Text(512, 1)
    receiver: Name


# The alert's fields a decision records (`NotificationDecided.alert`): what the messages show, and
# what inhibition rules may read of a firing source alert (rebuilt from the decisions on a restart).
DECIDED_FIELDS = (
    "alert_id", "fingerprint", "status", "severity", "previous_severity", "source", "event", "resource",
    "title", "text", "environment", "service", "tags", "asset_id", "value", "tenant", "last_seen",
)  # fmt: skip


class NotificationDecided(Record):
    """The decision for one alert change (event id `<alert id>:<version>`, occurred_at = event time)."""

    TYPE: ClassVar[str] = "notification_decided"
    VERSION: ClassVar[int] = 1

    alert_id: Text(128, 1)
    version: Positive
    kind: Kind
    alert: dict[str, Any] = Field(description="the alert's fields the messages show")
    notify: bool
    suppressed_by: list[Text(64)] = Field(default_factory=list, description="maintenance window ids")
    dropped_by: list[Text(64)] = Field(
        default_factory=list,
        description="those of suppressed_by in drop mode: the change is dropped (never notified, not "
        "surfaced, hidden from the alert list by default)",
    )
    silenced_by: list[Text(64)] = Field(default_factory=list, description="silence ids")
    inhibited_by: list[dict[str, str]] = Field(default_factory=list, description="[{rule_id, source_id}]")
    flapping: bool = False
    symptom_of: dict[str, Text(512)] | None = Field(
        None, description="{alert_id, asset_id, resource, event}: the down device's alert it is a symptom of"
    )
    reasons: list[Text(4096)] = Field(default_factory=list)
    deliveries: list[Delivery] = Field(default_factory=list)
    flap: dict[str, Any] = Field(default_factory=dict, description="the alert's flap state after it")
    group_id: Text(64) | None = Field(
        None, description="a group's flush: the group (then alert_id = group_id, version = flush number)"
    )
    alerts: list[dict[str, Any]] = Field(
        default_factory=list, description="a group's flush: its firing, then resolved alerts' fields"
    )
    escalation: dict[str, Any] | None = Field(
        None,
        description="an escalation step (then alert_id = `<alert id>:esc<version>`, version = step number): "
        "{policy, alert_id, version, step, round}",
    )
    surfaced: Text(300) | None = Field(
        None, description="a muted alert notified when what muted it ended: what ended (ems.notify.surfacing)"
    )


class NotificationAttempt(Record):
    """One try to deliver a notification (event id `<key>#<attempt>`, occurred_at = when tried)."""

    TYPE: ClassVar[str] = "notification_attempt"
    VERSION: ClassVar[int] = 1

    notification_key: Text(512, 1) = Field(description="the Delivery's idempotency key")
    alert_id: Text(128, 1)
    receiver: Name
    attempt: Positive
    outcome: Outcome
    reason: Text(4096) = ""


class GroupedAlert(BaseModel):
    """An alert of a notification group: its version, firing or resolved, and its decided fields."""

    model_config = ConfigDict(extra="forbid")

    version: Positive
    firing: bool
    at: Time
    alert: dict[str, Any]
    announce: bool = Field(True, description="resolved: listed in the next flush (its resolve was notified)")


class GroupState(BaseModel):
    """One notification group of a route (Alertmanager's aggregation group), as kept by the stage."""

    model_config = ConfigDict(extra="forbid")

    group_id: Text(64, 1)
    route: int
    labels: dict[str, str] = Field(description="the route's group_by fields and their values")
    receivers: list[Name]
    alerts: dict[Text(128, 1), GroupedAlert] = Field(default_factory=dict)
    sent: dict[Text(128, 1), Positive] = Field(
        default_factory=dict, description="alert id -> version the receivers last got as firing"
    )
    next_flush: Time | None = Field(None, description="when the group is next looked at; None: ended")
    last_sent: Time | None = None
    flushes: int = Field(0, ge=0, description="notifications sent for this group (numbers the keys)")


class EscalationState(BaseModel):
    """One escalation of an alert (notify/escalation.py), as kept by the stage."""

    model_config = ConfigDict(extra="forbid")

    escalation_id: Text(160, 1) = Field(description="`<alert id>:esc<version>`")
    alert_id: Text(128, 1)
    version: Positive = Field(description="the alert version whose notified firing change started it")
    policy: Name
    alert: dict[str, Any] = Field(description="the alert's decided fields when it started")
    started_at: Time
    fired: int = Field(0, ge=0, description="steps fired so far (numbers the keys)")
    next_at: Time | None = Field(None, description="when the next step is due; None: ended")
    stopped: Text(64) | None = Field(None, description="what ended it: the alert's status, or done")
    stopped_at: Time | None = None


class MutedAlert(BaseModel):
    """A firing alert whose latest decision was muted, kept until what mutes it ends (notify/surfacing.py).
    `due` None: no longer kept (notified, resolved, or muted only by what has no end)."""

    model_config = ConfigDict(extra="forbid")

    alert_id: Text(128, 1)
    version: Positive
    at: Time = Field(description="the event time it was last decided at")
    muted_by: list[Text(200)] = Field(default_factory=list, description="window and silence ids, 'flapping'")
    fields: dict[str, Any] = Field(default_factory=dict, description="the alert's fields, to decide again")
    due: Time | None = Field(None, description="when the first of what mutes it ends")


class NotificationBatch(Record):
    """What one input batch of the notification stage, or one send of the sender, appended."""

    TYPE: ClassVar[str] = "notification_batch"
    VERSION: ClassVar[int] = 1

    decisions: list[NotificationDecided] = Field(default_factory=list)
    attempts: list[NotificationAttempt] = Field(default_factory=list)
    positions: dict[Text(300), Offset] = Field(
        default_factory=dict, description="'alerts:partition' -> next alert offset after this batch"
    )
    ended: dict[Text(128, 1), Positive] = Field(
        default_factory=dict,
        description="alert id -> version: alerts that stopped firing without a decision (inhibition "
        "sources no more; written only while inhibition rules are configured)",
    )
    groups: list[GroupState] = Field(
        default_factory=list, description="the notification groups this batch changed, as they are after it"
    )
    clock: Time | None = Field(None, description="the stage's event-time clock after this batch (grouping)")
    escalations: list[EscalationState] = Field(
        default_factory=list, description="the escalations this batch changed, as they are after it"
    )
    muted: list[MutedAlert] = Field(
        default_factory=list, description="the muted alerts this batch changed, as they are after it"
    )

    @property
    def key(self) -> str:
        return "notifications"
