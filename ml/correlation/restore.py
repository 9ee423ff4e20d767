"""Rebuild a correlator's state from its own output: the `IncidentChanged` records, folded in order.

Per incident the header of its highest version, per membership (incident, alert, episode) the record
of its highest version. Kept in memory: the incidents still open or resolved within `linger_s` of the
last decision, with their current members; the highest alert version applied per alert (from every
member ever recorded), so a redelivered alert change is recognised; the decision counter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from ems.ml.correlation.episodes import Episode
from ems.ml.correlation.incident import Incident, Membership
from ems.schemas.incident import IncidentChanged, IncidentState, Member

if TYPE_CHECKING:
    from ems.ml.correlation.engine import Correlator


def episode_of(m: Member) -> Episode:
    """The episode a member record describes."""
    return Episode(
        alert_id=m.alert_id,
        fingerprint=m.fingerprint,
        number=m.episode,
        source=m.source,
        event=m.event,
        resource=m.resource,
        title=m.title,
        severity=m.severity,
        environment=m.environment,
        service=tuple(m.service),
        tags=tuple(m.tags),
        asset_id=m.asset_id,
        tenant=m.tenant,
        status=m.status,
        opened_at=m.opened_at,
        origin=m.since,
        ended_at=m.ended_at,
        event_ids=list(m.event_ids),
        event_count=m.event_count,
        alert_version=m.alert_version,
    )


def rebuild(c: Correlator, records: Iterable[IncidentChanged]) -> None:
    """Fold `records` (the stage's output from the start) into `c`, an empty correlator."""
    headers: dict[str, IncidentState] = {}
    members: dict[tuple[str, str, int], Member] = {}
    for record in records:
        h = record.incident
        if h.incident_id not in headers or h.version > headers[h.incident_id].version:
            headers[h.incident_id] = h
        c.seq = max(c.seq, h.seq)
        c.watermark = max(c.watermark or h.updated_at, h.updated_at)
        for m in record.members:
            key = (h.incident_id, m.alert_id, m.episode)
            if key not in members or m.version > members[key].version:
                members[key] = m
            c.versions[m.fingerprint] = max(c.versions.get(m.fingerprint, 0), m.alert_version)
    if c.watermark is None:
        return
    current: dict[str, list[Member]] = defaultdict(list)
    for (incident_id, _, _), m in members.items():
        if m.left_at is None:
            current[incident_id].append(m)
    linger = c.watermark - timedelta(seconds=c.cfg.linger_s)
    episodes: list[Episode] = []
    for incident_id, h in sorted(headers.items()):
        if h.status == "merged" or (h.status == "resolved" and h.resolved_at < linger):
            continue
        inc = Incident(
            incident_id,
            h.opened_at,
            h.updated_at,
            status=h.status,
            resolved_at=h.resolved_at,
            total=h.members_total,
            version=h.version,
            root=h.root_cause,
            rca=h.rca,
            impact=h.impact,
        )
        for m in sorted(current[incident_id], key=lambda m: (m.opened_at, m.alert_id, m.episode)):
            ep = episode_of(m)
            ep.incident_id = incident_id
            inc.members[ep.key] = Membership(
                ep,
                m.joined_at,
                m.reason,
                m.arrival,
                m.linked_to,
                m.detail,
                None,
                m.impact,
                m.revenue_per_hour,
            )
            episodes.append(ep)
        c.incidents[incident_id] = inc
    for ep in sorted(episodes, key=lambda e: (e.opened_at, e.key)):
        if ep.open:
            c.running[ep.fingerprint] = ep
        c.last[ep.fingerprint] = ep
        if ep.asset_id:
            c.recent[ep.asset_id].append(ep)
            if c.cfg.is_down(ep.event):
                c.downs[ep.asset_id].append(ep)
        c.rules.offer(ep, c.topology)
