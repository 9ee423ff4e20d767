"""Topology on a generated graph of 2,000 assets with cycles: API walks equal a Python BFS (links
crossed both ways); a core router's downstream through links recorded from its side; replay.

Prints the latency of the walks and of the bulk load, and the agent's state rebuild time.
"""

from __future__ import annotations

import random
import re
import statistics
import time
from collections import defaultdict, deque

from ems.schemas.asset import EDGE_TYPES
from ems.schemas.command import Command
from ems.schemas.identity import asset_id_for
from tests.integration.harness import ASSET_STAGES as STAGES
from tests.integration.harness import Pipeline, send, wait_for

N = 2000
TABLES = {
    "assets": "asset_id",
    "asset_dependencies": "source_id, type, target_id",
    "asset_changes": "asset_id, version",
}
Edges = set[tuple[str, str, str]]


def generate(seed: int = 11) -> tuple[list[Command], Edges]:
    """2,000 create commands with 1-3 random edges each (cycles included) and some unknown targets."""
    rnd = random.Random(seed)
    ids = [asset_id_for(f"gen:{i}") for i in range(N)]
    kinds = ["router", "switch", "server", "vm", "database", "service", "application"]
    commands, edges = [], set()
    for i, asset in enumerate(ids):
        deps = {}
        for _ in range(rnd.randint(1, 3)):
            target = rnd.choice(ids) if rnd.random() > 0.02 else f"ast_unknown_{rnd.randint(0, 9)}"
            if target != asset:
                deps[target] = rnd.choice(EDGE_TYPES)
        if i % 100 == 0:  # explicit short cycles as well
            deps[ids[(i + 1) % N]] = "depends_on"
        args = {
            "natural_key": f"gen:{i}",
            "name": f"gen-{i}",
            "type": kinds[i % len(kinds)],
            "business_service": f"svc-{i % 10}" if i < 300 else None,
            "dependencies": [{"type": t, "target": x} for x, t in deps.items()],
        }
        commands.append(Command(name="asset.create", target=asset, actor="gen", args=args))
        edges |= {(asset, t, x) for x, t in deps.items()}
    return commands, edges


def bfs(roots: list[str], edges: Edges, depth: int, types: set[str], forward: bool) -> dict[str, int]:
    adjacency: dict[str, list[str]] = defaultdict(list)
    for s, t, x in edges:
        if t in types:
            adjacency[s if forward else x].append(x if forward else s)
            if t == "connected_to":  # a link has no direction: crossed both ways either way
                adjacency[x if forward else s].append(s if forward else x)
    dist = {r: 0 for r in roots}
    queue = deque(roots)
    while queue:
        node = queue.popleft()
        if dist[node] < depth:
            for nxt in adjacency[node]:
                if nxt not in dist:
                    dist[nxt] = dist[node] + 1
                    queue.append(nxt)
    return dist


