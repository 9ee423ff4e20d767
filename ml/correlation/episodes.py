"""Alert episodes from alert changes: an episode starts when an alert opens or reopens and ends when
it resolves, is closed or expires.

A change may fold several events (the dedupe stage publishes one change per alert per batch), so it
is read as its steps (`steps`): each start and end at the time of its transition, then the alert's
final state. An episode is numbered after the change and the rank of the start that began it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from ems.schemas.alert import AlertChanged, AlertState
from ems.schemas.incident import EVENT_IDS_KEPT

STARTS = frozenset({"opened", "reopened"})
ENDS = frozenset({"resolved", "closed", "expired"})
ACTIVE = frozenset({"open", "acknowledged", "shelved"})
EVENT_KINDS = frozenset({"opened", "severity_changed", "resolved", "reopened"})  # transitions by events
_WORD = re.compile(r"[a-z]+")
T = TypeVar("T")


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
    tenant: str | None = None  # alerts of different tenants are never grouped
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
    def start(cls, alert: AlertState, at: datetime, number: int) -> Episode:
        return cls(
            alert_id=alert.alert_id,
            fingerprint=alert.fingerprint,
            number=number,
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
            tenant=alert.tenant,
        )

    def update(self, change: AlertChanged, events: int = 0) -> None:
        """Take the alert's latest state and count the `events` the change brought."""
        a = change.alert
        self.severity, self.status, self.title = a.severity, a.status, a.title
        self.service, self.tags = tuple(a.service), tuple(a.tags)
        self.event_count += events

    def brought(self, event_ids: tuple[str, ...]) -> None:
        """Keep the ids of the events it brought (the last EVENT_IDS_KEPT)."""
        for event_id in event_ids:
            if event_id not in self.event_ids:
                self.event_ids.append(event_id)
        del self.event_ids[:-EVENT_IDS_KEPT]


@dataclass(frozen=True)
class Step:
    """One moment of an alert change: an episode starts or ends at `at`, or (`final`) the change's
    end state is taken. A change folding several events (the dedupe stage publishes one per alert per
    batch: a replayed or compressed stream folds a whole flap into one) is read as its steps, so
    every start and end is decided at its own time, among the other alerts' steps."""

    at: datetime
    change: AlertChanged
    kind: str  # "start", "end" or "final"
    index: int = 0  # a start's rank among the starts of its change
    event_ids: tuple[str, ...] = ()


def steps(change: AlertChanged) -> list[Step]:
    """The steps of a change, in order (the last one `final`, never before the others)."""
    out: list[Step] = []
    starts = 0
    loose: list[str] = []
    for t in change.transitions:
        if t.kind in STARTS:
            out.append(Step(t.at, change, "start", starts, (t.event_id,)))
            starts += 1
        elif t.kind in ENDS:
            out.append(Step(t.at, change, "end", 0, (t.event_id,)))
        elif t.kind in EVENT_KINDS:
            loose.append(t.event_id)
    at = max([change.occurred_at, *(s.at for s in out)])
    out.append(Step(at, change, "final", 0, (*loose, change.alert.last_event_id)))
    return out


def episode_number(version: int, index: int) -> int:
    """An episode's number: 16 x the alert version of the change that started it + the start's rank
    in that change (a change folding more than 16 starts numbers the later ones alike)."""
    return version * 16 + min(index, 15)


def in_time_order(changes: Iterable[tuple[T, AlertChanged]]) -> list[tuple[T, Step]]:
    """The steps of `changes` (each with its tag, in log order) sorted by event time; one alert's
    steps keep their log order (a late one sorts at its predecessor's time); ties keep log order."""
    floor: dict[str, datetime] = {}
    keyed = []
    for tag, change in changes:
        fp = change.alert.fingerprint
        for step in steps(change):
            at = max(step.at, floor.get(fp, step.at))
            floor[fp] = at
            keyed.append((at, len(keyed), tag, step))
    keyed.sort(key=lambda k: k[:2])
    return [(tag, step) for _, _, tag, step in keyed]
