"""Alert episodes from alert changes: an episode starts when an alert opens or reopens and ends when
it resolves, is closed or expires.

A change may fold several events (the dedupe stage publishes one change per alert per batch), so it
is read as a whole: its transitions say whether an episode ended and whether one started in it, the
alert's final status whether one is running after it. An episode is numbered by the alert version of
the change that started it; a change that ends an episode and starts the next keeps both apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from ems.schemas.alert import AlertChanged, AlertState
from ems.schemas.incident import EVENT_IDS_KEPT

STARTS = frozenset({"opened", "reopened"})
ENDS = frozenset({"resolved", "closed", "expired"})
ACTIVE = frozenset({"open", "acknowledged", "shelved"})
EVENT_KINDS = frozenset({"opened", "severity_changed", "resolved", "reopened"})  # transitions by events
_WORD = re.compile(r"[a-z]+")


def words(*texts: str) -> frozenset[str]:
    """Lower-case alphabetic words of at least 3 letters (numbers and ids carry no meaning here)."""
    return frozenset(w for t in texts for w in _WORD.findall(t.lower()) if len(w) >= 3)


@dataclass
class Episode:
    """One episode of one alert, with what the grouping and the incident record need of it."""

    alert_id: str
    fingerprint: str
    number: int
    source: str
    event: str
    resource: str
    title: str
    severity: str
    environment: str
    service: tuple[str, ...]
    tags: tuple[str, ...]
    asset_id: str | None
    status: str
    opened_at: datetime
    ended_at: datetime | None = None
    event_ids: list[str] = field(default_factory=list)
    event_count: int = 0
    alert_version: int = 0
    incident_id: str | None = None
    origin: datetime | None = None  # start of the first episode of a flapping run (same_alert chain)

    @property
    def since(self) -> datetime:
        """When its problem started: a reopened alert that rejoined its incident counts from its
        first episode, so a flap does not look like a new failure to its neighbours."""
        return self.origin or self.opened_at

    @property
    def key(self) -> tuple[str, int]:
        return self.alert_id, self.number

    @property
    def open(self) -> bool:
        return self.ended_at is None

    @property
    def words(self) -> frozenset[str]:
        return words(self.event, self.title)

    @classmethod
    def start(cls, alert: AlertState, at: datetime) -> Episode:
        return cls(
            alert_id=alert.alert_id,
            fingerprint=alert.fingerprint,
            number=alert.version,
            source=alert.source,
            event=alert.event,
            resource=alert.resource,
            title=alert.title,
            severity=alert.severity,
            environment=alert.environment,
            service=tuple(alert.service),
            tags=tuple(alert.tags),
            asset_id=alert.asset_id,
            status=alert.status,
            opened_at=at,
        )

    def update(self, change: AlertChanged, events: int) -> None:
        """Take the alert's latest state, and count the `events` the change brought with their ids."""
        a = change.alert
        self.severity, self.status, self.title = a.severity, a.status, a.title
        self.service, self.tags = tuple(a.service), tuple(a.tags)
        self.alert_version = a.version
        self.event_count += events
        ids = [t.event_id for t in change.transitions if t.kind in EVENT_KINDS] + [a.last_event_id]
        for event_id in ids:
            if event_id not in self.event_ids:
                self.event_ids.append(event_id)
        del self.event_ids[:-EVENT_IDS_KEPT]


@dataclass(frozen=True)
class Reading:
    """What one change means for the alert's episodes."""

    ends_at: datetime | None  # the running episode ended at this time
    starts_at: datetime | None  # a new episode started at this time
    ends_new_at: datetime | None  # ... and that new one ended within the same change


def read(change: AlertChanged, running: bool) -> Reading:
    """Interpret a change given whether an episode of its alert is running."""
    a = change.alert
    active = a.status in ACTIVE
    starts = [t.at for t in change.transitions if t.kind in STARTS]
    ends = [t.at for t in change.transitions if t.kind in ENDS]
    last_end = max(ends) if ends else change.occurred_at
    if running:
        if not active:
            return Reading(last_end, None, None)
        if starts and ends:  # ended and started again within the change
            return Reading(min(ends), max(starts), None)
        return Reading(None, None, None)
    if active:
        at = max(starts) if starts else (a.status_changed_at or a.first_seen)
        return Reading(None, at, None)
    if starts:  # opened and ended within one change
        start = min(starts)
        return Reading(None, start, max(last_end, start))
    return Reading(None, None, None)
