"""An incident's state inside the correlator, and how it becomes an `IncidentChanged` record.

An `Incident` holds its current memberships; a membership that leaves (its incident merged into
another, or a split moved it) is kept until the next record carries its `left_at`, then dropped.
Each record carries only the memberships that changed since the previous one (`dirty`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from ems.ml.correlation.episodes import Episode
from ems.schemas.incident import (
    ChangeKind,
    Impact,
    IncidentChanged,
    IncidentState,
    Member,
    Ranking,
    RootCause,
)

Key = tuple[str, int]  # (alert_id, episode number)
# When several things happened to an incident between two records, the record's kind is the first
# of these that did.
KIND_ORDER: tuple[ChangeKind, ...] = (
    "opened",
    "absorbed",
    "merged",
    "split",
    "reopened",
    "resolved",
    "grew",
    "updated",
)


def incident_id_for(*parts: object) -> str:
    """A deterministic incident id from what created it (a replay gives the same ids)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).hexdigest()
    return f"inc_{digest}"


@dataclass
class Membership:
    """One episode in one incident, with why and how it joined."""

    episode: Episode
    joined_at: datetime
    reason: str
    arrival: str = "decision"
    linked_to: str | None = None
    detail: str = ""
    left_at: datetime | None = None
    impact: float = 0.0
    revenue: float = 0.0

    def record(self, version: int) -> Member:
        e = self.episode
        return Member(
            alert_id=e.alert_id,
            fingerprint=e.fingerprint,
            episode=e.number,
            asset_id=e.asset_id,
            source=e.source,
            event=e.event,
            resource=e.resource,
            title=e.title,
            severity=e.severity,
            environment=e.environment,
            tenant=e.tenant,
            service=list(e.service),
            tags=list(e.tags),
            status=e.status,
            opened_at=e.opened_at,
            since=e.origin,
            ended_at=e.ended_at,
            joined_at=self.joined_at,
            left_at=self.left_at,
            reason=self.reason,
            arrival=self.arrival,
            linked_to=self.linked_to,
            detail=self.detail[:512],
            event_ids=e.event_ids,
            event_count=e.event_count,
            alert_version=max(1, e.alert_version),
            impact=self.impact,
            revenue_per_hour=self.revenue,
            version=version,
        )


@dataclass
class Incident:
    """An incident being correlated."""

    incident_id: str
    opened_at: datetime
    updated_at: datetime
    members: dict[Key, Membership] = field(default_factory=dict)
    status: str = "open"
    resolved_at: datetime | None = None
    merged_into: str | None = None
    total: int = 0
    version: int = 0
    root: RootCause | None = None
    rca: Ranking | None = None  # the model's root-cause ranking
    impact: Impact = field(default_factory=lambda: Impact(score=0.0))
    behind: dict[str, str] = field(default_factory=dict)  # member asset -> the down device it sat behind
    departed: list[Membership] = field(default_factory=list)
    dirty: set[Key] = field(default_factory=set)
    notes: list[tuple[ChangeKind, str]] = field(default_factory=list)

    @property
    def episodes(self) -> list[Episode]:
        return [m.episode for m in self.members.values()]

    def note(self, kind: ChangeKind, text: str, at: datetime) -> None:
        self.notes.append((kind, text))
        self.updated_at = max(self.updated_at, at)

    def add(self, membership: Membership) -> None:
        key = membership.episode.key
        self.members[key] = membership
        self.dirty.add(key)
        self.total += 1
        membership.episode.incident_id = self.incident_id

    def remove(self, key: Key, at: datetime) -> Membership:
        membership = self.members.pop(key)
        membership.left_at = at
        self.departed.append(membership)
        self.dirty.discard(key)
        return membership

    def settle(self, at: datetime) -> None:
        """Resolve when every member's episode has ended; reopen when one has not."""
        if self.status == "merged":
            return
        running = any(m.episode.open for m in self.members.values())
        if self.status == "open" and self.members and not running:
            self.status = "resolved"
            self.resolved_at = max(m.episode.ended_at for m in self.members.values())
            self.note("resolved", "every member resolved", at)
        elif self.status == "resolved" and running:
            self.status, self.resolved_at = "open", None
            self.note("reopened", "a member is failing again", at)

    def changed(self) -> bool:
        return bool(self.dirty or self.departed or self.notes)

    def record(self, seq: int, title: str, severity: str, impact: Impact) -> IncidentChanged:
        """The record of what changed since the last one (and forget the pending changes)."""
        self.version += 1
        members = [self.members[k].record(self.version) for k in sorted(self.dirty)]
        members += [m.record(self.version) for m in self.departed]
        kinds = {k for k, _ in self.notes}
        kind = next((k for k in KIND_ORDER if k in kinds), "updated")
        if self.version == 1:
            kind = "opened"
        reason = "; ".join(dict.fromkeys(text for _, text in self.notes))
        tenant = next((m.episode.tenant for m in [*self.members.values(), *self.departed]), None)
        state = IncidentState(
            incident_id=self.incident_id,
            tenant=tenant,
            status=self.status,
            title=title[:1024],
            severity=severity,
            opened_at=self.opened_at,
            updated_at=self.updated_at,
            resolved_at=self.resolved_at,
            merged_into=self.merged_into,
            members_total=self.total,
            members_open=sum(1 for m in self.members.values() if m.episode.open),
            alerts=len(self.members),
            assets=sorted({m.episode.asset_id for m in self.members.values() if m.episode.asset_id})[:1000],
            root_cause=self.root,
            rca=self.rca,
            impact=impact,
            version=self.version,
            seq=seq,
        )
        self.dirty.clear()
        self.departed.clear()
        self.notes.clear()
        return IncidentChanged(
            event_id=f"{self.incident_id}:{self.version}",
            occurred_at=self.updated_at,
            incident=state,
            kind=kind,
            reason=reason[:1024],
            members=members,
        )
