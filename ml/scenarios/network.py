"""Generated topologies: sites with a core/distribution/access network, servers, VMs, databases,
applications and business services with revenue, plus a cloud region of instances.

The generator keeps the tree it built (`children`: what sits behind each device or host), which the
faults use to know what a failure takes down; the correlation only sees the edges.
"""

from __future__ import annotations

import random
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ems.schemas.asset import Asset, Edge
from ems.schemas.identity import asset_id_for

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
SERVICES = ("checkout", "payments", "search", "accounts", "catalog", "shipping")


@dataclass
class Spec:
    """One generated asset."""

    asset_id: str
    name: str
    type: str
    site: str
    criticality: int
    edges: list[tuple[str, str]] = field(default_factory=list)  # (type, target)
    tags: list[str] = field(default_factory=list)
    revenue_per_hour: float | None = None
    users_served: int | None = None
    business_service: str | None = None

    def create_args(self) -> dict:
        """The `asset.create` args (and the `ems assets import` JSON) of this asset."""
        args = {
            "id": self.asset_id,
            "name": self.name,
            "type": self.type,
            "location": self.site,
            "criticality": self.criticality,
            "tags": self.tags,
            "dependencies": [{"type": t, "target": x} for t, x in self.edges],
        }
        for key in ("revenue_per_hour", "users_served", "business_service"):
            if getattr(self, key) is not None:
                args[key] = getattr(self, key)
        return args

    def asset(self) -> Asset:
        """The registry snapshot this asset would have (for the offline evaluation)."""
        return Asset(
            asset_id=self.asset_id,
            name=self.name,
            type=self.type,
            location=self.site,
            criticality=self.criticality,
            tags=self.tags,
            revenue_per_hour=self.revenue_per_hour,
            users_served=self.users_served,
            business_service=self.business_service,
            edges=[Edge(type=t, target=x) for t, x in self.edges],
            created_at=EPOCH,
            updated_at=EPOCH,
        )


@dataclass
class Network:
    """The generated assets and the generator's own knowledge of them."""

    prefix: str
    specs: dict[str, Spec] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    sites: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # site -> assets
    dependents: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # db -> apps
    service_of: dict[str, str] = field(default_factory=dict)  # app -> service asset
    # The true path graph (connected_to, runs_on, both ways, before edges go missing) and the pollers:
    # when set, what a failure takes down is what the pollers no longer reach (`behind`), not a subtree.
    paths: dict[str, set[str]] | None = None
    pollers: tuple[str, ...] = ()
    _reached: list[str] | None = field(default=None, repr=False)

    def add(self, kind: str, site: str, name: str, criticality: int, parent: str | None = None, **kw) -> str:
        asset_id = asset_id_for(f"{self.prefix}:{name}")
        self.specs[asset_id] = Spec(asset_id, name, kind, site, criticality, **kw)
        self.sites[site].append(asset_id)
        if parent is not None:
            self.children[parent].append(asset_id)
        return asset_id

    def link(self, source: str, kind: str, target: str) -> None:
        self.specs[source].edges.append((kind, target))

    def behind(self, asset_id: str) -> list[str]:
        """Everything that sits behind a device or on a host, depth first; with `paths`, what the pollers
        reach only through it (a dual-homed server survives one of its switches), in reach order."""
        if self.paths is not None:
            if self._reached is None:
                self._reached = self._reach()
            reached = self._reached
            if asset_id in reached:
                still = set(self._reach(asset_id))
                return [a for a in reached if a != asset_id and a not in still]
        out, stack = [], list(reversed(self.children.get(asset_id, ())))
        while stack:
            here = stack.pop()
            out.append(here)
            stack.extend(reversed(self.children.get(here, ())))
        return out

    def _reach(self, without: str | None = None) -> list[str]:
        """What the pollers reach over `paths` (breadth first, deterministic), avoiding `without`."""
        paths = self.paths or {}
        seen = {p for p in self.pollers if p != without}
        order, queue = [], deque(sorted(seen))
        while queue:
            here = queue.popleft()
            order.append(here)
            for nxt in sorted(paths.get(here, ())):
                if nxt not in seen and nxt != without:
                    seen.add(nxt)
                    queue.append(nxt)
        return order

    def path_graph(self) -> dict[str, set[str]]:
        """The current edges' path view (connected_to, runs_on, both ways)."""
        graph: dict[str, set[str]] = defaultdict(set)
        for source, spec in self.specs.items():
            for kind, target in spec.edges:
                if kind in ("connected_to", "runs_on"):
                    graph[source].add(target)
                    graph[target].add(source)
        return dict(graph)

    def of_type(self, *kinds: str, site: str | None = None) -> list[str]:
        return [a for a, s in self.specs.items() if s.type in kinds and (site is None or s.site == site)]


