"""Business impact and the topology root of a group of episodes.

Impact (0-100) = 100 x the weighted sum of five components, each 0-1:
- criticality: the highest criticality (1-5) of the affected assets / 5 (unknown: 1);
- services: the business services reached through the dependency graph (assets with revenue or users,
  or of type service): log10(1 + revenue/h) / log10(1 + REVENUE_REF), or the same for users if higher;
- blast_radius: 1 - exp(-affected assets / BLAST_REF), affected = the members' assets, the assets cut
  off behind a member that is down, and everything that depends on them;
- severity: of the most severe open member (critical 1, major 0.8, minor 0.6, warning 0.4, else 0.2);
- duration: (last change - opened) / 1 h, at most 1 (event time: no wall clock).
Revenue at risk per hour is the sum over the distinct services reached.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

from ems.ml.correlation.episodes import Episode
from ems.ml.correlation.topology import Topology
from ems.schemas.incident import Impact, RootCause, Service

WEIGHTS = {"criticality": 0.2, "services": 0.35, "blast_radius": 0.15, "severity": 0.2, "duration": 0.1}
SEVERITY_WEIGHT = {"critical": 1.0, "major": 0.8, "minor": 0.6, "warning": 0.4}
REVENUE_REF = 100_000.0  # revenue/h worth the whole "services" component
USERS_REF = 1_000_000.0
BLAST_REF = 25.0


def affected(
    members: Sequence[Episode], topology: Topology, cut: dict[str, str], depth: int
) -> dict[str, int]:
    """Assets affected by the members: theirs, those cut off behind them, and their dependents."""
    own = {e.asset_id for e in members if e.asset_id}
    behind = {a for a, front in cut.items() if front in own}
    return topology.dependents(sorted(own | behind), depth)


def services_of(assets: Iterable[str], members: Sequence[Episode], topology: Topology) -> list[Service]:
    """The business services among `assets`, and those the members or assets name (by service name)."""
    found: dict[str, Service] = {}
    by_name = {n.name: n for n in topology.nodes.values() if n.is_service}
    named = {s for e in members for s in e.service}
    for asset_id in assets:
        node = topology.nodes.get(asset_id)
        if node is None:
            continue
        if node.is_service:
            named.add(node.name)
        if node.business_service:
            named.add(node.business_service)
    for name in sorted(named):
        node = by_name.get(name)
        if node is not None:
            found[node.asset_id] = Service(
                asset_id=node.asset_id,
                name=node.name,
                revenue_per_hour=node.revenue_per_hour,
                users_served=node.users_served,
            )
    return [found[k] for k in sorted(found)]


def _scaled(value: float, reference: float) -> float:
    return min(1.0, math.log10(1 + value) / math.log10(1 + reference)) if value > 0 else 0.0


def impact(
    members: Sequence[Episode],
    topology: Topology,
    cut: dict[str, str],
    opened_at: datetime,
    now: datetime,
    depth: int = 8,
    rank=None,
) -> Impact:
    """The impact of a group of episodes as of `now` (the event time of its last change)."""
    area = affected(members, topology, cut, depth)
    services = services_of(area, members, topology)
    revenue = sum(s.revenue_per_hour for s in services)
    users = sum(s.users_served for s in services)
    crit = [topology.nodes[a].criticality for a in area if a in topology.nodes]
    criticality = max((c for c in crit if c), default=0)
    current = [e for e in members if e.open] or list(members)
    worst = min(current, key=lambda e: (rank(e.severity) if rank else 0, e.severity)).severity
    duration = max(0, int((now - opened_at).total_seconds()))
    blast = max(len(area), len({e.asset_id for e in members}))
    components = {
        "criticality": (criticality or 1) / 5,
        "services": max(_scaled(revenue, REVENUE_REF), _scaled(users, USERS_REF)),
        "blast_radius": 1 - math.exp(-blast / BLAST_REF),
        "severity": SEVERITY_WEIGHT.get(worst, 0.2),
        "duration": min(1.0, duration / 3600),
    }
    score = 100 * sum(WEIGHTS[k] * v for k, v in components.items())
    return Impact(
        score=round(min(100.0, score), 1),
        revenue_per_hour=round(revenue, 2),
        users=min(users, 2**31 - 1),
        services=services,
        blast_radius=blast,
        criticality=criticality,
        severity=worst,
        duration_s=min(duration, 2**31 - 1),
        components={k: round(v, 4) for k, v in components.items()},
        weights=WEIGHTS,
    )


def root_cause(
    members: Sequence[Episode], topology: Topology, cut: dict[str, str], share: float, depth: int = 8
) -> RootCause | None:
    """The member whose asset explains the others: they sit behind it (cut off when it is down) or
    depend on it. Evident only when it explains at least `share` of the other member assets."""
    assets = sorted({e.asset_id for e in members if e.asset_id})
    if len(assets) < 2:
        return None
    best: tuple[int, str, str] | None = None
    for asset in assets:
        behind = {a for a, front in cut.items() if front == asset}
        needs = set(topology.dependents([asset], depth))
        explained = len((behind | needs) & set(assets) - {asset})
        why = "cut off behind it" if behind & set(assets) else "depend on it"
        if explained and (best is None or explained > best[0]):
            best = (explained, asset, why)
    if best is None or best[0] < share * (len(assets) - 1):
        return None
    explained, asset, why = best
    first = min((e for e in members if e.asset_id == asset), key=lambda e: (e.opened_at, e.alert_id))
    name = topology.nodes[asset].name if asset in topology.nodes else asset
    return RootCause(
        alert_id=first.alert_id,
        asset_id=asset,
        explains=explained,
        of=len(assets) - 1,
        evidence=f"{explained} of {len(assets) - 1} other assets {why} ({name}: {first.event})"[:256],
    )
