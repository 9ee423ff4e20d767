"""The DBSCAN distance matrix (ml/correlation/dbscan.py) against the pair-by-pair definition of
`DbscanConfig`, on generated networks with random episodes (unknown assets, shared and missing words,
services, tags, sites and tenants)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np

from ems.ml.correlation.config import DbscanConfig
from ems.ml.correlation.dbscan import distances
from ems.ml.correlation.episodes import Episode
from ems.ml.correlation.topology import Topology
from ems.ml.scenarios import generate

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WORDS = ["link", "down", "cpu", "high", "disk", "full", "latency", "payment", "api", "unreachable"]


def by_pairs(points: list[Episode], topology: Topology, cfg: DbscanConfig) -> np.ndarray:
    """Each pair (i <= j) by the documented formula, one at a time."""
    n = len(points)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i, n):
            a, b = points[i], points[j]
            time = min(1.0, abs(a.opened_at.timestamp() - b.opened_at.timestamp()) / cfg.time_scale_s)
            ka = a.asset_id if a.asset_id in topology.nodes else None
            kb = b.asset_id if b.asset_id in topology.nodes else None
            if ka is None or kb is None:
                topo = cfg.unknown
            else:
                hops = topology.near(ka, cfg.max_hops).get(kb)
                topo = 1.0 if hops is None else hops / (cfg.max_hops + 1)
            union = len(a.words | b.words)
            text = 1 - (len(a.words & b.words) / union if union else 0.0)
            marks_a = set(a.service) | {f"tag:{t}" for t in a.tags}
            marks_b = set(b.service) | {f"tag:{t}" for t in b.tags}
            site_a = topology.nodes[ka].site if ka else None
            site_b = topology.nodes[kb].site if kb else None
            context = 0.0 if marks_a & marks_b else 0.5 if site_a and site_a == site_b else 1.0
            d = cfg.w_time * time + cfg.w_topology * topo + cfg.w_text * text + cfg.w_context * context
            if (a.tenant or "") != (b.tenant or ""):
                d = 2.0
            out[i, j] = out[j, i] = 0.0 if i == j else d
    return out


def episode(rng: random.Random, i: int, assets: list[str]) -> Episode:
    asset = rng.choice(assets + ["ast_unknown", None])
    text = rng.sample(WORDS, rng.randint(0, 3))
    return Episode(
        alert_id=f"a{i}",
        fingerprint=f"f{i}",
        number=1,
        source="nms",
        event=" ".join(text[:1]),
        resource=f"r{i}",
        title=" ".join(text[1:]),
        severity="major",
        environment="prod",
        service=tuple(rng.sample(["pay", "web", "db"], rng.randint(0, 1))),
        tags=tuple(rng.sample(["edge", "core"], rng.randint(0, 1))),
        asset_id=asset,
        status="open",
        opened_at=T0 + timedelta(seconds=rng.uniform(0, 900)),
        tenant=rng.choice([None, None, "acme"]),
    )


def test_the_matrix_is_the_documented_distance_of_every_pair() -> None:
    for seed in (1, 2, 3):
        scenario = generate(seed)
        topology = Topology()
        for spec in scenario.network.specs.values():
            topology.upsert(spec.asset())
        rng = random.Random(seed)
        assets = sorted(topology.nodes)
        points = [episode(rng, i, rng.sample(assets, 12)) for i in range(120)]
        cfg = DbscanConfig()
        got = distances(points, topology, cfg)
        assert got.shape == (120, 120)
        assert np.array_equal(got, by_pairs(points, topology, cfg))
        assert (got < 1.0).sum() > 120  # some pairs are near (the case is not trivial)
