"""The correlator: alert changes + asset snapshots in, incident changes out. Pure and deterministic.

Every decision is taken when an episode starts, at its start time (event time), against what was
applied before it; the clock is the highest event time applied (`watermark`), never the wall clock.

Placing a new episode E (the evidence, strongest first):
1. **same_alert** - the previous episode of the same alert is in an incident that is open, or that
   resolved less than `linger_s` ago (a flapping alert stays where it was);
2. **unreachable** - E's asset is cut off from the pollers behind a device that is down (its frontier);
3. **topology** - an episode on an asset within `max_hops` started within `link_window_s` of E;
4. **rule** - a Keep-style rule's bucket holding E reached its threshold.
E joins the oldest incident among those its evidence names; the others merge into it. Without any
evidence E opens an incident of its own. When E means its device is down, the open episodes that
are now cut off behind it (started within the link window) merge into its incident.

Every `dbscan.step_s` of event time: (a) an incident whose root cause ended more than
`split_after_s` ago splits off its members that are still failing (they proved unrelated), and
(b) DBSCAN runs over the window's open episodes: single-episode incidents in a cluster join the
multi-member incident of their nearest clustered neighbour, or each other. When the topology changes,
a member linked by topology that no longer has any member within `max_hops` is split off.
An incident resolves when all its members' episodes have ended and reopens when one fails again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ems.ml.correlation.config import CorrelationConfig
from ems.ml.correlation.episodes import ACTIVE, Episode, Step, episode_number, steps
from ems.ml.correlation.impact import impact, root_cause
from ems.ml.correlation.incident import Incident, Key, Membership, incident_id_for
from ems.ml.correlation.maintenance import Maintenance
from ems.ml.correlation.restore import rebuild
from ems.ml.correlation.rules import Rules
from ems.ml.correlation.topology import Topology
from ems.ml.rca.rank import ranker_from
from ems.schemas.alert import AlertChanged
from ems.schemas.asset import Asset, AssetChanged
from ems.schemas.incident import IncidentChanged

if TYPE_CHECKING:
    from ems.ml.rca.online import OnlineModel


@dataclass(frozen=True)
class Candidate:
    incident: Incident
    linked: Episode
    reason: str
    detail: str
    rank: tuple


class Correlator(Maintenance):
    """Holds the open incidents, their episodes and the topology; see the module docstring."""

    def __init__(self, config: CorrelationConfig | None = None, topology: Topology | None = None) -> None:
        self.cfg = config or CorrelationConfig()
        self.topology = topology or Topology()
        self.rules = Rules(self.cfg.rules)
        self.incidents: dict[str, Incident] = {}
        self.running: dict[str, Episode] = {}  # fingerprint -> its open episode
        self.last: dict[str, Episode] = {}  # fingerprint -> its latest episode
        self.recent: dict[str, list[Episode]] = defaultdict(list)  # asset -> episodes started lately
        self.downs: dict[str, list[Episode]] = defaultdict(list)  # asset -> its "down" episodes, lately
        self.versions: dict[str, int] = {}  # fingerprint -> highest alert version applied
        self.watermark: datetime | None = None
        self.seq = 0
        self._next_step: datetime | None = None
        self._dirty: set[str] = set()
        self.ranker = ranker_from(self.cfg.rca_model)
        self.online: OnlineModel | None = None  # learned from operator feedback (the stage sets it)

    # -- inputs ------------------------------------------------------------------------------------
    def asset(self, changed: AssetChanged | Asset) -> None:
        """Take an asset snapshot; a change of its edges re-checks the topology links."""
        asset = changed.asset if isinstance(changed, AssetChanged) else changed
        if self.topology.upsert(asset) and self.watermark is not None:
            self._recheck_topology(self.watermark)

    def apply(self, change: AlertChanged) -> None:
        """Apply one alert change (a redelivered one, by alert version, changes nothing)."""
        if self.accept(change):
            for step in steps(change):
                self.step(step)

    def accept(self, change: AlertChanged) -> bool:
        """Whether the change is new (its alert version above those applied); it is then counted as
        applied: its steps must follow (`steps`), in order, possibly among other alerts' steps."""
        a = change.alert
        if self.versions.get(a.fingerprint, 0) >= a.version:
            return False
        self.versions[a.fingerprint] = a.version
        return True

    def step(self, s: Step) -> None:
        """Apply one step of an accepted change, at its time."""
        a = s.change.alert
        self.watermark = max(self.watermark or s.at, s.at)
        ep = self.running.get(a.fingerprint)
        if s.kind == "start":
            number = episode_number(a.version, s.index)
            if ep is not None and ep.number == number:
                return  # applied before a restart (the change's final step had not been)
            if ep is not None:  # its end was not seen: it ends where the next one starts
                self._end(ep, s.at)
            new = Episode.start(a, s.at, number)
            new.update(s.change)
            new.brought(s.event_ids)
            self._place(new)
        elif s.kind == "end":
            if ep is not None:
                ep.brought(s.event_ids)
                self._end(ep, s.at)
        else:
            kinds = {x.kind for x in steps(s.change)}
            if ep is None and a.status in ACTIVE and "start" not in kinds:
                # Open before this stage knew it (a rebuilt state, an older log): it starts as it says.
                ep = Episode.start(a, a.status_changed_at or a.first_seen, episode_number(a.version, 0))
                self._place(ep)
            elif ep is not None and a.status not in ACTIVE and "end" not in kinds:
                self._end(ep, s.at)
            last = self.last.get(a.fingerprint)
            if last is not None and last.alert_version <= a.version:
                # The change counts as applied (a restart skips it) once its final step is.
                last.alert_version = a.version
                last.update(s.change, s.change.events_applied)
                last.brought(s.event_ids)
                self._touch(last)
        self._maybe_step()

    # -- placing an episode ------------------------------------------------------------------------
    def _live(self, incident_id: str | None) -> Incident | None:
        inc = self.incidents.get(incident_id or "")
        while inc is not None and inc.status == "merged" and inc.merged_into:
            inc = self.incidents.get(inc.merged_into)
        return inc

    def _joinable(self, incident_id: str | None, at: datetime) -> Incident | None:
        inc = self._live(incident_id)
        if inc is None or inc.status == "merged":
            return None
        if inc.status == "resolved" and inc.resolved_at < at - timedelta(seconds=self.cfg.linger_s):
            return None
        return inc

    def _name(self, asset_id: str) -> str:
        node = self.topology.nodes.get(asset_id)
        return node.name if node else asset_id

    def cut(self) -> dict[str, str]:
        """Cut-off asset -> the down device it sits behind now (see `Topology.frontiers`)."""
        return self.topology.frontiers(
            frozenset(a for a, eps in self.downs.items() if any(e.open for e in eps))
        )

    def _down_around(self, t: datetime) -> frozenset[str]:
        """The devices down around time t: a down episode running at t, or starting within the link
        window after it (a device is often reported down after what sits behind it). By the episodes'
        own times, so steps that arrive out of order see the same cuts."""
        after = t + timedelta(seconds=self.cfg.link_window_s)
        return frozenset(
            a
            for a, eps in self.downs.items()
            if any(e.opened_at <= after and (e.ended_at is None or e.ended_at >= t) for e in eps)
        )

    def _down_episodes(self, asset: str, t: datetime) -> list[Episode]:
        after = t + timedelta(seconds=self.cfg.link_window_s)
        eps = self.downs.get(asset, ())
        return [e for e in eps if e.opened_at <= after and (e.ended_at is None or e.ended_at >= t)]

    def _candidates(self, ep: Episode) -> list[Candidate]:
        t, cfg = ep.opened_at, self.cfg
        window, linger = timedelta(seconds=cfg.link_window_s), timedelta(seconds=cfg.linger_s)
        found: list[Candidate] = []
        prev = self.last.get(ep.fingerprint)
        if prev is not None and (inc := self._joinable(prev.incident_id, t)) is not None:
            found.append(Candidate(inc, prev, "same_alert", f"episode {prev.number} of the same alert", (0,)))
        asset = ep.asset_id
        if asset:
            around = self._down_around(t)
            front = self.topology.frontiers(around).get(asset)
            for down in self._down_episodes(front, t) if front else ():
                if (inc := self._joinable(down.incident_id, t)) is not None:
                    detail = f"behind {self._name(front)}, which is down ({down.event})"
                    found.append(Candidate(inc, down, "unreachable", detail, (1,)))
            near = self.topology.near(asset, cfg.max_hops) if asset in self.topology.nodes else {asset: 0}
            # Two down devices that the pollers both reach directly are two separate cuts: two faults.
            cuts = around | {asset} if cfg.is_down(ep.event) else frozenset()
            own_cut = bool(cuts) and self.topology.is_front(asset, cuts)
            for other, hops in sorted(near.items()):
                if own_cut and other != asset and self.topology.is_front(other, cuts):
                    continue
                for f in self.recent.get(other, ()):
                    if f.fingerprint == ep.fingerprint or abs(f.since - t) > window:
                        continue
                    if f.ended_at is not None and f.ended_at < t - linger:
                        continue
                    if (inc := self._joinable(f.incident_id, t)) is None:
                        continue
                    gap = abs((f.since - t).total_seconds())
                    detail = f"{hops} hop(s) from {self._name(other)} ({f.event}), {gap:.0f} s apart"
                    found.append(Candidate(inc, f, "topology", detail, (2, hops, gap)))
        for rule, others in self.rules.offer(ep, self.topology):
            for f in others:
                if (inc := self._joinable(f.incident_id, t)) is not None:
                    detail = f"rule {rule.name}: {len(others) + 1} within {rule.window_s:.0f} s"
                    found.append(Candidate(inc, f, "rule", detail, (3,)))
        # Tenants are separate customers: nothing relates the alerts of two of them.
        return [c for c in found if c.linked.tenant == ep.tenant]

    def _place(self, ep: Episode) -> None:
        t = ep.opened_at
        candidates = self._candidates(ep)
        self._register(ep)
        if not candidates:
            inc = Incident(incident_id_for(ep.alert_id, ep.number), t, t)
            self.incidents[inc.incident_id] = inc
            self._join(ep, inc, "seed", None, "", t)
        else:
            best = min(candidates, key=lambda c: (*c.rank, c.linked.opened_at, c.linked.alert_id))
            if best.reason == "same_alert":
                ep.origin = best.linked.since
            involved = {c.incident.incident_id: c.incident for c in candidates}
            survivor = min(involved.values(), key=lambda i: (i.opened_at, i.incident_id))
            for other in sorted(involved.values(), key=lambda i: (i.opened_at, i.incident_id)):
                if other is not survivor:
                    why = f"{ep.resource} {ep.event} relates them ({best.reason})"
                    self._merge(other, survivor, t, why)
            self._join(ep, survivor, best.reason, best.linked.alert_id, best.detail, t)
        if ep.asset_id and self.cfg.is_down(ep.event):
            self.downs[ep.asset_id].append(ep)
            self._gather_behind(ep)

    def _register(self, ep: Episode) -> None:
        self.running[ep.fingerprint] = ep
        self.last[ep.fingerprint] = ep
        if ep.asset_id:
            self.recent[ep.asset_id].append(ep)

    def _gather_behind(self, ep: Episode) -> None:
        """E says its device is down: episodes cut off behind it, failing when it went down and started
        within the link window of it, join its incident."""
        window = timedelta(seconds=self.cfg.link_window_s)
        inc = self._live(ep.incident_id)
        cut = self.topology.frontiers(self._down_around(ep.opened_at))
        for asset, front in sorted(cut.items()):
            if front != ep.asset_id:
                continue
            for f in self.recent.get(asset, ()):
                alive = f.ended_at is None or f.ended_at >= ep.opened_at
                if not alive or abs(f.since - ep.opened_at) > window or f.tenant != ep.tenant:
                    continue
                other = self._live(f.incident_id)
                if other is None or other is inc:
                    continue
                older, newer = sorted((inc, other), key=lambda i: (i.opened_at, i.incident_id))
                self._merge(newer, older, ep.opened_at, f"{ep.resource} is down: {f.resource} is behind it")
                inc = older
                m = inc.members[f.key]
                m.reason, m.linked_to = "unreachable", ep.alert_id
                m.detail = f"behind {self._name(ep.asset_id)}, which is down ({ep.event})"
                inc.dirty.add(f.key)

    # -- incident edits ----------------------------------------------------------------------------
    def _join(
        self,
        ep: Episode,
        inc: Incident,
        reason: str,
        linked: str | None,
        detail: str,
        at: datetime,
        arrival: str = "decision",
    ) -> None:
        inc.add(Membership(ep, at, reason, arrival, linked, detail))
        inc.note("grew", f"{ep.resource} {ep.event} joined ({reason})", at)
        inc.settle(at)
        self._dirty.add(inc.incident_id)

    def _merge(self, src: Incident, dst: Incident, at: datetime, why: str) -> None:
        for key in sorted(src.members):
            m = src.remove(key, at)
            dst.add(
                Membership(m.episode, at, m.reason, "merge", m.linked_to, m.detail, None, m.impact, m.revenue)
            )
        src.status, src.merged_into = "merged", dst.incident_id
        src.note("merged", f"merged into {dst.incident_id}: {why}", at)
        dst.note("absorbed", f"absorbed {src.incident_id}: {why}", at)
        dst.opened_at = min(dst.opened_at, src.opened_at)
        dst.settle(at)
        self._dirty.update((src.incident_id, dst.incident_id))

    def _move(self, ep: Episode, dst: Incident, reason: str, linked: str, detail: str, at: datetime) -> None:
        src = self._live(ep.incident_id)
        src.remove(ep.key, at)
        self._dirty.add(src.incident_id)
        if not src.members:
            src.status, src.merged_into = "merged", dst.incident_id
            src.note("merged", f"its alert joined {dst.incident_id} ({reason})", at)
        else:
            src.note("split", f"{ep.resource} {ep.event} moved to {dst.incident_id} ({reason})", at)
            src.settle(at)
        self._join(ep, dst, reason, linked, detail, at)

    def _split(self, inc: Incident, keys: list[Key], at: datetime, why: str) -> Incident:
        moving = sorted((inc.members[k] for k in keys), key=lambda m: (m.episode.opened_at, m.episode.key))
        first = moving[0].episode
        new = Incident(
            incident_id_for(first.alert_id, first.number, "split", at.isoformat()),
            min(m.episode.opened_at for m in moving),
            at,
        )
        self.incidents[new.incident_id] = new
        alerts = {m.episode.alert_id for m in moving}
        for m in moving:
            inc.remove(m.episode.key, at)
            linked = m.linked_to if m.linked_to in alerts else None
            reason = m.reason if linked else "seed"
            new.add(Membership(m.episode, at, reason, "split", linked, m.detail if linked else ""))
        inc.note("split", f"{len(moving)} member(s) split off into {new.incident_id}: {why}", at)
        new.note("split", f"split from {inc.incident_id}: {why}", at)
        inc.settle(at)
        new.settle(at)
        self._dirty.update((inc.incident_id, new.incident_id))
        return new

    def _touch(self, ep: Episode) -> None:
        inc = self._live(ep.incident_id)
        if inc is not None and ep.key in inc.members:
            inc.dirty.add(ep.key)
            inc.updated_at = max(inc.updated_at, self.watermark)
            self._dirty.add(inc.incident_id)

    def _end(self, ep: Episode, at: datetime) -> None:
        ep.ended_at = at
        if self.running.get(ep.fingerprint) is ep:
            del self.running[ep.fingerprint]
        inc = self._live(ep.incident_id)
        if inc is not None:
            inc.dirty.add(ep.key)
            inc.updated_at = max(inc.updated_at, at)
            inc.settle(at)
            self._dirty.add(inc.incident_id)

    # -- periodic work on event time ---------------------------------------------------------------
    def _maybe_step(self) -> None:
        step = timedelta(seconds=self.cfg.dbscan.step_s)
        if self._next_step is None:
            self._next_step = self.watermark + step
        elif self.watermark >= self._next_step:
            self._split_residue(self.watermark)
            self._dbscan(self.watermark)
            self._prune(self.watermark)
            self._next_step = self.watermark + step

    def pending_members(self, at_least: int | None = None) -> int:
        """Memberships changed since the last flush (what the next records will carry); with
        `at_least`, counting stops once that many are found (a storm leaves thousands of incidents
        dirty, and the caller only asks whether a record is full)."""
        total = 0
        for iid in self._dirty:
            inc = self.incidents.get(iid)
            if inc is not None:
                total += len(inc.dirty) + len(inc.departed)
                if at_least is not None and total >= at_least:
                    break
        return total

    # -- output ------------------------------------------------------------------------------------
    def flush(self) -> list[IncidentChanged]:
        """The records of every incident changed since the last flush, in incident id order."""
        out = []
        cut = self.cut()
        for iid in sorted(self._dirty):
            inc = self.incidents.get(iid)
            if inc is None or not inc.changed():
                continue
            episodes = inc.episodes
            depth = self.cfg.dependents_depth
            if episodes:
                # A cut is evidence only while the device is down: the incident remembers what its
                # members sat behind, so the root and the blast radius outlive the recovery.
                assets = {e.asset_id for e in episodes}
                # A frontier replaces the one remembered only when it is further up (the old one is
                # now behind it), not when the device in front recovers first.
                for a, front in cut.items():
                    old = inc.behind.get(a)
                    if (a in assets or front in assets) and (old is None or cut.get(old) == front):
                        inc.behind[a] = front
                inc.root = root_cause(episodes, self.topology, inc.behind, self.cfg.root_share, depth)
                inc.rca = self.ranker.rank(episodes, self.topology, self.online) if self.ranker else None
                inc.impact = impact(
                    episodes, self.topology, inc.behind, inc.opened_at, inc.updated_at, depth, self.cfg.rank
                )
            for key in inc.dirty:
                m = inc.members[key]
                own = impact(
                    [m.episode],
                    self.topology,
                    inc.behind,
                    m.episode.opened_at,
                    inc.updated_at,
                    depth,
                    self.cfg.rank,
                )
                m.impact, m.revenue = own.score, own.revenue_per_hour
            self.seq += 1
            out.append(inc.record(self.seq, self._title(inc), self._severity(inc), inc.impact))
        self._dirty.clear()
        return out

    def _severity(self, inc: Incident) -> str:
        eps = [e for e in inc.episodes if e.open] or inc.episodes
        return min((e.severity for e in eps), key=lambda s: (self.cfg.rank(s), s), default="indeterminate")

    def _title(self, inc: Incident) -> str:
        eps = sorted(inc.episodes, key=lambda e: (self.cfg.rank(e.severity), e.opened_at, e.key))
        if not eps:
            return f"merged into {inc.merged_into}"
        head = next((e for e in eps if inc.root and e.alert_id == inc.root.alert_id), eps[0])
        name = self._name(head.asset_id) if head.asset_id else head.resource
        more = f" and {len(eps) - 1} related alert(s)" if len(eps) > 1 else ""
        return f"{name}: {head.title or head.event}{more}"

    # -- restart -----------------------------------------------------------------------------------
    def restore(self, records: Iterable[IncidentChanged]) -> None:
        """Rebuild the state from the stage's own output (all of it, in order)."""
        rebuild(self, records)
