"""Features of an incident's root-cause candidates: pure, from its members and the topology.

Candidates are the member assets and the assets the topology implies without an alert of their own:
those on the pollers' path in front of the members (their upstream, up to `UPSTREAM` hops) and what
the members run on or depend on (two hops), so a root device that never alerted can still be named.
Every feature is a number; `NAMES` gives their order (the model's input columns).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ems.ml.correlation.topology import Topology

UPSTREAM = 3  # hops towards the pollers looked at for an upstream candidate
DEPENDENCY_HOPS = 2  # runs_on / depends_on hops looked at for a dependency candidate
MAX_CANDIDATES = 60
DELAY_CAP_S = 600.0
ALERT_TYPES = {  # first match wins, on the event name
    "unreachable": re.compile(r"(?i)unreachable|node ?down|host ?down|instance ?stopped|not respond|ping"),
    "link": re.compile(r"(?i)link|interface|port ?down|bgp|ospf"),
    "performance": re.compile(r"(?i)cpu|latency|response ?time|slow|memory|load|burn|saturat|anomal"),
    "error": re.compile(r"(?i)error|fail|full|unhealthy|exception|crash"),
}
WORD = re.compile(r"\S+")
ASSET_TYPES = ("router", "switch", "server", "vm", "database", "application")
NAMES = (
    "alerted",  # the candidate has a member alert
    "first_rank",  # its first alert's rank among the members' assets by start (0 first), 1 never
    "delay",  # its first alert's start after the incident's first, / 600 s (1: never)
    *(f"alert_{t}" for t in ALERT_TYPES),
    *(f"type_{t}" for t in ASSET_TYPES),
    "criticality",  # 1-5 / 5
    "poller_hops",  # distance to the nearest poller / 10 (1: not reached)
    "behind_share",  # share of the other alerting assets the pollers reach only through it
    "behind_count",  # log1p of that number
    "behind_alerting",  # share of what is reachable only through it that alerts
    "dependents_share",  # share of the other alerting assets that depend on it (or run on it)
    "dependents_alerting",  # share of its dependents that alert
    "hosted_share",  # share of the other alerting assets that run on it (runs_on, 3 hops)
    "explained_performance",  # share of the alerting assets it explains (behind, dependents) slow
    "explained_unreachable",  # ... unreachable
    "explained_error",  # ... reporting errors
    "upstream_alerting",  # share of its upstream (towards the pollers, 3 hops) that alerts
    "upstream_down",  # an asset in front of it is reported unreachable
    "neighbour_link",  # a neighbour reports a link down
    "neighbours_alerting",  # share of its neighbours that alert
    "members",  # log1p of the incident's alerting assets
)
INDEX = {name: i for i, name in enumerate(NAMES)}


class Evidence(Protocol):
    """What a member needs to offer (an `Episode` or a `Member`)."""

    alert_id: str
    asset_id: str | None
    event: str
    title: str
    opened_at: datetime


@dataclass(frozen=True)
class Named:
    """A member that names no asset, as evidence on the asset its title names."""

    alert_id: str
    asset_id: str
    event: str
    title: str
    opened_at: datetime


@dataclass(frozen=True)
class Candidate:
    """One asset that may be the root cause, its first alert (if any) and its feature values."""

    asset_id: str
    alert_id: str | None
    event: str | None
    values: tuple[float, ...]
    behind: int  # other alerting assets reachable only through it
    dependents: int  # other alerting assets that depend on it
    others: int  # other alerting assets

    def get(self, name: str) -> float:
        return self.values[INDEX[name]]


def alert_type(event: str) -> str:
    """unreachable / link / performance / error / other, from an event name."""
    return next((name for name, pattern in ALERT_TYPES.items() if pattern.search(event)), "other")


def _upstream(topology: Topology, asset: str, hops: dict[str, int]) -> tuple[str, ...]:
    """The assets in front of `asset` on its way to the pollers (nearest first, ties by id); `hops` is
    `topology.poller_hops()` (remembered per asset until the topology changes)."""
    return topology.memo("upstream", asset, lambda: _walk_upstream(topology, asset, hops))


def _walk_upstream(topology: Topology, asset: str, hops: dict[str, int]) -> tuple[str, ...]:
    out, here = [], asset
    for _ in range(UPSTREAM):
        if here not in hops:
            break
        closer = [n for n in topology.linked(here) if hops.get(n, math.inf) < hops[here]]
        if not closer:
            break
        here = closer[0]
        out.append(here)
    return tuple(out)


def _dependencies(topology: Topology, asset: str) -> tuple[str, ...]:
    def walk() -> tuple[str, ...]:
        out, frontier = [], [asset]
        for _ in range(DEPENDENCY_HOPS):
            frontier = sorted(
                t for a in frontier for kind, t in topology.targets(a) if kind != "connected_to"
            )
            out.extend(t for t in frontier if not topology.is_hub(t))
        return tuple(out)

    return topology.memo("dependencies", asset, walk)


def _hosts(topology: Topology, asset: str) -> frozenset[str]:
    """What `asset` runs on, directly or through its host (3 hops of `runs_on`)."""

    def walk() -> frozenset[str]:
        out, here = set(), {asset}
        for _ in range(3):
            here = {t for a in here for kind, t in topology.targets(a) if kind == "runs_on"} - out
            out |= here
        return frozenset(out)

    return topology.memo("hosts", asset, walk)


def _needs(topology: Topology, asset: str) -> frozenset[str]:
    """What depends on `asset` (reverse dependency edges), itself excluded."""
    return topology.memo("needs", asset, lambda: frozenset(topology.dependents([asset])) - {asset})


def _linked(topology: Topology, asset: str) -> tuple[str, ...]:
    return topology.memo("linked", asset, lambda: tuple(topology.linked(asset)))


def resolved(members: Sequence[Evidence], topology: Topology) -> list[Evidence]:
    """The members as evidence on assets: one that names no asset but whose title names one by its
    registry name (a load balancer's "target cloud-app-3 failed health checks") counts for that asset;
    services are not assets here (an SLO alert names its service)."""
    out: list[Evidence] = []
    for m in members:
        if m.asset_id is None:
            words = (w.strip(".,;:()[]'\"") for w in WORD.findall(m.title or ""))
            asset = next((a for w in words if (a := topology.named(w))), None)
            if asset is not None:
                m = Named(m.alert_id, asset, m.event, m.title, m.opened_at)
        out.append(m)
    return out


def candidates_of(members: Sequence[Evidence], topology: Topology) -> list[str]:
    """Member assets first (by first start), then implied ones (upstream, dependencies), at most 60;
    a member that names no asset counts for the asset its title names (`resolved`)."""
    members = resolved(members, topology)
    firsts: dict[str, datetime] = {}
    for m in members:
        if m.asset_id and (m.asset_id not in firsts or m.opened_at < firsts[m.asset_id]):
            firsts[m.asset_id] = m.opened_at
    own = sorted(firsts, key=lambda a: (firsts[a], a))
    hops = topology.poller_hops()
    implied: list[str] = []
    for asset in own:
        for other in (*_upstream(topology, asset, hops), *_dependencies(topology, asset)):
            if other not in firsts and other not in implied and other in topology.nodes:
                implied.append(other)
    return (own + sorted(implied))[:MAX_CANDIDATES]


def build(members: Sequence[Evidence], topology: Topology) -> list[Candidate]:
    """The candidates of an incident with their features (empty when no member names an asset, in
    its asset or its title)."""
    members = resolved(members, topology)
    firsts: dict[str, Evidence] = {}
    for m in sorted(members, key=lambda m: (m.opened_at, m.alert_id)):
        if m.asset_id and m.asset_id not in firsts:
            firsts[m.asset_id] = m
    if not firsts:
        return []
    start = min(m.opened_at for m in members)
    order = {a: i for i, a in enumerate(firsts)}
    events: dict[str, set[str]] = {}
    for m in members:
        if m.asset_id:
            events.setdefault(m.asset_id, set()).add(alert_type(m.event))
    alerting = set(firsts)
    hosts = {a: _hosts(topology, a) for a in alerting}
    hops = topology.poller_hops()
    out = []
    for asset in candidates_of(members, topology):
        others = alerting - {asset}
        first = firsts.get(asset)
        node = topology.nodes.get(asset)
        behind = topology.only_through(asset)
        needs = _needs(topology, asset)
        up = _upstream(topology, asset, hops)
        near = _linked(topology, asset)
        kinds = events.get(asset, set())
        n_others = max(1, len(others))
        explained = (behind | needs) & others
        n_explained = max(1, len(explained))
        values = {
            "alerted": float(first is not None),
            "first_rank": order[asset] / max(1, len(order) - 1) if first else 1.0,
            "delay": min(1.0, (first.opened_at - start).total_seconds() / DELAY_CAP_S) if first else 1.0,
            **{f"alert_{t}": float(t in kinds) for t in ALERT_TYPES},
            **{f"type_{t}": float(node is not None and node.type == t) for t in ASSET_TYPES},
            "criticality": (node.criticality or 0) / 5 if node else 0.0,
            "poller_hops": min(1.0, hops[asset] / 10) if asset in hops else 1.0,
            "behind_share": len(behind & others) / n_others,
            "behind_count": math.log1p(len(behind & others)),
            "behind_alerting": len(behind & alerting) / len(behind) if behind else 0.0,
            "dependents_share": len(needs & others) / n_others,
            "dependents_alerting": len(needs & alerting) / len(needs) if needs else 0.0,
            "hosted_share": sum(1 for a in others if asset in hosts[a]) / n_others,
            **{
                f"explained_{t}": sum(1 for a in explained if t in events.get(a, ())) / n_explained
                for t in ("performance", "unreachable", "error")
            },
            "upstream_alerting": sum(1 for u in up if u in alerting) / len(up) if up else 0.0,
            "upstream_down": float(any("unreachable" in events.get(u, ()) for u in up)),
            "neighbour_link": float(any("link" in events.get(n, ()) for n in near)),
            "neighbours_alerting": sum(1 for n in near if n in alerting) / len(near) if near else 0.0,
            "members": math.log1p(len(alerting)),
        }
        out.append(
            Candidate(
                asset_id=asset,
                alert_id=first.alert_id if first else None,
                event=first.event if first else None,
                values=tuple(float(values[n]) for n in NAMES),
                behind=len(behind & others),
                dependents=len(needs & others),
                others=len(others),
            )
        )
    return out
