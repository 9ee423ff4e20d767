"""Replaying incident decisions fast: decode only what a retrain uses, fold members as they come.

A retrain reads every decision of a range of `ems.incidents` (hundreds of MB for 100,000 alerts:
each decision repeats its incident's header, ranking and impact) but needs, per member, only its
identity (incident, alert, episode, version), whether it left, and what the features read (asset,
event, start). `decode_decisions` reads just those fields of a current (v2) record with msgspec (the
others are skipped unparsed; those read are type-checked); anything else — an older schema version, a
record msgspec refuses — goes through the full `decode` (validation and upcasting), which names
the problem of a bad record (`DecodeError`). `MemberFold` keeps, per (incident, alert, episode), the
membership of the highest incident version, as `ems.ml.evaluate.final_members` does over full
records, without holding the decisions.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import msgspec

from ems.schemas.incident import IncidentBatch, IncidentChanged
from ems.streams.codecs import decode


class SlimMember(msgspec.Struct, frozen=True, gc=False):
    """What a retrain reads of a member (an `Evidence` for `features.build`)."""

    alert_id: str
    episode: int
    version: int
    event: str
    opened_at: datetime
    asset_id: str | None = None
    left_at: datetime | None = None
    title: str = ""  # an alert naming no asset counts for the asset its title names


class _Header(msgspec.Struct, gc=False):
    incident_id: str


class _Change(msgspec.Struct, tag_field="type", tag="incident_changed"):
    incident: _Header
    schema_version: int = 1
    members: list[SlimMember] = []


class _Batch(msgspec.Struct, tag_field="type", tag="incident_batch"):
    schema_version: int = 1
    changes: list[_Change] = []


_DECODER = msgspec.json.Decoder(_Batch | _Change)
CURRENT = (IncidentBatch.VERSION, IncidentChanged.VERSION)

Decision = tuple[str, list[SlimMember]]  # (incident id, the memberships it changed)


def decode_decisions(raw: bytes | None) -> list[Decision]:
    """The decisions of one `ems.incidents` record (a batch or a single change); `DecodeError` when
    it is not a readable incident record."""
    try:
        record = _DECODER.decode(raw) if raw is not None else None
    except (msgspec.DecodeError, msgspec.ValidationError):
        record = None
    if isinstance(record, _Batch) and record.schema_version == CURRENT[0]:
        if all(c.schema_version == CURRENT[1] for c in record.changes):
            return [(c.incident.incident_id, c.members) for c in record.changes]
    elif isinstance(record, _Change) and record.schema_version == CURRENT[1]:
        return [(record.incident.incident_id, record.members)]
    full = decode(raw, (IncidentBatch, IncidentChanged))  # older versions, or the reason it is bad
    changes = full.changes if isinstance(full, IncidentBatch) else [full]
    return [(c.incident.incident_id, [_slim(m) for m in c.members]) for c in changes]


def _slim(m) -> SlimMember:
    return SlimMember(m.alert_id, m.episode, m.version, m.event, m.opened_at, m.asset_id, m.left_at, m.title)


class MemberFold:
    """Each incident's current members after the decisions added (`final_members`' rule)."""

    def __init__(self) -> None:
        self._latest: dict[tuple[str, str, int], SlimMember] = {}
        self.decisions = 0
        self.entries = 0  # member entries seen

    def add(self, decisions: list[Decision]) -> None:
        latest = self._latest
        for incident_id, members in decisions:
            self.decisions += 1
            self.entries += len(members)
            for m in members:
                key = (incident_id, m.alert_id, m.episode)
                kept = latest.get(key)
                if kept is None or m.version > kept.version:
                    latest[key] = m

    def incidents(self) -> dict[str, list[SlimMember]]:
        """Incident id -> its members that have not left, incidents in id order."""
        out: dict[str, list[SlimMember]] = defaultdict(list)
        for (incident_id, _, _), m in self._latest.items():
            if m.left_at is None:
                out[incident_id].append(m)
        return dict(sorted(out.items()))