def test_topology_on_2000_assets_matches_bfs_and_replays(pipeline: Pipeline) -> None:
    commands, edges = generate()
    pipeline.start_worker(stages=STAGES)
    pipeline.start_api()
    started = time.perf_counter()
    send(pipeline, "commands", commands)
    wait_for(lambda: pipeline.scalar("SELECT count(*) FROM assets") == N, 180, "2,000 projected assets")
    load = time.perf_counter() - started
    # Changes after the load: 100 unlinks (edges kept inactive) and 100 updates.
    rnd = random.Random(5)
    removed = rnd.sample(sorted(edges), 100)
    later = [
        Command(name="asset.unlink", target=s, actor="t", args={"type": t, "target": x})
        for s, t, x in removed
    ]
    later += [
        Command(name="asset.update", target=c.target, actor="t", args={"criticality": 3})
        for c in commands[:100]
    ]
    send(pipeline, "commands", later)
    edges -= set(removed)
    wait_for(
        lambda: pipeline.scalar("SELECT count(*) FROM asset_changes") == N + 200, 120, "the later changes"
    )
    assert pipeline.scalar("SELECT count(*) FROM asset_dependencies WHERE active") == len(edges)
    print(
        f"\n2,000 creates (+{sum(len(c.args['dependencies']) for c in commands)} edges) "
        f"projected in {load:.2f} s"
    )

    ids = [c.target for c in commands]
    timings: dict[str, list[float]] = defaultdict(list)
    sizes: dict[str, list[int]] = defaultdict(list)
    with pipeline.client(timeout=60) as c:
        for root in rnd.sample(ids, 25):
            for direction in ("upstream", "downstream"):
                for depth in (3, 6):
                    t0 = time.perf_counter()
                    r = c.get(f"/api/v1/assets/{root}/{direction}", params={"depth": depth})
                    timings[f"{direction} depth {depth}"].append(time.perf_counter() - t0)
                    assert r.status_code == 200, r.text
                    got = {n["asset_id"]: n["depth"] for n in r.json()["nodes"]}
                    want = bfs([root], edges, depth, set(EDGE_TYPES), direction == "upstream")
                    assert got == want, f"{direction} {root} depth {depth}"
                    among = {(s, t, x) for s, t, x in edges if s in want and x in want}
                    assert {(e["source"], e["type"], e["target"]) for e in r.json()["edges"]} == among
                    sizes[f"{direction} depth {depth}"].append(len(got))
        # Filtered by type, and the whole graph of a business service.
        r = c.get(f"/api/v1/assets/{ids[0]}/upstream", params={"depth": 5, "type": "depends_on,runs_on"})
        assert {n["asset_id"] for n in r.json()["nodes"]} == set(
            bfs([ids[0]], edges, 5, {"depends_on", "runs_on"}, True)
        )
        t0 = time.perf_counter()
        r = c.get("/api/v1/services/svc-3/graph")
        service_time = time.perf_counter() - t0
        members = [c.target for c in commands if c.args["business_service"] == "svc-3"]
        assert sorted(r.json()["members"]) == sorted(members)
        want = bfs(members, edges, 20, {"depends_on", "runs_on"}, True)
        assert {n["asset_id"]: n["depth"] for n in r.json()["nodes"]} == want
        assert any(not n["known"] for n in r.json()["nodes"]) or not any(
            x.startswith("ast_unknown") for x in want
        )
        assert c.get("/api/v1/services/nope/graph").status_code == 404
        assert c.get(f"/api/v1/assets/{ids[0]}/upstream", params={"depth": 999}).status_code == 400
        assert c.get(f"/api/v1/assets/{ids[0]}/upstream", params={"type": "likes"}).status_code == 400
    for name, values in sorted(timings.items()):
        q = statistics.quantiles(values, n=20)
        print(
            f"{name}: p50 {q[9] * 1000:.1f} ms, p95 {q[18] * 1000:.1f} ms, "
            f"nodes median {statistics.median(sizes[name]):.0f} max {max(sizes[name])}"
        )
    print(
        f"service graph svc-3: {len(want)} nodes from {len(members)} members in {service_time * 1000:.1f} ms"
    )

    # A core router whose links were recorded from its own side: everything behind it is downstream.
    core, switches = asset_id_for("core:1"), [asset_id_for(f"core:1:sw{i}") for i in range(3)]
    servers = [asset_id_for(f"core:1:srv{i}") for i in range(3)]
    behind = [
        Command(name="asset.create", target=x, actor="t", args={"name": x, "type": "switch"})
        for x in switches
    ]
    behind += [
        Command(
            name="asset.create",
            target=srv,
            actor="t",
            args={"name": srv, "type": "server", "dependencies": [{"type": "connected_to", "target": sw}]},
        )
        for srv, sw in zip(servers, switches, strict=True)
    ]
    links = [{"type": "connected_to", "target": x} for x in switches]
    behind.append(
        Command(
            name="asset.create",
            target=core,
            actor="t",
            args={"name": "core", "type": "router", "dependencies": links},
        )
    )
    send(pipeline, "commands", behind)
    wait_for(lambda: pipeline.scalar("SELECT count(*) FROM assets") == N + 7, 60, "the core router's site")
    with pipeline.client(timeout=60) as c:
        down = c.get(f"/api/v1/assets/{core}/downstream", params={"depth": 2}).json()
        up = c.get(f"/api/v1/assets/{servers[0]}/upstream", params={"depth": 3}).json()
    assert {n["asset_id"]: n["depth"] for n in down["nodes"]} == {
        core: 0,
        **dict.fromkeys(switches, 1),
        **dict.fromkeys(servers, 2),
    }
    assert len(down["edges"]) == 6
    # ... and the walk crosses links both ways upstream too: server -> switch -> core -> other switches.
    assert {n["asset_id"]: n["depth"] for n in up["nodes"]} == {
        servers[0]: 0,
        switches[0]: 1,
        core: 2,
        switches[1]: 3,
        switches[2]: 3,
    }

    # Restart: the agent rebuilds its state (2,000 snapshots) from ems.assets.
    pipeline.kill("worker")
    pipeline.start_worker(stages=STAGES)

    def rebuilt() -> tuple[str, str] | None:
        found = re.findall(r"rebuilt: (\d+) assets in ([\d.]+) s", pipeline.log_tail("worker", 400))
        return found[-1] if found and int(found[-1][0]) == N + 7 else None

    count, seconds = wait_for(rebuilt, 120, "the state rebuild of 2,007 assets")
    print(f"agent state rebuild from ems.assets: {count} assets in {seconds} s")

    # Replay rebuilds the three asset tables row for row.
    target = f"{pipeline.name}_rb"
    done = pipeline.run("replay", "--schema", target)
    assert done.returncode == 0, done.stderr
    for table, key in TABLES.items():
        live = pipeline.query(f"SELECT * FROM {table} ORDER BY {key}")
        rebuilt = pipeline.query(f"SELECT * FROM {table} ORDER BY {key}", schema=target)
        assert live and live == rebuilt, f"{table} differs after replay"
