"""The correlator's periodic work on event time, and its re-check after a topology change.

Mixed into `Correlator` (engine.py), whose state and incident edits (`_split`, `_move`) it uses:
- `_split_residue`: an incident whose root cause ended more than `split_after_s` ago splits off its
  members still failing (they proved unrelated to it);
- `_dbscan`: DBSCAN over the open episodes of the window; single-episode incidents in a cluster join
  the multi-member incident of their nearest clustered neighbour, or gather with each other;
- `_recheck_topology`: a member linked by topology with no member within `max_hops` any more splits off;
- `_prune`: forget what no decision can use any more (memory stays bounded).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from ems.ml.correlation.dbscan import clusters

MAX_DBSCAN_SINGLES = 400


def _marks(e) -> set[str]:
    return {*e.service, *(f"tag:{t}" for t in e.tags)}


class Maintenance:
    """Periodic splits, DBSCAN and pruning (see the module docstring)."""

    def _split_residue(self, now: datetime) -> None:
        after = timedelta(seconds=self.cfg.split_after_s)
        for inc in sorted(self.incidents.values(), key=lambda i: i.incident_id):
            if inc.status != "open" or inc.root is None:
                continue
            roots = [m.episode for m in inc.members.values() if m.episode.asset_id == inc.root.asset_id]
            if not roots or any(e.open for e in roots) or max(e.ended_at for e in roots) + after > now:
                continue
            keys = [k for k, m in inc.members.items() if m.episode.open]
            if keys:
                self._split(
                    inc, keys, now, f"still failing {self.cfg.split_after_s:.0f} s after the root resolved"
                )

    def _dbscan(self, now: datetime) -> None:
        cfg = self.cfg.dbscan
        start = now - timedelta(seconds=cfg.window_s)
        fresh = sorted(
            (e for e in self.running.values() if e.opened_at >= start and e.incident_id),
            key=lambda e: (e.opened_at, e.key),
        )
        singles, held = [], []
        for e in fresh:
            inc = self._live(e.incident_id)
            if inc is not None and inc.status == "open":
                (singles if len(inc.members) == 1 else held).append(e)
        singles = singles[-MAX_DBSCAN_SINGLES:]
        if not singles:
            return
        # Members of larger incidents stand in as anchors: those sharing a service or tag with a
        # single first, then the earliest, at most `anchors` per incident.
        marks = set().union(*(_marks(e) for e in singles))
        taken: dict[str, int] = defaultdict(int)
        anchors = []
        for e in sorted(
            held, key=lambda e: (not marks & {*e.service, *(f"tag:{t}" for t in e.tags)}, e.opened_at, e.key)
        ):
            if taken[e.incident_id] < cfg.anchors:
                taken[e.incident_id] += 1
                anchors.append(e)
        points = sorted(singles + anchors, key=lambda e: (e.opened_at, e.key))
        is_single = {id(e) for e in singles}
        labels, matrix = clusters(points, self.topology, cfg)
        for label in sorted(set(labels.tolist()) - {-1}):
            idx = [i for i, x in enumerate(labels) if x == label]
            lone = [i for i in idx if id(points[i]) in is_single]
            held = [i for i in idx if id(points[i]) not in is_single]
            if not lone or (not held and len(lone) < 2):
                continue
            if not held:  # singles only: they gather in the oldest one's incident
                held, lone = lone[:1], lone[1:]
            for i in lone:
                j = min(held, key=lambda k: (matrix[i, k], k))
                target = self._live(points[j].incident_id)
                detail = f"DBSCAN distance {matrix[i, j]:.2f} <= eps {cfg.eps} to {points[j].resource}"
                self._move(points[i], target, "dbscan", points[j].alert_id, detail, now)
                held.append(i)

    def _recheck_topology(self, now: datetime) -> None:
        """After an edge change: topology-linked members with no member left nearby split off."""
        for inc in sorted(self.incidents.values(), key=lambda i: i.incident_id):
            if inc.status != "open" or len(inc.members) < 2:
                continue
            on: dict[str, int] = defaultdict(int)
            for m in inc.members.values():
                if m.episode.asset_id:
                    on[m.episode.asset_id] += 1
            lost = []
            for key, m in sorted(inc.members.items()):
                a = m.episode.asset_id
                if m.reason != "topology" or not a or on[a] > 1:
                    continue
                near = self.topology.near(a, self.cfg.max_hops)
                if not any(b in near for b in on if b != a):
                    lost.append(key)
            if lost and len(lost) < len(inc.members):
                self._split(inc, lost, now, "the topology no longer links it to the incident")

    def _prune(self, now: datetime) -> None:
        cfg = self.cfg
        keep = timedelta(seconds=max(cfg.link_window_s, cfg.linger_s, cfg.dbscan.window_s))
        horizon = now - keep
        for asset in list(self.downs):
            kept = [e for e in self.downs[asset] if e.open or e.ended_at >= horizon]
            if kept:
                self.downs[asset] = kept
            else:
                del self.downs[asset]
        for asset in list(self.recent):
            kept = [e for e in self.recent[asset] if e.opened_at >= horizon or e.open]
            if kept:
                self.recent[asset] = kept
            else:
                del self.recent[asset]
        linger = now - timedelta(seconds=cfg.linger_s)
        for fp in [fp for fp, e in self.last.items() if not e.open and e.ended_at < linger]:
            del self.last[fp]
        for iid in list(self.incidents):
            inc = self.incidents[iid]
            done = inc.status == "merged" or (inc.status == "resolved" and inc.resolved_at < linger)
            if done and iid not in self._dirty and not inc.changed():
                del self.incidents[iid]
        self.rules.forget_before(now)
