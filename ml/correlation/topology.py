"""The asset graph as the correlation sees it, built from asset snapshots (`AssetChanged`).

Three views of the same edges:
- **near** (grouping): `connected_to`, `runs_on` and `depends_on`, all without direction (a link has
  none, and a failure travels both ways along a dependency); hubs (business services, by type) are
  endpoints, never crossed, so two applications of one service are not neighbours through it.
- **reach** (the poller's path): `connected_to` and `runs_on`, without direction. Assets tagged
  `poller` are where monitoring sits; an asset that no path from them reaches once the devices that
  are down are removed is *cut off*, behind the first down device on its way (its frontier).
- **dependents** (impact): the reverse of `depends_on`, `runs_on` and `member_of` (what needs an asset).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ems.schemas.asset import Asset

NEAR_EDGES = frozenset({"connected_to", "runs_on", "depends_on"})
REACH_EDGES = frozenset({"connected_to", "runs_on"})
DEPENDENCY_EDGES = frozenset({"depends_on", "runs_on", "member_of"})
SERVICE_TYPES = frozenset({"service", "business_service"})
POLLER_TAG = "poller"
T = TypeVar("T")
MEMO_KEPT = 65_536  # derived walks remembered (`Topology.memo`) until an asset changes
CUTS_KEPT = 64  # down sets whose cuts are remembered (steps out of order ask for past ones)


@dataclass(frozen=True)
class Node:
    """What the correlation needs of one asset."""

    asset_id: str
    name: str
    type: str
    site: str | None = None
    criticality: int | None = None
    revenue_per_hour: float = 0.0
    users_served: int = 0
    business_service: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def is_service(self) -> bool:
        return self.type in SERVICE_TYPES or self.revenue_per_hour > 0 or self.users_served > 0

    @classmethod
    def of(cls, asset: Asset) -> Node:
        site = asset.location or asset.attributes.get("site")
        return cls(
            asset_id=asset.asset_id,
            name=asset.name,
            type=asset.type,
            site=str(site) if site else None,
            criticality=asset.criticality,
            revenue_per_hour=asset.revenue_per_hour or 0.0,
            users_served=asset.users_served or 0,
            business_service=asset.business_service,
            tags=tuple(asset.tags),
        )


@dataclass
class Topology:
    """Asset nodes and edges, with the walks the correlation uses; `version` moves on every edge change."""

    nodes: dict[str, Node] = field(default_factory=dict)
    version: int = 0
    _edges: dict[str, frozenset[tuple[str, str]]] = field(default_factory=dict)  # source -> (type, target)
    _near: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    _reach: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    _dependents: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    _cuts: dict[tuple[frozenset[str], int], dict[str, str]] = field(default_factory=dict)
    _behind: dict[tuple[str, int], frozenset[str]] = field(default_factory=dict)
    _depth: tuple[int, dict[str, int]] | None = None
    _anchors: tuple[int, list[str]] | None = None
    _islands: tuple[int, dict[str, frozenset[str]]] | None = None
    _memo: dict[tuple[str, str], Any] = field(default_factory=dict)
    _names: dict[str, str] | None = None

    def upsert(self, asset: Asset) -> bool:
        """Take an asset's latest snapshot; True when its edges changed. A retired asset has none."""
        node = Node.of(asset)
        old_node = self.nodes.get(asset.asset_id)
        if old_node != node:
            self._memo.clear()
        if old_node is None or (old_node.name, old_node.type) != (node.name, node.type):
            self._names = None
        self.nodes[asset.asset_id] = node
        edges = (
            frozenset()
            if asset.lifecycle == "retired"
            else frozenset((e.type, e.target) for e in asset.edges)
        )
        old = self._edges.get(asset.asset_id, frozenset())
        if edges == old:
            return False
        for kind, target in old - edges:
            self._link(asset.asset_id, kind, target, -1)
        for kind, target in edges - old:
            self._link(asset.asset_id, kind, target, +1)
        self._edges[asset.asset_id] = edges
        self.version += 1
        self._cuts.clear()
        self._behind.clear()
        self._memo.clear()
        return True

    def memo(self, kind: str, key: str, compute: Callable[[], T]) -> T:
        """`compute()`'s value for (`kind`, `key`), computed once until an asset or an edge changes:
        for walks derived from the graph and its nodes alone (the root-cause features' per asset).
        The value is shared: callers must not change it."""
        found = self._memo.get((kind, key), self._memo)
        if found is self._memo:
            if len(self._memo) >= MEMO_KEPT:
                self._memo.clear()
            found = self._memo[(kind, key)] = compute()
        return found

    def _link(self, source: str, kind: str, target: str, step: int) -> None:
        def count(adjacency: dict[str, dict[str, int]], a: str, b: str) -> None:
            n = adjacency[a].get(b, 0) + step
            if n > 0:
                adjacency[a][b] = n
            else:
                adjacency[a].pop(b, None)

        if kind in NEAR_EDGES:
            count(self._near, source, target)
            count(self._near, target, source)
        if kind in REACH_EDGES:
            count(self._reach, source, target)
            count(self._reach, target, source)
        if kind in DEPENDENCY_EDGES:
            count(self._dependents, target, source)

    def targets(self, asset_id: str) -> frozenset[tuple[str, str]]:
        """The asset's own edges: (type, target)."""
        return self._edges.get(asset_id, frozenset())

    def linked(self, asset_id: str) -> list[str]:
        """Neighbours on the poller's path view (`connected_to`, `runs_on`, both ways)."""
        return sorted(self._reach.get(asset_id, ()))

    def anchors(self) -> list[str]:
        """Where the pollers' walks start: the pollers, and for each island of the path view they do
        not reach (an edge missing from the registry), its most critical, best-linked asset."""
        if self._anchors is not None and self._anchors[0] == self.version:
            return self._anchors[1]
        pollers = self.pollers
        seen: set[str] = set()
        out = list(pollers)
        for start in [*pollers, *sorted(set(self.nodes) | set(self._reach))]:
            if start in seen:
                continue
            island, queue = {start}, deque([start])
            while queue:
                for there in self._reach.get(queue.popleft(), ()):
                    if there not in island:
                        island.add(there)
                        queue.append(there)
            seen |= island
            if not island & set(pollers) and len(island) > 1:

                def key(a: str) -> tuple[int, int, str]:
                    node = self.nodes.get(a)
                    return (-((node.criticality or 0) if node else 0), -len(self._reach.get(a, ())), a)

                out.append(min(island, key=key))
        self._anchors = (self.version, out)
        return out

    def _walk(self, without: str | None, within: frozenset[str] | None = None) -> dict[str, int]:
        pollers = [p for p in self.anchors() if p != without and (within is None or p in within)]
        dist = {p: 0 for p in pollers}
        queue = deque(pollers)
        while queue:
            here = queue.popleft()
            for there in self._reach.get(here, ()):
                if there not in dist and there != without:
                    dist[there] = dist[here] + 1
                    queue.append(there)
        return dist

    def island(self, asset_id: str) -> frozenset[str]:
        """The assets connected to `asset_id` in the path view, itself included (cached per version)."""
        if self._islands is None or self._islands[0] != self.version:
            self._islands = (self.version, {})
        islands = self._islands[1]
        if asset_id not in islands:
            found, queue = {asset_id}, deque([asset_id])
            while queue:
                for there in self._reach.get(queue.popleft(), ()):
                    if there not in found:
                        found.add(there)
                        queue.append(there)
            frozen = frozenset(found)
            islands.update(dict.fromkeys(frozen, frozen))
        return islands[asset_id]

    def poller_hops(self) -> dict[str, int]:
        """Hops from the nearest anchor (poller, or an island's anchor) of every asset it reaches
        (cached per topology version)."""
        if self._depth is None or self._depth[0] != self.version:
            self._depth = (self.version, self._walk(None))
        return self._depth[1]

    def only_through(self, asset_id: str) -> frozenset[str]:
        """What the pollers reach only through `asset_id` (cut off if it went down); cached."""
        key = (asset_id, self.version)
        if key not in self._behind:
            if len(self._behind) >= 4096:
                self._behind.clear()
            # Removing it changes nothing outside its island: walk that island only (a registry of
            # many sites or customers costs one island per candidate, not the whole graph).
            island = self.island(asset_id)
            reached = self.poller_hops()
            kept = self._walk(asset_id, island)
            self._behind[key] = frozenset(
                a for a in island if a in reached and a not in kept and a != asset_id
            )
        return self._behind[key]

    def named(self, name: str) -> str | None:
        """The asset called `name` (not a hub), None when none is or when several are: a name two
        assets share is no evidence of either."""
        if self._names is None:
            names: dict[str, str | None] = {}
            for asset_id in sorted(self.nodes):
                if not self.is_hub(asset_id):
                    n = self.nodes[asset_id].name
                    names[n] = None if n in names else asset_id
            self._names = names
        return self._names.get(name)

    def is_hub(self, asset_id: str) -> bool:
        node = self.nodes.get(asset_id)
        return node is not None and node.type in SERVICE_TYPES

    def near(self, asset_id: str, limit: int) -> dict[str, int]:
        """Assets within `limit` hops of the grouping view (hubs are reached but not crossed)."""
        dist = {asset_id: 0}
        queue = deque([asset_id])
        while queue:
            here = queue.popleft()
            if dist[here] >= limit or (here != asset_id and self.is_hub(here)):
                continue
            for there in sorted(self._near.get(here, ())):
                if there not in dist:
                    dist[there] = dist[here] + 1
                    queue.append(there)
        return dist

    def hops(self, a: str, b: str, limit: int) -> int | None:
        """Grouping distance between two assets, None beyond `limit`."""
        return 0 if a == b else self.near(a, limit).get(b)

    def dependents(self, assets: Iterable[str], depth: int = 8) -> dict[str, int]:
        """`assets` and everything that needs them (reverse dependency edges), with the distance."""
        dist = {a: 0 for a in assets}
        queue = deque(sorted(dist))
        while queue:
            here = queue.popleft()
            if dist[here] >= depth:
                continue
            for there in sorted(self._dependents.get(here, ())):
                if there not in dist:
                    dist[there] = dist[here] + 1
                    queue.append(there)
        return dist

    @property
    def pollers(self) -> list[str]:
        return sorted(a for a, n in self.nodes.items() if POLLER_TAG in n.tags)

    def is_front(self, asset_id: str, down: frozenset[str]) -> bool:
        """Whether a down device is a frontier: the pollers reach it, nothing down stands in front."""
        return bool(self.pollers) and asset_id in down and asset_id not in self.frontiers(down)

    def frontiers(self, down: frozenset[str]) -> dict[str, str]:
        """Cut-off asset -> the down device it sits behind (nearest frontier, ties by id).

        Reached = what a walk from the pollers reaches without entering a down device. A down
        device next to a reached asset is a frontier (its own fault, nothing in front of it); every
        asset the walk did not reach is labelled with the frontier a walk from the frontiers finds
        first. Empty without pollers: then nothing is known to be cut off."""
        key = (down, self.version)
        if key in self._cuts:
            return self._cuts[key]
        pollers = [p for p in self.pollers if p not in down]
        reached = set(pollers)
        queue = deque(pollers)
        while queue:
            here = queue.popleft()
            for there in self._reach.get(here, ()):
                if there not in reached and there not in down:
                    reached.add(there)
                    queue.append(there)
        fronts = sorted(d for d in down if any(n in reached for n in self._reach.get(d, ())))
        label: dict[str, str] = {}
        queue = deque()
        for d in fronts:
            label[d] = d
            queue.append(d)
        while queue:
            here = queue.popleft()
            for there in sorted(self._reach.get(here, ())):
                if there not in reached and there not in label:
                    label[there] = label[here]
                    queue.append(there)
        result = {a: f for a, f in label.items() if a != f} if pollers else {}
        if len(self._cuts) >= CUTS_KEPT:
            self._cuts.pop(next(iter(self._cuts)))
        self._cuts[key] = result
        return result