def build(rng: random.Random, prefix: str, sites: int = 3, missing_edges: float = 0.0) -> Network:
    """A network of `sites` sites, a WAN, a monitoring poller, a cloud region and business services.

    `missing_edges`: the share of edges left out of the registry (faults still follow them)."""
    net = Network(prefix)
    wan = net.add("router", "wan", "wan-core", 5)
    poller = net.add("server", "wan", "noc-poller", 3, tags=["poller"])
    net.link(poller, "connected_to", wan)
    services = add_services(rng, net, prefix)
    apps: list[str] = []
    for s in range(sites):
        site = f"site-{s}"
        core = net.add("router", site, f"{site}-core", 5)
        net.link(core, "connected_to", wan)  # recorded from the site's side
        dbs: list[str] = []
        for d in range(2):
            dist = net.add("switch", site, f"{site}-dist-{d}", 4, parent=core)
            net.link(core, "connected_to", dist)  # links recorded from the core's side
            for a in range(rng.randint(2, 3)):
                access = net.add("switch", site, f"{site}-acc-{d}{a}", 3, parent=dist)
                net.link(access, "connected_to", dist)
                for h in range(rng.randint(2, 4)):
                    server = net.add("server", site, f"{site}-srv-{d}{a}{h}", 3, parent=access)
                    net.link(server, "connected_to", access)
                    add_workloads(rng, net, site, server, f"{d}{a}{h}", dbs, apps)
        _wire_apps(rng, net, [a for a in apps if net.specs[a].site == site], dbs, services)
    add_cloud(rng, net, services)
    drop_edges(rng, net, missing_edges)
    return net


def add_services(rng: random.Random, net: Network, prefix: str) -> list[str]:
    """4-6 business services with their revenue per hour and users."""
    services = []
    for name in SERVICES[: rng.randint(4, 6)]:
        revenue = rng.choice([2_000.0, 5_000.0, 10_000.0, 25_000.0, 50_000.0])
        users = rng.choice([500, 5_000, 20_000, 100_000])
        # Named per scenario: alerts that name only a service must not meet another scenario's.
        services.append(
            net.add("service", "global", f"{name}-{prefix}", 5, revenue_per_hour=revenue, users_served=users)
        )
    return services


def add_workloads(
    rng: random.Random, net: Network, site: str, server: str, tag: str, dbs: list[str], apps: list[str]
) -> None:
    """What runs on a server: a database (30 %) or 0-2 VMs each with an application."""
    if rng.random() < 0.3:
        db = net.add("database", site, f"{site}-db-{tag}", 5, parent=server)
        net.link(db, "runs_on", server)
        dbs.append(db)
        return
    for v in range(rng.randint(0, 2)):
        vm = net.add("vm", site, f"{site}-vm-{tag}{v}", 3, parent=server)
        net.link(vm, "runs_on", server)
        app = net.add("application", site, f"{site}-app-{tag}{v}", 4, parent=vm)
        net.link(app, "runs_on", vm)
        apps.append(app)


def add_cloud(rng: random.Random, net: Network, services: list[str]) -> None:
    """A cloud region: a database and 4-8 instances each with an application serving a service."""
    region = "cloud-eu"
    cloud_dbs = [net.add("database", region, "cloud-db-0", 5)]
    cloud_apps = []
    for i in range(rng.randint(4, 8)):
        inst = net.add("vm", region, f"cloud-i-{i}", 3, tags=["cloud"])
        app = net.add("application", region, f"cloud-app-{i}", 4, parent=inst)
        net.link(app, "runs_on", inst)
        cloud_apps.append(app)
    _wire_apps(rng, net, cloud_apps, cloud_dbs, services)


def drop_edges(rng: random.Random, net: Network, missing_edges: float) -> None:
    """Leave `missing_edges` of the edges out of the registry (faults still follow them)."""
    for spec in net.specs.values():
        spec.edges = [e for e in spec.edges if rng.random() >= missing_edges]


def _wire_apps(
    rng: random.Random, net: Network, apps: list[str], dbs: list[str], services: list[str]
) -> None:
    """Each application uses a database (if any) and serves a business service."""
    for app in apps:
        if dbs:
            db = rng.choice(dbs)
            net.link(app, "depends_on", db)
            net.dependents[db].append(app)
        service = rng.choice(services)
        net.link(service, "depends_on", app)
        net.service_of[app] = service
        net.specs[app].business_service = net.specs[service].name
