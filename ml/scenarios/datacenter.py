"""A changed topology family, `datacenter`: the network after a data-centre redesign, to test a model
trained on the `campus` family (`network.build`) against a network it never saw.

What changes, as a real redesign would:
- **deeper access**: every access switch feeds 2 top-of-rack switches (`-tor-`), the servers hang
  off those (core / distribution / access / top-of-rack: four layers instead of three);
- **dual-homed servers**: 60 % of the servers are connected to both top-of-rack switches of their
  rack pair, so one of them failing takes nothing down (the other path still answers);
- **poller placement**: no central poller behind the WAN router; each site has its own poller,
  connected to its first distribution switch. A site core failing then cuts off only the half of
  the site behind its other distribution switch (the poller still reaches its own half), and a
  distribution switch failing can leave the site's poller reaching nothing of its site;
- the fault mix (`generate`'s weights for the family) leans to network faults.

What a failure takes down is what the pollers no longer reach over the true edges (`Network.paths`,
kept before edges go missing from the registry), not the subtree the generator built.
"""

from __future__ import annotations

import random

from ems.ml.scenarios.network import Network, _wire_apps, add_cloud, add_services, add_workloads, drop_edges

DUAL_HOMED = 0.6


def build_datacenter(rng: random.Random, prefix: str, sites: int = 3, missing_edges: float = 0.0) -> Network:
    """A network of `sites` data-centre sites, a WAN, per-site pollers, a cloud region and services."""
    net = Network(prefix)
    wan = net.add("router", "wan", "wan-core", 5)
    services = add_services(rng, net, prefix)
    pollers = []
    apps: list[str] = []
    for s in range(sites):
        site = f"site-{s}"
        core = net.add("router", site, f"{site}-core", 5)
        net.link(core, "connected_to", wan)
        dbs: list[str] = []
        for d in range(2):
            dist = net.add("switch", site, f"{site}-dist-{d}", 4, parent=core)
            net.link(core, "connected_to", dist)
            if d == 0:
                poller = net.add("server", site, f"{site}-poller", 3, tags=["poller"])
                net.link(poller, "connected_to", dist)
                pollers.append(poller)
            for a in range(rng.randint(2, 3)):
                access = net.add("switch", site, f"{site}-acc-{d}{a}", 3, parent=dist)
                net.link(access, "connected_to", dist)
                tors = []
                for t in range(2):
                    tor = net.add("switch", site, f"{site}-tor-{d}{a}{t}", 3, parent=access)
                    net.link(tor, "connected_to", access)
                    tors.append(tor)
                for h in range(rng.randint(3, 5)):
                    home = rng.choice(tors)
                    server = net.add("server", site, f"{site}-srv-{d}{a}{h}", 3, parent=home)
                    net.link(server, "connected_to", home)
                    if rng.random() < DUAL_HOMED:
                        net.link(server, "connected_to", tors[1 - tors.index(home)])
                    add_workloads(rng, net, site, server, f"{d}{a}{h}", dbs, apps)
        _wire_apps(rng, net, [a for a in apps if net.specs[a].site == site], dbs, services)
    add_cloud(rng, net, services)
    net.paths, net.pollers = net.path_graph(), tuple(pollers)
    drop_edges(rng, net, missing_edges)
    return net
